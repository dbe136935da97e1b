//! The partner isolation walk: every RPC of every service, found in the
//! contracts' descriptor set (so a new RPC is walked without touching this
//! file), called through the gateway as partner p-1's user once both
//! partners have data in every service:
//!
//! - with p-1's own ids, and with empty filters (what a partner portal's
//!   listings send);
//! - with partner p-2's ids and keys, against ids and keys of the same shape
//!   that exist nowhere (the "ghost");
//! - with p-1's own ids and p-2's keys (external ids, domains, e-mails, its
//!   CSM), against p-1's ids with the ghost's keys.
//!
//! No answer, successful or not, may carry any of p-2's ids or distinctive
//! strings that the request did not carry itself, nor name another partner in
//! a `partner_id` field; p-2's values and the ghost's must get the same
//! status, so that no answer confirms p-2's data exists; no call may fail
//! with INTERNAL, UNKNOWN or UNAVAILABLE; the feeds and operations every
//! service serves are PERMISSION_DENIED to partner users. The test prints the
//! whole walk, one line per RPC (shown on failure, or with `--nocapture`;
//! `ISOLATION_WALK_VERBOSE=1` prints every request and answer).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    time::{Duration, SystemTime},
};

use chrono::{Datelike as _, Days, NaiveDate, Utc};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ReflectMessage as _, Value,
};
use themodel_e2e::{TestSuite, as_partner, with_role};
use themodel_platform::{
    auth::Role,
    registry,
    testing::{RawCodec, bearer},
    validate::date_to_proto,
};
use themodel_proto::{
    common::{Date, Money},
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::{self as hp, health_service_client::HealthServiceClient},
    onboarding::{self as ob, onboarding_service_client::OnboardingServiceClient},
    partner_success::{self as ps, partner_success_service_client::PartnerSuccessServiceClient},
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

/// The contracts every service serves alike; the gateway routes them by the
/// `x-themodel-source` metadata, so the walk calls them once per service.
const SHARED_PACKAGES: &[&str] = &["themodel.events.v1", "themodel.operations.v1"];

/// Methods of the descriptor set the walk does not call, with the reason.
/// Keep it empty unless a method cannot be called at all: a method a partner
/// user may not call is walked and must answer PERMISSION_DENIED.
const NOT_WALKED: &[(&str, &str)] = &[];

/// Statuses a partner user's call may end with. Anything else (INTERNAL,
/// UNKNOWN, UNAVAILABLE, ...) is a finding.
const EXPECTED_CODES: &[Code] = &[
    Code::Ok,
    Code::PermissionDenied,
    Code::NotFound,
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::AlreadyExists,
    Code::OutOfRange,
];

/// What a value the walk sends or looks for stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ref {
    Partner,
    Account,
    AccountExternal,
    AccountDomain,
    AccountNameKey,
    Csm,
    Team,
    Touchpoint,
    TouchpointExternal,
    Override,
    Subscription,
    SubscriptionExternal,
    Csql,
    Opportunity,
    Qbr,
    HealthAlert,
    UsageUser,
    UsageEvent,
    Plan,
    StallAlert,
    Staff,
    StaffEmail,
    StaffExternal,
    Certification,
    Attribution,
    Deal,
    DealDomain,
    DealEmail,
    TierChange,
}

/// One partner's data as the walk names it (or the ghost's, which exists
/// nowhere): every id and key by kind, and the text that only its content
/// holds (names, notes, reasons), which no request ever sends.
struct World {
    refs: BTreeMap<Ref, String>,
    content: String,
}

impl World {
    /// The partner's values of every kind that is not an id the services
    /// assign: `tag` is "p1", "p2" or "p9".
    fn keyed(partner: &str, tag: &str) -> World {
        let upper = tag.to_uppercase();
        let refs = [
            (Ref::Partner, partner.to_owned()),
            (Ref::AccountExternal, format!("SF-{upper}-KEY")),
            (Ref::AccountDomain, format!("{tag}-key.example")),
            (Ref::AccountNameKey, format!("{tag}-key-name")),
            (Ref::Csm, format!("csm@{tag}-key.example")),
            (Ref::Team, format!("team-{tag}-key")),
            (Ref::TouchpointExternal, format!("TP-{upper}-KEY")),
            (Ref::SubscriptionExternal, format!("SUB-{upper}-KEY")),
            (Ref::UsageUser, format!("user-{tag}-key")),
            (Ref::UsageEvent, format!("EV-{upper}-KEY")),
            (Ref::StaffEmail, format!("staff@{tag}-key-staff.example")),
            (Ref::StaffExternal, format!("STAFF-{upper}-KEY")),
            (Ref::DealDomain, format!("{tag}-key-deal.example")),
            (Ref::DealEmail, format!("contact@{tag}-key-deal.example")),
        ];
        World {
            refs: refs.into_iter().collect(),
            content: format!("{upper}-SECRET"),
        }
    }

    /// Content text: `P2-SECRET <what>`.
    fn text(&self, what: &str) -> String {
        format!("{} {what}", self.content)
    }

    fn get(&self, r: Ref) -> &str {
        self.refs
            .get(&r)
            .unwrap_or_else(|| panic!("no {r:?} recorded"))
    }

    fn set(&mut self, r: Ref, value: impl Into<String>) {
        let value = value.into();
        assert!(!value.is_empty(), "{r:?} recorded empty");
        self.refs.insert(r, value);
    }

    /// The values to look for in answers: every ref, and the content text.
    fn markers(&self) -> Vec<(String, String)> {
        let mut markers: Vec<(String, String)> = self
            .refs
            .iter()
            .map(|(r, v)| (format!("{r:?}"), v.to_ascii_lowercase()))
            .collect();
        markers.push(("content".into(), self.content.to_ascii_lowercase()));
        markers
    }
}

/// A world that exists nowhere: p-9's keys, and ids of the services' shape
/// (only its CSM is created, with no account).
fn ghost() -> World {
    let mut world = World::keyed("p-9", "p9");
    for (i, r) in [
        Ref::Account,
        Ref::Touchpoint,
        Ref::Override,
        Ref::Subscription,
        Ref::Csql,
        Ref::Opportunity,
        Ref::Qbr,
        Ref::HealthAlert,
        Ref::Plan,
        Ref::StallAlert,
        Ref::Staff,
        Ref::Certification,
        Ref::Attribution,
        Ref::Deal,
        Ref::TierChange,
    ]
    .into_iter()
    .enumerate()
    {
        world.set(r, format!("0190f0c1-6d2e-7a3b-8c4d-{:012x}", 0x9e00 + i));
    }
    world
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_from_today(days: i64) -> Option<Date> {
    let day = if days >= 0 {
        today() + Days::new(days.unsigned_abs())
    } else {
        today() - Days::new(days.unsigned_abs())
    };
    Some(date_to_proto(day))
}

fn day(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn usd(units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        units,
        nanos: 0,
    })
}

fn hours_ago(hours: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: Utc::now().timestamp() - hours * 3600,
        nanos: 0,
    }
}

/// Seeds the data of both partners in every service, through the gateway as
/// the roles that may write it; p-1's and p-2's worlds.
async fn seed(channel: &Channel, ghost: &World) -> (World, World) {
    let mut segmentation = SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut expansion = ExpansionServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut health = HealthServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut onboarding = OnboardingServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut partners = PartnerSuccessServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut worlds = vec![World::keyed("p-1", "p1"), World::keyed("p-2", "p2")];

    // What every partner shares: the catalogue, a feature, a scorecard, a
    // playbook, the partners themselves, and a CSM and team per partner (the
    // ghost's too: CSMs are the vendor's staff, shared by every partner, so
    // the ghost's serves no account rather than not existing).
    expansion
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                plans: vec![ex::Plan {
                    plan_key: "seat".into(),
                    display_name: "Per seat, monthly".into(),
                    list_price: usd(100),
                    billing_period: ex::BillingPeriod::Monthly as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("product");
    health
        .create_feature(hp::CreateFeatureRequest {
            feature: Some(hp::Feature {
                product_key: "analytics".into(),
                feature_key: "dashboards".into(),
                display_name: "Dashboards".into(),
                key_feature: true,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("feature");
    health
        .create_scorecard(hp::CreateScorecardRequest {
            scorecard: Some(hp::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default".into(),
                measures: [(hp::Measure::Breadth, 50), (hp::Measure::Sentiment, 50)]
                    .into_iter()
                    .map(|(measure, weight)| hp::MeasureWeight {
                        measure: measure as i32,
                        weight,
                    })
                    .collect(),
                thresholds: Some(hp::GradeThresholds {
                    a_min: 8_000,
                    b_min: 6_000,
                    c_min: 4_000,
                    d_min: 2_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("scorecard");
    let step = |key: &str| ob::Step {
        step_key: key.into(),
        display_name: key.into(),
        kind: ob::StepKind::Setting as i32,
        due_day: 7,
        ..Default::default()
    };
    onboarding
        .create_playbook(ob::CreatePlaybookRequest {
            playbook: Some(ob::Playbook {
                playbook_key: "analytics".into(),
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                phases: vec![ob::Phase {
                    phase_key: "all".into(),
                    display_name: "All".into(),
                    steps: vec![step("sso"), step("dashboards")],
                }],
                setup_criteria: vec![ob::Criterion {
                    criterion: Some(ob::criterion::Criterion::StepKey("sso".into())),
                }],
                value_criteria: vec![ob::Criterion {
                    criterion: Some(ob::criterion::Criterion::Signal(ob::SignalCriterion {
                        signal_key: "users_active".into(),
                        threshold: 3,
                    })),
                }],
                anchor: ob::Anchor::ContractStart as i32,
                targets: vec![ob::TierTargets {
                    tier: pb::Tier::Unspecified as i32,
                    setup_days: 14,
                    value_days: 60,
                    stall_days: 7,
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("playbook");
    for world in worlds.iter().chain([ghost]) {
        segmentation
            .create_csm(pb::CreateCsmRequest {
                csm: Some(pb::Csm {
                    id: world.get(Ref::Csm).into(),
                    display_name: world.text("CSM"),
                    team_id: world.get(Ref::Team).into(),
                    tier: pb::Tier::TechTouch as i32,
                    ..Default::default()
                }),
                team_start_date: None,
                request_id: String::new(),
            })
            .await
            .expect("csm");
    }
    for world in &worlds {
        partners
            .create_partner(ps::CreatePartnerRequest {
                partner: Some(ps::Partner {
                    partner_id: world.get(Ref::Partner).into(),
                    display_name: world.text("Partner"),
                    contract_form: ps::ContractForm::Resale as i32,
                    cs_model: ps::CsModel::PartnerLed as i32,
                    status: ps::PartnerStatus::Active as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("partner");
    }

    // Segmentation: an account each, tiered, overridden and touched.
    for world in &mut worlds {
        let account = segmentation
            .create_account(pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: format!(
                        "{} {}",
                        world.text("Account"),
                        world.get(Ref::AccountNameKey)
                    ),
                    external_id: world.get(Ref::AccountExternal).into(),
                    domain: world.get(Ref::AccountDomain).into(),
                    partner_id: world.get(Ref::Partner).into(),
                    owner_csm_id: world.get(Ref::Csm).into(),
                    industry: world.text("Industry"),
                    acv: usd(12_000),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("account")
            .into_inner()
            .account
            .expect("account");
        world.set(Ref::Account, account.id);
    }
    segmentation
        .apply_tier_policy(pb::ApplyTierPolicyRequest {
            reason: "baseline".into(),
            request_id: "baseline".into(),
            ..Default::default()
        })
        .await
        .expect("apply");
    for world in &mut worlds {
        let account = world.get(Ref::Account).to_owned();
        let overridden = segmentation
            .override_tier(pb::OverrideTierRequest {
                account_id: account.clone(),
                tier: pb::Tier::LowTouch as i32,
                reason: world.text("override reason"),
                request_id: String::new(),
            })
            .await
            .expect("override")
            .into_inner()
            .r#override
            .expect("override");
        world.set(Ref::Override, overridden.id);
        let touchpoint = segmentation
            .record_touchpoint(pb::RecordTouchpointRequest {
                touchpoint: Some(pb::Touchpoint {
                    account_id: account,
                    csm_id: world.get(Ref::Csm).into(),
                    kind: pb::TouchpointKind::Meeting as i32,
                    occur_time: Some(hours_ago(2)),
                    note: world.text("touchpoint note"),
                    external_id: world.get(Ref::TouchpointExternal).into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("touchpoint")
            .into_inner()
            .touchpoint
            .expect("touchpoint");
        world.set(Ref::Touchpoint, touchpoint.id);
    }

    // Onboarding: a plan each, opened before the subscription would open it,
    // its set-up due long ago.
    let mut onboarding_csm = OnboardingServiceClient::new(with_role(channel.clone(), Role::Csm));
    for world in &mut worlds {
        let plan = onboarding_csm
            .open_plan(ob::OpenPlanRequest {
                account_id: world.get(Ref::Account).into(),
                product_key: "analytics".into(),
                contract_start_date: days_from_today(-40),
                request_id: String::new(),
            })
            .await
            .expect("plan")
            .into_inner()
            .plan
            .expect("plan");
        world.set(Ref::Plan, plan.id);
    }
    // Expansion: a subscription renewing in 100 days with a closing plan, a QBR,
    // and a CSQL from it accepted into an opportunity.
    for world in &mut worlds {
        let account = world.get(Ref::Account).to_owned();
        let subscription = expansion
            .create_subscription(ex::CreateSubscriptionRequest {
                subscription: Some(ex::Subscription {
                    account_id: account.clone(),
                    external_id: world.get(Ref::SubscriptionExternal).into(),
                    product_key: "analytics".into(),
                    plan_key: "seat".into(),
                    terms: vec![ex::SubscriptionTerm {
                        quantity: 10,
                        start_date: day(2024, 1, 1),
                        end_date: days_from_today(100),
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
            .expect("subscription");
        world.set(Ref::Subscription, subscription.id.clone());
        expansion
            .set_closing_plan(ex::SetClosingPlanRequest {
                subscription_id: subscription.id,
                owner_id: world.get(Ref::Csm).into(),
                steps: vec![ex::ClosingStep {
                    step_key: "sso".into(),
                    description: world.text("closing step"),
                    due_date: days_from_today(50),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .expect("closing plan");
        let qbr = expansion
            .schedule_qbr(ex::ScheduleQbrRequest {
                qbr: Some(ex::Qbr {
                    account_id: account.clone(),
                    scheduled_date: days_from_today(-30),
                    agenda: vec![world.text("QBR agenda")],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("qbr")
            .into_inner()
            .qbr
            .expect("qbr");
        world.set(Ref::Qbr, qbr.id.clone());
        let csql = expansion
            .create_csql(ex::CreateCsqlRequest {
                csql: Some(ex::Csql {
                    account_id: account,
                    kind: ex::CsqlKind::Upsell as i32,
                    product_key: "analytics".into(),
                    estimated_mrr: usd(500),
                    reason: world.text("CSQL reason"),
                    csm_id: world.get(Ref::Csm).into(),
                    qbr_id: qbr.id,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("csql")
            .into_inner()
            .csql
            .expect("csql");
        world.set(Ref::Csql, csql.id.clone());
        expansion
            .hand_off_csql(ex::HandOffCsqlRequest {
                id: csql.id.clone(),
                ..Default::default()
            })
            .await
            .expect("hand off");
        let opportunity = expansion
            .accept_csql(ex::AcceptCsqlRequest {
                id: csql.id,
                ..Default::default()
            })
            .await
            .expect("accept")
            .into_inner()
            .opportunity
            .expect("opportunity");
        world.set(Ref::Opportunity, opportunity.id);
    }

    // Health: usage, a sentiment that drops the grade (an alert), and a churn
    // outcome (a retrospective).
    let events = worlds
        .iter()
        .map(|world| hp::UsageEvent {
            account_id: world.get(Ref::Account).into(),
            user_id: world.get(Ref::UsageUser).into(),
            product_key: "analytics".into(),
            feature_key: "dashboards".into(),
            occurred_at: Some(hours_ago(1)),
            event_id: world.get(Ref::UsageEvent).into(),
            ..Default::default()
        })
        .collect();
    let summary = HealthServiceClient::new(with_role(channel.clone(), Role::Service))
        .ingest_usage(hp::IngestUsageRequest {
            events,
            request_id: String::new(),
        })
        .await
        .expect("usage")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!(summary.accepted, 2, "{summary:?}");
    let mut csm = HealthServiceClient::new(with_role(channel.clone(), Role::Csm));
    for world in &mut worlds {
        let account = world.get(Ref::Account).to_owned();
        for sentiment in [100, 0] {
            csm.record_sentiment(hp::RecordSentimentRequest {
                account_id: account.clone(),
                product_key: "analytics".into(),
                score: Some(sentiment),
                note: world.text("sentiment note"),
                ..Default::default()
            })
            .await
            .expect("sentiment");
            csm.score_account(hp::ScoreAccountRequest {
                account_id: account.clone(),
                product_key: "analytics".into(),
                request_id: String::new(),
            })
            .await
            .expect("score");
        }
        let alerts = health
            .list_health_alerts(hp::ListHealthAlertsRequest {
                account_id: account.clone(),
                ..Default::default()
            })
            .await
            .expect("alerts")
            .into_inner()
            .alerts;
        world.set(
            Ref::HealthAlert,
            alerts
                .first()
                .map(|a| a.alert_id.clone())
                .unwrap_or_default(),
        );
    }

    // Onboarding: signals, and the plans' set-up overdue (a stall alert).
    OnboardingServiceClient::new(with_role(channel.clone(), Role::Service))
        .record_signals(ob::RecordSignalsRequest {
            signals: worlds
                .iter()
                .map(|world| ob::Signal {
                    account_id: world.get(Ref::Account).into(),
                    product_key: "analytics".into(),
                    signal_key: "users_active".into(),
                    value: 1,
                    ..Default::default()
                })
                .collect(),
            request_id: String::new(),
        })
        .await
        .expect("signals");
    // (Or the hourly job raised them first.)
    OnboardingServiceClient::new(with_role(channel.clone(), Role::CsManager))
        .detect_stalls(ob::DetectStallsRequest {})
        .await
        .expect("stalls");
    for world in &mut worlds {
        let alerts = onboarding
            .list_alerts(ob::ListAlertsRequest {
                plan_id: world.get(Ref::Plan).into(),
                ..Default::default()
            })
            .await
            .expect("stall alerts")
            .into_inner()
            .alerts;
        world.set(
            Ref::StallAlert,
            alerts
                .first()
                .map(|a| a.alert_id.clone())
                .unwrap_or_default(),
        );
    }

    // Partner success: staff, a certification, a sourced attribution and a
    // submitted deal each; then a tier program evaluated.
    for world in &mut worlds {
        let staff = partners
            .create_partner_staff(ps::CreatePartnerStaffRequest {
                staff: Some(ps::PartnerStaff {
                    partner_id: world.get(Ref::Partner).into(),
                    name: world.text("Staff"),
                    email: world.get(Ref::StaffEmail).into(),
                    role: world.text("role"),
                    external_id: world.get(Ref::StaffExternal).into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("staff")
            .into_inner()
            .staff
            .expect("staff");
        world.set(Ref::Staff, staff.id.clone());
        let certification = partners
            .record_certification(ps::RecordCertificationRequest {
                certification: Some(ps::Certification {
                    staff_id: staff.id,
                    course_key: "admin-course".into(),
                    level: 2,
                    earned_on: days_from_today(-30),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("certification")
            .into_inner()
            .certification
            .expect("certification");
        world.set(Ref::Certification, certification.id);
        let attribution = partners
            .record_attribution(ps::RecordAttributionRequest {
                attribution: Some(ps::Attribution {
                    account_id: world.get(Ref::Account).into(),
                    partner_id: world.get(Ref::Partner).into(),
                    kind: ps::AttributionKind::Sourced as i32,
                    start_date: days_from_today(-100),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("attribution")
            .into_inner()
            .attribution
            .expect("attribution");
        world.set(Ref::Attribution, attribution.id);
        let mut portal =
            PartnerSuccessServiceClient::new(as_partner(channel.clone(), world.get(Ref::Partner)));
        let deal = portal
            .create_deal(ps::CreateDealRequest {
                deal: Some(ps::Deal {
                    company_name: world.text("Deal Co"),
                    domain: world.get(Ref::DealDomain).into(),
                    contact_name: world.text("Contact"),
                    contact_email: world.get(Ref::DealEmail).into(),
                    expected_mrr: usd(2_000),
                    product_key: "analytics".into(),
                    notes: world.text("deal notes"),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("deal")
            .into_inner()
            .deal
            .expect("deal");
        world.set(Ref::Deal, deal.id.clone());
        portal
            .submit_deal(ps::SubmitDealRequest {
                id: deal.id,
                ..Default::default()
            })
            .await
            .expect("submit deal");
    }
    let criterion = |min_count| ps::TierCriterion {
        kind: ps::TierCriterionKind::SourcedAccounts as i32,
        min_count,
        ..Default::default()
    };
    partners
        .update_tier_program(ps::UpdateTierProgramRequest {
            program: Some(ps::TierProgram {
                tiers: vec![
                    ps::TierDefinition {
                        name: "GOLD".into(),
                        criteria: vec![criterion(1)],
                    },
                    ps::TierDefinition {
                        name: "REGISTERED".into(),
                        criteria: vec![],
                    },
                ],
                currency_code: "USD".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["*".into()],
            }),
            reason: "programme".into(),
            request_id: String::new(),
        })
        .await
        .expect("tier program");
    // (The daily evaluation job may have evaluated them first: the history
    // has the change either way.)
    partners
        .evaluate_partner_tiers(ps::EvaluatePartnerTiersRequest::default())
        .await
        .expect("evaluate");
    for world in &mut worlds {
        let history = partners
            .list_partner_tier_history(ps::ListPartnerTierHistoryRequest {
                partner_id: world.get(Ref::Partner).into(),
                ..Default::default()
            })
            .await
            .expect("tier history")
            .into_inner()
            .changes;
        world.set(
            Ref::TierChange,
            history.first().map(|c| c.id.clone()).unwrap_or_default(),
        );
    }

    // Last, as it ends the accounts' health history: a churn each, imported.
    health
        .import_outcomes(hp::ImportOutcomesRequest {
            outcomes: worlds
                .iter()
                .map(|world| hp::Outcome {
                    account_id: world.get(Ref::Account).into(),
                    kind: hp::OutcomeKind::Churned as i32,
                    date: days_from_today(-1),
                    ..Default::default()
                })
                .collect(),
            request_id: String::new(),
        })
        .await
        .expect("outcomes");

    let p2 = worlds.pop().expect("p-2");
    let p1 = worlds.pop().expect("p-1");
    (p1, p2)
}

/// How much of a request the walk fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing but `page_size`: a listing or report with no filter.
    Empty,
    /// The request's own scalar fields (ids, keys, filters, dates).
    Bare,
    /// Every field, nested messages included.
    Full,
    /// Every field but a nested resource's `external_id`, which partner users
    /// may never set (so the rest of the request is judged).
    Lean,
}

/// The state of building one request.
struct Builder<'w> {
    world: &'w World,
    method: &'w MethodDescriptor,
    mode: Mode,
    request_id: String,
    /// Id fields the walk could not tell the kind of (given an account id).
    guessed: BTreeSet<String>,
}

impl Builder<'_> {
    fn build(&mut self) -> DynamicMessage {
        let mut message = DynamicMessage::new(self.method.input());
        self.fill(&mut message, 0);
        message
    }

    fn fill(&mut self, message: &mut DynamicMessage, depth: usize) {
        let descriptor = message.descriptor();
        for field in descriptor.fields() {
            // One member of each oneof.
            if let Some(oneof) = field.containing_oneof()
                && !oneof.is_synthetic()
                && oneof.fields().next().map(|f| f.number()) != Some(field.number())
            {
                continue;
            }
            if field.is_map() {
                continue;
            }
            if let Some(value) = self.value(&field, &descriptor, depth) {
                message.set_field(&field, value);
            }
        }
    }

    fn value(
        &mut self,
        field: &FieldDescriptor,
        parent: &MessageDescriptor,
        depth: usize,
    ) -> Option<Value> {
        let name = field.name();
        if self.mode == Mode::Empty {
            return (name == "page_size").then_some(Value::I32(1000));
        }
        let full = matches!(self.mode, Mode::Full | Mode::Lean);
        if self.mode == Mode::Lean && depth > 0 && name == "external_id" {
            return None;
        }
        let one = match field.kind() {
            Kind::String => Value::String(self.string(name, parent)?),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Value::I32(i32::try_from(int_for(name)?).ok()?)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int_for(name)?),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::try_from(int_for(name)?).ok()?),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::try_from(int_for(name)?).ok()?),
            Kind::Bool | Kind::Double | Kind::Float | Kind::Bytes => return None,
            Kind::Enum(e) if full => {
                // Prefer a value about partners (a report grouped by partner).
                let values: Vec<_> = e.values().filter(|v| v.number() != 0).collect();
                let pick = values
                    .iter()
                    .find(|v| v.name().contains("PARTNER"))
                    .or(values.first())?;
                Value::EnumNumber(pick.number())
            }
            Kind::Enum(_) => return None,
            Kind::Message(m) => match m.full_name() {
                "themodel.common.v1.Date" => Value::Message(date_message(&m, name)),
                "google.protobuf.Timestamp" => {
                    let mut ts = DynamicMessage::new(m);
                    // A second ahead: the seconds are truncated, and "now" must
                    // come after what was written a moment ago.
                    ts.set_field_by_name("seconds", Value::I64(Utc::now().timestamp() + 1));
                    Value::Message(ts)
                }
                "themodel.common.v1.Money" if full => {
                    let mut money = DynamicMessage::new(m);
                    money.set_field_by_name("currency_code", Value::String("USD".into()));
                    money.set_field_by_name("units", Value::I64(100));
                    Value::Message(money)
                }
                "google.protobuf.FieldMask" if full => {
                    let mut mask = DynamicMessage::new(m);
                    mask.set_field_by_name("paths", Value::List(vec![Value::String("*".into())]));
                    Value::Message(mask)
                }
                "google.protobuf.FieldMask"
                | "google.protobuf.Duration"
                | "google.protobuf.Any" => {
                    return None;
                }
                _ if full && depth < 4 => {
                    let mut inner = DynamicMessage::new(m);
                    self.fill(&mut inner, depth + 1);
                    Value::Message(inner)
                }
                _ => return None,
            },
        };
        Some(if field.is_list() {
            Value::List(vec![one])
        } else {
            one
        })
    }

    fn string(&mut self, name: &str, parent: &MessageDescriptor) -> Option<String> {
        match name {
            "request_id" => return Some(self.request_id.clone()),
            "etag" | "page_token" => return None,
            "currency_code" => return Some("USD".into()),
            _ => {}
        }
        if let Some(r) = ref_for(name, parent.name(), self.method.name()) {
            return Some(self.world.get(r).to_owned());
        }
        if let Some(key) = catalogue_key(name) {
            return Some(key.to_owned());
        }
        if name == "id" || name.ends_with("_id") || name.ends_with("_ids") {
            self.guessed
                .insert(format!("{}.{name}", parent.full_name()));
            return Some(self.world.get(Ref::Account).to_owned());
        }
        Some("walk text".into())
    }
}

/// The kind of value a string field names, from its name, its message's and
/// the method's.
fn ref_for(field: &str, message: &str, method: &str) -> Option<Ref> {
    let by_resource = |name: &str| -> Option<Ref> {
        Some(match name {
            "Account" | "UncoveredAccount" => Ref::Account,
            "Touchpoint" => Ref::Touchpoint,
            "TierOverride" => Ref::Override,
            "Subscription" => Ref::Subscription,
            "Csql" => Ref::Csql,
            "Opportunity" => Ref::Opportunity,
            "Qbr" => Ref::Qbr,
            "Plan" => Ref::Plan,
            "PartnerStaff" | "Staff" => Ref::Staff,
            "Certification" => Ref::Certification,
            "Attribution" => Ref::Attribution,
            "Deal" => Ref::Deal,
            "Csm" => Ref::Csm,
            "PartnerTierChange" => Ref::TierChange,
            "HealthAlert" => Ref::HealthAlert,
            "StallAlert" => Ref::StallAlert,
            _ => return None,
        })
    };
    Some(match field {
        "account_id" | "account_ids" => Ref::Account,
        "account_external_id" => Ref::AccountExternal,
        "partner_id" | "partner_ids" | "conflicting_partner_id" => Ref::Partner,
        "subscription_id" | "subscription_ids" => Ref::Subscription,
        "csql_id" | "csql_ids" => Ref::Csql,
        "opportunity_id" => Ref::Opportunity,
        "qbr_id" => Ref::Qbr,
        "plan_id" => Ref::Plan,
        "staff_id" => Ref::Staff,
        "deal_id" | "conflicting_deal_id" => Ref::Deal,
        "attribution_id" => Ref::Attribution,
        "certification_id" => Ref::Certification,
        "touchpoint_id" => Ref::Touchpoint,
        "override_id" => Ref::Override,
        "alert_id" if message == "StallAlert" => Ref::StallAlert,
        "alert_id" => Ref::HealthAlert,
        "csm_id" | "owner_csm_id" | "owner_id" => Ref::Csm,
        "team_id" => Ref::Team,
        "user_id" => Ref::UsageUser,
        "event_id" => Ref::UsageEvent,
        "domain" if message == "Deal" => Ref::DealDomain,
        "domain" => Ref::AccountDomain,
        "email" => Ref::StaffEmail,
        "contact_email" => Ref::DealEmail,
        "name_contains" => Ref::AccountNameKey,
        "external_id" => match message {
            "Subscription" => Ref::SubscriptionExternal,
            "PartnerStaff" => Ref::StaffExternal,
            "Touchpoint" => Ref::TouchpointExternal,
            _ => Ref::AccountExternal,
        },
        "id" => match by_resource(message) {
            Some(r) => r,
            // A request's own `id`: the resource its method is about
            // (GetAccount, HandOffCsql, SubmitDeal, ...).
            None => [
                "PartnerStaff",
                "Account",
                "Touchpoint",
                "Subscription",
                "Csql",
                "Opportunity",
                "Qbr",
                "Plan",
                "Certification",
                "Attribution",
                "Deal",
                "Csm",
            ]
            .into_iter()
            .find(|noun| method.ends_with(noun))
            .and_then(by_resource)?,
        },
        _ => return None,
    })
}

/// The shared catalogue's keys: the same for every partner.
fn catalogue_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "product_key" | "playbook_key" => "analytics",
        "plan_key" => "seat",
        "feature_key" => "dashboards",
        "scorecard_key" => "default",
        "signal_key" => "users_active",
        "step_key" => "sso",
        "course_key" => "admin-course",
        "phase_key" => "all",
        _ if field.ends_with("_key") => "analytics",
        _ => return None,
    })
}

fn int_for(field: &str) -> Option<i64> {
    Some(match field {
        "page_size" => 1000,
        "months" | "window_months" => 3,
        "csm_hours_per_month" | "hours_per_csm_per_month" | "hours_per_onboarding" => 160,
        "year" => i64::from(today().year()),
        "month" => i64::from(today().month()),
        "day" => 1,
        "score" => 50,
        "weight" => 100,
        "target_percent" | "target_min_percent" | "target_max_percent" => 50,
        // Zero is "the current one" or "the default" for these.
        "version" | "program_version" | "after_sequence" | "max_moves" | "protection_days"
        | "window_days" | "step_days" | "horizon_days" | "rating" | "sequence" | "nanos" => {
            return None;
        }
        _ => 1,
    })
}

/// A date for a field: ranges from half a year back to half a year ahead
/// (within the 366 days some reports allow), months on their first day,
/// other days today.
fn date_message(descriptor: &MessageDescriptor, field: &str) -> DynamicMessage {
    let month = field.ends_with("_month") || field == "month";
    let day = if field.contains("end") || field.starts_with("to_") || field.contains("expires") {
        if month {
            today()
        } else {
            today() + Days::new(180)
        }
    } else if field.contains("start") || field.starts_with("from_") {
        today() - Days::new(180)
    } else {
        today()
    };
    let mut message = DynamicMessage::new(descriptor.clone());
    message.set_field_by_name("year", Value::I32(day.year()));
    message.set_field_by_name(
        "month",
        Value::I32(i32::try_from(day.month()).expect("month")),
    );
    let day = if month { 1 } else { day.day() };
    message.set_field_by_name("day", Value::I32(i32::try_from(day).expect("day")));
    message
}

/// What a call answered.
struct Answer {
    code: Code,
    reason: String,
    /// The response message, or the status's message and details.
    bytes: Vec<u8>,
    /// The response in protobuf text format (for partner ids and the table).
    text: String,
    /// `partner_id` fields of the response naming another partner.
    foreign_partners: Vec<String>,
}

/// One call of the walk.
struct Call {
    method: String,
    variant: &'static str,
    answer: Answer,
}

/// Values of `*partner_id(s)` fields anywhere in `message` other than `own`.
fn foreign_partners(message: &DynamicMessage, own: &str, out: &mut Vec<String>) {
    fn visit(name: &str, value: &Value, own: &str, out: &mut Vec<String>) {
        match value {
            Value::String(s)
                if (name.ends_with("partner_id") || name.ends_with("partner_ids"))
                    && !s.is_empty()
                    && s != own =>
            {
                out.push(format!("{name}={s}"));
            }
            Value::Message(m) => foreign_partners(m, own, out),
            Value::List(values) => values.iter().for_each(|v| visit(name, v, own, out)),
            _ => {}
        }
    }
    for (field, value) in message.fields() {
        visit(field.name(), value, own, out);
    }
}

/// An answer, lowercased, to look for values in.
struct Answered {
    /// The message's (or the status's) bytes.
    bytes: Vec<u8>,
    /// Its text: the message in text format, or the status's message and
    /// details.
    text: Vec<u8>,
}

impl Answered {
    /// Whether `value` is in the answer: in its text, or (when long enough
    /// not to turn up by chance in binary fields) in its bytes.
    fn holds(&self, value: &str) -> bool {
        contains(&self.text, value) || (value.len() >= 8 && contains(&self.bytes, value))
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls `method` through the gateway as p-1's partner user.
async fn call(
    channel: &Channel,
    authorization: &str,
    method: &MethodDescriptor,
    source: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let path: http::uri::PathAndQuery =
        format!("/{}/{}", method.parent_service().full_name(), method.name())
            .parse()
            .expect("path");
    let metadata = |metadata: &mut tonic::metadata::MetadataMap| {
        metadata.insert("authorization", authorization.parse().expect("ascii"));
        if let Some(source) = source {
            metadata.insert("x-themodel-source", source.parse().expect("ascii"));
        }
    };
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("gateway ready");
    let result: Result<Vec<u8>, tonic::Status> =
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => {
                let mut request = tonic::Request::new(body);
                metadata(request.metadata_mut());
                grpc.unary(request, path, RawCodec)
                    .await
                    .map(tonic::Response::into_inner)
            }
            (true, false) => {
                let mut request = tonic::Request::new(tokio_stream::once(body));
                metadata(request.metadata_mut());
                grpc.client_streaming(request, path, RawCodec)
                    .await
                    .map(tonic::Response::into_inner)
            }
            (client_streaming, true) => {
                let response = if client_streaming {
                    let mut request = tonic::Request::new(tokio_stream::once(body));
                    metadata(request.metadata_mut());
                    grpc.streaming(request, path, RawCodec).await
                } else {
                    let mut request = tonic::Request::new(body);
                    metadata(request.metadata_mut());
                    grpc.server_streaming(request, path, RawCodec).await
                };
                // The first message or the end, whichever comes within a
                // second; a stream that stays open and silent is admitted.
                match response {
                    Err(status) => Err(status),
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        match tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
                            Ok(Ok(message)) => Ok(message.unwrap_or_default()),
                            Ok(Err(status)) => Err(status),
                            Err(_) => Ok(Vec::new()),
                        }
                    }
                }
            }
        };
    match result {
        Ok(bytes) => {
            let (text, foreign) = match DynamicMessage::decode(method.output(), bytes.as_slice()) {
                Ok(message) => {
                    let mut foreign = Vec::new();
                    foreign_partners(&message, "p-1", &mut foreign);
                    (message.to_string(), foreign)
                }
                Err(error) => (format!("<undecodable: {error}>"), Vec::new()),
            };
            Answer {
                code: Code::Ok,
                reason: String::new(),
                bytes,
                text,
                foreign_partners: foreign,
            }
        }
        Err(status) => {
            let reason = status
                .get_details_error_info()
                .map(|info| info.reason)
                .unwrap_or_default();
            let mut bytes = status.message().as_bytes().to_vec();
            bytes.extend_from_slice(status.details());
            Answer {
                code: status.code(),
                reason,
                text: format!("{} {:?}", status.message(), status.get_error_details()),
                bytes,
                foreign_partners: Vec::new(),
            }
        }
    }
}

fn short(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::PermissionDenied => "PD",
        Code::NotFound => "NF",
        Code::InvalidArgument => "IA",
        Code::FailedPrecondition => "FP",
        Code::AlreadyExists => "AE",
        Code::OutOfRange => "OOR",
        Code::Unimplemented => "UNIMPL!",
        Code::Internal => "INTERNAL!",
        Code::Unknown => "UNKNOWN!",
        Code::Unavailable => "UNAVAIL!",
        Code::Unauthenticated => "UNAUTH!",
        _ => "OTHER!",
    }
}

/// Whose values a call sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    /// p-1's own.
    Own,
    /// p-2's.
    Other,
    /// Values that exist nowhere.
    Ghost,
    /// p-1's ids with p-2's keys (external ids, domains, e-mails, CSM...):
    /// whether a key is taken must not tell p-1 about p-2.
    OwnWithOthersKeys,
    /// p-1's ids with keys that exist nowhere.
    OwnWithGhostKeys,
}

/// The variants of each method's calls with p-1's own values, in the order
/// of the table's columns: (label, whose values, how much of the request).
const OWN_VARIANTS: &[(&str, Which, Mode)] = &[
    ("empty", Which::Own, Mode::Empty),
    ("own", Which::Own, Mode::Bare),
    ("own+", Which::Own, Mode::Full),
    ("own~", Which::Own, Mode::Lean),
];

/// A pair of variants that must answer alike: (nowhere's, p-2's).
type Pair = ((&'static str, Which), (&'static str, Which), Mode);

/// p-2's ids and keys against nowhere's.
const OTHER_VARIANTS: &[Pair] = &[
    (("ghost", Which::Ghost), ("p-2", Which::Other), Mode::Bare),
    (("ghost+", Which::Ghost), ("p-2+", Which::Other), Mode::Full),
    (("ghost~", Which::Ghost), ("p-2~", Which::Other), Mode::Lean),
];

/// p-1's ids with p-2's keys against p-1's ids with nowhere's keys. Walked
/// last: these may write p-2's keys into p-1's data (a p-1 account owned by
/// p-2's CSM), which later answers then show as p-1's own.
const KEY_VARIANTS: &[Pair] = &[
    (
        ("keys9", Which::OwnWithGhostKeys),
        ("keys2", Which::OwnWithOthersKeys),
        Mode::Bare,
    ),
    (
        ("keys9+", Which::OwnWithGhostKeys),
        ("keys2+", Which::OwnWithOthersKeys),
        Mode::Full,
    ),
    (
        ("keys9~", Which::OwnWithGhostKeys),
        ("keys2~", Which::OwnWithOthersKeys),
        Mode::Lean,
    ),
];

/// The kinds of value a partner chooses itself (not ids the services
/// assign), which the "keys" variants take from another world.
const KEYS: &[Ref] = &[
    Ref::AccountExternal,
    Ref::AccountDomain,
    Ref::AccountNameKey,
    Ref::Csm,
    Ref::Team,
    Ref::TouchpointExternal,
    Ref::SubscriptionExternal,
    Ref::UsageUser,
    Ref::UsageEvent,
    Ref::StaffEmail,
    Ref::StaffExternal,
    Ref::DealDomain,
    Ref::DealEmail,
];

/// `ids`' world with `keys`' keys.
fn with_keys(ids: &World, keys: &World) -> World {
    let mut world = World {
        refs: ids.refs.clone(),
        content: ids.content.clone(),
    };
    for r in KEYS {
        world.set(*r, keys.get(*r));
    }
    world
}

/// The walk's state: what it found and what it saw.
struct Walk {
    channel: Channel,
    authorization: String,
    p1: World,
    p2: World,
    ghost: World,
    p1_with_p2_keys: World,
    p1_with_ghost_keys: World,
    calls: Vec<Call>,
    findings: Vec<String>,
    /// p-2 values a successful request of the walk itself sent (and may
    /// have stored in p-1's data): seen again later, they are echoes.
    echoed: BTreeSet<String>,
    /// p-1 values seen in p-1's answers (the walk does reach data).
    seen_own: BTreeSet<String>,
    guessed: BTreeSet<String>,
    walked: BTreeSet<String>,
    next_request: u64,
    verbose: bool,
}

impl Walk {
    /// Calls `method` once with `which` values filled per `mode`, checks the
    /// answer and records it.
    async fn visit(
        &mut self,
        method: &MethodDescriptor,
        source: Option<&str>,
        variant: &'static str,
        which: Which,
        mode: Mode,
    ) -> (Code, String) {
        self.next_request += 1;
        let world = match which {
            Which::Own => &self.p1,
            Which::Other => &self.p2,
            Which::Ghost => &self.ghost,
            Which::OwnWithOthersKeys => &self.p1_with_p2_keys,
            Which::OwnWithGhostKeys => &self.p1_with_ghost_keys,
        };
        let mut builder = Builder {
            world,
            method,
            mode,
            request_id: format!("walk-{}", self.next_request),
            guessed: BTreeSet::new(),
        };
        let request = builder.build();
        self.guessed.append(&mut builder.guessed);
        let body = request.encode_to_vec();
        let answer = call(
            &self.channel,
            &self.authorization,
            method,
            source,
            body.clone(),
        )
        .await;
        let label = match source {
            Some(source) => format!(
                "{}/{}@{source}",
                method.parent_service().name(),
                method.name()
            ),
            None => format!("{}/{}", method.parent_service().name(), method.name()),
        };
        self.walked.insert(method.full_name().to_owned());
        if self.verbose {
            println!(
                "{label} [{variant}] {request}\n  -> {:?} {} {}",
                answer.code, answer.reason, answer.text
            );
        }

        let sent = body.to_ascii_lowercase();
        let answered = Answered {
            bytes: answer.bytes.to_ascii_lowercase(),
            text: answer.text.to_ascii_lowercase().into_bytes(),
        };
        let mut leaked = Vec::new();
        for (what, value) in self.p2.markers() {
            if contains(&sent, &value) || self.echoed.contains(&value) {
                continue;
            }
            if answered.holds(&value) {
                leaked.push(format!("{what} {value:?}"));
            }
        }
        let problem = |kind: &str, detail: String| {
            format!(
                "{kind}: {label} [{variant}] -> {} {}: {detail}\n    request: {request}\n    answer: {}",
                short(answer.code),
                answer.reason,
                answer.text
            )
        };
        if !leaked.is_empty() {
            let finding = problem("LEAK of p-2's data", leaked.join(", "));
            self.findings.push(finding);
        }
        if !answer.foreign_partners.is_empty() {
            let finding = problem(
                "LEAK of another partner",
                answer.foreign_partners.join(", "),
            );
            self.findings.push(finding);
        }
        if !EXPECTED_CODES.contains(&answer.code) {
            let finding = problem("UNEXPECTED STATUS", format!("{:?}", answer.code));
            self.findings.push(finding);
        }
        if source.is_some() && answer.code != Code::PermissionDenied {
            let finding = problem(
                "NOT DENIED",
                "feeds and operations are admin/bizops/service only".into(),
            );
            self.findings.push(finding);
        }
        if answer.code == Code::Ok {
            match which {
                Which::Own => {
                    for (what, value) in self.p1.markers() {
                        if answered.holds(&value) {
                            self.seen_own.insert(what);
                        }
                    }
                }
                Which::Other | Which::OwnWithOthersKeys => {
                    for (what, value) in self.p2.markers() {
                        if contains(&sent, &value) {
                            self.echoed.insert(value);
                            // A CSM's team is shown with the CSM.
                            if what == "Csm" {
                                self.echoed
                                    .insert(self.p2.get(Ref::Team).to_ascii_lowercase());
                            }
                        }
                    }
                }
                Which::Ghost | Which::OwnWithGhostKeys => {}
            }
        }
        let outcome = (answer.code, answer.reason.clone());
        self.calls.push(Call {
            method: label,
            variant,
            answer,
        });
        outcome
    }

    /// Walks `method` (for `source`, when shared) with p-1's own values.
    async fn own(&mut self, method: &MethodDescriptor, source: Option<&str>) {
        for (variant, which, mode) in OWN_VARIANTS {
            self.visit(method, source, variant, *which, *mode).await;
        }
    }

    /// Walks `method` with each pair of `variants`: the same answer for
    /// p-2's values and nowhere's, or p-1 learns that p-2's exist.
    async fn pairs(&mut self, method: &MethodDescriptor, source: Option<&str>, variants: &[Pair]) {
        for ((ghost_variant, ghost), (other_variant, other), mode) in variants {
            let ghost = self
                .visit(method, source, ghost_variant, *ghost, *mode)
                .await;
            let other = self
                .visit(method, source, other_variant, *other, *mode)
                .await;
            if ghost != other {
                let label = self
                    .calls
                    .last()
                    .map(|c| c.method.clone())
                    .unwrap_or_default();
                self.findings.push(format!(
                    "EXISTENCE ORACLE: {label} answers {} {} [{other_variant}, p-2's values] but {} {} [{ghost_variant}, values that exist nowhere]",
                    short(other.0),
                    other.1,
                    short(ghost.0),
                    ghost.1
                ));
            }
        }
    }

    /// One line per method and source: the status of each variant.
    fn table(&self) -> String {
        let variants: Vec<&str> = OWN_VARIANTS
            .iter()
            .map(|(v, _, _)| *v)
            .chain(
                OTHER_VARIANTS
                    .iter()
                    .chain(KEY_VARIANTS)
                    .flat_map(|((g, _), (o, _), _)| [*g, *o]),
            )
            .collect();
        let mut rows: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
        let mut order = Vec::new();
        for call in &self.calls {
            let row = rows.entry(call.method.as_str()).or_insert_with(|| {
                order.push(call.method.as_str());
                BTreeMap::new()
            });
            let mut cell = short(call.answer.code).to_owned();
            if call.answer.code == Code::Ok {
                let _ = write!(cell, ":{}", call.answer.bytes.len());
            }
            row.insert(call.variant, cell);
        }
        let mut out = String::new();
        let _ = write!(out, "{:<50}", "method");
        for variant in &variants {
            let _ = write!(out, " {variant:<6}");
        }
        out.push('\n');
        for method in order {
            let _ = write!(out, "{method:<50}");
            for variant in &variants {
                let cell = rows[method].get(variant).map(String::as_str).unwrap_or("-");
                let _ = write!(out, " {cell:<6}");
            }
            out.push('\n');
        }
        out.push_str(
            "(OK:n = OK with an n-byte answer, PD = PERMISSION_DENIED, NF = NOT_FOUND, \
             IA = INVALID_ARGUMENT, FP = FAILED_PRECONDITION, AE = ALREADY_EXISTS; \
             + every field, ~ every field but a nested external_id; \
             keys2/keys9 = p-1's ids with p-2's/nowhere's keys)\n",
        );
        out
    }
}

#[tokio::test]
async fn a_partner_user_sees_nothing_of_another_partner_in_any_rpc() {
    let started = SystemTime::now();
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let ghost = ghost();
    let (p1, p2) = seed(&channel, &ghost).await;

    let pool = DescriptorPool::decode(themodel_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let services: Vec<_> = pool
        .services()
        .filter(|s| s.package_name().starts_with("themodel.") && s.package_name().ends_with(".v1"))
        .collect();
    let methods: Vec<MethodDescriptor> = services.iter().flat_map(|s| s.methods()).collect();
    for package in [
        "segmentation",
        "expansion",
        "health",
        "onboarding",
        "partner_success",
        "events",
        "operations",
    ] {
        let package = format!("themodel.{package}.v1");
        assert!(
            services.iter().any(|s| s.package_name() == package),
            "no service of {package} in the descriptor set"
        );
    }
    let sources: Vec<&str> = registry::SERVICES.iter().map(|s| s.name).collect();
    let not_walked =
        |m: &MethodDescriptor| NOT_WALKED.iter().any(|(name, _)| *name == m.full_name());

    let mut walk = Walk {
        channel,
        authorization: bearer(Role::PartnerUser, Some("p-1")),
        p1_with_p2_keys: with_keys(&p1, &p2),
        p1_with_ghost_keys: with_keys(&p1, &ghost),
        p1,
        p2,
        ghost,
        calls: Vec::new(),
        findings: Vec::new(),
        echoed: BTreeSet::new(),
        seen_own: BTreeSet::new(),
        guessed: BTreeSet::new(),
        walked: BTreeSet::new(),
        next_request: 0,
        verbose: std::env::var_os("ISOLATION_WALK_VERBOSE").is_some(),
    };
    let sources_of = |m: &MethodDescriptor| -> Vec<Option<&str>> {
        if SHARED_PACKAGES.contains(&m.parent_service().package_name()) {
            sources.iter().map(|s| Some(*s)).collect()
        } else {
            vec![None]
        }
    };
    // Own data first, while p-1's data holds nothing the walk wrote; then
    // p-2's against nowhere's; last p-1's ids with p-2's keys.
    for method in methods.iter().filter(|m| !not_walked(m)) {
        for source in sources_of(method) {
            walk.own(method, source).await;
        }
    }
    for variants in [OTHER_VARIANTS, KEY_VARIANTS] {
        for method in methods.iter().filter(|m| !not_walked(m)) {
            for source in sources_of(method) {
                walk.pairs(method, source, variants).await;
            }
        }
    }

    // Every method of the contracts was walked or is allowed not to be.
    let every: BTreeSet<String> = methods.iter().map(|m| m.full_name().to_owned()).collect();
    let skipped: BTreeSet<String> = methods
        .iter()
        .filter(|m| not_walked(m))
        .map(|m| m.full_name().to_owned())
        .collect();
    let missed: Vec<_> = every
        .iter()
        .filter(|m| !walk.walked.contains(*m) && !skipped.contains(*m))
        .collect();
    for (name, _) in NOT_WALKED {
        assert!(
            every.contains(*name),
            "{name} is allowed not to be walked but is no method of the contracts"
        );
    }
    // The walk reached p-1's own data in every service: the checks above
    // looked at answers with data in them. Partner users see every kind of
    // value but a tier override's id (overrides are not theirs to list) and
    // usage's users and event ids (adoption is counted, not listed).
    let expected_own: Vec<String> = [
        Ref::Partner,
        Ref::Account,
        Ref::AccountExternal,
        Ref::AccountDomain,
        Ref::AccountNameKey,
        Ref::Csm,
        Ref::Team,
        Ref::Touchpoint,
        Ref::TouchpointExternal,
        Ref::Subscription,
        Ref::SubscriptionExternal,
        Ref::Csql,
        Ref::Opportunity,
        Ref::Qbr,
        Ref::HealthAlert,
        Ref::Plan,
        Ref::StallAlert,
        Ref::Staff,
        Ref::StaffEmail,
        Ref::StaffExternal,
        Ref::Certification,
        Ref::Attribution,
        Ref::Deal,
        Ref::DealDomain,
        Ref::DealEmail,
        Ref::TierChange,
    ]
    .iter()
    .map(|r| format!("{r:?}"))
    .chain(["content".to_owned()])
    .collect();
    let unseen: Vec<_> = expected_own
        .into_iter()
        .filter(|r| !walk.seen_own.contains(r))
        .collect();

    let table = walk.table();
    println!(
        "partner isolation walk: {} methods in {} services, {} calls, {:.1}s\n{table}",
        every.len(),
        services.len(),
        walk.calls.len(),
        started.elapsed().unwrap_or_default().as_secs_f64(),
    );
    if !walk.guessed.is_empty() {
        println!(
            "id fields of no known kind (sent an account id): {:?}",
            walk.guessed
        );
    }
    println!("p-1 values seen in p-1's answers: {:?}", walk.seen_own);
    assert!(
        missed.is_empty(),
        "methods the walk did not call: {missed:?}"
    );
    assert!(
        walk.findings.is_empty(),
        "{} findings:\n{}",
        walk.findings.len(),
        walk.findings.join("\n")
    );
    assert!(
        unseen.is_empty(),
        "the walk never saw p-1's own {unseen:?} in p-1's answers: it does not reach that data"
    );
}
