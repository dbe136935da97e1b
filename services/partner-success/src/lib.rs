//! Partner-success service: customer success through resellers and referral
//! partners.
//!
//! [`Application::build`] starts the service in-process (the binary, the suite
//! and the tests all use it).

pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod health;
pub mod onboarding;
pub mod revenue;
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
use themodel_proto::partner_success::partner_success_service_server::PartnerSuccessServiceServer;
use tokio_util::sync::CancellationToken;

/// Service name: events' `source`, metrics label, health and logs.
pub const NAME: &str = registry::PARTNER_SUCCESS.name;

/// How the `themodel` binary runs this service.
pub const ENTRY: registry::Entry = registry::Entry {
    info: registry::PARTNER_SUCCESS,
    migrate: |url| Box::pin(async move { migrate::<store::migration::Migrator>(&url).await }),
    start: |settings, shutdown| Box::pin(Application::build(settings, shutdown)),
};

/// The service's settings (the suite's [`registry::Settings`]): its address,
/// database, server, store and token settings.
pub type Config = registry::Settings;

/// The partner-success service, started.
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
        let deals = store::deals::Deals::new(store.clone());
        deals.schedule(&jobs);
        let tiers = store::tiers::Tiers::new(
            store.clone(),
            revenue::Revenue::new(clients.clone()),
            onboarding::Onboarding::new(clients.clone()),
        );
        tiers.schedule(&jobs);
        let scorecards = store::scorecards::Scorecards::new(
            store.clone(),
            revenue::Revenue::new(clients.clone()),
            health::Health::new(clients.clone()),
            onboarding::Onboarding::new(clients),
        );
        let handler = grpc::Handler::new(grpc::Repositories {
            partners: store::Partners::new(store.clone()),
            staff: store::staff::StaffRepo::new(store.clone()),
            certifications: store::certifications::Certifications::new(store.clone()),
            attributions: store::attributions::Attributions::new(store.clone()),
            deals,
            tiers,
            scorecards,
            accounts,
        });
        Server::new(NAME, error::DOMAIN, &config.server)
            .service(PartnerSuccessServiceServer::new(handler))
            .service(EventFeed::new(store.clone(), error::DOMAIN).into_server())
            .service(jobs.into_server(error::DOMAIN))
            .authenticate(keys.authenticator)
            .check_database(store)
            .start(config.listen, shutdown)
            .await
    }
}
