//! The gateway: one entry point for BizOps integrations, partner portals and
//! other services. It serves every service's contract under the same names (so
//! one client stub works against the gateway or the service itself),
//! authenticates, propagates deadline and trace context, and forwards.

pub mod error;
pub mod forward;

use std::net::SocketAddr;

use themodel_platform::{
    auth::{AuthConfig, Keys},
    server::{Running, Server, ServerConfig},
};
use tokio_util::sync::CancellationToken;

/// Service name for metrics, health and logs.
pub const NAME: &str = "gateway";

/// Configuration of the gateway; every flag also reads its environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "themodel-gateway",
    about = "Gateway of the THE MODEL suite",
    version
)]
pub struct Config {
    /// Address the gRPC server listens on.
    #[arg(
        long = "listen",
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,
    /// URL of the segmentation service.
    #[arg(
        long,
        env = "SEGMENTATION_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub segmentation_addr: String,
    /// HTTP/2 connections kept to each backend, used round-robin.
    #[arg(long, env = "BACKEND_CONNECTIONS", default_value_t = 2)]
    pub backend_connections: usize,
    /// Server settings.
    #[command(flatten)]
    pub server: ServerConfig,
    /// Token verification.
    #[command(flatten)]
    pub auth: AuthConfig,
}

impl Config {
    /// Each backend service and its address. A new service adds one line here
    /// and one address flag above.
    pub fn backends(&self) -> Vec<(&'static str, &str)> {
        vec![("segmentation", self.segmentation_addr.as_str())]
    }
}

/// The gateway, started.
pub struct Application;

impl Application {
    /// Binds the gateway and returns it running until `shutdown` is cancelled.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
        let keys = Keys::load(&config.auth)?;
        let forwarder = forward::Forwarder::new(&config.backends(), config.backend_connections)?;
        Server::new(NAME, error::DOMAIN, &config.server)
            .fallback(forwarder)
            .authenticate(keys.authenticator)
            .start(config.listen, shutdown)
            .await
    }
}
