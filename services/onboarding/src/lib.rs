//! Onboarding service: what onboarding a product means (versioned playbooks
//! per product and tier), a plan per account and product run on the version
//! it opened with, two-stage completion reached from steps and usage
//! signals, and the completion rate within the target period.
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
use themodel_proto::onboarding::onboarding_service_server::OnboardingServiceServer;
use tokio_util::sync::CancellationToken;

/// Service name: events' `source`, metrics label, health and logs.
pub const NAME: &str = registry::ONBOARDING.name;

/// How the `themodel` binary runs this service.
pub const ENTRY: registry::Entry = registry::Entry {
    info: registry::ONBOARDING,
    migrate: |url| Box::pin(async move { migrate::<store::migration::Migrator>(&url).await }),
    start: |settings, shutdown| Box::pin(Application::build(settings, shutdown)),
};

/// The service's settings (the suite's [`registry::Settings`]).
pub type Config = registry::Settings;

/// The onboarding service, started.
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
        store::stalls::Stalls::new(store.clone()).schedule(&jobs);
        store::follow::follow(&store, &jobs, clients.clone());
        let handler = grpc::Handler::new(&store, accounts, clients);
        Server::new(NAME, error::DOMAIN, &config.server)
            .service(OnboardingServiceServer::new(handler))
            .service(EventFeed::new(store.clone(), error::DOMAIN).into_server())
            .service(jobs.into_server(error::DOMAIN))
            .authenticate(keys.authenticator)
            .check_database(store)
            .start(config.listen, shutdown)
            .await
    }
}
