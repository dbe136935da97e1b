//! Server bootstrap shared by every service and the gateway: gRPC health (with
//! a database check), reflection v1 and v1alpha, authentication, load
//! shedding, per-RPC metrics and spans, a Prometheus `/metrics` endpoint, and
//! graceful drain on shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tonic::{server::NamedService, service::Routes};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    auth::{Authenticate, Authenticator},
    calls::Calls,
    gate::GateLayer,
    observe::ObserveLayer,
    shed::{Limiter, Shed},
    status_guard::StatusGuard,
    store::Store,
};

/// How often the database behind a server is checked for health.
const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Settings every server shares.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// Address for Prometheus metrics over HTTP (`GET /metrics`); off when unset.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds allowed for in-flight unary calls to finish after a shutdown
    /// signal; the process exits as soon as they have (streams end at once).
    #[arg(long, env = "DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub drain_timeout_secs: u64,
    /// Most calls served at once; further calls are refused at once with
    /// RESOURCE_EXHAUSTED instead of queueing.
    #[arg(long, env = "MAX_CONCURRENT_CALLS", default_value_t = 256)]
    pub max_concurrent_calls: usize,
    /// Tasks waiting in the runtime's shared run queue beyond which the
    /// server counts itself backlogged and lowers its limit of calls in
    /// flight below MAX_CONCURRENT_CALLS; 0 keeps the limit fixed.
    #[arg(long, env = "SHED_BACKLOG_TASKS", default_value_t = 256)]
    pub shed_backlog_tasks: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            metrics_listen: None,
            drain_timeout_secs: 20,
            max_concurrent_calls: 256,
            shed_backlog_tasks: 256,
        }
    }
}

/// Where a server listens: an address to bind, or a socket bound already, so
/// that whoever starts several services knows every address (port 0
/// included) before any of them starts calling its peers.
#[derive(Debug)]
pub enum Listen {
    /// Bind this address at start.
    Addr(SocketAddr),
    /// Serve on this bound socket.
    Bound(std::net::TcpListener),
}

impl Listen {
    /// Binds `addr` now.
    pub fn bind(addr: SocketAddr) -> anyhow::Result<Listen> {
        let listener =
            std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        listener.set_nonblocking(true)?;
        Ok(Listen::Bound(listener))
    }

    /// The address callers reach: the bound one, with an unspecified IP
    /// (0.0.0.0, ::) read as the loopback address; `None` before binding.
    pub fn reachable(&self) -> Option<SocketAddr> {
        let Listen::Bound(listener) = self else {
            return None;
        };
        let mut addr = listener.local_addr().ok()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Some(addr)
    }

    async fn into_listener(self) -> anyhow::Result<tokio::net::TcpListener> {
        match self {
            Listen::Addr(addr) => tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}")),
            Listen::Bound(listener) => Ok(tokio::net::TcpListener::from_std(listener)?),
        }
    }
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addr(addr)
    }
}

/// A server that is listening; `run` serves until the shutdown token is
/// cancelled and in-flight calls have drained.
pub struct Running {
    /// The address the gRPC server is bound to.
    pub addr: SocketAddr,
    /// The address of the metrics endpoint, when enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The server's calls (how many are in flight).
    pub calls: Calls,
    /// Serves until shutdown.
    pub run: BoxFuture<'static, anyhow::Result<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A server's whole stack of middleware and services, as a front sees it.
pub type Stack = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// What [`Server::front`] puts in front of the stack.
type Front = Arc<dyn Fn(Stack) -> Stack + Send + Sync>;

/// Builds one gRPC server.
pub struct Server {
    name: &'static str,
    domain: &'static str,
    config: ServerConfig,
    routes: Routes,
    services: Vec<&'static str>,
    reflect_all: bool,
    authenticator: Option<Arc<Authenticator>>,
    front: Option<Front>,
    store: Option<Store>,
    health: (
        HealthReporter,
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
    ),
}

impl Server {
    /// A server for `name` (e.g. "segmentation") whose errors use `domain`.
    pub fn new(name: &'static str, domain: &'static str, config: &ServerConfig) -> Self {
        let reporter = HealthReporter::new();
        let health = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        );
        Self {
            name,
            domain,
            config: config.clone(),
            routes: Routes::default(),
            services: Vec::new(),
            reflect_all: false,
            authenticator: None,
            front: None,
            store: None,
            health: (reporter, health),
        }
    }

    /// Serves a gRPC service, reports its health and lists it in reflection.
    pub fn service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.services.push(S::NAME);
        self.routes = self.routes.add_service(svc);
        self
    }

    /// Sends every call that no service matches to `svc` (the gateway's
    /// forwarder), and lists every contract of the suite in reflection.
    pub fn fallback<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<axum::body::Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let router = std::mem::take(&mut self.routes)
            .into_axum_router()
            .fallback_service(svc);
        self.routes = Routes::from(router);
        self.reflect_all = true;
        self
    }

    /// The server's health reporter, to report the health of more names
    /// (the gateway reports its backends').
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.0.clone()
    }

    /// Requires a valid bearer token on every call but health and reflection.
    pub fn authenticate(mut self, authenticator: Arc<Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Puts `wrap` in front of the whole stack (the gateway's JSON/REST and
    /// gRPC-Web), and accepts HTTP/1.1 as well as HTTP/2 for it.
    pub fn front(mut self, wrap: impl Fn(Stack) -> Stack + Send + Sync + 'static) -> Self {
        self.front = Some(Arc::new(wrap));
        self
    }

    /// Reports NOT_SERVING while the store's database does not answer.
    pub fn check_database(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Listens on `listen` and returns the running server.
    pub async fn start(
        self,
        listen: impl Into<Listen>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running> {
        let Server {
            name,
            domain,
            config,
            routes,
            services,
            reflect_all,
            authenticator,
            front,
            store,
            health: (reporter, health_server),
        } = self;

        let listener = listen
            .into()
            .into_listener()
            .await
            .with_context(|| format!("{name}: listening"))?;
        let addr = listener.local_addr()?;
        let metrics_addr = match config.metrics_listen {
            Some(metrics_listen) => Some(serve_metrics(metrics_listen, shutdown.clone()).await?),
            None => None,
        };

        let reflection_v1 = reflection(&services, reflect_all).build_v1()?;
        let reflection_v1alpha = reflection(&services, reflect_all).build_v1alpha()?;
        let routes = routes
            .add_service(health_server)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .prepare();

        let health = HealthWatch {
            reporter,
            services: services.clone(),
        };
        health.set(ServingStatus::Serving).await;
        if let Some(store) = store {
            tokio::spawn(health.clone().watch_database(store, shutdown.clone()));
        }

        let calls = Calls::new(domain, shutdown.clone());
        let layers = tower::ServiceBuilder::new()
            .layer(ObserveLayer::new(name))
            .layer(GateLayer(StatusGuard::new(domain)))
            .layer(GateLayer(Shed::new(
                Limiter::new(
                    name,
                    config.max_concurrent_calls,
                    (config.shed_backlog_tasks > 0).then_some(config.shed_backlog_tasks),
                ),
                domain,
            )))
            .option_layer(authenticator.map(|a| GateLayer(Authenticate::new(a, domain))))
            .layer(GateLayer(calls.clone()));
        let drain = Duration::from_secs(config.drain_timeout_secs);
        // On shutdown: NOT_SERVING, streams cut and new calls refused (by the
        // calls layer), then, once the unary calls in flight are done, stop
        // accepting connections and close the idle ones.
        let stop_accepting = {
            let shutdown = shutdown.clone();
            let calls = calls.clone();
            let health = health.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!(service = name, "shutting down: draining in-flight calls");
                health.set(ServingStatus::NotServing).await;
                calls.drained().await;
            }
        };
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        // Only a server with a front boxes its responses and speaks HTTP/1.1.
        let serve: BoxFuture<'static, Result<(), tonic::transport::Error>> = match front {
            None => Box::pin(
                tonic::transport::Server::builder()
                    .layer(layers)
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, stop_accepting),
            ),
            Some(wrap) => Box::pin(
                tonic::transport::Server::builder()
                    .accept_http1(true)
                    .layer(tower::layer::layer_fn(move |stack| {
                        wrap(Stack::new(tower::ServiceExt::<
                            http::Request<tonic::body::Body>,
                        >::map_response(
                            stack,
                            |response: http::Response<_>| response.map(tonic::body::Body::new),
                        )))
                    }))
                    .layer(layers)
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, stop_accepting),
            ),
        };
        let run = async move {
            tokio::pin!(serve);
            tokio::select! {
                result = &mut serve => result.with_context(|| format!("{name}: serving")),
                _ = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
                    tracing::warn!(service = name, "drain timeout passed; dropping remaining calls");
                    Ok(())
                }
            }
        };
        tracing::info!(service = name, %addr, "listening");
        Ok(Running {
            addr,
            metrics_addr,
            calls,
            run: Box::pin(run),
        })
    }
}

/// Reflection listing `services` (or every contract when `all`) plus health.
fn reflection(services: &[&'static str], all: bool) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(themodel_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    if !all {
        for name in services.iter().copied().chain(["grpc.health.v1.Health"]) {
            builder = builder.with_service_name(name);
        }
    }
    builder
}

/// Reports the same status for the whole server ("") and each of its services.
#[derive(Clone)]
struct HealthWatch {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl HealthWatch {
    async fn set(&self, status: ServingStatus) {
        for name in std::iter::once("").chain(self.services.iter().copied()) {
            self.reporter.set_service_status(name, status).await;
        }
    }

    async fn watch_database(self, store: Store, shutdown: CancellationToken) {
        let mut healthy = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(HEALTH_CHECK_INTERVAL) => {}
            }
            let ok = store.ping().await;
            if ok != healthy && !shutdown.is_cancelled() {
                healthy = ok;
                if ok {
                    tracing::info!("database reachable again: SERVING");
                } else {
                    tracing::error!("database unreachable: NOT_SERVING");
                }
                self.set(if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                })
                .await;
            }
        }
    }
}

/// Serves `GET /metrics` in Prometheus text format until shutdown.
pub async fn serve_metrics(
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("metrics: binding {listen}"))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async { crate::observe::prometheus().render() }),
    );
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "metrics endpoint failed");
        }
    });
    Ok(addr)
}
