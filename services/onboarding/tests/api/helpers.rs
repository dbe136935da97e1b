use themodel_onboarding::Application;
pub use themodel_platform::testing::{reason, violated_fields};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, TestService},
};
use themodel_proto::{
    common::{Date, Money},
    events as ev,
    events::event_feed_service_client::EventFeedServiceClient,
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::health_service_client::HealthServiceClient,
    onboarding::{self as pb, onboarding_service_client::OnboardingServiceClient},
    segmentation::{self as seg, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub type Client = OnboardingServiceClient<InterceptedService<Channel, Bearer>>;

/// The onboarding service, with the segmentation and expansion services it
/// asks about accounts and products.
pub struct TestApp {
    pub onboarding: TestService,
    segmentation: TestService,
    expansion: TestService,
    health: TestService,
}

/// Starts segmentation and expansion, then the service with both as peers,
/// and puts product "analytics" in the catalogue.
pub async fn spawn_app() -> TestApp {
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
    let health_peers = peers.clone();
    let health = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = health_peers,
        themodel_health::Application::build,
    )
    .await;
    let mut peers = peers;
    peers.push(("health".to_owned(), format!("http://{}", health.addr)));
    let onboarding = TestService::start(
        TestDatabase::new().await,
        |settings| settings.peers = peers,
        Application::build,
    )
    .await;
    ExpansionServiceClient::with_interceptor(
        expansion.channel.clone(),
        Bearer::new(Role::Admin, None),
    )
    .create_product(ex::CreateProductRequest {
        product: Some(ex::Product {
            product_key: "analytics".into(),
            display_name: "Analytics".into(),
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
    let app = TestApp {
        onboarding,
        segmentation,
        expansion,
        health,
    };
    // Every job runs once when the service starts: the stall check's first
    // run is over before a test opens plans, so only the test's own checks
    // find them.
    app.onboarding.first_run_of("detect-stalls").await;
    app
}

impl TestApp {
    pub fn client(&self, role: Role) -> Client {
        let partner = (role == Role::PartnerUser).then_some("p-1");
        OnboardingServiceClient::with_interceptor(
            self.onboarding.channel.clone(),
            Bearer::new(role, partner),
        )
    }

    pub fn admin(&self) -> Client {
        self.client(Role::Admin)
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

    /// A client of the expansion service, as admin.
    pub fn expansion(&self) -> ExpansionServiceClient<InterceptedService<Channel, Bearer>> {
        ExpansionServiceClient::with_interceptor(
            self.expansion.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
    }

    /// A client of the health service, as admin.
    pub fn health(&self) -> HealthServiceClient<InterceptedService<Channel, Bearer>> {
        HealthServiceClient::with_interceptor(
            self.health.channel.clone(),
            Bearer::new(Role::Admin, None),
        )
    }

    /// Waits up to ten seconds for `check` to hold.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
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

    /// Every event in the service's log, oldest first.
    pub async fn events(&self) -> Vec<ev::Event> {
        EventFeedServiceClient::with_interceptor(
            self.onboarding.channel.clone(),
            Bearer::new(Role::Bizops, None),
        )
        .list_events(ev::ListEventsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events
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

/// The day `days` days ago (UTC); ahead for a negative `days`.
pub fn days_ago(days: i64) -> Date {
    let today = chrono::Utc::now().date_naive();
    themodel_platform::validate::date_to_proto(if days >= 0 {
        today - chrono::Days::new(days.unsigned_abs())
    } else {
        today + chrono::Days::new(days.unsigned_abs())
    })
}

pub fn step(key: &str, kind: pb::StepKind, confirmation: pb::Confirmation) -> pb::Step {
    pb::Step {
        step_key: key.into(),
        display_name: format!("Step {key}"),
        kind: kind as i32,
        confirmation: confirmation as i32,
        due_day: 14,
    }
}

pub fn on_step(key: &str) -> pb::Criterion {
    pb::Criterion {
        criterion: Some(pb::criterion::Criterion::StepKey(key.into())),
    }
}

pub fn on_signal(key: &str, threshold: i64) -> pb::Criterion {
    pb::Criterion {
        criterion: Some(pb::criterion::Criterion::Signal(pb::SignalCriterion {
            signal_key: key.into(),
            threshold,
        })),
    }
}

/// The playbook of "analytics" for every tier: setup when five users are
/// active and SSO is on, value when the customer signs off; 30 and 90 days
/// from the contract's start.
pub fn playbook() -> pb::Playbook {
    pb::Playbook {
        playbook_key: "analytics-default".into(),
        product_key: "analytics".into(),
        display_name: "Analytics onboarding".into(),
        phases: vec![
            pb::Phase {
                phase_key: "setup".into(),
                display_name: "Setup".into(),
                steps: vec![
                    step(
                        "kickoff",
                        pb::StepKind::Meeting,
                        pb::Confirmation::Unspecified,
                    ),
                    step("sso", pb::StepKind::Setting, pb::Confirmation::CsmCheck),
                ],
            },
            pb::Phase {
                phase_key: "value".into(),
                display_name: "Value".into(),
                steps: vec![step(
                    "sign-off",
                    pb::StepKind::Meeting,
                    pb::Confirmation::CustomerSignOff,
                )],
            },
        ],
        setup_criteria: vec![on_signal("users_active", 5), on_step("sso")],
        value_criteria: vec![on_step("sign-off")],
        anchor: pb::Anchor::ContractStart as i32,
        targets: vec![pb::TierTargets {
            tier: seg::Tier::Unspecified as i32,
            setup_days: 30,
            value_days: 90,
            stall_days: 0,
        }],
        ..Default::default()
    }
}

pub async fn create_playbook(client: &mut Client, playbook: pb::Playbook) -> pb::Playbook {
    client
        .create_playbook(pb::CreatePlaybookRequest {
            playbook: Some(playbook),
            request_id: String::new(),
        })
        .await
        .expect("create playbook")
        .into_inner()
        .playbook
        .expect("playbook")
}

pub async fn open(client: &mut Client, account: &str, contract_start: Option<Date>) -> pb::Plan {
    client
        .open_plan(pb::OpenPlanRequest {
            account_id: account.into(),
            product_key: "analytics".into(),
            contract_start_date: contract_start,
            request_id: String::new(),
        })
        .await
        .expect("open")
        .into_inner()
        .plan
        .expect("plan")
}

pub async fn signal(client: &mut Client, account: &str, key: &str, value: i64) -> i64 {
    client
        .record_signals(pb::RecordSignalsRequest {
            signals: vec![pb::Signal {
                account_id: account.into(),
                product_key: "analytics".into(),
                signal_key: key.into(),
                value,
                ..Default::default()
            }],
            request_id: String::new(),
        })
        .await
        .expect("signals")
        .into_inner()
        .stages_reached
}

pub fn complete(plan: &str, step: &str) -> pb::CompleteStepRequest {
    pb::CompleteStepRequest {
        plan_id: plan.into(),
        step_key: step.into(),
        ..Default::default()
    }
}
