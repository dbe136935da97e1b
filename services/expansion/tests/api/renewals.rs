//! Renewals with closing plans, reviews and outcomes; QBRs and the CSQLs
//! they produce.

use themodel_platform::auth::Role;
use themodel_proto::expansion as pb;
use tonic::Code;

use crate::helpers::*;

/// An account on a yearly term of "analytics" ending on `end` (a 2099 date
/// keeps it in the future).
async fn yearly(
    app: &TestApp,
    end: (i32, i32, i32),
    partner: Option<&str>,
) -> (String, pb::Subscription) {
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    let account = app.account("Acme", partner).await;
    let sub = subscribe(
        &mut admin,
        subscription(
            &account,
            "analytics",
            vec![term(
                10,
                100,
                date(end.0 - 1, end.1, end.2),
                date(end.0, end.1, end.2),
            )],
        ),
    )
    .await;
    (account, sub)
}

fn step(key: &str) -> pb::ClosingStep {
    pb::ClosingStep {
        step_key: key.into(),
        description: format!("Do {key}"),
        due_date: date(2099, 1, 15),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_renewal_is_planned_reviewed_and_renewed_once() {
    let app = spawn_app().await;
    let (_, sub) = yearly(&app, (2099, 3, 1), None).await;
    let mut csm = app.client(Role::Csm);

    let renewal = csm
        .get_renewal(pb::GetRenewalRequest {
            subscription_id: sub.id.clone(),
        })
        .await
        .expect("renewal")
        .into_inner()
        .renewal
        .expect("renewal");
    assert_eq!(renewal.renewal_date, date(2099, 3, 1));
    assert_eq!(renewal.mrr, usd(1_000));
    assert_eq!(renewal.outcome, pb::RenewalOutcome::Unspecified as i32);
    assert!(renewal.steps.is_empty());

    let planned = csm
        .set_closing_plan(pb::SetClosingPlanRequest {
            subscription_id: sub.id.clone(),
            owner_id: "csm-1".into(),
            steps: vec![step("exec-sponsor"), step("usage-review")],
            ..Default::default()
        })
        .await
        .expect("plan")
        .into_inner()
        .renewal
        .expect("renewal");
    assert_eq!(planned.owner_id, "csm-1");
    assert_eq!(planned.steps.len(), 2);
    assert!(planned.next_review_date.is_some());

    let done = csm
        .complete_closing_step(pb::CompleteClosingStepRequest {
            subscription_id: sub.id.clone(),
            step_key: "exec-sponsor".into(),
            request_id: String::new(),
        })
        .await
        .expect("step")
        .into_inner()
        .renewal
        .expect("renewal");
    assert!(done.steps[0].done && !done.steps[1].done);
    // A new plan keeps the steps it keeps done.
    let replanned = csm
        .set_closing_plan(pb::SetClosingPlanRequest {
            subscription_id: sub.id.clone(),
            owner_id: "csm-1".into(),
            steps: vec![step("exec-sponsor"), step("pricing")],
            etag: done.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("replan")
        .into_inner()
        .renewal
        .expect("renewal");
    assert!(replanned.steps[0].done && !replanned.steps[1].done);
    let duplicate = csm
        .set_closing_plan(pb::SetClosingPlanRequest {
            subscription_id: sub.id.clone(),
            owner_id: "csm-1".into(),
            steps: vec![step("a"), step("a")],
            ..Default::default()
        })
        .await
        .expect_err("duplicate");
    assert_eq!(violated_fields(&duplicate), vec!["steps[1].step_key"]);

    // Managers review; a CSM does not.
    let status = csm
        .review_renewal(pb::ReviewRenewalRequest {
            subscription_id: sub.id.clone(),
            note: "on track".into(),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(status.code(), Code::PermissionDenied);
    let reviewed = app
        .client(Role::CsManager)
        .review_renewal(pb::ReviewRenewalRequest {
            subscription_id: sub.id.clone(),
            note: "on track".into(),
            request_id: String::new(),
        })
        .await
        .expect("review")
        .into_inner()
        .renewal
        .expect("renewal");
    assert_eq!(reviewed.last_review_note, "on track");

    let upcoming = app
        .admin()
        .list_renewals(pb::ListRenewalsRequest {
            from_date: date(2099, 1, 1),
            to_date: date(2099, 6, 1),
            owner_id: "csm-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .renewals;
    assert_eq!(upcoming.len(), 1);
    assert_eq!(upcoming[0].subscription_id, sub.id);

    // Renewed as it was: a year more on the same terms, once.
    let renewed = csm
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::Renewed as i32,
            ..Default::default()
        })
        .await
        .expect("renewed")
        .into_inner();
    let subscription = renewed.subscription.expect("subscription");
    assert_eq!(subscription.terms.len(), 2);
    assert_eq!(subscription.terms[1].start_date, date(2099, 3, 1));
    assert_eq!(subscription.terms[1].end_date, date(2100, 3, 1));
    let renewal = renewed.renewal.expect("renewal");
    assert_eq!(renewal.outcome, pb::RenewalOutcome::Renewed as i32);
    assert!(renewal.outcome_recorded);
    let recorded: Vec<pb::RenewalRecorded> = payloads(&app.events().await);
    assert_eq!(recorded.len(), 1);

    // The next renewal is the new term's end; the last one stays decided.
    let next = csm
        .get_renewal(pb::GetRenewalRequest {
            subscription_id: sub.id.clone(),
        })
        .await
        .expect("next")
        .into_inner()
        .renewal
        .expect("renewal");
    assert_eq!(next.renewal_date, date(2100, 3, 1));
    let past = app
        .admin()
        .list_renewals(pb::ListRenewalsRequest {
            from_date: date(2099, 3, 1),
            to_date: date(2099, 3, 2),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .renewals;
    assert_eq!(past[0].outcome, pb::RenewalOutcome::Renewed as i32);
}

#[tokio::test]
async fn churn_needs_a_reason_and_a_renewal_with_change_its_term() {
    let app = spawn_app().await;
    let (_, sub) = yearly(&app, (2099, 3, 1), None).await;
    let mut sales = app.client(Role::CustomerSales);
    let no_reason = sales
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::Churned as i32,
            ..Default::default()
        })
        .await
        .expect_err("reason");
    assert_eq!(violated_fields(&no_reason), vec!["churn_reason"]);
    let no_term = sales
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::RenewedWithChange as i32,
            ..Default::default()
        })
        .await
        .expect_err("term");
    assert_eq!(violated_fields(&no_term), vec!["term"]);
    let wrong_day = sales
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::RenewedWithChange as i32,
            term: Some(term(5, 100, date(2099, 4, 1), None)),
            ..Default::default()
        })
        .await
        .expect_err("start");
    assert_eq!(violated_fields(&wrong_day), vec!["term.start_date"]);

    let churned = sales
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::Churned as i32,
            churn_reason: "moved to a competitor".into(),
            ..Default::default()
        })
        .await
        .expect("churned")
        .into_inner()
        .renewal
        .expect("renewal");
    assert_eq!(churned.churn_reason, "moved to a competitor");
    let twice = sales
        .record_renewal_outcome(pb::RecordRenewalOutcomeRequest {
            subscription_id: sub.id.clone(),
            outcome: pb::RenewalOutcome::Renewed as i32,
            ..Default::default()
        })
        .await
        .expect_err("twice");
    assert_eq!(reason(&twice), "RENEWAL_ALREADY_RECORDED");

    // An open-ended subscription has no renewal due.
    let mut admin = app.admin();
    let open = subscribe(
        &mut admin,
        subscription(
            &churned.account_id,
            "analytics",
            vec![term(1, 100, date(2024, 1, 1), None)],
        ),
    )
    .await;
    let status = admin
        .get_renewal(pb::GetRenewalRequest {
            subscription_id: open.id,
        })
        .await
        .expect_err("open-ended");
    assert_eq!(reason(&status), "NO_RENEWAL_DUE");
}

#[tokio::test]
async fn a_held_qbr_names_its_attendees_and_the_csqls_it_produced() {
    let app = spawn_app().await;
    let (account, _) = yearly(&app, (2099, 3, 1), Some("p-1")).await;
    let other = app.account("Other", Some("p-2")).await;
    let mut csm = app.client(Role::Csm);
    let qbr = csm
        .schedule_qbr(pb::ScheduleQbrRequest {
            qbr: Some(pb::Qbr {
                account_id: account.clone(),
                scheduled_date: date(2024, 4, 10),
                agenda: vec!["Usage review".into(), "Renewal".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("schedule")
        .into_inner()
        .qbr
        .expect("qbr");
    assert_eq!(qbr.status, pb::QbrStatus::Scheduled as i32);

    let nobody = csm
        .record_qbr(pb::RecordQbrRequest {
            id: qbr.id.clone(),
            held_date: date(2024, 4, 10),
            ..Default::default()
        })
        .await
        .expect_err("attendees");
    assert_eq!(violated_fields(&nobody), vec!["attendees"]);
    let future = csm
        .record_qbr(pb::RecordQbrRequest {
            id: qbr.id.clone(),
            held_date: date(2099, 4, 10),
            attendees: vec![pb::QbrAttendee {
                name: "Kim".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect_err("future");
    assert_eq!(violated_fields(&future), vec!["held_date"]);

    let held = csm
        .record_qbr(pb::RecordQbrRequest {
            id: qbr.id.clone(),
            held_date: date(2024, 4, 10),
            attendees: vec![
                pb::QbrAttendee {
                    name: "Kim".into(),
                    role: "Head of Ops".into(),
                    customer: true,
                    sales: false,
                },
                pb::QbrAttendee {
                    name: "Sato".into(),
                    role: "Account executive".into(),
                    customer: false,
                    sales: true,
                },
            ],
            proposals: vec!["Roll out to the support team".into()],
            outcomes: vec!["Pilot in May".into()],
            ..Default::default()
        })
        .await
        .expect("held")
        .into_inner()
        .qbr
        .expect("qbr");
    assert_eq!(held.status, pb::QbrStatus::Held as i32);
    assert!(held.sales_attended);
    let again = csm
        .record_qbr(pb::RecordQbrRequest {
            id: qbr.id.clone(),
            held_date: date(2024, 4, 11),
            attendees: vec![pb::QbrAttendee {
                name: "Kim".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect_err("twice");
    assert_eq!(reason(&again), "QBR_ALREADY_HELD");

    // A CSQL out of the QBR is linked to it; another account's QBR is not
    // this account's.
    let csql = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(pb::Csql {
                account_id: account.clone(),
                // The yearly term starts in 2098: nothing is held today.
                kind: pb::CsqlKind::CrossSell as i32,
                product_key: "analytics".into(),
                estimated_mrr: usd(300),
                reason: "Support team roll-out".into(),
                qbr_id: qbr.id.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("csql")
        .into_inner()
        .csql
        .expect("csql");
    let status = csm
        .create_csql(pb::CreateCsqlRequest {
            csql: Some(pb::Csql {
                account_id: other.clone(),
                kind: pb::CsqlKind::CrossSell as i32,
                product_key: "analytics".into(),
                estimated_mrr: usd(300),
                reason: "x".into(),
                qbr_id: qbr.id.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("other account's qbr");
    assert_eq!(status.code(), Code::NotFound);
    let got = csm
        .get_qbr(pb::GetQbrRequest { id: qbr.id.clone() })
        .await
        .expect("get")
        .into_inner()
        .qbr
        .expect("qbr");
    assert_eq!(got.csql_ids, vec![csql.id]);

    // Partner users see their own accounts' QBRs alone.
    let mut partner = app.client_with(themodel_platform::testing::Bearer::new(
        Role::PartnerUser,
        Some("p-2"),
    ));
    let status = partner
        .get_qbr(pb::GetQbrRequest { id: qbr.id.clone() })
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);
    let listed = partner
        .list_qbrs(pb::ListQbrsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .qbrs;
    assert!(listed.is_empty());
}
