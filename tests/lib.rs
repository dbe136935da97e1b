//! Boots the whole suite on port 0 against fresh databases, for the tests in
//! `tests/`.

use std::net::SocketAddr;

use themodel::{Suite, SuiteConfig};
use themodel_platform::{
    auth::Role,
    registry,
    server::ServerConfig,
    store::StoreConfig,
    testing::{Bearer, TestDatabase, auth_config},
};
use tokio_util::sync::CancellationToken;
use tonic::{service::interceptor::InterceptedService, transport::Channel};

/// The running suite; stops when dropped.
pub struct TestSuite {
    /// The gateway's address.
    pub gateway: SocketAddr,
    /// The segmentation service's own address.
    pub segmentation: SocketAddr,
    shutdown: CancellationToken,
    run: Option<tokio::task::JoinHandle<()>>,
    _databases: Vec<TestDatabase>,
}

impl Drop for TestSuite {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestSuite {
    /// Starts every service and the gateway.
    pub async fn start() -> TestSuite {
        Self::start_with(|_| {}).await
    }

    /// Starts the suite with its test configuration changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut SuiteConfig)) -> TestSuite {
        themodel_platform::telemetry::init_for_tests();
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let mut databases = Vec::new();
        let mut database_urls = Vec::new();
        for service in registry::SERVICES {
            let db = TestDatabase::new().await;
            database_urls.push((service.name.to_owned(), db.url.clone()));
            databases.push(db);
        }
        let mut config = SuiteConfig {
            gateway_listen: any,
            listen: registry::SERVICES
                .iter()
                .map(|s| (s.name.to_owned(), any))
                .collect(),
            database_urls,
            server: ServerConfig {
                drain_timeout_secs: 5,
                ..ServerConfig::default()
            },
            store: StoreConfig::default(),
            client: Default::default(),
            auth: auth_config(),
            web: Default::default(),
        };
        configure(&mut config);
        let shutdown = CancellationToken::new();
        let suite = Suite::start(config, shutdown.clone())
            .await
            .expect("start suite");
        let segmentation = suite
            .services
            .iter()
            .find(|(name, _)| *name == "segmentation")
            .map(|(_, addr)| *addr)
            .expect("segmentation address");
        let run = tokio::spawn(async move {
            suite.run.await.expect("suite ran");
        });
        TestSuite {
            gateway: suite.gateway,
            segmentation,
            shutdown,
            run: Some(run),
            _databases: databases,
        }
    }

    /// A channel to the gateway.
    pub async fn gateway_channel(&self) -> Channel {
        channel(self.gateway).await
    }

    /// A channel straight to the segmentation service.
    pub async fn segmentation_channel(&self) -> Channel {
        channel(self.segmentation).await
    }

    /// Asks the suite to stop and waits until it has drained.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(run) = self.run.take() {
            run.await.expect("suite stopped cleanly");
        }
    }
}

/// A channel to `addr`.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// A typed client that sends a token for `role`.
pub fn with_role(channel: Channel, role: Role) -> InterceptedService<Channel, Bearer> {
    InterceptedService::new(channel, Bearer::new(role, None))
}

/// A typed client that sends a partner user's token.
pub fn as_partner(channel: Channel, partner: &str) -> InterceptedService<Channel, Bearer> {
    InterceptedService::new(channel, Bearer::new(Role::PartnerUser, Some(partner)))
}

/// A gateway of its own in front of `backends` (`(service, url)`), running
/// until the returned guard is dropped; its address.
pub async fn start_gateway(
    backends: Vec<(String, String)>,
) -> (SocketAddr, tokio_util::sync::DropGuard) {
    themodel_platform::telemetry::init_for_tests();
    let shutdown = CancellationToken::new();
    let gateway = themodel_gateway::Application::build(
        themodel_gateway::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            backends,
            backend_connections: 1,
            server: ServerConfig::default(),
            auth: auth_config(),
            web: Default::default(),
        },
        shutdown.clone(),
    )
    .await
    .expect("gateway");
    let addr = gateway.addr;
    tokio::spawn(gateway.run);
    (addr, shutdown.drop_guard())
}

/// An address nothing listens on.
pub fn closed_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A request the gateway routes to `source`'s copy of a contract every
/// service serves (event feed, operations).
pub fn to_source<T>(message: T, source: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "x-themodel-source",
        source.parse().expect("a service name is ASCII"),
    );
    request
}
