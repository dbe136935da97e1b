//! The gateway: one entry point for BizOps integrations, partner portals and
//! other services. It serves every service's contract under the same names (so
//! one client stub works against the gateway or the service itself),
//! authenticates, propagates deadline and trace context, and forwards.

pub mod error;
pub mod forward;
pub mod health;
pub mod openapi;
pub mod rest;
pub mod web;

use std::net::SocketAddr;

use themodel_platform::{
    auth::{AuthConfig, Keys},
    registry,
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
        default_value_t = std::net::SocketAddr::from(([127, 0, 0, 1], registry::GATEWAY_PORT))
    )]
    pub listen: SocketAddr,
    /// A backend service's URL, as NAME=URL (repeatable). Each service of the
    /// suite not named here is read from `<NAME>_ADDR` (e.g.
    /// `SEGMENTATION_ADDR`), else `http://127.0.0.1:<its port>`.
    #[arg(long = "backend", value_parser = registry::named::<String>)]
    pub backends: Vec<(String, String)>,
    /// HTTP/2 connections kept to each backend, used round-robin.
    #[arg(long, env = "BACKEND_CONNECTIONS", default_value_t = 2)]
    pub backend_connections: usize,
    /// JSON/REST and browser settings.
    #[command(flatten)]
    pub web: web::WebConfig,
    /// Server settings.
    #[command(flatten)]
    pub server: ServerConfig,
    /// Token verification.
    #[command(flatten)]
    pub auth: AuthConfig,
}

impl Config {
    /// Each backend service and its URL: every service of the suite, plus any
    /// other named with `--backend`.
    pub fn backends(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut backends = registry::SERVICES
            .iter()
            .map(|service| {
                let url = service.setting(&self.backends, "ADDR", || service.default_address())?;
                Ok((service.name.to_owned(), url))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (name, url) in &self.backends {
            if registry::find(name).is_none() {
                backends.push((name.clone(), url.clone()));
            }
        }
        Ok(backends)
    }
}

/// The gateway, started.
pub struct Application;

impl Application {
    /// Binds the gateway and returns it running until `shutdown` is cancelled.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
        let keys = Keys::load(&config.auth)?;
        let forwarder = forward::Forwarder::new(&config.backends()?, config.backend_connections)?;
        let pool = rest::descriptor_pool()?;
        let routes = rest::routes::Routes::from_pool(&pool)?;
        let openapi = openapi::document(&routes, &pool);
        let api = std::sync::Arc::new(rest::Api::new(
            routes,
            config.web.rest_max_body_bytes,
            serde_json::to_vec(&openapi)?.into(),
        ));
        let cors = web::cors(&config.web.cors_allowed_origins)?;
        let server = Server::new(NAME, error::DOMAIN, &config.server)
            .front(move |stack| web::front(stack, api.clone(), cors.clone()));
        tokio::spawn(health::watch_backends(
            forwarder.clone(),
            server.health_reporter(),
            shutdown.clone(),
        ));
        server
            .fallback(forwarder)
            .authenticate(keys.authenticator)
            .start(config.listen, shutdown)
            .await
    }
}
