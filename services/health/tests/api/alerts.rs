//! Health alerts: each raised once when its condition starts to hold,
//! cleared when it stops, listed and announced; the policy that rules them;
//! partners kept to their own accounts' alerts.

use chrono::Datelike;
use themodel_platform::auth::Role;
use themodel_proto::health as pb;
use tonic::Code;

use crate::helpers::*;

async fn default_card(admin: &mut Client, measures: &[(pb::Measure, i32)]) {
    admin
        .create_scorecard(pb::CreateScorecardRequest {
            scorecard: Some(pb::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default".into(),
                measures: measures
                    .iter()
                    .map(|(m, w)| pb::MeasureWeight {
                        measure: *m as i32,
                        weight: *w,
                    })
                    .collect(),
                thresholds: Some(pb::GradeThresholds {
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
}

async fn score(client: &mut Client, account: &str) -> pb::HealthScore {
    client
        .score_account(pb::ScoreAccountRequest {
            account_id: account.into(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect("score")
        .into_inner()
        .score
        .expect("score")
}

async fn ingest(app: &TestApp, events: Vec<pb::UsageEvent>) {
    let summary = app
        .client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest {
            events,
            request_id: String::new(),
        })
        .await
        .expect("ingest")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!(summary.rejected, 0, "{:?}", summary.rejections);
}

async fn alerts(client: &mut Client, include_cleared: bool) -> Vec<pb::HealthAlert> {
    client
        .list_health_alerts(pb::ListHealthAlertsRequest {
            include_cleared,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_inner()
        .alerts
}

async fn sentiment(client: &mut Client, account: &str, score: i32) {
    client
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: account.into(),
            product_key: "analytics".into(),
            score: Some(score),
            note: "call".into(),
            ..Default::default()
        })
        .await
        .expect("sentiment");
}

#[tokio::test]
async fn a_usage_drop_is_raised_once_and_cleared_when_use_recovers() {
    use pb::Measure::{Breadth, UserTrend};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    default_card(&mut admin, &[(Breadth, 50), (UserTrend, 50)]).await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    // Two users a day for the 28 days before the last 7, none since.
    let baseline: Vec<_> = (7..35)
        .flat_map(|d| ["u1", "u2"].into_iter().map(move |u| (d, u)))
        .map(|(d, u)| usage_on(&account, "dashboards", u, d))
        .collect();
    ingest(&app, baseline).await;
    let mut csm = app.client(Role::Csm);
    score(&mut csm, &account).await;
    let open = alerts(&mut admin, false).await;
    assert_eq!(open.len(), 1);
    let drop = &open[0];
    assert_eq!(drop.kind, pb::AlertKind::UsageDrop as i32);
    assert_eq!(
        (drop.recent_active_users, drop.baseline_active_users),
        (0, 56)
    );
    assert_eq!(drop.account_id, account);
    assert_eq!(drop.partner_id, "p-1");
    assert!(drop.clear_time.is_none());

    // Scored again while the drop lasts: still one alert, announced once.
    score(&mut csm, &account).await;
    assert_eq!(alerts(&mut admin, true).await.len(), 1);

    // One user a day this week: half the usual, still a drop at 50%.
    ingest(
        &app,
        (0..7)
            .map(|d| usage_on(&account, "dashboards", "u1", d))
            .collect(),
    )
    .await;
    score(&mut csm, &account).await;
    assert_eq!(alerts(&mut admin, false).await.len(), 1);
    // Two a day: back to the baseline, cleared.
    ingest(
        &app,
        (0..7)
            .map(|d| usage_on(&account, "dashboards", "u2", d))
            .collect(),
    )
    .await;
    score(&mut csm, &account).await;
    assert!(alerts(&mut admin, false).await.is_empty());
    let all = alerts(&mut admin, true).await;
    assert_eq!(all.len(), 1);
    assert!(all[0].clear_time.is_some());

    let events = app.events().await;
    let raised: Vec<pb::HealthAlertRaised> = payloads(&events);
    let cleared: Vec<pb::HealthAlertCleared> = payloads(&events);
    assert_eq!(raised.len(), 1);
    assert_eq!(cleared.len(), 1);
    assert_eq!(
        cleared[0].alert.as_ref().map(|a| a.alert_id.as_str()),
        Some(drop.alert_id.as_str())
    );
    // A second drop later would be a new alert: the cleared one stays as it was.
    assert_eq!(all[0].alert_id, drop.alert_id);
}

#[tokio::test]
async fn a_grade_drop_clears_only_back_at_the_grade_it_fell_from_and_partners_see_their_own() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    default_card(&mut admin, &[(Breadth, 20), (Sentiment, 80)]).await;
    let own = app.account("Own", "SF-001", Some("p-1")).await;
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    ingest(
        &app,
        vec![usage(&own, "dashboards"), usage(&other, "dashboards")],
    )
    .await;
    let mut csm = app.client(Role::Csm);
    for account in [&own, &other] {
        // Breadth 10,000 * 20% + sentiment 100 * 80%: A.
        sentiment(&mut csm, account, 100).await;
        assert_eq!(score(&mut csm, account).await.grade, pb::Grade::A as i32);
        // Sentiment 25: 2,000 + 2,000 = 4,000: C.
        sentiment(&mut csm, account, 25).await;
        assert_eq!(score(&mut csm, account).await.grade, pb::Grade::C as i32);
    }
    let open = alerts(&mut admin, false).await;
    assert_eq!(open.len(), 2);
    assert!(
        open.iter()
            .all(|a| a.kind == pb::AlertKind::GradeDrop as i32
                && a.grade_before == pb::Grade::A as i32
                && a.grade_after == pb::Grade::C as i32)
    );

    // A partner user lists only its own partner's accounts' alerts.
    let mut partner = app.client(Role::PartnerUser);
    let seen = alerts(&mut partner, true).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].account_id, own);
    let filtered = partner
        .list_health_alerts(pb::ListHealthAlertsRequest {
            account_id: other.clone(),
            include_cleared: true,
            ..Default::default()
        })
        .await
        .expect("filtered")
        .into_inner();
    assert!(filtered.alerts.is_empty());

    // Up to B (2,000 + 4,800): better, but not back to A: still open.
    sentiment(&mut csm, &own, 60).await;
    assert_eq!(score(&mut csm, &own).await.grade, pb::Grade::B as i32);
    let still = admin
        .list_health_alerts(pb::ListHealthAlertsRequest {
            account_id: own.clone(),
            ..Default::default()
        })
        .await
        .expect("own alerts")
        .into_inner()
        .alerts;
    assert_eq!(still.len(), 1);
    // Back to A: cleared.
    sentiment(&mut csm, &own, 100).await;
    score(&mut csm, &own).await;
    let cleared = admin
        .list_health_alerts(pb::ListHealthAlertsRequest {
            account_id: own.clone(),
            ..Default::default()
        })
        .await
        .expect("own alerts")
        .into_inner()
        .alerts;
    assert!(cleared.is_empty());
    let raised: Vec<pb::HealthAlertRaised> = payloads(&app.events().await);
    assert_eq!(raised.len(), 2);
}

#[tokio::test]
async fn no_usage_since_onboarding_waits_for_the_policys_grace_days() {
    use pb::Measure::{Breadth, SeatUse};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    default_card(&mut admin, &[(Breadth, 50), (SeatUse, 50)]).await;
    let account = app.account("Acme", "SF-001", None).await;
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(20);
    app.subscribe(
        &account,
        "analytics",
        5,
        (start.year(), start.month() as i32, start.day() as i32),
    )
    .await;
    // The seats reach the service through the expansion service's events.
    eventually("seat terms", || async { app.rows("seat_terms").await == 1 }).await;

    // 20 days without use, the grace 30 days: nothing.
    let policy = admin
        .get_alert_policy(pb::GetAlertPolicyRequest {})
        .await
        .expect("policy")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(
        (
            policy.usage_drop_percent,
            policy.no_usage_grace_days,
            policy.grade_drop
        ),
        (50, 14, true)
    );
    let updated = admin
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy {
                no_usage_grace_days: 30,
                etag: policy.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["no_usage_grace_days".into()],
            }),
            request_id: String::new(),
        })
        .await
        .expect("update")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(
        (updated.usage_drop_percent, updated.no_usage_grace_days),
        (50, 30)
    );
    assert_ne!(updated.etag, policy.etag);
    let mut csm = app.client(Role::Csm);
    score(&mut csm, &account).await;
    assert!(alerts(&mut admin, true).await.is_empty());

    // Back to 14 days: 20 days without use is an alert.
    admin
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy {
                no_usage_grace_days: 14,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["no_usage_grace_days".into()],
            }),
            request_id: String::new(),
        })
        .await
        .expect("update");
    score(&mut csm, &account).await;
    let open = alerts(&mut admin, false).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, pb::AlertKind::NoUsage as i32);
    assert_eq!(open[0].since_date, Some(days_ago(20)));

    // The first use clears it.
    ingest(&app, vec![usage(&account, "dashboards")]).await;
    score(&mut csm, &account).await;
    assert!(alerts(&mut admin, false).await.is_empty());
}

#[tokio::test]
async fn bad_policies_and_filters_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let err = admin
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy {
                usage_drop_percent: 101,
                no_usage_grace_days: -1,
                ..Default::default()
            }),
            update_mask: mask(&["*"]),
            request_id: String::new(),
        })
        .await
        .expect_err("out of range");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec!["policy.usage_drop_percent", "policy.no_usage_grace_days"]
    );
    let err = admin
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy::default()),
            update_mask: mask(&["severity"]),
            request_id: String::new(),
        })
        .await
        .expect_err("unknown field");
    assert_eq!(violated_fields(&err), vec!["update_mask.paths[0]"]);
    let err = admin
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy {
                etag: "r7".into(),
                ..Default::default()
            }),
            update_mask: mask(&["grade_drop"]),
            request_id: String::new(),
        })
        .await
        .expect_err("stale");
    assert_eq!(reason(&err), "ETAG_MISMATCH");
    let err = app
        .client(Role::Csm)
        .update_alert_policy(pb::UpdateAlertPolicyRequest {
            policy: Some(pb::AlertPolicy::default()),
            update_mask: mask(&["grade_drop"]),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
    let policy = admin
        .get_alert_policy(pb::GetAlertPolicyRequest {})
        .await
        .expect("policy")
        .into_inner()
        .policy
        .expect("policy");
    assert_eq!(
        (
            policy.usage_drop_percent,
            policy.no_usage_grace_days,
            policy.grade_drop,
            policy.etag.as_str()
        ),
        (50, 14, true, "r0")
    );

    let err = admin
        .list_health_alerts(pb::ListHealthAlertsRequest {
            account_id: "not-an-id".into(),
            kind: 42,
            page_size: -1,
            ..Default::default()
        })
        .await
        .expect_err("bad filters");
    assert_eq!(
        violated_fields(&err),
        vec!["page_size", "account_id", "kind"]
    );
    assert!(payloads::<pb::AlertPolicyUpdated>(&app.events().await).is_empty());
}

#[tokio::test]
async fn usage_is_scored_in_the_background_and_a_recompute_moves_every_account_to_a_new_version() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app_scoring_every(100).await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    create_feature(&mut admin, feature("analytics", "alerts", true)).await;
    default_card(&mut admin, &[(Breadth, 50), (Sentiment, 50)]).await;
    let first = app.account("Acme", "SF-001", None).await;
    let second = app.account("Globex", "SF-002", None).await;
    ingest(
        &app,
        vec![usage(&first, "dashboards"), usage(&second, "dashboards")],
    )
    .await;
    let latest = |account: String| {
        let mut client = app.admin();
        async move {
            client
                .get_health_score(pb::GetHealthScoreRequest {
                    account_id: account,
                    product_key: "analytics".into(),
                })
                .await
                .ok()
                .and_then(|r| r.into_inner().score)
        }
    };
    eventually("background scores", || async {
        latest(first.clone()).await.is_some() && latest(second.clone()).await.is_some()
    })
    .await;
    let scored = latest(first.clone()).await.expect("score");
    assert_eq!(scored.computed_by, "system:health");
    assert_eq!(scored.score, Some(5_000));

    // New use moves the score: scored again without asking.
    ingest(&app, vec![usage(&first, "alerts")]).await;
    eventually("the new score", || async {
        latest(first.clone()).await.and_then(|s| s.score) == Some(10_000)
    })
    .await;

    // A new version, then a recompute: every account scored on it.
    admin
        .publish_scorecard_version(pb::PublishScorecardVersionRequest {
            scorecard: Some(pb::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default v2".into(),
                measures: vec![
                    pb::MeasureWeight {
                        measure: Breadth as i32,
                        weight: 60,
                    },
                    pb::MeasureWeight {
                        measure: Sentiment as i32,
                        weight: 40,
                    },
                ],
                thresholds: Some(pb::GradeThresholds {
                    a_min: 9_000,
                    b_min: 6_000,
                    c_min: 4_000,
                    d_min: 2_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("publish");
    let queued = admin
        .recompute_scores(pb::RecomputeScoresRequest {
            request_id: "recompute-1".into(),
        })
        .await
        .expect("recompute")
        .into_inner();
    assert!(queued.pending >= queued.queued);
    eventually("version 2 everywhere", || async {
        let a = latest(first.clone()).await;
        let b = latest(second.clone()).await;
        a.is_some_and(|s| s.scorecard_version == 2) && b.is_some_and(|s| s.scorecard_version == 2)
    })
    .await;
    // Unchanged scores are not kept again by later sweeps.
    let before = app.rows("health_scores").await;
    admin
        .recompute_scores(pb::RecomputeScoresRequest {
            request_id: String::new(),
        })
        .await
        .expect("recompute");
    eventually("the queue drained", || async {
        app.rows("score_queue").await == 0
    })
    .await;
    assert_eq!(app.rows("health_scores").await, before);
    let err = app
        .client(Role::Csm)
        .recompute_scores(pb::RecomputeScoresRequest::default())
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
}
