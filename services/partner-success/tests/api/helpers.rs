use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use themodel_partner_success::{
    Application, NAME,
    onboarding::Onboarding,
    revenue::Revenue,
    store::{deals::Deals, tiers::Tiers},
};
pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::{Keys, Role},
    client::{ClientConfig, Clients},
    server::{Server, ServerConfig},
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    common::{Date, Money},
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::health_service_client::HealthServiceClient,
    onboarding::onboarding_service_client::OnboardingServiceClient,
    operations::{self as ops, operations_service_client::OperationsServiceClient},
    partner_success::{self as pb, partner_success_service_client::PartnerSuccessServiceClient},
    segmentation::{self as seg, segmentation_service_client::SegmentationServiceClient},
};
use tokio_util::sync::CancellationToken;
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = PartnerSuccessServiceClient<InterceptedService<Channel, Bearer>>;
pub type ExpansionClient = ExpansionServiceClient<InterceptedService<Channel, Bearer>>;
pub type HealthClient = HealthServiceClient<InterceptedService<Channel, Bearer>>;
pub type OnboardingClient = OnboardingServiceClient<InterceptedService<Channel, Bearer>>;

/// The partner-success service and the segmentation service whose accounts
/// it follows, each on port 0 against a fresh database, the expansion
/// service whose revenue report it reads, when a test needs it, and the
/// health and onboarding services and the proxies counting calls, when a
/// test reads scorecards.
pub struct TestApp(
    TestService,
    TestService,
    Option<TestService>,
    Option<Reports>,
);

/// What the scorecards read beyond the expansion service: the health and
/// onboarding services, and the calls the partner-success service made to
/// its peers.
pub struct Reports {
    health: TestService,
    onboarding: TestService,
    /// Calls to the expansion service.
    pub expansion_calls: Calls,
    /// Calls to the health service.
    pub health_calls: Calls,
    /// Calls to the onboarding service.
    pub onboarding_calls: Calls,
    /// The service's peers (expansion, health and onboarding behind their
    /// proxies), by name.
    peers: Vec<(String, String)>,
    _proxies: tokio_util::sync::DropGuard,
}

/// The methods called through a counting proxy, in order.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// The methods called since the last take (e.g. `GetHealthSummary`), in
    /// order; forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// A proxy that forwards every call to `target` and records its method in
/// `calls`; its URL. It stops when `shutdown` is cancelled.
async fn counting_proxy(target: &TestService, calls: Calls, shutdown: CancellationToken) -> String {
    let channel = target.channel.clone();
    let service = tower::service_fn(move |request: http::Request<axum::body::Body>| {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        calls.0.lock().expect("lock").push(method.to_owned());
        let channel = channel.clone();
        async move {
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
            let response = match tower::ServiceExt::oneshot(channel, request).await {
                Ok(response) => response,
                Err(err) => tonic::Status::unavailable(err.to_string()).into_http(),
            };
            Ok::<_, Infallible>(response)
        }
    });
    let running = Server::new("proxy", "proxy.themodel", &ServerConfig::default())
        .fallback(service)
        .start(
            "127.0.0.1:0".parse::<std::net::SocketAddr>().expect("addr"),
            shutdown,
        )
        .await
        .expect("proxy");
    let url = format!("http://{}", running.addr);
    tokio::spawn(running.run);
    url
}

/// The URL of a port nothing listens on.
async fn unreachable() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Starts segmentation, expansion (following segmentation), health (with
/// both as its peers, scoring nothing in the background), onboarding (with
/// the three as its peers), and the service with segmentation as its peer
/// and expansion, health and onboarding behind proxies that count its
/// calls; the peer named in `unreachable`, if any, is given an address
/// nothing listens on instead. Products "analytics" and "workspace" (monthly
/// plans at 10 USD a seat) are in the catalogue.
pub async fn spawn_app_with_reports(unreachable_peer: Option<&str>) -> TestApp {
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
    let health_peers = peers_of(&segmentation, Some(&expansion));
    let health = TestService::start(
        TestDatabase::new().await,
        |settings| {
            settings.peers = health_peers;
            // Only what a test scores is scored.
            settings.store.queue_interval_ms = 3_600_000;
        },
        themodel_health::Application::build,
    )
    .await;
    let mut onboarding_peers = peers_of(&segmentation, Some(&expansion));
    onboarding_peers.push(("health".to_owned(), format!("http://{}", health.addr)));
    let onboarding = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = onboarding_peers,
        themodel_onboarding::Application::build,
    )
    .await;
    let proxies = CancellationToken::new();
    let (expansion_calls, health_calls, onboarding_calls) =
        (Calls::default(), Calls::default(), Calls::default());
    let mut expansion_url =
        counting_proxy(&expansion, expansion_calls.clone(), proxies.clone()).await;
    let mut health_url = counting_proxy(&health, health_calls.clone(), proxies.clone()).await;
    let mut onboarding_url =
        counting_proxy(&onboarding, onboarding_calls.clone(), proxies.clone()).await;
    match unreachable_peer {
        Some("expansion") => expansion_url = unreachable().await,
        Some("health") => health_url = unreachable().await,
        Some("onboarding") => onboarding_url = unreachable().await,
        _ => {}
    }
    let peers = vec![
        (
            "segmentation".to_owned(),
            format!("http://{}", segmentation.addr),
        ),
        ("expansion".to_owned(), expansion_url),
        ("health".to_owned(), health_url),
        ("onboarding".to_owned(), onboarding_url),
    ];
    let service = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = peers.clone(),
        Application::build,
    )
    .await;
    let app = TestApp(
        service,
        segmentation,
        Some(expansion),
        Some(Reports {
            health,
            onboarding,
            expansion_calls,
            health_calls,
            onboarding_calls,
            peers,
            _proxies: proxies.drop_guard(),
        }),
    );
    for (product_key, display_name) in [("analytics", "Analytics"), ("workspace", "Workspace")] {
        app.expansion()
            .create_product(ex::CreateProductRequest {
                product: Some(ex::Product {
                    product_key: product_key.into(),
                    display_name: display_name.into(),
                    plans: vec![ex::Plan {
                        plan_key: "monthly".into(),
                        display_name: "Monthly".into(),
                        list_price: usd(10),
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
    app
}

/// Starts segmentation, then the service with segmentation as its peer.
pub async fn spawn_app() -> TestApp {
    let segmentation = TestService::start(
        TestDatabase::new().await,
        |_| {},
        themodel_segmentation::Application::build,
    )
    .await;
    let peer = format!("http://{}", segmentation.addr);
    let service = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = vec![("segmentation".into(), peer)],
        Application::build,
    )
    .await;
    TestApp(service, segmentation, None, None)
}

/// Starts segmentation, expansion (following segmentation), then the
/// service with both as its peers.
pub async fn spawn_app_with_expansion() -> TestApp {
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
    let peers = peers_of(&segmentation, Some(&expansion));
    let service = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = peers,
        Application::build,
    )
    .await;
    TestApp(service, segmentation, Some(expansion), None)
}

fn peers_of(segmentation: &TestService, expansion: Option<&TestService>) -> Vec<(String, String)> {
    let mut peers = vec![(
        "segmentation".to_owned(),
        format!("http://{}", segmentation.addr),
    )];
    if let Some(expansion) = expansion {
        peers.push(("expansion".to_owned(), format!("http://{}", expansion.addr)));
    }
    peers
}

impl TestApp {
    /// A client acting as `role`; a partner user belongs to partner "p-1".
    pub fn client(&self, role: Role) -> Client {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        self.client_with(Bearer::new(role, partner))
    }

    pub fn client_with(&self, bearer: Bearer) -> Client {
        PartnerSuccessServiceClient::with_interceptor(self.0.channel.clone(), bearer)
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
    }

    /// A partner user of `partner`.
    pub fn portal(&self, partner: &str) -> Client {
        self.client_with(Bearer::new(Role::PartnerUser, Some(partner)))
    }

    /// Creates an account in segmentation, of `partner` when given, with
    /// `domain` when given; its id.
    pub async fn account(&self, name: &str, partner: Option<&str>, domain: Option<&str>) -> String {
        let mut segmentation = SegmentationServiceClient::with_interceptor(
            self.1.channel.clone(),
            Bearer::new(Role::Admin, None),
        );
        segmentation
            .create_account(seg::CreateAccountRequest {
                account: Some(seg::Account {
                    name: name.into(),
                    partner_id: partner.unwrap_or_default().into(),
                    domain: domain.unwrap_or_default().into(),
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
            .expect("create account")
            .into_inner()
            .account
            .expect("account")
            .id
    }

    /// The service's store, opened beside the running service (for its jobs'
    /// methods).
    pub async fn store(&self) -> themodel_platform::store::Store {
        let db = themodel_platform::store::connect(&self.0.db.url)
            .await
            .expect("connect");
        themodel_platform::store::Store::open(db, NAME)
            .await
            .expect("open store")
    }

    /// The deals repository over the service's database.
    pub async fn deals(&self) -> Deals {
        Deals::new(self.store().await)
    }

    /// The tier repository over the service's database, calling the
    /// service's peers as the service itself (as its jobs do): through the
    /// counting proxies for an app started with [`spawn_app_with_reports`].
    pub async fn tiers(&self) -> Tiers {
        let keys = Keys::load(&themodel_platform::testing::auth_config()).expect("keys");
        let identity = keys.service_identity(NAME).expect("service identity");
        let peers = match &self.3 {
            Some(reports) => reports.peers.clone(),
            None => peers_of(&self.1, self.2.as_ref()),
        };
        let clients = Clients::new(
            NAME,
            std::sync::Arc::new(identity),
            &ClientConfig::default(),
            &peers,
        )
        .expect("clients");
        Tiers::new(
            self.store().await,
            Revenue::new(clients.clone()),
            Onboarding::new(clients),
        )
    }

    /// An expansion service client acting as an admin.
    pub fn expansion(&self) -> ExpansionClient {
        self.expansion_as(Role::Admin)
    }

    /// An expansion service client acting as `role` (not a partner user).
    pub fn expansion_as(&self, role: Role) -> ExpansionClient {
        let expansion = self.2.as_ref().expect("started with expansion");
        ExpansionServiceClient::with_interceptor(expansion.channel.clone(), Bearer::new(role, None))
    }

    /// The health service and the calls made to the peers, for an app
    /// started with [`spawn_app_with_reports`].
    pub fn reports(&self) -> &Reports {
        self.3.as_ref().expect("started with reports")
    }

    /// A health service client acting as `role` (a partner user of "p-1").
    pub fn health(&self, role: Role) -> HealthClient {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        HealthServiceClient::with_interceptor(
            self.reports().health.channel.clone(),
            Bearer::new(role, partner),
        )
    }

    /// An onboarding service client acting as an admin.
    pub fn onboarding(&self) -> OnboardingClient {
        OnboardingServiceClient::with_interceptor(
            self.reports().onboarding.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
    }

    /// A segmentation service client acting as an admin.
    pub fn segmentation(&self) -> SegmentationServiceClient<InterceptedService<Channel, Bearer>> {
        SegmentationServiceClient::with_interceptor(
            self.1.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
    }

    /// Waits until the service's account projection holds `account_id`.
    pub async fn projected(&self, account_id: &str) {
        let store = self.store().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = themodel_platform::accounts::projected(&store.db, &[account_id])
                .await
                .expect("read projection");
            if !found.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "account {account_id} never reached the projection"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The service's job `name` once its first run has finished (every job
    /// runs once when the service starts), waiting for it.
    pub async fn first_run_of(&self, name: &str) -> ops::Job {
        let mut operations = OperationsServiceClient::with_interceptor(
            self.0.channel.clone(),
            Bearer::new(Role::Admin, None),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let jobs = operations
                .list_jobs(ops::ListJobsRequest::default())
                .await
                .expect("list jobs")
                .into_inner()
                .jobs;
            if let Some(job) = jobs
                .into_iter()
                .find(|j| j.name == name && j.last_outcome() != ops::JobOutcome::Unspecified)
            {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {name} never ran"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every partner, across pages, as an admin sees them.
    pub async fn all_partners(&self) -> Vec<pb::Partner> {
        let mut client = self.admin();
        let mut partners = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_partners(pb::ListPartnersRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_inner();
            partners.extend(page.partners);
            if page.next_page_token.is_empty() {
                return partners;
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

/// An active resale partner whose customers the partner itself serves.
pub fn partner(partner_id: &str) -> pb::Partner {
    pb::Partner {
        partner_id: partner_id.into(),
        display_name: format!("Partner {partner_id}"),
        contract_form: pb::ContractForm::Resale as i32,
        cs_model: pb::CsModel::PartnerLed as i32,
        status: pb::PartnerStatus::Active as i32,
        ..Default::default()
    }
}

pub fn create(partner: pb::Partner) -> pb::CreatePartnerRequest {
    pb::CreatePartnerRequest {
        partner: Some(partner),
        request_id: String::new(),
    }
}

pub async fn create_ok(client: &mut Client, partner: pb::Partner) -> pb::Partner {
    client
        .create_partner(create(partner))
        .await
        .expect("create")
        .into_inner()
        .partner
        .expect("partner")
}

/// An update of `patch` (which carries the id) naming `paths`, without an
/// idempotency key.
pub fn update(patch: pb::Partner, paths: &[&str]) -> pb::UpdatePartnerRequest {
    pb::UpdatePartnerRequest {
        partner: Some(patch),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        request_id: String::new(),
    }
}

pub async fn update_ok(client: &mut Client, patch: pb::Partner, paths: &[&str]) -> pb::Partner {
    client
        .update_partner(update(patch, paths))
        .await
        .expect("update")
        .into_inner()
        .partner
        .expect("partner")
}

pub async fn get_ok(client: &mut Client, partner_id: &str) -> pb::Partner {
    client
        .get_partner(pb::GetPartnerRequest {
            partner_id: partner_id.into(),
        })
        .await
        .expect("get")
        .into_inner()
        .partner
        .expect("partner")
}

pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

pub fn usd(units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        units,
        nanos: 0,
    })
}

/// Registers partners `ids` (active) as an admin.
pub async fn partners(app: &TestApp, ids: &[&str]) {
    let mut admin = app.admin();
    for id in ids {
        create_ok(&mut admin, partner(id)).await;
    }
}

/// The events of type `M` in the log, decoded.
pub fn payloads<M: prost::Name + Default>(events: &[ev::Event]) -> Vec<M> {
    events
        .iter()
        .filter(|e| e.r#type == M::full_name())
        .map(|e| M::decode(e.payload.as_ref().expect("payload").value.as_slice()).expect("decode"))
        .collect()
}

/// The status of a call expected to fail.
pub fn refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
) -> tonic::Status {
    result.expect_err("refused")
}
