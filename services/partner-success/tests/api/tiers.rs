//! The tier program: partners moving up and down by their criteria (certified
//! staff, sourced accounts, the ARR and NRR of their accounts from the
//! expansion service, and their onboarding completion rate from the
//! onboarding service, one report per evaluation), each change recorded with
//! the values that caused it and announced once; nothing written when
//! nothing changes; previews that write nothing; partner scope on the
//! history; bad programs refused.

use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use themodel_platform::auth::Role;
use themodel_proto::{
    common, expansion as ex,
    partner_success::{self as pb, AttributionKind, TierCriterionKind as Kind},
};
use tonic::Code;

use themodel_partner_success::store::tiers::{EVALUATE_JOB, EVALUATION_INTERVAL};

use crate::{
    helpers::*,
    scorecards::{account, complete, onboard, workspace_playbook},
    staff::{add_staff, staff},
};

/// The service, once its daily evaluation has had the run every job makes
/// when the service starts (with no program yet, it writes nothing), so that
/// no scheduled run interleaves with a test's own evaluations.
async fn started(app: TestApp) -> TestApp {
    app.first_run_of(EVALUATE_JOB).await;
    app
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn day(d: NaiveDate) -> Option<common::Date> {
    date(d.year(), d.month() as i32, d.day() as i32)
}

fn tier(name: &str, criteria: Vec<pb::TierCriterion>) -> pb::TierDefinition {
    pb::TierDefinition {
        name: name.into(),
        criteria,
    }
}

fn certified(level: i32, min_count: i64) -> pb::TierCriterion {
    pb::TierCriterion {
        kind: Kind::CertifiedStaff as i32,
        level,
        min_count,
        ..Default::default()
    }
}

fn sourced(min_count: i64) -> pb::TierCriterion {
    pb::TierCriterion {
        kind: Kind::SourcedAccounts as i32,
        min_count,
        ..Default::default()
    }
}

fn arr(units: i64) -> pb::TierCriterion {
    pb::TierCriterion {
        kind: Kind::PartnerArr as i32,
        min_arr: usd(units),
        ..Default::default()
    }
}

fn nrr(min_basis_points: i64) -> pb::TierCriterion {
    pb::TierCriterion {
        kind: Kind::Nrr as i32,
        min_basis_points,
        ..Default::default()
    }
}

fn onboarding(min_basis_points: i64, min_plans_due: i64) -> pb::TierCriterion {
    pb::TierCriterion {
        kind: Kind::OnboardingCompletion as i32,
        min_basis_points,
        min_plans_due,
        ..Default::default()
    }
}

fn program(tiers: Vec<pb::TierDefinition>) -> pb::TierProgram {
    pb::TierProgram {
        tiers,
        currency_code: "USD".into(),
        ..Default::default()
    }
}

/// Platinum: 2 staff certified at level 2, 100,000 USD ARR and 110% NRR;
/// gold: the same without the NRR; silver: one certified person.
fn revenue_program() -> pb::TierProgram {
    program(vec![
        tier("PLATINUM", vec![certified(2, 2), arr(100_000), nrr(11_000)]),
        tier("GOLD", vec![certified(2, 2), arr(100_000)]),
        tier("SILVER", vec![certified(1, 1)]),
        tier("REGISTERED", vec![]),
    ])
}

/// Gold: a sourced account; registered: everyone else.
fn sourcing_program() -> pb::TierProgram {
    program(vec![
        tier("GOLD", vec![sourced(1)]),
        tier("REGISTERED", vec![]),
    ])
}

fn replace(program: pb::TierProgram) -> pb::UpdateTierProgramRequest {
    pb::UpdateTierProgramRequest {
        program: Some(program),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["*".into()],
        }),
        reason: "the partner programme for the year".into(),
        request_id: String::new(),
    }
}

async fn set_program(client: &mut Client, program: pb::TierProgram) -> pb::TierProgram {
    client
        .update_tier_program(replace(program))
        .await
        .expect("update program")
        .into_inner()
        .program
        .expect("program")
}

async fn get_program(client: &mut Client, version: i64) -> Result<pb::TierProgram, tonic::Status> {
    client
        .get_tier_program(pb::GetTierProgramRequest { version })
        .await
        .map(|r| r.into_inner().program.expect("program"))
}

fn evaluation(partner_id: &str, request_id: &str) -> pb::EvaluatePartnerTiersRequest {
    pb::EvaluatePartnerTiersRequest {
        partner_id: partner_id.into(),
        request_id: request_id.into(),
    }
}

async fn evaluate(client: &mut Client) -> pb::EvaluatePartnerTiersResponse {
    client
        .evaluate_partner_tiers(evaluation("", ""))
        .await
        .expect("evaluate")
        .into_inner()
}

/// (partner, tier before, tier after) of each change.
fn moves(changes: &[pb::PartnerTierChange]) -> Vec<(String, String, String)> {
    changes
        .iter()
        .map(|c| {
            (
                c.partner_id.clone(),
                c.previous_tier.clone(),
                c.new_tier.clone(),
            )
        })
        .collect()
}

fn mv(partner: &str, before: &str, after: &str) -> (String, String, String) {
    (partner.into(), before.into(), after.into())
}

async fn history(client: &mut Client, partner_id: &str) -> Vec<pb::PartnerTierChange> {
    let mut changes = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_partner_tier_history(pb::ListPartnerTierHistoryRequest {
                partner_id: partner_id.into(),
                page_size: 2,
                page_token,
            })
            .await
            .expect("history")
            .into_inner();
        changes.extend(page.changes);
        if page.next_page_token.is_empty() {
            return changes;
        }
        page_token = page.next_page_token;
    }
}

/// (tier, kind, level, value, met) of each criterion of a change.
type Row = (String, Kind, i32, Option<Value>, bool);

#[derive(Debug, PartialEq)]
enum Value {
    Count(i64),
    Usd(i64),
    Bp(i64),
}

fn rows(criteria: &[pb::TierCriterionResult]) -> Vec<Row> {
    use pb::tier_criterion_result::Value as V;
    criteria
        .iter()
        .map(|r| {
            let c = r.criterion.clone().expect("criterion");
            let value = r.value.as_ref().map(|v| match v {
                V::Count(n) => Value::Count(*n),
                V::Amount(m) => {
                    assert_eq!(m.currency_code, "USD");
                    assert_eq!(m.nanos, 0);
                    Value::Usd(m.units)
                }
                V::BasisPoints(bp) => Value::Bp(*bp),
            });
            (r.tier.clone(), c.kind(), c.level, value, r.met)
        })
        .collect()
}

fn row(tier: &str, kind: Kind, level: i32, value: Option<Value>, met: bool) -> Row {
    (tier.into(), kind, level, value, met)
}

async fn certify(client: &mut Client, staff_id: &str, level: i32) {
    client
        .record_certification(pb::RecordCertificationRequest {
            certification: Some(pb::Certification {
                staff_id: staff_id.into(),
                course_key: "partner-admin".into(),
                level,
                earned_on: date(2024, 1, 15),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("certify");
}

async fn attribute(client: &mut Client, account_id: &str, partner_id: &str) -> pb::Attribution {
    client
        .record_attribution(pb::RecordAttributionRequest {
            attribution: Some(pb::Attribution {
                account_id: account_id.into(),
                partner_id: partner_id.into(),
                kind: AttributionKind::Sourced as i32,
                start_date: date(2024, 1, 1),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("attribute")
        .into_inner()
        .attribution
        .expect("attribution")
}

/// Every partner's (id, tier, etag).
async fn tiers_and_etags(app: &TestApp) -> Vec<(String, String, String)> {
    app.all_partners()
        .await
        .into_iter()
        .map(|p| (p.partner_id, p.tier, p.etag))
        .collect()
}

/// The account `account_id` pays `quantity` x 10,000 USD a month from 2020;
/// the subscription's id.
async fn pays(app: &TestApp, account_id: &str) -> String {
    let mut expansion = app.expansion();
    expansion
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                plans: vec![ex::Plan {
                    plan_key: "pro-monthly".into(),
                    display_name: "Pro, monthly".into(),
                    list_price: usd(10_000),
                    billing_period: ex::BillingPeriod::Monthly as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create product");
    expansion
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                account_id: account_id.into(),
                product_key: "analytics".into(),
                plan_key: "pro-monthly".into(),
                terms: vec![ex::SubscriptionTerm {
                    quantity: 1,
                    start_date: date(2020, 1, 1),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("subscribe")
        .into_inner()
        .subscription
        .expect("subscription")
        .id
}

#[tokio::test]
async fn a_partner_moves_up_and_down_by_its_criteria_each_change_recorded_with_their_values() {
    let app = started(spawn_app_with_expansion().await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1"]).await;
    let before = get_ok(&mut admin, "p-1").await;
    assert_eq!(before.tier, "", "no tier before the first evaluation");
    set_program(&mut admin, revenue_program()).await;

    // Nothing yet: the lowest tier.
    let first = evaluate(&mut admin).await;
    assert_eq!(first.program_version, 1);
    assert_eq!(first.evaluated_partners, 1);
    assert_eq!(moves(&first.changes), [mv("p-1", "", "REGISTERED")]);

    // Two people certified at level 2 or more, and an account paying 10,000
    // USD a month since 2020: gold (an NRR of 100% is not platinum's 110%).
    // This time the daily evaluation runs it, as the service itself.
    let ana = add_staff(&mut admin, staff("p-1", "Ana", "ana@p1.example")).await;
    let ben = add_staff(&mut admin, staff("p-1", "Ben", "ben@p1.example")).await;
    certify(&mut admin, &ana.id, 2).await;
    certify(&mut admin, &ben.id, 3).await;
    let account = app.account("Globex", Some("p-1"), None).await;
    let subscription = pays(&app, &account).await;
    let summary = app
        .tiers()
        .await
        .evaluate_scheduled(today())
        .await
        .expect("daily evaluation");
    assert!(summary.contains("1 tiers changed"), "{summary}");
    let gold = history(&mut admin, "p-1").await.remove(0);
    assert_eq!(
        (gold.previous_tier.as_str(), gold.new_tier.as_str()),
        ("REGISTERED", "GOLD")
    );
    assert_eq!(gold.evaluated_by, "service:partner_success");
    assert_eq!(gold.program_version, 1);
    assert_eq!(gold.evaluated_on, day(today()));
    // The 12 complete months before today.
    let this_month = today().with_day(1).expect("first day");
    let last_month = this_month - Months::new(1);
    assert_eq!(gold.revenue_end_month, day(last_month));
    assert_eq!(gold.revenue_start_month, day(last_month - Months::new(11)));
    assert_eq!(
        rows(&gold.criteria),
        [
            row(
                "PLATINUM",
                Kind::CertifiedStaff,
                2,
                Some(Value::Count(2)),
                true
            ),
            row(
                "PLATINUM",
                Kind::PartnerArr,
                0,
                Some(Value::Usd(120_000)),
                true
            ),
            row("PLATINUM", Kind::Nrr, 0, Some(Value::Bp(10_000)), false),
            row("GOLD", Kind::CertifiedStaff, 2, Some(Value::Count(2)), true),
            row("GOLD", Kind::PartnerArr, 0, Some(Value::Usd(120_000)), true),
            row(
                "SILVER",
                Kind::CertifiedStaff,
                1,
                Some(Value::Count(2)),
                true
            ),
        ]
    );
    // The thresholds are recorded with the values.
    let threshold = gold.criteria[1].criterion.clone().expect("criterion");
    assert_eq!(threshold.min_arr, usd(100_000));

    // The account doubled six months ago: NRR 200%, platinum.
    app.expansion()
        .change_subscription(ex::ChangeSubscriptionRequest {
            id: subscription,
            term: Some(ex::SubscriptionTerm {
                quantity: 2,
                start_date: day(this_month - Months::new(6)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("upgrade");
    let third = evaluate(&mut admin).await;
    assert_eq!(moves(&third.changes), [mv("p-1", "GOLD", "PLATINUM")]);
    assert_eq!(
        rows(&third.changes[0].criteria)[..3],
        [
            row(
                "PLATINUM",
                Kind::CertifiedStaff,
                2,
                Some(Value::Count(2)),
                true
            ),
            row(
                "PLATINUM",
                Kind::PartnerArr,
                0,
                Some(Value::Usd(240_000)),
                true
            ),
            row("PLATINUM", Kind::Nrr, 0, Some(Value::Bp(20_000)), true),
        ]
    );

    // One of the two certified people leaves: down to silver.
    admin
        .update_partner_staff(pb::UpdatePartnerStaffRequest {
            staff: Some(pb::PartnerStaff {
                id: ben.id.clone(),
                status: pb::StaffStatus::Left as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
            request_id: String::new(),
        })
        .await
        .expect("leave");
    let fourth = evaluate(&mut admin).await;
    assert_eq!(moves(&fourth.changes), [mv("p-1", "PLATINUM", "SILVER")]);
    assert_eq!(
        rows(&fourth.changes[0].criteria),
        [
            row(
                "PLATINUM",
                Kind::CertifiedStaff,
                2,
                Some(Value::Count(1)),
                false
            ),
            row(
                "PLATINUM",
                Kind::PartnerArr,
                0,
                Some(Value::Usd(240_000)),
                true
            ),
            row("PLATINUM", Kind::Nrr, 0, Some(Value::Bp(20_000)), true),
            row(
                "GOLD",
                Kind::CertifiedStaff,
                2,
                Some(Value::Count(1)),
                false
            ),
            row("GOLD", Kind::PartnerArr, 0, Some(Value::Usd(240_000)), true),
            row(
                "SILVER",
                Kind::CertifiedStaff,
                1,
                Some(Value::Count(1)),
                true
            ),
        ]
    );

    // The partner carries its tier, and each change moved its etag.
    let after = get_ok(&mut admin, "p-1").await;
    assert_eq!(after.tier, "SILVER");
    assert_eq!(after.etag, "r5", "created at r1, then four tier changes");
    assert_ne!(after.update_time, before.update_time);

    // The history, newest first, and one event per change, in order.
    let recorded = history(&mut admin, "p-1").await;
    assert_eq!(
        moves(&recorded),
        [
            mv("p-1", "PLATINUM", "SILVER"),
            mv("p-1", "GOLD", "PLATINUM"),
            mv("p-1", "REGISTERED", "GOLD"),
            mv("p-1", "", "REGISTERED"),
        ]
    );
    assert_eq!(recorded[0], fourth.changes[0]);
    let events = app.events().await;
    let changed = payloads::<pb::PartnerTierChanged>(&events);
    let mut announced: Vec<_> = changed
        .into_iter()
        .map(|e| e.change.expect("change"))
        .collect();
    announced.reverse();
    assert_eq!(announced, recorded);
    assert!(
        events
            .iter()
            .filter(|e| e.r#type.ends_with("PartnerTierChanged"))
            .all(|e| e.subject_id == "p-1")
    );
    // A tier change is announced by PartnerTierChanged alone.
    assert!(payloads::<pb::PartnerUpdated>(&events).is_empty());
}

#[tokio::test]
async fn an_evaluation_that_changes_nothing_writes_nothing_and_each_change_is_announced_once() {
    let app = started(spawn_app().await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1", "p-2"]).await;
    let mut onboarding = partner("p-3");
    onboarding.status = pb::PartnerStatus::Onboarding as i32;
    create_ok(&mut admin, onboarding).await;
    let account = app.account("Acme", Some("p-1"), None).await;
    let sourced = attribute(&mut admin, &account, "p-1").await;
    set_program(&mut admin, sourcing_program()).await;

    // Only active partners are tiered; a retry answers the first response.
    let first = admin
        .evaluate_partner_tiers(evaluation("", "evaluate-1"))
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!((first.evaluated_partners, first.changed_partners), (2, 2));
    assert_eq!(
        moves(&first.changes),
        [mv("p-1", "", "GOLD"), mv("p-2", "", "REGISTERED")]
    );
    let retried = admin
        .evaluate_partner_tiers(evaluation("", "evaluate-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retried, first);
    assert_eq!(get_ok(&mut admin, "p-3").await.tier, "");

    // Nothing moved since: nothing written, on demand or by the schedule.
    let partners_before = tiers_and_etags(&app).await;
    let events_before = app.events().await.len();
    let again = evaluate(&mut admin).await;
    assert_eq!((again.evaluated_partners, again.changed_partners), (2, 0));
    assert!(again.changes.is_empty(), "{again:?}");
    let summary = app
        .tiers()
        .await
        .evaluate_scheduled(today())
        .await
        .expect("daily evaluation");
    assert!(summary.contains("0 tiers changed"), "{summary}");
    assert_eq!(tiers_and_etags(&app).await, partners_before);
    assert_eq!(app.events().await.len(), events_before);
    assert_eq!(history(&mut admin, "").await.len(), 2);

    // The sourced account ends today; two evaluations at once move p-1 once.
    admin
        .end_attribution(pb::EndAttributionRequest {
            id: sourced.id,
            end_date: day(today()),
            ..Default::default()
        })
        .await
        .expect("end attribution");
    let mut other = app.admin();
    let (a, b) = tokio::join!(evaluate(&mut admin), evaluate(&mut other));
    let mut both = moves(&a.changes);
    both.extend(moves(&b.changes));
    assert_eq!(both, [mv("p-1", "GOLD", "REGISTERED")]);
    let changed = payloads::<pb::PartnerTierChanged>(&app.events().await);
    assert_eq!(changed.len(), 3, "one event per change: {changed:?}");
    assert_eq!(history(&mut admin, "p-1").await.len(), 2);

    // One partner alone: only an active one that exists.
    let one = admin
        .evaluate_partner_tiers(evaluation("p-2", ""))
        .await
        .expect("evaluate p-2")
        .into_inner();
    assert_eq!((one.evaluated_partners, one.changes.len()), (1, 0));
    let status = refused(admin.evaluate_partner_tiers(evaluation("p-3", "")).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "PARTNER_NOT_ACTIVE");
    let status = refused(admin.evaluate_partner_tiers(evaluation("p-9", "")).await);
    assert_eq!(status.code(), Code::NotFound);
    let status = refused(
        admin
            .evaluate_partner_tiers(evaluation("bad id!", ""))
            .await,
    );
    assert_eq!(violated_fields(&status), ["partner_id"]);
}

#[tokio::test]
async fn a_preview_shows_every_active_partners_tier_under_a_candidate_and_writes_nothing() {
    let app = started(spawn_app().await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1", "p-2", "p-3"]).await;
    let account = app.account("Acme", Some("p-1"), None).await;
    attribute(&mut admin, &account, "p-1").await;
    let ana = add_staff(&mut admin, staff("p-2", "Ana", "ana@p2.example")).await;
    certify(&mut admin, &ana.id, 1).await;
    set_program(&mut admin, sourcing_program()).await;
    evaluate(&mut admin).await;

    let partners_before = tiers_and_etags(&app).await;
    let events_before = app.events().await.len();
    let history_before = history(&mut admin, "").await;

    // Gold now also needs a certified person; silver is one without a
    // sourced account.
    let candidate = program(vec![
        tier("GOLD", vec![sourced(1), certified(1, 1)]),
        tier("SILVER", vec![certified(1, 1)]),
        tier("REGISTERED", vec![]),
    ]);
    let preview = |page_token: String, program: Option<pb::TierProgram>| {
        let mut client = app.admin();
        async move {
            client
                .preview_tier_program(pb::PreviewTierProgramRequest {
                    program,
                    page_size: 2,
                    page_token,
                })
                .await
        }
    };
    let first = preview(String::new(), Some(candidate.clone()))
        .await
        .expect("preview")
        .into_inner();
    let previewed = first.program.clone().expect("program");
    assert_eq!(previewed.version, 2, "the version an update would make");
    assert_eq!(previewed.tiers, candidate.tiers);
    assert_eq!(first.evaluated_on, day(today()));
    assert_eq!(first.revenue_end_month, None, "no revenue criterion");
    assert_eq!((first.evaluated_partners, first.moved_partners), (3, 2));
    let counts: Vec<_> = first
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.current_partners, t.previewed_partners))
        .collect();
    assert_eq!(
        counts,
        [("GOLD", 1, 0), ("SILVER", 0, 1), ("REGISTERED", 2, 2)]
    );
    let results = |page: &pb::PreviewTierProgramResponse| -> Vec<(String, String, String)> {
        page.partners
            .iter()
            .map(|p| (p.partner_id.clone(), p.current_tier.clone(), p.tier.clone()))
            .collect()
    };
    assert_eq!(
        results(&first),
        [
            mv("p-1", "GOLD", "REGISTERED"),
            mv("p-2", "REGISTERED", "SILVER")
        ]
    );
    assert_eq!(
        rows(&first.partners[0].criteria),
        [
            row(
                "GOLD",
                Kind::SourcedAccounts,
                0,
                Some(Value::Count(1)),
                true
            ),
            row(
                "GOLD",
                Kind::CertifiedStaff,
                1,
                Some(Value::Count(0)),
                false
            ),
            row(
                "SILVER",
                Kind::CertifiedStaff,
                1,
                Some(Value::Count(0)),
                false
            ),
        ]
    );
    assert!(!first.next_page_token.is_empty());
    let second = preview(first.next_page_token.clone(), Some(candidate.clone()))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(results(&second), [mv("p-3", "REGISTERED", "REGISTERED")]);
    assert!(second.next_page_token.is_empty());
    // A page token belongs to its program.
    let status = refused(preview(first.next_page_token, None).await);
    assert_eq!(violated_fields(&status), ["page_token"]);

    // Without a candidate: the program in force, under which nothing moves.
    let in_force = preview(String::new(), None)
        .await
        .expect("preview in force")
        .into_inner();
    assert_eq!(in_force.program.expect("program").version, 1);
    assert_eq!(in_force.moved_partners, 0);

    // Nothing was written.
    assert_eq!(tiers_and_etags(&app).await, partners_before);
    assert_eq!(app.events().await.len(), events_before);
    assert_eq!(history(&mut admin, "").await, history_before);
    assert_eq!(
        get_program(&mut admin, 0).await.expect("program").version,
        1
    );
}

#[tokio::test]
async fn a_partner_user_reads_its_own_tier_history_only_and_never_changes_the_program() {
    let app = started(spawn_app().await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1", "p-2"]).await;
    set_program(&mut admin, sourcing_program()).await;
    evaluate(&mut admin).await;

    let mut portal = app.portal("p-1");
    let own = history(&mut portal, "").await;
    assert_eq!(moves(&own), [mv("p-1", "", "REGISTERED")]);
    assert_eq!(history(&mut portal, "p-1").await, own);
    let status = refused(
        portal
            .list_partner_tier_history(pb::ListPartnerTierHistoryRequest {
                partner_id: "p-2".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(get_ok(&mut portal, "p-1").await.tier, "REGISTERED");
    // Staff see every partner's, newest first.
    let all = history(&mut app.client(Role::Csm), "").await;
    assert_eq!(
        moves(&all),
        [mv("p-2", "", "REGISTERED"), mv("p-1", "", "REGISTERED")]
    );

    // Every role reads the program; only admin and bizops change, preview
    // and evaluate it.
    for role in [
        Role::PartnerUser,
        Role::Csm,
        Role::CsManager,
        Role::CustomerSales,
        Role::Service,
    ] {
        let mut client = app.client(role);
        assert_eq!(
            get_program(&mut client, 0).await.expect("read").version,
            1,
            "{role:?}"
        );
        let denied = [
            refused(
                client
                    .update_tier_program(replace(sourcing_program()))
                    .await,
            ),
            refused(client.evaluate_partner_tiers(evaluation("", "")).await),
            refused(
                client
                    .preview_tier_program(pb::PreviewTierProgramRequest::default())
                    .await,
            ),
        ];
        for status in denied {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{role:?}: {status:?}"
            );
        }
    }
    let mut bizops = app.client(Role::Bizops);
    evaluate(&mut bizops).await;
    assert_eq!(
        payloads::<pb::PartnerTierChanged>(&app.events().await).len(),
        2
    );
}

#[tokio::test]
async fn bad_programs_are_refused_field_by_field_and_write_nothing() {
    let app = started(spawn_app().await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1"]).await;

    // The daily evaluation is scheduled; its first run, at start, found no
    // program and wrote nothing.
    let job = app.first_run_of(EVALUATE_JOB).await;
    assert_eq!(
        job.last_outcome(),
        themodel_proto::operations::JobOutcome::Succeeded
    );
    assert_eq!(
        job.interval.map(|d| d.seconds),
        Some(EVALUATION_INTERVAL.as_secs() as i64)
    );
    assert_eq!(EVALUATION_INTERVAL.as_secs(), 24 * 3600, "daily");

    // Before the first version.
    let status = refused(
        admin
            .get_tier_program(pb::GetTierProgramRequest::default())
            .await,
    );
    assert_eq!(status.code(), Code::NotFound);
    let status = refused(admin.evaluate_partner_tiers(evaluation("", "")).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "NO_TIER_PROGRAM");
    let status = refused(
        admin
            .preview_tier_program(pb::PreviewTierProgramRequest::default())
            .await,
    );
    assert_eq!(reason(&status), "NO_TIER_PROGRAM");

    let unknown_kind = program(vec![
        tier(
            "GOLD",
            vec![pb::TierCriterion {
                kind: 99,
                min_count: 1,
                ..Default::default()
            }],
        ),
        tier("REGISTERED", vec![]),
    ]);
    let negative = program(vec![
        tier(
            "GOLD",
            vec![certified(2, -1), sourced(-3), arr(-100), nrr(-1)],
        ),
        tier("REGISTERED", vec![]),
    ]);
    let out_of_order = program(vec![
        tier("SILVER", vec![certified(1, 1)]),
        tier("GOLD", vec![certified(2, 2), sourced(5)]),
        tier("REGISTERED", vec![]),
    ]);
    let equally_strict = program(vec![
        tier("GOLD", vec![sourced(3)]),
        tier("SILVER", vec![sourced(3)]),
        tier("REGISTERED", vec![]),
    ]);
    let duplicate_names = program(vec![
        tier("GOLD", vec![sourced(3)]),
        tier("GOLD", vec![sourced(1)]),
        tier("REGISTERED", vec![]),
    ]);
    let lowest_with_criteria = program(vec![
        tier("GOLD", vec![sourced(3)]),
        tier("REGISTERED", vec![sourced(1)]),
    ]);
    let no_currency = pb::TierProgram {
        currency_code: String::new(),
        ..program(vec![tier("GOLD", vec![nrr(10_000)]), tier("BASE", vec![])])
    };
    let mixed = program(vec![
        tier(
            "GOLD",
            vec![pb::TierCriterion {
                min_arr: Some(common::Money {
                    currency_code: "JPY".into(),
                    units: 1_000_000,
                    nanos: 0,
                }),
                ..arr(0)
            }],
        ),
        tier("BASE", vec![]),
    ]);
    let cases = [
        (unknown_kind, vec!["program.tiers[0].criteria[0].kind"]),
        (
            negative,
            vec![
                "program.tiers[0].criteria[0].min_count",
                "program.tiers[0].criteria[1].min_count",
                "program.tiers[0].criteria[2].min_arr.units",
                "program.tiers[0].criteria[3].min_basis_points",
            ],
        ),
        (out_of_order, vec!["program.tiers[0]"]),
        (equally_strict, vec!["program.tiers[0]"]),
        (duplicate_names, vec!["program.tiers[1].name"]),
        (lowest_with_criteria, vec!["program.tiers[1].criteria"]),
        (no_currency, vec!["program.currency_code"]),
        (
            mixed,
            vec!["program.tiers[0].criteria[0].min_arr.currency_code"],
        ),
        (
            program(vec![tier("gold", vec![]), tier("", vec![])]),
            vec!["program.tiers[0].name", "program.tiers[1].name"],
        ),
        (program(vec![]), vec!["program.tiers"]),
    ];
    for (bad, fields) in cases {
        let status = refused(admin.update_tier_program(replace(bad.clone())).await);
        assert_eq!(violated_fields(&status), fields, "{bad:?}");
        // A preview of it is refused the same way.
        let status = refused(
            admin
                .preview_tier_program(pb::PreviewTierProgramRequest {
                    program: Some(bad),
                    ..Default::default()
                })
                .await,
        );
        assert_eq!(violated_fields(&status), fields);
    }
    let mut no_mask = replace(sourcing_program());
    no_mask.update_mask = None;
    let status = refused(admin.update_tier_program(no_mask).await);
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let status = refused(
        admin
            .get_tier_program(pb::GetTierProgramRequest { version: -1 })
            .await,
    );
    assert_eq!(violated_fields(&status), ["version"]);
    // Nothing was written.
    assert_eq!(
        get_program(&mut admin, 0)
            .await
            .expect_err("no program")
            .code(),
        Code::NotFound
    );
    assert!(
        app.events()
            .await
            .iter()
            .all(|e| !e.r#type.contains("Tier"))
    );

    // Versions: a stale etag is refused, the same rules make no version, and
    // every version stays readable.
    let v1 = set_program(&mut admin, sourcing_program()).await;
    assert_eq!((v1.version, v1.etag.as_str()), (1, "v1"));
    assert_eq!(v1.reason, "the partner programme for the year");
    assert!(!v1.created_by.is_empty());
    let same = set_program(&mut admin, sourcing_program()).await;
    assert_eq!(same, v1);
    let mut stale = replace(revenue_program());
    stale.program.as_mut().expect("program").etag = "v7".into();
    let status = refused(admin.update_tier_program(stale).await);
    assert_eq!(reason(&status), "ETAG_MISMATCH");
    let mut fresh = replace(revenue_program());
    fresh.program.as_mut().expect("program").etag = "v1".into();
    let v2 = admin
        .update_tier_program(fresh)
        .await
        .expect("update")
        .into_inner()
        .program
        .expect("program");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.tiers, revenue_program().tiers);
    assert_eq!(get_program(&mut admin, 1).await.expect("v1"), v1);
    assert_eq!(get_program(&mut admin, 0).await.expect("in force"), v2);
    assert_eq!(
        get_program(&mut admin, 3)
            .await
            .expect_err("no version 3")
            .code(),
        Code::NotFound
    );
    let published = payloads::<pb::TierProgramUpdated>(&app.events().await);
    let versions: Vec<_> = published
        .iter()
        .map(|e| e.program.as_ref().expect("program").version)
        .collect();
    assert_eq!(versions, [1, 2]);
    // Only the currency changes: a version of its own.
    let v3 = admin
        .update_tier_program(pb::UpdateTierProgramRequest {
            program: Some(pb::TierProgram {
                currency_code: "EUR".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["currency_code".into()],
            }),
            ..Default::default()
        })
        .await;
    // Its ARR thresholds are in USD: refused, field by field.
    assert_eq!(
        violated_fields(&refused(v3)),
        [
            "program.tiers[0].criteria[1].min_arr.currency_code",
            "program.tiers[1].criteria[1].min_arr.currency_code",
        ]
    );

    // A partner's tier is the program's to set, never an update's.
    let status = refused(
        admin
            .update_partner(update(
                pb::Partner {
                    partner_id: "p-1".into(),
                    tier: "GOLD".into(),
                    ..Default::default()
                },
                &["tier"],
            ))
            .await,
    );
    assert_eq!(violated_fields(&status), ["update_mask.paths[0]"]);
    assert_eq!(get_ok(&mut admin, "p-1").await.tier, "");
}

/// Gold: 75% of at least 4 plans due reached value on time; silver: 50% of
/// at least 2. No revenue criterion, so no currency.
fn onboarding_program() -> pb::TierProgram {
    pb::TierProgram {
        currency_code: String::new(),
        ..program(vec![
            tier("GOLD", vec![onboarding(7_500, 4)]),
            tier("SILVER", vec![onboarding(5_000, 2)]),
            tier("REGISTERED", vec![]),
        ])
    }
}

/// (tier, rate, plans due, met) of each onboarding completion criterion.
fn completion_rows(criteria: &[pb::TierCriterionResult]) -> Vec<(String, Option<i64>, i64, bool)> {
    use pb::tier_criterion_result::Value as V;
    criteria
        .iter()
        .filter(|r| {
            r.criterion
                .as_ref()
                .is_some_and(|c| c.kind() == Kind::OnboardingCompletion)
        })
        .map(|r| {
            let rate = r.value.as_ref().map(|v| match v {
                V::BasisPoints(bp) => *bp,
                other => panic!("a rate, not {other:?}"),
            });
            (r.tier.clone(), rate, r.plans_due, r.met)
        })
        .collect()
}

fn completion_row(
    tier: &str,
    rate: Option<i64>,
    due: i64,
    met: bool,
) -> (String, Option<i64>, i64, bool) {
    (tier.into(), rate, due, met)
}

/// Opens the "workspace" plan of `account`, its contract started `started`
/// days ago (value due 60 days in), and confirms value today when `done`.
async fn onboarded(app: &TestApp, account: &str, started: u64, done: bool) -> String {
    let plan = onboard(app, account, started).await;
    if done {
        complete(app, &plan, "setup").await;
        complete(app, &plan, "value").await;
    }
    plan
}

#[tokio::test]
async fn a_partner_moves_up_by_its_onboarding_completion_rate_one_report_per_evaluation() {
    let app = started(spawn_app_with_reports(None).await).await;
    let reports = app.reports();
    let mut admin = app.admin();
    // Plenty of partners, still one report per evaluation.
    let ids: Vec<String> = (1..=12).map(|n| format!("p-{n}")).collect();
    partners(&app, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    set_program(&mut admin, onboarding_program()).await;
    workspace_playbook(&app).await;

    // Value is due 60 days after the contract's start, and counts on time
    // when confirmed by then. p-1: one plan started 100 days ago (value due
    // 40 days ago, in the 12 complete months before today) confirmed today,
    // late; three started 10 days ago (value due in 50 days), two of them
    // confirmed today, on time. p-2: one started 10 days ago, confirmed on
    // time.
    let a1 = account(&app, "Acme", Some("p-1"), false).await;
    let a2 = account(&app, "Globex", Some("p-1"), false).await;
    let a3 = account(&app, "Initech", Some("p-1"), false).await;
    let a4 = account(&app, "Umbrella", Some("p-1"), false).await;
    let b1 = account(&app, "Hooli", Some("p-2"), false).await;
    onboarded(&app, &a1, 100, true).await;
    onboarded(&app, &a2, 10, true).await;
    onboarded(&app, &a3, 10, true).await;
    let open = onboarded(&app, &a4, 10, false).await;
    onboarded(&app, &b1, 10, true).await;
    reports.onboarding_calls.take();
    reports.expansion_calls.take();

    // Today: p-1 has one plan due, late: 0%. p-2 has none due: no rate, and
    // it does not meet the criterion. Everyone is registered, at the cost of
    // one completion report and no revenue report.
    let today_run = evaluate(&mut admin).await;
    assert_eq!(today_run.evaluated_partners, 12);
    assert_eq!(today_run.changed_partners, 12);
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"]);
    assert!(reports.expansion_calls.take().is_empty());
    let change = |changes: &[pb::PartnerTierChange], id: &str| {
        changes
            .iter()
            .find(|c| c.partner_id == id)
            .cloned()
            .expect("change")
    };
    let p1 = change(&today_run.changes, "p-1");
    assert_eq!(p1.new_tier, "REGISTERED");
    assert_eq!(
        completion_rows(&p1.criteria),
        [
            completion_row("GOLD", Some(0), 1, false),
            completion_row("SILVER", Some(0), 1, false),
        ]
    );
    let p2 = change(&today_run.changes, "p-2");
    assert_eq!(
        completion_rows(&p2.criteria),
        [
            completion_row("GOLD", None, 0, false),
            completion_row("SILVER", None, 0, false),
        ]
    );
    // The thresholds are recorded with the values, and read back the same.
    let threshold = p1.criteria[0].criterion.clone().expect("criterion");
    assert_eq!(
        (threshold.min_basis_points, threshold.min_plans_due),
        (7_500, 4)
    );
    assert_eq!(history(&mut admin, "p-1").await, [p1]);

    // One partner alone, or a preview of every partner: one report each.
    let one = admin
        .evaluate_partner_tiers(evaluation("p-2", ""))
        .await
        .expect("evaluate p-2")
        .into_inner();
    assert_eq!((one.evaluated_partners, one.changed_partners), (1, 0));
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"]);
    let preview = admin
        .preview_tier_program(pb::PreviewTierProgramRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("preview")
        .into_inner();
    assert_eq!(
        (preview.evaluated_partners, preview.moved_partners),
        (12, 0)
    );
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"]);

    // Evaluated on the first day three months from now, as the daily
    // evaluation does (the service asking as itself): the 12 complete
    // months before it hold every plan's value target. p-1: 4 due, 2 on
    // time, 50%: silver. p-2: 100%, but of a single plan: registered still.
    let later = today().with_day(1).expect("first day") + Months::new(3);
    assert!(later - Days::new(1) >= today() + Days::new(50));
    let tiers = app.tiers().await;
    let summary = tiers.evaluate_scheduled(later).await.expect("evaluation");
    assert!(summary.contains("1 tiers changed"), "{summary}");
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"]);
    let silver = history(&mut admin, "p-1").await.remove(0);
    assert_eq!(
        (silver.previous_tier.as_str(), silver.new_tier.as_str()),
        ("REGISTERED", "SILVER")
    );
    assert_eq!(silver.evaluated_by, "service:partner_success");
    assert_eq!(silver.evaluated_on, day(later));
    assert_eq!(silver.revenue_start_month, None, "no revenue criterion");
    assert_eq!(
        completion_rows(&silver.criteria),
        [
            completion_row("GOLD", Some(5_000), 4, false),
            completion_row("SILVER", Some(5_000), 4, true),
        ]
    );
    assert_eq!(get_ok(&mut admin, "p-2").await.tier, "REGISTERED");

    // The open plan reaches value on time: 3 of 4, 75%, gold.
    complete(&app, &open, "setup").await;
    complete(&app, &open, "value").await;
    let summary = tiers.evaluate_scheduled(later).await.expect("evaluation");
    assert!(summary.contains("1 tiers changed"), "{summary}");
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"]);
    let gold = history(&mut admin, "p-1").await.remove(0);
    assert_eq!(
        (gold.previous_tier.as_str(), gold.new_tier.as_str()),
        ("SILVER", "GOLD")
    );
    assert_eq!(
        completion_rows(&gold.criteria),
        [
            completion_row("GOLD", Some(7_500), 4, true),
            completion_row("SILVER", Some(7_500), 4, true),
        ]
    );
    assert_eq!(get_ok(&mut admin, "p-1").await.tier, "GOLD");
    let announced = payloads::<pb::PartnerTierChanged>(&app.events().await);
    assert_eq!(announced.last().and_then(|e| e.change.clone()), Some(gold));
    assert!(reports.expansion_calls.take().is_empty());
}

#[tokio::test]
async fn an_evaluation_with_the_onboarding_service_out_of_reach_writes_nothing() {
    let app = started(spawn_app_with_reports(Some("onboarding")).await).await;
    let mut admin = app.admin();
    partners(&app, &["p-1"]).await;
    set_program(&mut admin, onboarding_program()).await;
    let events_before = app.events().await.len();

    let status = refused(admin.evaluate_partner_tiers(evaluation("", "")).await);
    assert_eq!(status.code(), Code::Unavailable);
    let status = refused(
        admin
            .preview_tier_program(pb::PreviewTierProgramRequest::default())
            .await,
    );
    assert_eq!(status.code(), Code::Unavailable);
    assert!(app.tiers().await.evaluate_scheduled(today()).await.is_err());
    assert_eq!(get_ok(&mut admin, "p-1").await.tier, "");
    assert!(history(&mut admin, "").await.is_empty());
    assert_eq!(app.events().await.len(), events_before);

    // A program without the criterion does not ask the onboarding service.
    set_program(&mut admin, sourcing_program()).await;
    let done = evaluate(&mut admin).await;
    assert_eq!(moves(&done.changes), [mv("p-1", "", "REGISTERED")]);
}

#[tokio::test]
async fn bad_onboarding_thresholds_are_refused_and_ask_nobody() {
    let app = started(spawn_app_with_reports(None).await).await;
    let reports = app.reports();
    let mut admin = app.admin();
    partners(&app, &["p-1"]).await;
    reports.onboarding_calls.take();
    let gold = |criteria| pb::TierProgram {
        currency_code: String::new(),
        ..program(vec![tier("GOLD", criteria), tier("REGISTERED", vec![])])
    };
    let cases = [
        (
            gold(vec![onboarding(0, 3)]),
            vec!["program.tiers[0].criteria[0].min_basis_points"],
        ),
        (
            gold(vec![onboarding(10_001, 3)]),
            vec!["program.tiers[0].criteria[0].min_basis_points"],
        ),
        (
            gold(vec![onboarding(-5, 0)]),
            vec![
                "program.tiers[0].criteria[0].min_basis_points",
                "program.tiers[0].criteria[0].min_plans_due",
            ],
        ),
        (
            gold(vec![onboarding(8_000, -1)]),
            vec!["program.tiers[0].criteria[0].min_plans_due"],
        ),
        (
            gold(vec![pb::TierCriterion {
                level: 2,
                min_count: 3,
                min_arr: usd(1),
                ..onboarding(8_000, 3)
            }]),
            vec![
                "program.tiers[0].criteria[0].level",
                "program.tiers[0].criteria[0].min_count",
                "program.tiers[0].criteria[0].min_arr",
            ],
        ),
        (
            gold(vec![pb::TierCriterion {
                min_plans_due: 3,
                ..sourced(1)
            }]),
            vec!["program.tiers[0].criteria[0].min_plans_due"],
        ),
        (
            gold(vec![onboarding(8_000, 3), onboarding(9_000, 4)]),
            vec!["program.tiers[0].criteria[1]"],
        ),
        // A higher rate over fewer plans is not stricter, nor the same.
        (
            pb::TierProgram {
                currency_code: String::new(),
                ..program(vec![
                    tier("GOLD", vec![onboarding(9_000, 2)]),
                    tier("SILVER", vec![onboarding(7_000, 3)]),
                    tier("REGISTERED", vec![]),
                ])
            },
            vec!["program.tiers[0]"],
        ),
        (
            pb::TierProgram {
                currency_code: String::new(),
                ..program(vec![
                    tier("GOLD", vec![onboarding(7_000, 3)]),
                    tier("SILVER", vec![onboarding(7_000, 3)]),
                    tier("REGISTERED", vec![]),
                ])
            },
            vec!["program.tiers[0]"],
        ),
    ];
    for (bad, fields) in cases {
        let status = refused(admin.update_tier_program(replace(bad.clone())).await);
        assert_eq!(violated_fields(&status), fields, "{bad:?}");
        let status = refused(
            admin
                .preview_tier_program(pb::PreviewTierProgramRequest {
                    program: Some(bad),
                    ..Default::default()
                })
                .await,
        );
        assert_eq!(violated_fields(&status), fields);
    }
    assert_eq!(
        get_program(&mut admin, 0).await.expect_err("none").code(),
        Code::NotFound
    );
    assert!(reports.onboarding_calls.take().is_empty());

    // The bounds are fine; a stricter tier asks at least as much of both.
    let edges = pb::TierProgram {
        currency_code: String::new(),
        ..program(vec![
            tier("GOLD", vec![onboarding(10_000, 5), sourced(1)]),
            tier("SILVER", vec![onboarding(10_000, 5)]),
            tier("BRONZE", vec![onboarding(1, 1)]),
            tier("REGISTERED", vec![]),
        ])
    };
    let saved = set_program(&mut admin, edges.clone()).await;
    assert_eq!(saved.tiers, edges.tiers);
}
