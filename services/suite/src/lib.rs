//! The whole suite in one process: every service on its own port and the
//! gateway in front, sharing one shutdown signal. The `themodel` binary and
//! the end-to-end tests start it the same way.

use std::net::SocketAddr;

use futures::future::BoxFuture;
use themodel_platform::{
    auth::{AuthConfig, Keys},
    client::ClientConfig,
    registry::{self, Entry, Settings},
    server::{Listen, Running, ServerConfig},
    store::StoreConfig,
};
use tokio_util::sync::CancellationToken;

/// Every service the suite runs: one entry per service of
/// [`registry::SERVICES`], in the same order.
pub const SERVICES: &[Entry] = &[
    themodel_segmentation::ENTRY,
    themodel_expansion::ENTRY,
    themodel_partner_success::ENTRY,
    themodel_health::ENTRY,
    themodel_onboarding::ENTRY,
];

/// Where each part of the suite listens and keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteConfig {
    /// Address of the gateway.
    #[arg(long, env = "GATEWAY_LISTEN_ADDR", default_value_t = SocketAddr::from(([127, 0, 0, 1], registry::GATEWAY_PORT)))]
    pub gateway_listen: SocketAddr,
    /// A service's address, as NAME=ADDR (repeatable). A service not named
    /// here reads `<NAME>_LISTEN_ADDR` (e.g. `SEGMENTATION_LISTEN_ADDR`), else
    /// listens on 127.0.0.1 at its own port.
    #[arg(long = "listen", value_parser = registry::named::<SocketAddr>)]
    pub listen: Vec<(String, SocketAddr)>,
    /// A service's database, as NAME=URL (repeatable). A service not named here
    /// reads `<NAME>_DATABASE_URL`, else uses `sqlite://data/<name>.db`.
    #[arg(long = "database-url", value_parser = registry::named::<String>)]
    pub database_urls: Vec<(String, String)>,
    /// Server settings shared by every service (the metrics endpoint, when set,
    /// is one for the whole process).
    #[command(flatten)]
    pub server: ServerConfig,
    /// Calls between the services.
    #[command(flatten)]
    pub client: ClientConfig,
    /// Database maintenance settings.
    #[command(flatten)]
    pub store: StoreConfig,
    /// Token keys.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// The gateway's JSON/REST and browser settings.
    #[command(flatten)]
    pub web: themodel_gateway::web::WebConfig,
}

impl SuiteConfig {
    /// The settings of one service, listening on `listen`, its peers at the
    /// addresses the suite bound for them.
    fn settings(
        &self,
        entry: &Entry,
        listen: Listen,
        bound: &[(&'static str, SocketAddr)],
        server: &ServerConfig,
    ) -> anyhow::Result<Settings> {
        let info = entry.info;
        Ok(Settings {
            listen,
            database_url: info.setting(&self.database_urls, "DATABASE_URL", || {
                info.default_database_url()
            })?,
            peers: bound
                .iter()
                .filter(|(name, _)| *name != info.name)
                .map(|(name, addr)| (name.to_string(), format!("http://{addr}")))
                .collect(),
            client: self.client.clone(),
            server: server.clone(),
            store: self.store.clone(),
            auth: self.auth.clone(),
        })
    }
}

/// The entry of the service called `name`.
pub fn entry(name: &str) -> Option<&'static Entry> {
    SERVICES.iter().find(|e| e.info.name == name)
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
        registry::check_names("--listen", &config.listen)?;
        registry::check_names("--database-url", &config.database_urls)?;
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

        // Every service's socket is bound first, so each one starts knowing
        // where its peers are (port 0 included).
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for entry in SERVICES {
            let info = entry.info;
            let addr = info.setting(&config.listen, "LISTEN_ADDR", || info.default_listen())?;
            let listen = Listen::bind(addr).map_err(|e| e.context(info.name))?;
            bound.push((info.name, listen.reachable().unwrap_or(addr)));
            listeners.push(listen);
        }
        let mut parts: Vec<Running> = Vec::new();
        let mut services = Vec::new();
        for (entry, listen) in SERVICES.iter().zip(listeners) {
            let settings = config.settings(entry, listen, &bound, &server)?;
            let running = (entry.start)(settings, shutdown.clone()).await?;
            services.push((entry.info.name, running.addr));
            parts.push(running);
        }

        let gateway = themodel_gateway::Application::build(
            themodel_gateway::Config {
                listen: config.gateway_listen,
                backends: services
                    .iter()
                    .map(|(name, addr)| (name.to_string(), format!("http://{addr}")))
                    .collect(),
                backend_connections: 2,
                server,
                auth: config.auth.clone(),
                web: config.web.clone(),
            },
            shutdown,
        )
        .await?;
        let gateway_addr = gateway.addr;
        parts.push(gateway);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_runs_every_service_of_the_registry() {
        let names: Vec<_> = SERVICES.iter().map(|e| e.info).collect();
        assert_eq!(names, registry::SERVICES);
    }
}
