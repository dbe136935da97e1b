//! Health service: the feature catalogue of each product, usage ingested
//! from collectors and the data warehouse, validated event by event,
//! versioned scorecards that grade each account's health explainably and
//! are kept up to date in the background, alerts raised once, and backtests
//! of scorecards against the churn the expansion service reports.
//!
//! [`Application::build`] starts the service in-process (the binary, the suite
//! and the tests all use it).

pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod store;

use themodel_platform::{
    accounts::AccountDirectory,
    auth::Keys,
    event_feed::EventFeed,
    jobs::JobRunner,
    registry,
    server::{Running, Server},
    store::{Store, migrate},
};
use themodel_proto::health::health_service_server::HealthServiceServer;
use tokio_util::sync::CancellationToken;

/// Service name: events' `source`, metrics label, health and logs.
pub const NAME: &str = registry::HEALTH.name;

/// How the `themodel` binary runs this service.
pub const ENTRY: registry::Entry = registry::Entry {
    info: registry::HEALTH,
    migrate: |url| Box::pin(async move { migrate::<store::migration::Migrator>(&url).await }),
    start: |settings, shutdown| Box::pin(Application::build(settings, shutdown)),
};

/// The service's settings (the suite's [`registry::Settings`]).
pub type Config = registry::Settings;

/// The health service, started.
pub struct Application;

impl Application {
    /// Connects and migrates the database, binds the server and returns it
    /// running until `shutdown` is cancelled.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
        let keys = Keys::load(&config.auth)?;
        let store =
            Store::connect::<store::migration::Migrator>(NAME, &config.database_url, &config.store)
                .await?;
        let jobs = JobRunner::new(&store, NAME, shutdown.clone());
        store.schedule_jobs(&jobs, &config.store);
        let clients = config.peer_clients(NAME, &keys)?;
        let accounts = AccountDirectory::new(store.clone(), clients.clone());
        accounts.follow(&jobs);
        store::adoption::follow_seats(&store, &jobs, clients.clone());
        store::outcomes::follow_outcomes(&store, &jobs, clients.clone());
        let handler = grpc::Handler::new(&store, accounts, clients);
        handler.scorer().schedule(
            &jobs,
            std::time::Duration::from_millis(config.store.queue_interval_ms),
        );
        Server::new(NAME, error::DOMAIN, &config.server)
            .service(HealthServiceServer::new(handler))
            .service(EventFeed::new(store.clone(), error::DOMAIN).into_server())
            .service(jobs.into_server(error::DOMAIN))
            .authenticate(keys.authenticator)
            .check_database(store)
            .start(config.listen, shutdown)
            .await
    }
}
