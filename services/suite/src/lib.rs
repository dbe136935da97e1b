//! The whole suite in one process: every service on its own port and the
//! gateway in front, sharing one shutdown signal. The `themodel` binary and
//! the end-to-end tests start it the same way.

use std::net::SocketAddr;

use futures::future::BoxFuture;
use themodel_platform::{
    auth::{AuthConfig, Keys},
    server::{Running, ServerConfig},
    store::StoreConfig,
};
use tokio_util::sync::CancellationToken;

/// Where each part of the suite listens and keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteConfig {
    /// Address of the gateway.
    #[arg(long, env = "GATEWAY_LISTEN_ADDR", default_value = "127.0.0.1:50051")]
    pub gateway_listen: SocketAddr,
    /// Address of the segmentation service.
    #[arg(
        long,
        env = "SEGMENTATION_LISTEN_ADDR",
        default_value = "127.0.0.1:50052"
    )]
    pub segmentation_listen: SocketAddr,
    /// Database of the segmentation service.
    #[arg(
        long,
        env = "SEGMENTATION_DATABASE_URL",
        default_value = "sqlite://data/segmentation.db?mode=rwc"
    )]
    pub segmentation_database_url: String,
    /// Server settings shared by every service (the metrics endpoint, when set,
    /// is one for the whole process).
    #[command(flatten)]
    pub server: ServerConfig,
    /// Database maintenance settings.
    #[command(flatten)]
    pub store: StoreConfig,
    /// Token keys.
    #[command(flatten)]
    pub auth: AuthConfig,
}

/// The started suite.
pub struct Suite {
    /// Where the gateway listens.
    pub gateway: SocketAddr,
    /// Where each service listens, by name.
    pub services: Vec<(&'static str, SocketAddr)>,
    /// The metrics endpoint, when enabled.
    pub metrics: Option<SocketAddr>,
    /// Serves until shutdown; fails when any part fails.
    pub run: BoxFuture<'static, anyhow::Result<()>>,
}

impl Suite {
    /// Starts every service, then the gateway in front of them.
    pub async fn start(config: SuiteConfig, shutdown: CancellationToken) -> anyhow::Result<Suite> {
        // Create the dev key once, before the services read it.
        Keys::load(&config.auth)?;
        let metrics = match config.server.metrics_listen {
            Some(addr) => {
                Some(themodel_platform::server::serve_metrics(addr, shutdown.clone()).await?)
            }
            None => None,
        };
        let server = ServerConfig {
            metrics_listen: None,
            ..config.server.clone()
        };

        let segmentation = themodel_segmentation::Application::build(
            themodel_segmentation::Config {
                listen: config.segmentation_listen,
                database_url: config.segmentation_database_url.clone(),
                server: server.clone(),
                store: config.store.clone(),
                auth: config.auth.clone(),
            },
            shutdown.clone(),
        )
        .await?;

        let gateway = themodel_gateway::Application::build(
            themodel_gateway::Config {
                listen: config.gateway_listen,
                segmentation_addr: format!("http://{}", segmentation.addr),
                backend_connections: 2,
                server,
                auth: config.auth.clone(),
            },
            shutdown,
        )
        .await?;

        let services = vec![(themodel_segmentation::NAME, segmentation.addr)];
        let gateway_addr = gateway.addr;
        let parts: Vec<Running> = vec![segmentation, gateway];
        let run = async move {
            futures::future::try_join_all(parts.into_iter().map(|p| p.run)).await?;
            Ok(())
        };
        Ok(Suite {
            gateway: gateway_addr,
            services,
            metrics,
            run: Box::pin(run),
        })
    }
}
