//! The generic forwarder: every call the gateway does not serve itself goes,
//! byte for byte, to the service that owns its contract. Routing needs only the
//! path (`/themodel.<service>.v1.<Service>/<Method>`), so new RPCs and new
//! services need no code here beyond a backend address.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use themodel_platform::client::parse_timeout;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt;

use crate::error::Error;

/// Metadata key naming the service whose shared contract (event feed,
/// operations) to call through the gateway.
pub const SOURCE_HEADER: &str = "x-themodel-source";
/// Packages every service serves for itself; calls to them are routed by
/// [`SOURCE_HEADER`] rather than by the package.
const SHARED_CONTRACTS: &[&str] = &["events", "operations"];
/// Largest response metadata accepted from a backend, in bytes.
const BACKEND_MAX_HEADER_LIST_SIZE: u32 = 1 << 20;
/// Taken off the caller's deadline before passing it on, so the backend gives
/// up first and its answer (not the gateway's) reaches the caller.
const DEADLINE_MARGIN: Duration = Duration::from_millis(5);

/// Channels to one backend service, used round-robin.
pub struct Backend {
    name: String,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl Backend {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next channel to the service.
    pub fn channel(&self) -> Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }
}

/// The forwarding service mounted as the gateway's fallback.
#[derive(Clone)]
pub struct Forwarder {
    backends: Arc<HashMap<String, Backend>>,
}

impl Forwarder {
    /// Connects lazily to each `(service, address)` with `connections` HTTP/2
    /// connections apiece.
    pub fn new(backends: &[(String, String)], connections: usize) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        for (name, addr) in backends {
            let endpoint = Endpoint::from_shared(addr.clone())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the address of {name} ({}) is not a URL: {addr:?}: {e}",
                        themodel_platform::registry::address_setting(name)
                    )
                })?
                .tcp_nodelay(true)
                // Accept large response metadata from a backend: over four
                // times this limit, HTTP/2 fails the whole connection, and
                // with it every caller's call that shares it. The status guard
                // then cuts what is passed on to the caller.
                .http2_max_header_list_size(BACKEND_MAX_HEADER_LIST_SIZE)
                .connect_timeout(Duration::from_secs(5))
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            let channels = (0..connections.max(1))
                .map(|_| endpoint.connect_lazy())
                .collect();
            map.insert(
                name.clone(),
                Backend {
                    name: name.clone(),
                    channels,
                    next: AtomicUsize::new(0),
                },
            );
        }
        Ok(Self {
            backends: Arc::new(map),
        })
    }

    /// Every backend.
    pub fn backends(&self) -> impl Iterator<Item = &Backend> {
        self.backends.values()
    }

    fn route(&self, path: &str, headers: &http::HeaderMap) -> Result<&Backend, Error> {
        let unknown = || Error::UnknownMethod(path.to_owned());
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split('/').next())
            .ok_or_else(unknown)?;
        let mut parts = service.split('.');
        let (Some("themodel"), Some(owner)) = (parts.next(), parts.next()) else {
            return Err(unknown());
        };
        if SHARED_CONTRACTS.contains(&owner) {
            let source = headers
                .get(SOURCE_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or(Error::MissingSource)?;
            return self
                .backends
                .get(source)
                .ok_or_else(|| Error::UnknownSource(source.to_owned()));
        }
        self.backends.get(owner).ok_or_else(unknown)
    }

    async fn forward(
        self,
        request: http::Request<axum::body::Body>,
    ) -> http::Response<tonic::body::Body> {
        let (mut parts, body) = request.into_parts();
        let backend = match self.route(parts.uri.path(), &parts.headers) {
            Ok(backend) => backend,
            Err(err) => return err.into_status().into_http(),
        };
        shorten_deadline(&mut parts.headers);
        themodel_platform::telemetry::inject_current(&mut parts.headers);
        let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
        let result = backend.channel().oneshot(request).await;
        match result {
            Ok(response) => response,
            Err(err) if timed_out(&err) => Error::DeadlineExceeded {
                service: backend.name.clone(),
            }
            .into_status()
            .into_http(),
            Err(err) => {
                tracing::warn!(backend = %backend.name, error = %err, "forwarding failed");
                Error::BackendUnavailable {
                    service: backend.name.clone(),
                    cause: err.to_string(),
                }
                .into_status()
                .into_http()
            }
        }
    }
}

impl tower::Service<http::Request<axum::body::Body>> for Forwarder {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<axum::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(request).await) })
    }
}

/// Whether forwarding failed because the caller's deadline passed first
/// (the channel enforces `grpc-timeout` itself).
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Passes the caller's remaining deadline on, less [`DEADLINE_MARGIN`].
fn shorten_deadline(headers: &mut http::HeaderMap) {
    let Some(timeout) = headers
        .get("grpc-timeout")
        .and_then(|v| parse_timeout(v.to_str().ok()?))
    else {
        return;
    };
    let remaining = timeout
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(1));
    if let Ok(value) = http::HeaderValue::from_str(&format!("{}m", remaining.as_millis())) {
        headers.insert("grpc-timeout", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarder() -> Forwarder {
        Forwarder::new(&[("segmentation".into(), "http://127.0.0.1:1".into())], 1)
            .expect("forwarder")
    }

    #[tokio::test]
    async fn routes_by_the_package_of_the_path() {
        let f = forwarder();
        let headers = http::HeaderMap::new();
        let to = |path| f.route(path, &headers).map(|b| b.name.as_str());
        assert_eq!(
            to("/themodel.segmentation.v1.SegmentationService/GetAccount").ok(),
            Some("segmentation")
        );
        assert!(matches!(
            to("/themodel.nothing.v1.X/Y"),
            Err(Error::UnknownMethod(_))
        ));
        assert!(matches!(
            to("/other.pkg.Service/Method"),
            Err(Error::UnknownMethod(_))
        ));
        assert!(matches!(to(""), Err(Error::UnknownMethod(_))));
    }

    #[tokio::test]
    async fn event_feeds_route_by_the_source_metadata() {
        let f = forwarder();
        let path = "/themodel.events.v1.EventFeedService/ListEvents";
        let mut headers = http::HeaderMap::new();
        assert!(matches!(f.route(path, &headers), Err(Error::MissingSource)));
        headers.insert(SOURCE_HEADER, http::HeaderValue::from_static("health"));
        assert!(matches!(
            f.route(path, &headers),
            Err(Error::UnknownSource(_))
        ));
        headers.insert(
            SOURCE_HEADER,
            http::HeaderValue::from_static("segmentation"),
        );
        assert_eq!(
            f.route(path, &headers).map(|b| b.name.as_str()).ok(),
            Some("segmentation")
        );
    }

    #[test]
    fn an_expired_deadline_is_told_from_a_lost_backend() {
        #[derive(Debug, thiserror::Error)]
        #[error("forwarding")]
        struct Wrapper(#[source] Box<dyn std::error::Error + Send + Sync>);
        assert!(timed_out(&Wrapper(Box::new(tonic::TimeoutExpired(())))));
        assert!(!timed_out(&Wrapper(Box::new(std::io::Error::other(
            "connection refused"
        )))));
    }

    #[test]
    fn deadlines_shrink_by_the_margin() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", http::HeaderValue::from_static("1S"));
        shorten_deadline(&mut headers);
        assert_eq!(
            headers.get("grpc-timeout").and_then(|v| v.to_str().ok()),
            Some("995m")
        );
        headers.insert("grpc-timeout", http::HeaderValue::from_static("2m"));
        shorten_deadline(&mut headers);
        assert_eq!(
            headers.get("grpc-timeout").and_then(|v| v.to_str().ok()),
            Some("1m")
        );
    }
}
