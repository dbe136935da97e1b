use themodel_expansion::Application;
pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    common::Money,
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    expansion::{self as pb, expansion_service_client::ExpansionServiceClient},
    segmentation::{self as seg, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = ExpansionServiceClient<InterceptedService<Channel, Bearer>>;

/// The expansion service and the segmentation service it follows, each on
/// port 0 against a fresh database.
pub struct TestApp(TestService, TestService);

/// Starts segmentation, then the service with segmentation as its peer.
pub async fn spawn_app() -> TestApp {
    let segmentation = TestService::start(
        TestDatabase::new().await,
        |_| {},
        themodel_segmentation::Application::build,
    )
    .await;
    let peer = format!("http://{}", segmentation.addr);
    let expansion = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = vec![("segmentation".into(), peer)],
        Application::build,
    )
    .await;
    TestApp(expansion, segmentation)
}

impl TestApp {
    /// A client acting as `role`; a partner user belongs to partner "p-1".
    pub fn client(&self, role: Role) -> Client {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        self.client_with(Bearer::new(role, partner))
    }

    pub fn client_with(&self, bearer: Bearer) -> Client {
        ExpansionServiceClient::with_interceptor(self.0.channel.clone(), bearer)
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    /// Registers CSM `id` of team `team` in segmentation.
    pub async fn csm(&self, id: &str, team: &str) {
        let mut segmentation = SegmentationServiceClient::with_interceptor(
            self.1.channel.clone(),
            Bearer::new(Role::Admin, None),
        );
        segmentation
            .create_csm(seg::CreateCsmRequest {
                csm: Some(seg::Csm {
                    id: id.into(),
                    display_name: format!("CSM {id}"),
                    team_id: team.into(),
                    tier: seg::Tier::HighTouch as i32,
                    ..Default::default()
                }),
                team_start_date: None,
                request_id: String::new(),
            })
            .await
            .expect("create csm");
    }

    /// Creates an account in segmentation, of `partner` when given; its id.
    pub async fn account(&self, name: &str, partner: Option<&str>) -> String {
        let mut segmentation = SegmentationServiceClient::with_interceptor(
            self.1.channel.clone(),
            Bearer::new(Role::Admin, None),
        );
        segmentation
            .create_account(seg::CreateAccountRequest {
                account: Some(seg::Account {
                    name: name.into(),
                    partner_id: partner.unwrap_or_default().into(),
                    acv: usd(12_000),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("create account")
            .into_inner()
            .account
            .expect("account")
            .id
    }

    /// Every product, retired ones included, across pages.
    pub async fn all_products(&self) -> Vec<pb::Product> {
        let mut client = self.admin();
        let mut products = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_products(pb::ListProductsRequest {
                    page_size: 1000,
                    page_token,
                    include_retired: true,
                })
                .await
                .expect("list")
                .into_inner();
            products.extend(page.products);
            if page.next_page_token.is_empty() {
                return products;
            }
            page_token = page.next_page_token;
        }
    }

    /// Every event in the service's log, oldest first.
    pub async fn events(&self) -> Vec<ev::Event> {
        let mut feed = EventFeedServiceClient::with_interceptor(
            self.0.channel.clone(),
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
}

pub fn money(currency_code: &str, units: i64, nanos: i32) -> Option<Money> {
    Some(Money {
        currency_code: currency_code.into(),
        units,
        nanos,
    })
}

pub fn usd(units: i64) -> Option<Money> {
    money("USD", units, 0)
}

pub fn plan(plan_key: &str, list_price: Option<Money>, period: pb::BillingPeriod) -> pb::Plan {
    pb::Plan {
        plan_key: plan_key.into(),
        display_name: format!("Plan {plan_key}"),
        list_price,
        billing_period: period as i32,
        ..Default::default()
    }
}

/// A product with a monthly plan at 100 USD and an annual one at 2,000 USD.
pub fn product(product_key: &str) -> pb::Product {
    pb::Product {
        product_key: product_key.into(),
        display_name: format!("Product {product_key}"),
        description: "Dashboards and reports".into(),
        plans: vec![
            plan("pro-monthly", usd(100), pb::BillingPeriod::Monthly),
            plan("pro-annual", usd(2000), pb::BillingPeriod::Annual),
        ],
        ..Default::default()
    }
}

pub fn create(product: pb::Product) -> pb::CreateProductRequest {
    pb::CreateProductRequest {
        product: Some(product),
        request_id: String::new(),
    }
}

pub async fn create_ok(client: &mut Client, product: pb::Product) -> pb::Product {
    client
        .create_product(create(product))
        .await
        .expect("create")
        .into_inner()
        .product
        .expect("product")
}

/// An update of `patch` (which carries the key) naming `paths`, without an
/// idempotency key.
pub fn update(patch: pb::Product, paths: &[&str]) -> pb::UpdateProductRequest {
    pb::UpdateProductRequest {
        product: Some(patch),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        request_id: String::new(),
    }
}

pub async fn update_ok(client: &mut Client, patch: pb::Product, paths: &[&str]) -> pb::Product {
    client
        .update_product(update(patch, paths))
        .await
        .expect("update")
        .into_inner()
        .product
        .expect("product")
}

pub async fn get_ok(client: &mut Client, product_key: &str) -> pb::Product {
    client
        .get_product(pb::GetProductRequest {
            product_key: product_key.into(),
        })
        .await
        .expect("get")
        .into_inner()
        .product
        .expect("product")
}

pub fn date(year: i32, month: i32, day: i32) -> Option<themodel_proto::common::Date> {
    Some(themodel_proto::common::Date { year, month, day })
}

/// A monthly term of `quantity` units at `price` USD from `start` until `end`.
pub fn term(
    quantity: i64,
    price: i64,
    start: Option<themodel_proto::common::Date>,
    end: Option<themodel_proto::common::Date>,
) -> pb::SubscriptionTerm {
    pb::SubscriptionTerm {
        quantity,
        unit_price: usd(price),
        billing_period: pb::BillingPeriod::Monthly as i32,
        start_date: start,
        end_date: end,
        ..Default::default()
    }
}

/// A subscription of `account_id` to the "pro-monthly" plan of `product_key`.
pub fn subscription(
    account_id: &str,
    product_key: &str,
    terms: Vec<pb::SubscriptionTerm>,
) -> pb::Subscription {
    pb::Subscription {
        account_id: account_id.into(),
        product_key: product_key.into(),
        plan_key: "pro-monthly".into(),
        terms,
        ..Default::default()
    }
}

pub async fn subscribe(client: &mut Client, sub: pb::Subscription) -> pb::Subscription {
    client
        .create_subscription(pb::CreateSubscriptionRequest {
            subscription: Some(sub),
            request_id: String::new(),
        })
        .await
        .expect("create subscription")
        .into_inner()
        .subscription
        .expect("subscription")
}

pub async fn change(client: &mut Client, id: &str, term: pb::SubscriptionTerm) -> pb::Subscription {
    client
        .change_subscription(pb::ChangeSubscriptionRequest {
            id: id.into(),
            term: Some(term),
            ..Default::default()
        })
        .await
        .expect("change subscription")
        .into_inner()
        .subscription
        .expect("subscription")
}

pub async fn end(
    client: &mut Client,
    id: &str,
    end_date: Option<themodel_proto::common::Date>,
) -> pb::Subscription {
    client
        .end_subscription(pb::EndSubscriptionRequest {
            id: id.into(),
            end_date,
            ..Default::default()
        })
        .await
        .expect("end subscription")
        .into_inner()
        .subscription
        .expect("subscription")
}

/// The events of type `M` in the log, decoded.
pub fn payloads<M: prost::Name + Default>(events: &[ev::Event]) -> Vec<M> {
    events
        .iter()
        .filter(|e| e.r#type == M::full_name())
        .map(|e| M::decode(e.payload.as_ref().expect("payload").value.as_slice()).expect("decode"))
        .collect()
}
