//! The server side of the benchmarks: what `themodel-bench serve <kind>` runs in
//! its own process. Every kind but `echo` is started exactly as in production.

use std::{net::SocketAddr, path::PathBuf};

use themodel_platform::{
    auth::{AuthConfig, Keys},
    server::{Server, ServerConfig},
    store::StoreConfig,
};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::echo::{
    EchoRequest, EchoResponse,
    echo_service_server::{EchoService, EchoServiceServer},
};

/// What to serve.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// The echo handler on a bare tonic server: the ceiling of the stack.
    Echo,
    /// The echo handler behind the suite's server stack (auth, shedding, metrics, tracing).
    EchoStack,
    /// The segmentation service.
    Segmentation,
    /// The expansion service.
    Expansion,
    /// The health service (its peers segmentation and expansion by `--peer`).
    Health,
    /// The onboarding service.
    Onboarding,
    /// The partner-success service (its peers by `--peer`).
    PartnerSuccess,
    /// The gateway in front of `--backend`.
    Gateway,
    /// `themodel serve`: every service and the gateway in one process.
    Suite,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// What to serve.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Token key file (shared with the load generator).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Database of the segmentation, expansion or health service.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Another service's URL, as NAME=URL (repeatable): the peers a service
    /// calls and follows the events of.
    #[arg(long = "peer", value_parser = themodel_platform::registry::named::<String>)]
    pub peers: Vec<(String, String)>,
    /// The gateway's segmentation backend.
    #[arg(long)]
    pub backend: Option<String>,
    /// Serve Prometheus metrics on a port of its own, announced on a
    /// `metrics <addr>` line before `ready`.
    #[arg(long)]
    pub metrics: bool,
}

#[derive(Clone, Copy)]
struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

fn required(value: &Option<String>, flag: &str) -> anyhow::Result<String> {
    value
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{flag} is required"))
}

fn auth(args: &ServeArgs) -> anyhow::Result<AuthConfig> {
    let key = args
        .key_file
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--key-file is required"))?;
    Ok(AuthConfig {
        auth_key_file: key,
        auth_generate_dev_key: false,
        auth_issuer: crate::ISSUER.into(),
        auth_audience: crate::AUDIENCE.into(),
        ..AuthConfig::default()
    })
}

/// Serves until standard input closes (the load generator went away).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
            shutdown.cancel();
        });
    }
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let (addr, run): (
        SocketAddr,
        futures::future::BoxFuture<'static, anyhow::Result<()>>,
    ) = match args.kind {
        Kind::Echo => {
            let listener = tokio::net::TcpListener::bind(any).await?;
            let addr = listener.local_addr()?;
            let shutdown = shutdown.clone();
            let run = async move {
                tonic::transport::Server::builder()
                    .add_service(EchoServiceServer::new(Echo))
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener)
                            .with_nodelay(Some(true)),
                        shutdown.cancelled_owned(),
                    )
                    .await?;
                Ok(())
            };
            (addr, Box::pin(run))
        }
        Kind::EchoStack => {
            let keys = Keys::load(&auth(&args)?)?;
            let running = Server::new("bench", "bench.themodel", &ServerConfig::default())
                .service(EchoServiceServer::new(Echo))
                .authenticate(keys.authenticator)
                .start(any, shutdown.clone())
                .await?;
            (running.addr, running.run)
        }
        Kind::Segmentation
        | Kind::Expansion
        | Kind::Health
        | Kind::Onboarding
        | Kind::PartnerSuccess => {
            let entry = match args.kind {
                Kind::Expansion => themodel_expansion::ENTRY,
                Kind::Health => themodel_health::ENTRY,
                Kind::Onboarding => themodel_onboarding::ENTRY,
                Kind::PartnerSuccess => themodel_partner_success::ENTRY,
                _ => themodel_segmentation::ENTRY,
            };
            let settings = themodel_platform::registry::Settings {
                listen: any.into(),
                database_url: required(&args.database_url, "--database-url")?,
                peers: args.peers.clone(),
                client: Default::default(),
                server: ServerConfig {
                    metrics_listen: args.metrics.then_some(any),
                    ..ServerConfig::default()
                },
                store: StoreConfig::default(),
                auth: auth(&args)?,
            };
            let running = (entry.start)(settings, shutdown.clone()).await?;
            if let Some(metrics) = running.metrics_addr {
                println!("metrics {metrics}");
            }
            (running.addr, running.run)
        }
        Kind::Gateway => {
            let running = themodel_gateway::Application::build(
                themodel_gateway::Config {
                    listen: any,
                    backends: vec![("segmentation".into(), required(&args.backend, "--backend")?)],
                    backend_connections: 2,
                    server: ServerConfig::default(),
                    auth: auth(&args)?,
                    web: Default::default(),
                },
                shutdown.clone(),
            )
            .await?;
            (running.addr, running.run)
        }
        Kind::Suite => {
            let suite = themodel::Suite::start(
                themodel::SuiteConfig {
                    gateway_listen: any,
                    listen: vec![("segmentation".into(), any)],
                    database_urls: vec![(
                        "segmentation".into(),
                        required(&args.database_url, "--database-url")?,
                    )],
                    server: ServerConfig::default(),
                    store: StoreConfig::default(),
                    client: Default::default(),
                    auth: auth(&args)?,
                    web: Default::default(),
                },
                shutdown.clone(),
            )
            .await?;
            (suite.gateway, suite.run)
        }
    };
    println!("ready {addr}");
    run.await
}
