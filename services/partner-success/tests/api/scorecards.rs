//! Partner scorecards: known figures for two partners from the real health,
//! expansion and onboarding services and the service's own records, partner
//! scope, one call of each report per page whatever the number of partners,
//! peers out of reach, and bad requests.

use chrono::{Datelike as _, Days, Months, NaiveDate};
use themodel_platform::{auth::Role, validate::date_to_proto};
use themodel_proto::{
    common::Date,
    expansion as ex, health as hl, onboarding as ob,
    partner_success::{self as pb, AttributionKind},
    segmentation as seg,
};
use tonic::Code;

use crate::{
    helpers::*,
    staff::{add_staff, staff},
};

/// The first day of the month `offset` months from this one.
fn month(offset: i32) -> NaiveDate {
    let this = chrono::Utc::now().date_naive().with_day(1).expect("first");
    if offset >= 0 {
        this + Months::new(offset.unsigned_abs())
    } else {
        this - Months::new(offset.unsigned_abs())
    }
}

fn day(date: NaiveDate) -> Option<Date> {
    Some(date_to_proto(date))
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The period the tests read: from the first day two months ago to today.
fn period() -> (Option<Date>, Option<Date>) {
    (day(month(-2)), day(today()))
}

fn get(partner_id: &str) -> pb::GetPartnerScorecardRequest {
    let (start_date, end_date) = period();
    pb::GetPartnerScorecardRequest {
        partner_id: partner_id.into(),
        start_date,
        end_date,
        currency_code: String::new(),
    }
}

fn list(page_size: i32, page_token: String) -> pb::ListPartnerScorecardsRequest {
    let (start_date, end_date) = period();
    pb::ListPartnerScorecardsRequest {
        start_date,
        end_date,
        currency_code: String::new(),
        page_size,
        page_token,
    }
}

async fn scorecard(client: &mut Client, partner_id: &str) -> pb::PartnerScorecard {
    client
        .get_partner_scorecard(get(partner_id))
        .await
        .expect("scorecard")
        .into_inner()
        .scorecard
        .expect("scorecard")
}

/// Every scorecard listed, across pages of `page_size`, and the pages read.
async fn listed(client: &mut Client, page_size: i32) -> (Vec<pb::PartnerScorecard>, usize) {
    let mut scorecards = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_partner_scorecards(list(page_size, page_token))
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        scorecards.extend(page.scorecards);
        if page.next_page_token.is_empty() {
            return (scorecards, pages);
        }
        page_token = page.next_page_token;
    }
}

/// Creates an account in segmentation of `partner`, churned when asked, and
/// waits until the service's projection holds it; its id.
pub async fn account(app: &TestApp, name: &str, partner: Option<&str>, churned: bool) -> String {
    let id = app
        .segmentation()
        .create_account(seg::CreateAccountRequest {
            account: Some(seg::Account {
                name: name.into(),
                partner_id: partner.unwrap_or_default().into(),
                acv: usd(12_000),
                lifecycle_status: if churned {
                    seg::LifecycleStatus::Churned as i32
                } else {
                    seg::LifecycleStatus::Unspecified as i32
                },
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create account")
        .into_inner()
        .account
        .expect("account")
        .id;
    app.projected(&id).await;
    id
}

/// Subscribes `account` to "analytics" with `terms`: seats, first day and
/// first day out of force.
async fn subscribe(app: &TestApp, account: &str, terms: &[(i64, NaiveDate, Option<NaiveDate>)]) {
    app.expansion()
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                account_id: account.into(),
                product_key: "analytics".into(),
                plan_key: "monthly".into(),
                terms: terms
                    .iter()
                    .map(|(seats, start, end)| ex::SubscriptionTerm {
                        quantity: *seats,
                        start_date: day(*start),
                        end_date: end.and_then(day),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("subscription");
}

/// Records a sentiment of `score` for `account`'s "analytics" and scores it:
/// with no key feature, its score is the sentiment alone.
async fn score(app: &TestApp, account: &str, score: i32) {
    let mut csm = app.health(Role::Csm);
    csm.record_sentiment(hl::RecordSentimentRequest {
        account_id: account.into(),
        product_key: "analytics".into(),
        score: Some(score),
        note: format!("felt like {score}"),
        ..Default::default()
    })
    .await
    .expect("sentiment");
    let scored = csm
        .score_account(hl::ScoreAccountRequest {
            account_id: account.into(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect("score")
        .into_inner()
        .score
        .expect("score");
    assert_eq!(scored.score, Some(score * 100));
}

/// The default health scorecard: breadth and sentiment, half each; grades
/// A from 8,000, B 6,000, C 4,000, D 2,000.
async fn health_scorecard(app: &TestApp) {
    app.health(Role::Admin)
        .create_scorecard(hl::CreateScorecardRequest {
            scorecard: Some(hl::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default".into(),
                measures: [hl::Measure::Breadth, hl::Measure::Sentiment]
                    .into_iter()
                    .map(|m| hl::MeasureWeight {
                        measure: m as i32,
                        weight: 50,
                    })
                    .collect(),
                thresholds: Some(hl::GradeThresholds {
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
        .expect("health scorecard");
}

/// Raises an upsell CSQL of "analytics" (estimated 500 USD) on `account` as
/// the CSM; its id.
async fn raise(app: &TestApp, account: &str) -> String {
    app.expansion_as(Role::Csm)
        .create_csql(ex::CreateCsqlRequest {
            csql: Some(ex::Csql {
                account_id: account.into(),
                kind: ex::CsqlKind::Upsell as i32,
                product_key: "analytics".into(),
                estimated_mrr: usd(500),
                reason: "their team doubled".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("csql")
        .into_inner()
        .csql
        .expect("csql")
        .id
}

/// Hands CSQL `id` off and has customer sales accept it; the opportunity's
/// id.
async fn accept(app: &TestApp, id: &str) -> String {
    app.expansion_as(Role::Csm)
        .hand_off_csql(ex::HandOffCsqlRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .expect("hand off");
    app.expansion_as(Role::CustomerSales)
        .accept_csql(ex::AcceptCsqlRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .expect("accept")
        .into_inner()
        .opportunity
        .expect("opportunity")
        .id
}

/// The onboarding playbook of "workspace" for every tier, dated from the
/// contract's start: set up when step "setup" is done, 30 days in; value
/// confirmed when step "value" is, 60 days in.
pub async fn workspace_playbook(app: &TestApp) {
    let step = |key: &str| ob::Step {
        step_key: key.into(),
        display_name: format!("Step {key}"),
        kind: ob::StepKind::Custom as i32,
        confirmation: ob::Confirmation::Unspecified as i32,
        due_day: 7,
    };
    let on_step = |key: &str| ob::Criterion {
        criterion: Some(ob::criterion::Criterion::StepKey(key.into())),
    };
    app.onboarding()
        .create_playbook(ob::CreatePlaybookRequest {
            playbook: Some(ob::Playbook {
                playbook_key: "workspace-default".into(),
                product_key: "workspace".into(),
                display_name: "Workspace onboarding".into(),
                phases: vec![ob::Phase {
                    phase_key: "all".into(),
                    display_name: "All".into(),
                    steps: vec![step("setup"), step("value")],
                }],
                setup_criteria: vec![on_step("setup")],
                value_criteria: vec![on_step("value")],
                anchor: ob::Anchor::ContractStart as i32,
                targets: vec![ob::TierTargets {
                    tier: seg::Tier::Unspecified as i32,
                    setup_days: 30,
                    value_days: 60,
                    stall_days: 0,
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("playbook");
}

/// Opens the "workspace" plan of `account`, its contract started `started`
/// days ago; its id.
pub async fn onboard(app: &TestApp, account: &str, started: u64) -> String {
    app.onboarding()
        .open_plan(ob::OpenPlanRequest {
            account_id: account.into(),
            product_key: "workspace".into(),
            contract_start_date: day(today() - Days::new(started)),
            request_id: String::new(),
        })
        .await
        .expect("open plan")
        .into_inner()
        .plan
        .expect("plan")
        .id
}

/// Completes step `step_key` of plan `plan` today.
pub async fn complete(app: &TestApp, plan: &str, step_key: &str) {
    app.onboarding()
        .complete_step(ob::CompleteStepRequest {
            plan_id: plan.into(),
            step_key: step_key.into(),
            ..Default::default()
        })
        .await
        .expect("complete step");
}

async fn attribute(app: &TestApp, account: &str, partner: &str, kind: AttributionKind) {
    app.admin()
        .record_attribution(pb::RecordAttributionRequest {
            attribution: Some(pb::Attribution {
                account_id: account.into(),
                partner_id: partner.into(),
                kind: kind as i32,
                start_date: day(month(-6)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("attribution");
}

async fn certify(app: &TestApp, staff_id: &str, level: i32) {
    app.admin()
        .record_certification(pb::RecordCertificationRequest {
            certification: Some(pb::Certification {
                staff_id: staff_id.into(),
                course_key: "admin-course".into(),
                level,
                earned_on: day(month(-3)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("certification");
}

/// Two active partners with known figures, a suspended one, and an account
/// without a partner:
///
/// - p-1: accounts a1, a2, a3 and a churned one. a1 paid 10 seats (100 USD)
///   from six months ago and 20 (200) from last month; a2 paid 5 (50) until
///   last month; a3 3 (30) from last month. Over the months from two months
///   ago to this one the cohort is a1 and a2 (150): a1 expanded by 100, a2
///   churned 50, so NRR 13,333, GRR 6,667 and logo churn 5,000. Health: a1
///   9,000 (A), a2 3,000 (D), a3 not scored; mean 6,000, all of it
///   sentiment. CSQLs: three raised, two accepted, one of them lost: one
///   open (500 USD). Staff: three active (one certified at level 3, one at
///   level 1) and one who left (certified at level 2). Sourced a1 and a2,
///   influenced b1. Onboarding of "workspace" (set-up due 30 days after the
///   contract's start, value 60): a1 started 60 days ago, set up and value
///   confirmed today (set-up late, value on time: 60 days to each); a2
///   started 30 days ago, set up today (on time, 30 days); a3's plan
///   started 80 days ago was cancelled (both stages due in the period), and
///   its new one started 50 days ago is open (set-up due 20 days ago, value
///   in 10 days). Set-up: 4 due, 1 on time, 1 late, 1 open, 1 cancelled,
///   2,500 basis points, median 30 and p90 60 days; value: 2 due, 1 on
///   time, 1 cancelled, 5,000 basis points, 60 days.
/// - p-2: account b1, 8 seats (80) from a year ago: NRR and GRR 10,000, no
///   logo churn; health 7,000 (B); one CSQL raised; no staff; sourced b1.
///   Onboarding: b1 started 40 days ago and is open: set-up 1 due, open,
///   rate 0; value due in 20 days, so nothing due in the period.
///
/// The account without a partner has a plan completed today too (in no
/// partner's figures). The period (from the first day two months ago, 59
/// to 92 days, to today) holds every target date 0 to 58 days ago and none
/// 93 days ago or more, or to come.
async fn known_figures(app: &TestApp) -> (String, String) {
    partners(app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    create_ok(
        &mut admin,
        pb::Partner {
            status: pb::PartnerStatus::Suspended as i32,
            ..partner("p-3")
        },
    )
    .await;
    health_scorecard(app).await;
    let a1 = account(app, "Acme", Some("p-1"), false).await;
    let a2 = account(app, "Globex", Some("p-1"), false).await;
    let a3 = account(app, "Initech", Some("p-1"), false).await;
    account(app, "Umbrella", Some("p-1"), true).await;
    let b1 = account(app, "Hooli", Some("p-2"), false).await;
    let solo = account(app, "Solo", None, false).await;

    subscribe(
        app,
        &a1,
        &[(10, month(-6), Some(month(-1))), (20, month(-1), None)],
    )
    .await;
    subscribe(app, &a2, &[(5, month(-6), Some(month(-1)))]).await;
    subscribe(app, &a3, &[(3, month(-1), None)]).await;
    subscribe(app, &b1, &[(8, month(-12), None)]).await;
    subscribe(app, &solo, &[(1, month(-6), None)]).await;

    score(app, &a1, 90).await;
    score(app, &a2, 30).await;
    score(app, &b1, 70).await;

    let open = raise(app, &a1).await;
    accept(app, &open).await;
    let lost = raise(app, &a1).await;
    let opportunity = accept(app, &lost).await;
    app.expansion_as(Role::CustomerSales)
        .lose_opportunity(ex::LoseOpportunityRequest {
            id: opportunity,
            reason: "budget freeze".into(),
            ..Default::default()
        })
        .await
        .expect("lose");
    raise(app, &a3).await;
    raise(app, &b1).await;
    raise(app, &solo).await;

    let certified3 = add_staff(&mut admin, staff("p-1", "Hanako", "hanako@p1.example")).await;
    let certified1 = add_staff(&mut admin, staff("p-1", "Taro", "taro@p1.example")).await;
    add_staff(&mut admin, staff("p-1", "Jiro", "jiro@p1.example")).await;
    let left = add_staff(
        &mut admin,
        pb::PartnerStaff {
            status: pb::StaffStatus::Left as i32,
            ..staff("p-1", "Saburo", "saburo@p1.example")
        },
    )
    .await;
    certify(app, &certified3.id, 3).await;
    certify(app, &certified1.id, 1).await;
    certify(app, &left.id, 2).await;

    attribute(app, &a1, "p-1", AttributionKind::Sourced).await;
    attribute(app, &a2, "p-1", AttributionKind::Sourced).await;
    attribute(app, &b1, "p-1", AttributionKind::Influenced).await;
    attribute(app, &b1, "p-2", AttributionKind::Sourced).await;

    workspace_playbook(app).await;
    let plan = onboard(app, &a1, 60).await;
    complete(app, &plan, "setup").await;
    complete(app, &plan, "value").await;
    let plan = onboard(app, &a2, 30).await;
    complete(app, &plan, "setup").await;
    let plan = onboard(app, &a3, 80).await;
    app.onboarding()
        .cancel_plan(ob::CancelPlanRequest {
            plan_id: plan,
            reason: "restarted".into(),
            ..Default::default()
        })
        .await
        .expect("cancel plan");
    onboard(app, &a3, 50).await;
    onboard(app, &b1, 40).await;
    let plan = onboard(app, &solo, 60).await;
    complete(app, &plan, "setup").await;
    complete(app, &plan, "value").await;
    (a1, b1)
}

fn levels(card: &pb::PartnerScorecard) -> Vec<(i32, i32)> {
    card.certified_staff
        .iter()
        .map(|l| (l.level, l.staff_count))
        .collect()
}

fn grades(health: &hl::HealthSummary) -> Vec<(i32, i64)> {
    health.grades.iter().map(|g| (g.grade, g.count)).collect()
}

/// A completion group's partner, due, on time, late, open and cancelled
/// plans, rate, median and p90 days.
type Completion = (
    String,
    (i64, i64, i64, i64, i64),
    Option<i32>,
    Option<i32>,
    Option<i32>,
);

fn completion(group: Option<&ob::CompletionGroup>) -> Completion {
    let g = group.expect("completion group");
    (
        g.group.clone(),
        (
            g.due,
            g.completed_on_time,
            g.completed_late,
            g.open,
            g.cancelled,
        ),
        g.rate_basis_points,
        g.median_days,
        g.p90_days,
    )
}

fn none_due(partner_id: &str) -> Completion {
    (partner_id.into(), (0, 0, 0, 0, 0), None, None, None)
}

fn retention(card: &pb::PartnerScorecard) -> (i64, i64, Option<i64>, Option<i64>, Option<i64>) {
    let r = card.retention.as_ref().expect("retention");
    (
        r.cohort_accounts,
        r.churned_accounts,
        r.logo_churn_basis_points,
        r.nrr_basis_points,
        r.grr_basis_points,
    )
}

#[tokio::test]
async fn a_scorecard_rolls_up_health_revenue_csqls_staff_and_attributions_with_known_figures() {
    let app = spawn_app_with_reports(None).await;
    known_figures(&app).await;
    let mut admin = app.admin();

    let p1 = scorecard(&mut admin, "p-1").await;
    assert_eq!(
        (p1.display_name.as_str(), p1.status),
        ("Partner p-1", pb::PartnerStatus::Active as i32)
    );
    assert_eq!((p1.start_date, p1.end_date), period());
    assert_eq!(p1.as_of, day(today()));
    assert_eq!((p1.accounts, p1.churned_accounts), (3, 1));
    assert_eq!((p1.sourced_accounts, p1.influenced_accounts), (2, 1));
    // Health, passed through from the health service: two of the three
    // accounts scored, A and D, their mean explained by measure.
    let health = p1.health.as_ref().expect("health");
    assert_eq!(
        (health.group.as_str(), health.accounts, health.scores),
        ("p-1", 2, 2)
    );
    assert_eq!(
        grades(health),
        vec![(hl::Grade::A as i32, 1), (hl::Grade::D as i32, 1)]
    );
    assert_eq!(health.mean_score, Some(6_000));
    let parts: Vec<(i32, i32, Option<i32>)> = health
        .measures
        .iter()
        .map(|m| (m.measure, m.contribution, m.mean_value))
        .collect();
    assert_eq!(
        parts,
        vec![
            (hl::Measure::Breadth as i32, 0, None),
            (hl::Measure::Sentiment as i32, 6_000, Some(6_000)),
        ]
    );
    assert_eq!(
        health.measures.iter().map(|m| m.contribution).sum::<i32>(),
        6_000,
        "the contributions add up to the mean"
    );
    // Revenue over the months the period touches.
    assert_eq!(p1.currency_code, "USD");
    assert_eq!(
        (p1.revenue_start_month, p1.revenue_end_month),
        (day(month(-2)), day(month(0)))
    );
    assert_eq!(
        retention(&p1),
        (2, 1, Some(5_000), Some(13_333), Some(6_667))
    );
    let r = p1.retention.as_ref().expect("retention");
    assert_eq!(
        (r.starting_mrr.clone(), r.ending_mrr.clone()),
        (usd(150), usd(200))
    );
    // CSQLs raised in the period.
    let csqls = p1.csqls.as_ref().expect("csqls");
    assert_eq!(
        (
            csqls.group.as_str(),
            csqls.created,
            csqls.accepted,
            csqls.won,
            csqls.lost
        ),
        ("p-1", 3, 2, 0, 1)
    );
    assert_eq!(p1.open_csqls, 1);
    assert_eq!(csqls.pipeline_value, usd(500));
    assert_eq!(levels(&p1), vec![(1, 2), (2, 1), (3, 1)]);
    assert_eq!(p1.active_staff, 3);
    // Onboarding completion in the period, passed through from the
    // onboarding service.
    assert_eq!(
        completion(p1.setup_completion.as_ref()),
        (
            "p-1".into(),
            (4, 1, 1, 1, 1),
            Some(2_500),
            Some(30),
            Some(60)
        )
    );
    assert_eq!(
        completion(p1.value_completion.as_ref()),
        (
            "p-1".into(),
            (2, 1, 0, 0, 1),
            Some(5_000),
            Some(60),
            Some(60)
        )
    );

    let p2 = scorecard(&mut admin, "p-2").await;
    assert_eq!((p2.accounts, p2.churned_accounts), (1, 0));
    assert_eq!((p2.sourced_accounts, p2.influenced_accounts), (1, 0));
    let health = p2.health.as_ref().expect("health");
    assert_eq!((health.accounts, health.mean_score), (1, Some(7_000)));
    assert_eq!(grades(health), vec![(hl::Grade::B as i32, 1)]);
    assert_eq!(retention(&p2), (1, 0, Some(0), Some(10_000), Some(10_000)));
    let csqls = p2.csqls.as_ref().expect("csqls");
    assert_eq!((csqls.created, csqls.accepted), (1, 0));
    assert_eq!(p2.open_csqls, 0);
    assert_eq!(levels(&p2), vec![(1, 0), (2, 0), (3, 0)]);
    assert_eq!(p2.active_staff, 0);
    // One set-up due and open: a rate of 0. No value due: nothing to rate.
    assert_eq!(
        completion(p2.setup_completion.as_ref()),
        ("p-2".into(), (1, 0, 0, 1, 0), Some(0), None, None)
    );
    assert_eq!(completion(p2.value_completion.as_ref()), none_due("p-2"));

    // A partner that is not active has a scorecard too, with nothing in it.
    let p3 = scorecard(&mut admin, "p-3").await;
    assert_eq!(p3.status, pb::PartnerStatus::Suspended as i32);
    assert_eq!((p3.accounts, p3.open_csqls), (0, 0));
    assert!(p3.health.is_none() && p3.retention.is_none() && p3.csqls.is_none());
    assert_eq!(completion(p3.setup_completion.as_ref()), none_due("p-3"));
    assert_eq!(completion(p3.value_completion.as_ref()), none_due("p-3"));

    // The listing holds the active partners, with the same scorecards.
    let (all, pages) = listed(&mut admin, 0).await;
    assert_eq!(pages, 1);
    assert_eq!(all, vec![p1.clone(), p2.clone()]);
    // Page by page, the same.
    let (paged, pages) = listed(&mut admin, 1).await;
    assert_eq!(pages, 2);
    assert_eq!(paged, all);

    // In a currency the revenue is not in, there is no revenue to report.
    let mut in_jpy = get("p-1");
    in_jpy.currency_code = "JPY".into();
    let card = admin
        .get_partner_scorecard(in_jpy)
        .await
        .expect("scorecard")
        .into_inner()
        .scorecard
        .expect("scorecard");
    assert!(card.retention.is_none());
    assert_eq!(card.health, p1.health);
}

#[tokio::test]
async fn a_partner_user_reads_its_own_scorecard_alone() {
    let app = spawn_app_with_reports(None).await;
    known_figures(&app).await;
    let admin_view = scorecard(&mut app.admin(), "p-1").await;
    let mut portal = app.portal("p-1");

    let own = scorecard(&mut portal, "p-1").await;
    // The influence on p-2's account is not p-1's to see; the rest is the
    // same as staff see it.
    assert_eq!(own.influenced_accounts, 0);
    assert_eq!(
        pb::PartnerScorecard {
            influenced_accounts: 1,
            ..own.clone()
        },
        admin_view
    );
    // The onboarding service gives its completion report to staff alone:
    // the service asks it as itself and keeps the partner's own figures.
    assert_eq!(completion(own.setup_completion.as_ref()).1, (4, 1, 1, 1, 1));
    for other in ["p-2", "p-3", "p-unknown"] {
        let status = refused(portal.get_partner_scorecard(get(other)).await);
        assert_eq!(status.code(), Code::NotFound, "{other}");
    }
    let (listed, _) = listed(&mut portal, 0).await;
    assert_eq!(listed, vec![own]);

    // Other roles read every partner's, those the onboarding service
    // refuses its report (csm, customer sales, service) too.
    let p2 = scorecard(&mut app.admin(), "p-2").await;
    for role in [
        Role::Csm,
        Role::CustomerSales,
        Role::Bizops,
        Role::CsManager,
        Role::Service,
    ] {
        let card = scorecard(&mut app.client(role), "p-2").await;
        assert_eq!(card, p2, "{role:?}");
    }
}

fn sorted(mut calls: Vec<String>) -> Vec<String> {
    calls.sort();
    calls
}

#[tokio::test]
async fn every_page_of_scorecards_costs_one_call_of_each_report_whatever_the_partners() {
    let app = spawn_app_with_reports(None).await;
    known_figures(&app).await;
    let more: Vec<String> = (10..40).map(|n| format!("p-{n}")).collect();
    partners(&app, &more.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let reports = app.reports();
    let mut admin = app.admin();
    reports.expansion_calls.take();
    reports.health_calls.take();
    reports.onboarding_calls.take();

    // 32 active partners on one page: one call of each report, one
    // completion report per stage.
    let (all, pages) = listed(&mut admin, 1000).await;
    assert_eq!((all.len(), pages), (32, 1));
    assert_eq!(
        sorted(reports.expansion_calls.take()),
        ["GetCsqlReport", "GetRevenueReport"]
    );
    assert_eq!(reports.health_calls.take(), ["GetHealthSummary"]);
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"; 2]);
    // Partners without plans have their empty groups all the same.
    let p10 = all.iter().find(|card| card.partner_id == "p-10");
    let p10 = p10.expect("p-10");
    assert_eq!(completion(p10.setup_completion.as_ref()), none_due("p-10"));
    assert_eq!(completion(p10.value_completion.as_ref()), none_due("p-10"));

    // Pages of 10: four pages, one call of each report per page.
    let (paged, pages) = listed(&mut admin, 10).await;
    assert_eq!((pages, &paged), (4, &all));
    let expansion = sorted(reports.expansion_calls.take());
    assert_eq!(
        expansion,
        [["GetCsqlReport"; 4], ["GetRevenueReport"; 4]].concat()
    );
    assert_eq!(reports.health_calls.take(), ["GetHealthSummary"; 4]);
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"; 8]);

    // One partner's scorecard: one call of each too.
    scorecard(&mut admin, "p-1").await;
    assert_eq!(
        sorted(reports.expansion_calls.take()),
        ["GetCsqlReport", "GetRevenueReport"]
    );
    assert_eq!(reports.health_calls.take(), ["GetHealthSummary"]);
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"; 2]);

    // The same for a partner user, whose completion reports the service
    // asks as itself.
    let mut portal = app.portal("p-1");
    scorecard(&mut portal, "p-1").await;
    listed(&mut portal, 0).await;
    assert_eq!(reports.onboarding_calls.take(), ["GetCompletionReport"; 4]);
    assert_eq!(reports.health_calls.take(), ["GetHealthSummary"; 2]);
    assert_eq!(reports.expansion_calls.take().len(), 4);

    // A refused request asks nobody anything.
    let status = refused(admin.get_partner_scorecard(get("p-unknown")).await);
    assert_eq!(status.code(), Code::NotFound);
    let status = refused(
        admin
            .list_partner_scorecards(pb::ListPartnerScorecardsRequest::default())
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(reports.expansion_calls.take().is_empty());
    assert!(reports.health_calls.take().is_empty());
    assert!(reports.onboarding_calls.take().is_empty());
}

#[tokio::test]
async fn a_peer_out_of_reach_fails_the_scorecard_with_unavailable_not_a_partial_one() {
    for peer in ["health", "expansion", "onboarding"] {
        let app = spawn_app_with_reports(Some(peer)).await;
        partners(&app, &["p-1"]).await;
        let mut admin = app.admin();
        let status = refused(admin.get_partner_scorecard(get("p-1")).await);
        assert_eq!(status.code(), Code::Unavailable, "{peer}: {status:?}");
        assert_eq!(reason(&status), "UNAVAILABLE");
        let status = refused(admin.list_partner_scorecards(list(0, String::new())).await);
        assert_eq!(status.code(), Code::Unavailable, "{peer}: {status:?}");
        // Also when the service asks as itself.
        let status = refused(app.portal("p-1").get_partner_scorecard(get("p-1")).await);
        assert_eq!(status.code(), Code::Unavailable, "{peer}: {status:?}");
    }
}

#[tokio::test]
async fn revenue_in_several_currencies_needs_a_currency() {
    let app = spawn_app_with_reports(None).await;
    partners(&app, &["p-1", "p-2"]).await;
    let a1 = account(&app, "Acme", Some("p-1"), false).await;
    let b1 = account(&app, "Hooli", Some("p-2"), false).await;
    subscribe(&app, &a1, &[(10, month(-6), None)]).await;
    app.expansion()
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "crm".into(),
                display_name: "CRM".into(),
                plans: vec![ex::Plan {
                    plan_key: "monthly".into(),
                    display_name: "Monthly".into(),
                    list_price: Some(themodel_proto::common::Money {
                        currency_code: "JPY".into(),
                        units: 1_000,
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
    app.expansion()
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                account_id: b1.clone(),
                product_key: "crm".into(),
                plan_key: "monthly".into(),
                terms: vec![ex::SubscriptionTerm {
                    quantity: 2,
                    start_date: day(month(-6)),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("subscription");
    let mut admin = app.admin();
    let status = refused(admin.list_partner_scorecards(list(0, String::new())).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "MIXED_CURRENCIES");
    // One partner's revenue is in one currency.
    let p1 = scorecard(&mut admin, "p-1").await;
    assert_eq!(p1.currency_code, "USD");
    // Named, the currency picks the revenue counted.
    let mut in_jpy = list(0, String::new());
    in_jpy.currency_code = "JPY".into();
    let cards = admin
        .list_partner_scorecards(in_jpy)
        .await
        .expect("list")
        .into_inner()
        .scorecards;
    assert_eq!(cards.len(), 2);
    assert!(cards[0].retention.is_none());
    let p2 = cards[1].retention.as_ref().expect("retention");
    assert_eq!(
        (cards[1].currency_code.as_str(), p2.cohort_accounts),
        ("JPY", 1)
    );
}

#[tokio::test]
async fn bad_periods_partners_currencies_and_page_tokens_are_refused_with_their_fields() {
    let app = spawn_app_with_reports(None).await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    let cases: Vec<(pb::GetPartnerScorecardRequest, Vec<&str>)> = vec![
        (
            pb::GetPartnerScorecardRequest::default(),
            vec!["partner_id", "start_date", "end_date"],
        ),
        (
            pb::GetPartnerScorecardRequest {
                partner_id: "bad partner!".into(),
                start_date: Some(Date {
                    year: 2026,
                    month: 2,
                    day: 30,
                }),
                currency_code: "usd".into(),
                ..get("p-1")
            },
            vec!["partner_id", "start_date", "currency_code"],
        ),
        (
            pb::GetPartnerScorecardRequest {
                start_date: day(today()),
                end_date: day(today() - chrono::Days::new(1)),
                ..get("p-1")
            },
            vec!["end_date"],
        ),
        (
            pb::GetPartnerScorecardRequest {
                start_date: day(month(-120)),
                end_date: day(today()),
                ..get("p-1")
            },
            vec!["end_date"],
        ),
    ];
    for (request, fields) in cases {
        let status = refused(admin.get_partner_scorecard(request.clone()).await);
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violated_fields(&status), fields, "{request:?}");
    }
    // 120 months are fine.
    let mut longest = get("p-1");
    longest.start_date = day(month(-119));
    admin
        .get_partner_scorecard(longest)
        .await
        .expect("120 months");

    let status = refused(
        admin
            .list_partner_scorecards(pb::ListPartnerScorecardsRequest {
                page_size: -1,
                page_token: "not a token".into(),
                ..list(0, String::new())
            })
            .await,
    );
    assert_eq!(violated_fields(&status), vec!["page_size", "page_token"]);
    // A token belongs to its period.
    let first = admin
        .list_partner_scorecards(list(1, String::new()))
        .await
        .expect("list")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let status = refused(
        admin
            .list_partner_scorecards(pb::ListPartnerScorecardsRequest {
                start_date: day(month(-1)),
                ..list(1, first.next_page_token)
            })
            .await,
    );
    assert_eq!(violated_fields(&status), vec!["page_token"]);
}
