use themodel_health::Application;
pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    common::Money,
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::{self as pb, health_service_client::HealthServiceClient},
    segmentation::{self as seg, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = HealthServiceClient<InterceptedService<Channel, Bearer>>;

/// The health service, with the segmentation and expansion services it asks
/// about accounts and products.
pub struct TestApp {
    pub health: TestService,
    segmentation: TestService,
    expansion: TestService,
}

/// Starts segmentation and expansion, then the service with both as peers,
/// and puts product "analytics" in the catalogue. The service scores no
/// account in the background (its queue is drained hourly), so what a test
/// scores is all there is.
pub async fn spawn_app() -> TestApp {
    spawn_app_scoring_every(3_600_000).await
}

/// As [`spawn_app`], the queue of accounts to score drained every
/// `interval_ms`.
pub async fn spawn_app_scoring_every(interval_ms: u64) -> TestApp {
    let segmentation = TestService::start(
        TestDatabase::new().await,
        |_| {},
        themodel_segmentation::Application::build,
    )
    .await;
    let segmentation_url = format!("http://{}", segmentation.addr);
    let expansion = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = vec![("segmentation".into(), segmentation_url)],
        themodel_expansion::Application::build,
    )
    .await;
    let peers = vec![
        (
            "segmentation".to_owned(),
            format!("http://{}", segmentation.addr),
        ),
        ("expansion".to_owned(), format!("http://{}", expansion.addr)),
    ];
    let health = TestService::start(
        TestDatabase::new().await,
        |settings| {
            settings.peers = peers;
            settings.store.queue_interval_ms = interval_ms;
        },
        Application::build,
    )
    .await;
    let app = TestApp {
        health,
        segmentation,
        expansion,
    };
    // Every job runs once when the service starts: the sweep and the queue's
    // first runs are over before a test sends usage, so what is scored in
    // the background is what the test queues.
    app.health.first_run_of("score-sweep").await;
    app.health.first_run_of("score-queue").await;
    app.product("analytics").await;
    app
}

impl TestApp {
    pub fn client(&self, role: Role) -> Client {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        HealthServiceClient::with_interceptor(
            self.health.channel.clone(),
            Bearer::new(role, partner),
        )
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    /// A client of the expansion service, as admin.
    pub fn expansion(&self) -> ExpansionServiceClient<InterceptedService<Channel, Bearer>> {
        ExpansionServiceClient::with_interceptor(
            self.expansion.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
    }

    /// Adds product `key` to the expansion service's catalogue.
    pub async fn product(&self, key: &str) {
        ExpansionServiceClient::with_interceptor(
            self.expansion.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: key.into(),
                display_name: key.into(),
                plans: vec![ex::Plan {
                    plan_key: "monthly".into(),
                    display_name: "Monthly".into(),
                    list_price: Some(Money {
                        currency_code: "USD".into(),
                        units: 10,
                        nanos: 0,
                    }),
                    billing_period: ex::BillingPeriod::Monthly as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("product");
    }

    /// Subscribes `account_id` to `seats` seats of the product's monthly plan
    /// from `start` on; the subscription's id.
    pub async fn subscribe(
        &self,
        account_id: &str,
        product_key: &str,
        seats: i64,
        start: (i32, i32, i32),
    ) -> String {
        ExpansionServiceClient::with_interceptor(
            self.expansion.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                account_id: account_id.into(),
                product_key: product_key.into(),
                plan_key: "monthly".into(),
                terms: vec![ex::SubscriptionTerm {
                    quantity: seats,
                    start_date: Some(themodel_proto::common::Date {
                        year: start.0,
                        month: start.1,
                        day: start.2,
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("subscription")
        .into_inner()
        .subscription
        .expect("subscription")
        .id
    }

    /// Creates an account in segmentation; its id.
    pub async fn account(&self, name: &str, external_id: &str, partner: Option<&str>) -> String {
        SegmentationServiceClient::with_interceptor(
            self.segmentation.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
        .create_account(seg::CreateAccountRequest {
            account: Some(seg::Account {
                name: name.into(),
                external_id: external_id.into(),
                partner_id: partner.unwrap_or_default().into(),
                acv: Some(Money {
                    currency_code: "USD".into(),
                    units: 12_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id
    }

    /// Applies money thresholds in segmentation: accounts over `high_above`
    /// USD are high touch, the others low touch.
    pub async fn tier_by_money(&self, high_above: i64) {
        let usd = |units| {
            Some(Money {
                currency_code: "USD".into(),
                units,
                nanos: 0,
            })
        };
        SegmentationServiceClient::with_interceptor(
            self.segmentation.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
        .apply_tier_policy(seg::ApplyTierPolicyRequest {
            rules: Some(seg::TierPolicyRules {
                cutoffs: Some(seg::tier_policy_rules::Cutoffs::Thresholds(
                    seg::TierThresholds {
                        high_touch_above: usd(high_above),
                        low_touch_above: usd(0),
                    },
                )),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("tier policy");
    }

    /// The tier of `account_id` in the service's account projection.
    pub async fn projected_tier(&self, account_id: &str) -> Option<String> {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(self.health.db.url.as_str())
            .await
            .expect("connect");
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                db.get_database_backend(),
                match db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT tier FROM projected_accounts WHERE account_id = $1"
                    }
                    _ => "SELECT tier FROM projected_accounts WHERE account_id = ?",
                },
                [account_id.into()],
            ))
            .await
            .expect("tier");
        let tier = row.map(|r| r.try_get::<String>("", "tier").expect("tier"));
        db.close().await.expect("close");
        tier
    }

    /// Every event in the service's log, oldest first.
    pub async fn events(&self) -> Vec<ev::Event> {
        let mut feed = EventFeedServiceClient::with_interceptor(
            self.health.channel.clone(),
            Bearer::new(Role::Bizops, None),
        );
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
            events.extend(page.events);
        }
    }

    /// Usage rows stored.
    pub async fn stored_usage(&self) -> i64 {
        self.rows("usage_events").await
    }

    /// Rows in `table` of the service's database.
    pub async fn rows(&self, table: &str) -> i64 {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(self.health.db.url.as_str())
            .await
            .expect("connect");
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        let n = row.try_get::<i64>("", "n").expect("n");
        db.close().await.expect("close");
        n
    }
}

pub fn feature(product_key: &str, feature_key: &str, key_feature: bool) -> pb::Feature {
    pb::Feature {
        product_key: product_key.into(),
        feature_key: feature_key.into(),
        display_name: format!("Feature {feature_key}"),
        key_feature,
        ..Default::default()
    }
}

pub async fn create_feature(client: &mut Client, f: pb::Feature) -> pb::Feature {
    client
        .create_feature(pb::CreateFeatureRequest {
            feature: Some(f),
            request_id: String::new(),
        })
        .await
        .expect("create feature")
        .into_inner()
        .feature
        .expect("feature")
}

/// A use of `feature_key` of "analytics" by user "u-1" of `account_id` an
/// hour ago.
pub fn usage(account_id: &str, feature_key: &str) -> pb::UsageEvent {
    let at = chrono::Utc::now() - chrono::Duration::hours(1);
    pb::UsageEvent {
        account_id: account_id.into(),
        user_id: "u-1".into(),
        product_key: "analytics".into(),
        feature_key: feature_key.into(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        count: 1,
        ..Default::default()
    }
}

/// A use of `feature_key` of "analytics" by `user` of `account_id` at
/// noon `days_ago` days ago (UTC), or now when that is today before noon.
pub fn usage_on(account_id: &str, feature_key: &str, user: &str, days_ago: i64) -> pb::UsageEvent {
    let now = chrono::Utc::now();
    let day = now.date_naive() - chrono::Days::new(days_ago as u64);
    // Noon, or now when today's noon is still ahead.
    let at = day.and_hms_opt(12, 0, 0).expect("noon").and_utc().min(now);
    pb::UsageEvent {
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        user_id: user.into(),
        ..usage(account_id, feature_key)
    }
}

/// The day `days` days ago (UTC); ahead for a negative `days`.
pub fn days_ago(days: i64) -> themodel_proto::common::Date {
    let today = chrono::Utc::now().date_naive();
    themodel_platform::validate::date_to_proto(if days >= 0 {
        today - chrono::Days::new(days.unsigned_abs())
    } else {
        today + chrono::Days::new(days.unsigned_abs())
    })
}

/// Waits up to ten seconds for `check` to hold.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The events of type `M` in the log, decoded.
pub fn payloads<M: prost::Name + Default>(events: &[ev::Event]) -> Vec<M> {
    events
        .iter()
        .filter(|e| e.r#type == M::full_name())
        .map(|e| M::decode(e.payload.as_ref().expect("payload").value.as_slice()).expect("decode"))
        .collect()
}
