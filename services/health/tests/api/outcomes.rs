//! Outcomes and backtests: imported history judged record by record, a
//! backtest over a small hand-built history with known precision and
//! recall, and churns reported by the expansion service with what the score
//! said by then.

use chrono::Datelike;
use themodel_platform::auth::Role;
use themodel_proto::{common::Date, expansion as ex, health as pb};
use tonic::Code;

use crate::helpers::*;

async fn default_card(admin: &mut Client) {
    use pb::Measure::{Breadth, Sentiment};
    admin
        .create_scorecard(pb::CreateScorecardRequest {
            scorecard: Some(pb::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default".into(),
                measures: [(Breadth, 50), (Sentiment, 50)]
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

fn churn(account: &str, on: Date) -> pb::Outcome {
    pb::Outcome {
        account_id: account.into(),
        kind: pb::OutcomeKind::Churned as i32,
        date: Some(on),
        ..Default::default()
    }
}

async fn import(admin: &mut Client, outcomes: Vec<pb::Outcome>) -> pb::ImportOutcomesResponse {
    admin
        .import_outcomes(pb::ImportOutcomesRequest {
            outcomes,
            request_id: String::new(),
        })
        .await
        .expect("import")
        .into_inner()
}

fn backtest(start: Date, end: Date) -> pb::BacktestScorecardRequest {
    pb::BacktestScorecardRequest {
        scorecard_key: "default".into(),
        product_key: "analytics".into(),
        start_date: Some(start),
        end_date: Some(end),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_backtest_of_a_hand_built_history_reports_its_known_precision_and_recall() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "k1", true)).await;
    create_feature(&mut admin, feature("analytics", "k2", true)).await;
    create_feature(&mut admin, feature("analytics", "x", false)).await;
    default_card(&mut admin).await;
    // Scored 150 days ago on the use of the day before: both key features
    // (breadth 10,000: A) or only a feature that is not key (0: E).
    let healthy_churned = app.account("A1", "SF-001", None).await;
    let low_churned = app.account("A2", "SF-002", None).await;
    let low_stayed = app.account("A3", "SF-003", None).await;
    let healthy_stayed = app.account("A4", "SF-004", None).await;
    let low_churned_late = app.account("A5", "SF-005", None).await;
    let churned_before = app.account("A6", "SF-006", None).await;
    let unused = app.account("A7", "SF-007", None).await;
    let mut events = Vec::new();
    for account in [&healthy_churned, &healthy_stayed] {
        events.push(usage_on(account, "k1", "u1", 151));
        events.push(usage_on(account, "k2", "u2", 151));
    }
    for account in [
        &low_churned,
        &low_stayed,
        &low_churned_late,
        &churned_before,
    ] {
        events.push(usage_on(account, "x", "u1", 151));
    }
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
    assert_eq!(summary.accepted, 8);

    let mut outcomes = vec![
        pb::Outcome {
            account_external_id: "SF-001".into(),
            ..churn("", days_ago(120))
        },
        churn(&low_churned, days_ago(140)),
        // 120 days after as_of: outside the 90 days' horizon.
        churn(&low_churned_late, days_ago(30)),
        churn(&churned_before, days_ago(160)),
        churn(&unused, days_ago(140)),
        pb::Outcome {
            account_id: healthy_stayed.clone(),
            kind: pb::OutcomeKind::Renewed as i32,
            date: Some(days_ago(100)),
            product_key: "analytics".into(),
            ..Default::default()
        },
    ];
    let good = outcomes.len();
    // Refused, each with its index and reason; the others still land.
    outcomes.extend([
        pb::Outcome {
            kind: pb::OutcomeKind::Unspecified as i32,
            ..churn(&low_stayed, days_ago(10))
        },
        churn(&low_stayed, days_ago(-3)),
        churn("0190f3c6-0000-7000-8000-000000000000", days_ago(10)),
        pb::Outcome {
            kind: pb::OutcomeKind::Renewed as i32,
            ..churn(&low_stayed, days_ago(10))
        },
    ]);
    let imported = import(&mut admin, outcomes.clone()).await;
    assert_eq!((imported.accepted, imported.duplicates), (good as i64, 0));
    let refused: Vec<(i32, &str, Vec<&str>)> = imported
        .rejections
        .iter()
        .map(|r| {
            (
                r.index,
                r.reason.as_str(),
                r.violations.iter().map(|v| v.field.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (6, "INVALID_FIELD", vec!["kind"]),
            (7, "INVALID_FIELD", vec!["date"]),
            (8, "UNKNOWN_ACCOUNT", vec!["account_id"]),
            (9, "INVALID_FIELD", vec!["product_key"]),
        ]
    );
    // The same history again: every outcome known already.
    let again = import(&mut admin, outcomes[..good].to_vec()).await;
    assert_eq!((again.accepted, again.duplicates), (0, good as i64));

    // As of 150 days ago, horizon 90 days, D or worse predicts churn:
    // A2 churned (true positive), A3 and A5 stayed within the horizon
    // (false positives), A1 churned looking healthy (false negative), A4
    // stayed healthy (true negative); A6 had churned already and A7 was no
    // customer of the product.
    let result = app
        .client(Role::CsManager)
        .backtest_scorecard(backtest(days_ago(150), days_ago(150)))
        .await
        .expect("backtest")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(
        (
            result.true_positives,
            result.false_positives,
            result.false_negatives,
            result.true_negatives,
            result.unscored,
            result.observations,
        ),
        (1, 2, 1, 1, 0, 5)
    );
    assert_eq!(result.precision_basis_points, Some(3_333));
    assert_eq!(result.recall_basis_points, Some(5_000));
    assert_eq!((result.horizon_days, result.scorecard_version), (90, 1));
    assert_eq!(result.churn_grade, pb::Grade::D as i32);
    assert_eq!(result.as_of_dates, vec![days_ago(150)]);
    assert_eq!(
        result.missed_churns,
        vec![pb::MissedChurn {
            account_id: healthy_churned.clone(),
            as_of: Some(days_ago(150)),
            score: 10_000,
            grade: pb::Grade::A as i32,
            churn_date: Some(days_ago(120)),
        }]
    );

    // A horizon of 130 days catches A5's churn too; grade E alone predicting
    // churn changes nothing here.
    let longer = admin
        .backtest_scorecard(pb::BacktestScorecardRequest {
            horizon_days: 130,
            churn_grade: pb::Grade::E as i32,
            ..backtest(days_ago(150), days_ago(150))
        })
        .await
        .expect("backtest")
        .into_inner()
        .result
        .expect("result");
    assert_eq!((longer.true_positives, longer.false_positives), (2, 1));
    assert_eq!(longer.precision_basis_points, Some(6_667));
    assert_eq!(longer.recall_basis_points, Some(6_667));
    // Nothing was written by either.
    assert_eq!(app.rows("health_scores").await, 0);
}

#[tokio::test]
async fn bad_backtests_and_imports_are_refused() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    default_card(&mut admin).await;
    let err = admin
        .backtest_scorecard(pb::BacktestScorecardRequest {
            step_days: 400,
            horizon_days: 731,
            churn_grade: 9,
            ..backtest(days_ago(10), days_ago(20))
        })
        .await
        .expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec!["end_date", "step_days", "horizon_days", "churn_grade"]
    );
    let err = admin
        .backtest_scorecard(backtest(days_ago(800), days_ago(0)))
        .await
        .expect_err("too long");
    assert_eq!(violated_fields(&err), vec!["end_date"]);
    let err = admin
        .backtest_scorecard(backtest(days_ago(10), days_ago(-1)))
        .await
        .expect_err("future");
    assert_eq!(violated_fields(&err), vec!["end_date"]);
    let err = admin
        .backtest_scorecard(pb::BacktestScorecardRequest {
            scorecard_key: "nope".into(),
            ..backtest(days_ago(10), days_ago(0))
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    for role in [Role::Csm, Role::PartnerUser] {
        let err = app
            .client(role)
            .backtest_scorecard(backtest(days_ago(10), days_ago(0)))
            .await
            .expect_err("role");
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    let err = admin
        .import_outcomes(pb::ImportOutcomesRequest::default())
        .await
        .expect_err("empty");
    assert_eq!(violated_fields(&err), vec!["outcomes"]);
    let err = app
        .client(Role::Csm)
        .import_outcomes(pb::ImportOutcomesRequest {
            outcomes: vec![churn("x", days_ago(1))],
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(app.rows("outcomes").await, 0);
}

#[tokio::test]
async fn a_churn_reported_by_expansion_keeps_what_the_score_said_by_then() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "k1", true)).await;
    create_feature(&mut admin, feature("analytics", "k2", true)).await;
    default_card(&mut admin).await;
    let own = app.account("Own", "SF-001", Some("p-1")).await;
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(60);
    let subscription = app
        .subscribe(
            &own,
            "analytics",
            5,
            (start.year(), start.month() as i32, start.day() as i32),
        )
        .await;
    app.client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest {
            events: vec![usage(&own, "k1"), usage(&own, "k2")],
            request_id: String::new(),
        })
        .await
        .expect("ingest");
    let scored = app
        .client(Role::Csm)
        .score_account(pb::ScoreAccountRequest {
            account_id: own.clone(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect("score")
        .into_inner()
        .score
        .expect("score");
    assert_eq!(scored.grade, pb::Grade::A as i32);

    // The subscription ends today: the expansion service reports the churn.
    app.expansion()
        .end_subscription(ex::EndSubscriptionRequest {
            id: subscription,
            end_date: Some(days_ago(0)),
            ..Default::default()
        })
        .await
        .expect("end");
    let list = || {
        let mut client = app.admin();
        async move {
            client
                .list_churn_retrospectives(pb::ListChurnRetrospectivesRequest::default())
                .await
                .expect("retrospectives")
                .into_inner()
                .retrospectives
        }
    };
    eventually("the churn", || async { !list().await.is_empty() }).await;
    let found = list().await;
    assert_eq!(found.len(), 1);
    let retro = &found[0];
    assert_eq!(retro.account_id, own);
    assert_eq!(retro.churn_date, Some(days_ago(0)));
    assert_eq!(retro.source, pb::OutcomeSource::Expansion as i32);
    assert_eq!(retro.scores_before, vec![scored]);
    assert!(retro.looked_healthy, "graded A, it churned");
    assert_eq!(retro.partner_id, "p-1");

    // Another partner's churn, imported: a partner user sees only its own.
    import(&mut admin, vec![churn(&other, days_ago(5))]).await;
    assert_eq!(list().await.len(), 2);
    let seen = app
        .client(Role::PartnerUser)
        .list_churn_retrospectives(pb::ListChurnRetrospectivesRequest::default())
        .await
        .expect("partner")
        .into_inner()
        .retrospectives;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].account_id, own);
    // Paged newest churn first, filtered by day.
    let first = admin
        .list_churn_retrospectives(pb::ListChurnRetrospectivesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(first.retrospectives[0].account_id, own);
    let second = admin
        .list_churn_retrospectives(pb::ListChurnRetrospectivesRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(second.retrospectives[0].account_id, other);
    assert!(!second.retrospectives[0].looked_healthy, "never scored");
    assert!(second.next_page_token.is_empty());
    let window = admin
        .list_churn_retrospectives(pb::ListChurnRetrospectivesRequest {
            end_date: Some(days_ago(1)),
            ..Default::default()
        })
        .await
        .expect("window")
        .into_inner()
        .retrospectives;
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].account_id, other);
}
