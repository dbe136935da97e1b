use themodel_platform::{
    auth::Role,
    server::ServerConfig,
    store::StoreConfig,
    testing::{Bearer, TestDatabase, auth_config},
};
use themodel_proto::{
    common::Money,
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use themodel_segmentation::{Application, Config};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status, service::interceptor::InterceptedService, transport::Channel};
use tonic_types::StatusExt;

pub type Client = SegmentationServiceClient<InterceptedService<Channel, Bearer>>;
pub type FeedClient = EventFeedServiceClient<InterceptedService<Channel, Bearer>>;

pub struct TestApp {
    addr: std::net::SocketAddr,
    channel: Channel,
    shutdown: CancellationToken,
    _db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The configuration a test app starts with, on a fresh database.
pub fn test_config(db: &TestDatabase) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: db.url.clone(),
        server: ServerConfig::default(),
        store: StoreConfig::default(),
        auth: auth_config(),
    }
}

/// Starts the service with its test configuration changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    themodel_platform::telemetry::init_for_tests();
    start(TestDatabase::new().await, configure).await
}

/// Starts the service on a database the test prepared.
pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    spawn_app_on_with(db, |_| {}).await
}

/// Starts the service on a database the test prepared, its configuration
/// changed by `configure`.
pub async fn spawn_app_on_with(db: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
    start(db, configure).await
}

async fn start(db: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&db);
    configure(&mut config);
    let shutdown = CancellationToken::new();
    let running = Application::build(config, shutdown.clone())
        .await
        .expect("start segmentation");
    let addr = running.addr;
    tokio::spawn(running.run);
    TestApp {
        addr,
        channel: connect(addr).await,
        shutdown,
        _db: db,
    }
}

pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

impl TestApp {
    pub fn client(&self, role: Role) -> Client {
        SegmentationServiceClient::with_interceptor(self.channel.clone(), Bearer::new(role, None))
    }

    pub fn partner_client(&self, partner: &str) -> Client {
        SegmentationServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(Role::PartnerUser, Some(partner)),
        )
    }

    pub fn client_with(&self, bearer: Bearer) -> Client {
        SegmentationServiceClient::with_interceptor(self.channel.clone(), bearer)
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    pub fn feed(&self, role: Role) -> FeedClient {
        EventFeedServiceClient::with_interceptor(self.channel.clone(), Bearer::new(role, None))
    }

    /// The service's database, for tests that work on its store directly.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Every account visible to an admin, across pages.
    pub async fn all_accounts(&self) -> Vec<pb::Account> {
        let mut client = self.admin();
        let mut accounts = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_accounts(pb::ListAccountsRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_inner();
            accounts.extend(page.accounts);
            if page.next_page_token.is_empty() {
                return accounts;
            }
            page_token = page.next_page_token;
        }
    }
}

/// Every event of `type_name` in the service's log, oldest first.
pub async fn events_of_type(app: &TestApp, type_name: &str) -> Vec<ev::Event> {
    let mut feed = app.feed(Role::Bizops);
    let mut events = Vec::new();
    let mut after_sequence = 0;
    loop {
        let page = feed
            .list_events(ev::ListEventsRequest {
                after_sequence,
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("events")
            .into_inner();
        let Some(last) = page.events.last() else {
            return events;
        };
        after_sequence = last.sequence;
        events.extend(page.events.into_iter().filter(|e| e.r#type == type_name));
    }
}

pub fn jpy(units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "JPY".into(),
        units,
        nanos: 0,
    })
}

pub fn account(name: &str) -> pb::Account {
    pb::Account {
        name: name.into(),
        acv: jpy(1_200_000),
        ..Default::default()
    }
}

/// An account of partner `partner`.
pub fn partner_account(name: &str, partner: &str) -> pb::Account {
    pb::Account {
        partner_id: partner.into(),
        ..account(name)
    }
}

pub fn create(account: pb::Account) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(account),
        request_id: String::new(),
    }
}

/// An update of `patch` (which carries the id) naming `paths`, without an
/// idempotency key.
pub fn update(patch: pb::Account, paths: &[&str]) -> pb::UpdateAccountRequest {
    pb::UpdateAccountRequest {
        account: Some(patch),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        request_id: String::new(),
    }
}

/// Money thresholds: above `high` yen high-touch, above `low` low-touch.
pub fn thresholds(high: i64, low: i64) -> Option<pb::TierPolicyRules> {
    Some(pb::TierPolicyRules {
        cutoffs: Some(pb::tier_policy_rules::Cutoffs::Thresholds(
            pb::TierThresholds {
                high_touch_above: jpy(high),
                low_touch_above: jpy(low),
            },
        )),
        ..Default::default()
    })
}

/// An apply of money thresholds, without an idempotency key.
pub fn by_money(high: i64, low: i64) -> pb::ApplyTierPolicyRequest {
    pb::ApplyTierPolicyRequest {
        rules: thresholds(high, low),
        ..Default::default()
    }
}

/// Updates the `paths` of `patch` (which carries the id); returns the account.
pub async fn update_ok(client: &mut Client, patch: pb::Account, paths: &[&str]) -> pb::Account {
    client
        .update_account(update(patch, paths))
        .await
        .expect("update")
        .into_inner()
        .account
        .expect("account")
}

pub async fn create_ok(client: &mut Client, account: pb::Account) -> pb::Account {
    client
        .create_account(create(account))
        .await
        .expect("create")
        .into_inner()
        .account
        .expect("account")
}

/// The field paths of an INVALID_ARGUMENT status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("bad request details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &Status) -> String {
    status.get_details_error_info().expect("error info").reason
}
