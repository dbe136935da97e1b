pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    common::Money,
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use themodel_segmentation::{Application, Config};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = SegmentationServiceClient<InterceptedService<Channel, Bearer>>;
pub type FeedClient = EventFeedServiceClient<InterceptedService<Channel, Bearer>>;

pub struct TestApp(TestService);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The configuration a test app starts with, on a fresh database.
pub fn test_config(db: &TestDatabase) -> Config {
    TestService::settings(db)
}

/// Starts the service with its test configuration changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on_with(TestDatabase::new().await, configure).await
}

/// Starts the service on a database the test prepared.
pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    spawn_app_on_with(db, |_| {}).await
}

/// Starts the service on a database the test prepared, its configuration
/// changed by `configure`.
pub async fn spawn_app_on_with(db: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
    TestApp(TestService::start(db, configure, Application::build).await)
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
        SegmentationServiceClient::with_interceptor(self.0.channel.clone(), Bearer::new(role, None))
    }

    pub fn partner_client(&self, partner: &str) -> Client {
        SegmentationServiceClient::with_interceptor(
            self.0.channel.clone(),
            Bearer::new(Role::PartnerUser, Some(partner)),
        )
    }

    pub fn client_with(&self, bearer: Bearer) -> Client {
        SegmentationServiceClient::with_interceptor(self.0.channel.clone(), bearer)
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    pub fn feed(&self, role: Role) -> FeedClient {
        EventFeedServiceClient::with_interceptor(self.0.channel.clone(), Bearer::new(role, None))
    }

    /// The service's database, for tests that work on its store directly.
    pub fn database_url(&self) -> &str {
        &self.0.db.url
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.0.addr
    }

    pub fn channel(&self) -> Channel {
        self.0.channel.clone()
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
