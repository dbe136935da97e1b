//! The completion rate within the target period on a small hand-computed
//! dataset.

use themodel_platform::auth::Role;
use themodel_proto::onboarding as pb;
use tonic::Code;

use crate::helpers::*;

async fn finish(app: &TestApp, plan: &pb::Plan) {
    let mut csm = app.client(Role::Csm);
    csm.complete_step(pb::CompleteStepRequest {
        note: "checked".into(),
        ..complete(&plan.id, "sso")
    })
    .await
    .expect("sso");
    signal(
        &mut app.client(Role::Service),
        &plan.account_id,
        "users_active",
        5,
    )
    .await;
    csm.complete_step(pb::CompleteStepRequest {
        signed_by: "The customer".into(),
        signed_date: Some(days_ago(0)),
        ..complete(&plan.id, "sign-off")
    })
    .await
    .expect("sign-off");
}

#[tokio::test]
async fn the_completion_rate_counts_plans_due_in_the_period_reached_on_time() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_playbook(&mut admin, playbook()).await;
    let mut csm = app.client(Role::Csm);
    let plan = |name: &'static str, start: Option<i64>| {
        let app = &app;
        let mut csm = csm.clone();
        async move {
            let account = app.account(name, &format!("SF-{name}"), None).await;
            open(&mut csm, &account, start.map(days_ago)).await
        }
    };
    // Value due 90 days after the contract's start. In the period [30 days
    // ago, 100 days ahead]: late (due 10 days ago, reached today, 100 days
    // in), on time (due in 70 days, reached today, 20 days in), open (due in
    // 40 days), cancelled (due in 60 days). Outside: due 210 days ago.
    // Not dated: no contract start.
    let late = plan("late", Some(100)).await;
    let on_time = plan("ontime", Some(20)).await;
    plan("open", Some(50)).await;
    let cancelled = plan("cancelled", Some(30)).await;
    plan("outside", Some(300)).await;
    plan("undated", None).await;
    finish(&app, &late).await;
    finish(&app, &on_time).await;
    csm.cancel_plan(pb::CancelPlanRequest {
        plan_id: cancelled.id.clone(),
        reason: "lost".into(),
        ..Default::default()
    })
    .await
    .expect("cancel");

    let report = |stage: pb::Stage, group_by: pb::CompletionGrouping| {
        let mut client = app.client(Role::CsManager);
        async move {
            client
                .get_completion_report(pb::GetCompletionReportRequest {
                    start_date: Some(days_ago(30)),
                    end_date: Some(days_ago(-100)),
                    stage: stage as i32,
                    group_by: group_by as i32,
                })
                .await
                .expect("report")
                .into_inner()
        }
    };
    let whole = report(
        pb::Stage::ValueConfirmed,
        pb::CompletionGrouping::Unspecified,
    )
    .await;
    assert_eq!(whole.undated_open_plans, 1);
    assert_eq!(whole.groups.len(), 1);
    let g = &whole.groups[0];
    assert_eq!(
        (
            g.due,
            g.completed_on_time,
            g.completed_late,
            g.open,
            g.cancelled
        ),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(g.rate_basis_points, Some(2_500));
    // Days to value: 20 and 100.
    assert_eq!((g.median_days, g.p90_days), (Some(20), Some(100)));

    // Setup is due 30 days in: only the on-time plan's (due in 10 days)
    // and the open plan's (due 20 days ago)... and the cancelled one's (due
    // today) fall in the period; the late plan's was due 70 days ago.
    let setup = report(pb::Stage::SetupComplete, pb::CompletionGrouping::Product).await;
    assert_eq!(setup.groups[0].group, "analytics");
    let s = &setup.groups[0];
    assert_eq!(
        (s.due, s.completed_on_time, s.open, s.cancelled),
        (3, 1, 1, 1)
    );

    let by_month = report(
        pb::Stage::ValueConfirmed,
        pb::CompletionGrouping::StartMonth,
    )
    .await;
    let due: i64 = by_month.groups.iter().map(|g| g.due).sum();
    assert_eq!(due, 4);

    let err = app
        .client(Role::Csm)
        .get_completion_report(pb::GetCompletionReportRequest::default())
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = admin
        .get_completion_report(pb::GetCompletionReportRequest {
            start_date: Some(days_ago(0)),
            end_date: Some(days_ago(10)),
            group_by: 9,
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(violated_fields(&err), vec!["end_date", "group_by"]);
}

#[tokio::test]
async fn the_capacity_forecast_names_the_month_that_breaks() {
    use themodel_proto::segmentation::Tier;
    let app = spawn_app().await;
    let booking = |month: i32, tier: Tier, contracts: i32| pb::MonthlyBookings {
        year: 2027,
        month,
        tier: tier as i32,
        contracts,
    };
    // High touch: 4 a month, 30 hours over 3 months; low touch: 10 a month,
    // 3 hours in the month. 2 CSMs with 60 onboarding hours each: 120.
    let mut bookings = Vec::new();
    for month in 1..=3 {
        bookings.push(booking(month, Tier::HighTouch, 4));
        bookings.push(booking(month, Tier::LowTouch, 10));
    }
    let request = pb::ForecastCapacityRequest {
        bookings,
        efforts: vec![
            pb::TierEffort {
                tier: Tier::HighTouch as i32,
                hours_per_onboarding: 30,
                months: 3,
            },
            pb::TierEffort {
                tier: Tier::Unspecified as i32,
                hours_per_onboarding: 3,
                months: 0,
            },
        ],
        onboarding_csms: 2,
        hours_per_csm_per_month: 60,
    };
    let forecast = app
        .client(Role::CsManager)
        .forecast_capacity(request.clone())
        .await
        .expect("forecast")
        .into_inner();
    let needed: Vec<(i32, i64, bool)> = forecast
        .months
        .iter()
        .map(|m| (m.month, m.hours_needed, m.over_capacity))
        .collect();
    // Jan 40 + 30, Feb 80 + 30, Mar 120 + 30, Apr 80, May 40.
    assert_eq!(
        needed,
        vec![
            (1, 70, false),
            (2, 110, false),
            (3, 150, true),
            (4, 80, false),
            (5, 40, false),
        ]
    );
    assert_eq!(forecast.first_breaking_index, 2);
    assert_eq!(forecast.months[2].utilisation_basis_points, Some(12_500));
    assert_eq!(forecast.months[2].csms_needed, 3);

    let err = app
        .admin()
        .forecast_capacity(pb::ForecastCapacityRequest {
            efforts: vec![],
            hours_per_csm_per_month: 0,
            ..request
        })
        .await
        .expect_err("bad");
    let fields = violated_fields(&err);
    assert_eq!(fields[0], "bookings[0].tier");
    assert_eq!(
        fields.last().map(String::as_str),
        Some("hours_per_csm_per_month")
    );
    let err = app
        .client(Role::Csm)
        .forecast_capacity(pb::ForecastCapacityRequest::default())
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
}
