//! Scorecards, sentiments and health scores: versions pinned on scores,
//! every score explained to the basis point, grades at their boundaries,
//! sentiments audited, partners kept to their own accounts.

use themodel_platform::auth::Role;
use themodel_proto::health as pb;
use tonic::Code;

use crate::helpers::*;

fn weights(measures: &[(pb::Measure, i32)]) -> Vec<pb::MeasureWeight> {
    measures
        .iter()
        .map(|(m, w)| pb::MeasureWeight {
            measure: *m as i32,
            weight: *w,
        })
        .collect()
}

fn cuts() -> Option<pb::GradeThresholds> {
    Some(pb::GradeThresholds {
        a_min: 8_000,
        b_min: 6_000,
        c_min: 4_000,
        d_min: 2_000,
    })
}

fn scorecard(key: &str, measures: &[(pb::Measure, i32)]) -> pb::Scorecard {
    pb::Scorecard {
        scorecard_key: key.into(),
        display_name: format!("Scorecard {key}"),
        measures: weights(measures),
        thresholds: cuts(),
        ..Default::default()
    }
}

async fn create(client: &mut Client, card: pb::Scorecard) -> Result<pb::Scorecard, tonic::Status> {
    client
        .create_scorecard(pb::CreateScorecardRequest {
            scorecard: Some(card),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner().scorecard.expect("scorecard"))
}

async fn sentiment(client: &mut Client, account: &str, score: i32) -> pb::Sentiment {
    client
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: account.into(),
            product_key: "analytics".into(),
            score: Some(score),
            note: format!("felt like {score}"),
            ..Default::default()
        })
        .await
        .expect("sentiment")
        .into_inner()
        .sentiment
        .expect("sentiment")
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

fn get(account: &str) -> pb::GetHealthScoreRequest {
    pb::GetHealthScoreRequest {
        account_id: account.into(),
        product_key: "analytics".into(),
    }
}

fn history(account: &str) -> pb::ListHealthScoresRequest {
    pb::ListHealthScoresRequest {
        account_id: account.into(),
        product_key: "analytics".into(),
        ..Default::default()
    }
}

/// (measure, value, weight in basis points, contribution) of each measure.
fn explained(s: &pb::HealthScore) -> Vec<(i32, Option<i32>, i32, i32)> {
    s.measures
        .iter()
        .map(|m| (m.measure, m.value, m.weight_basis_points, m.contribution))
        .collect()
}

#[tokio::test]
async fn a_score_keeps_its_scorecard_version_across_an_edit_and_explains_itself() {
    use pb::Measure::{Breadth, SeatUse, Sentiment};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    create_feature(&mut admin, feature("analytics", "alerts", true)).await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    app.client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest {
            events: vec![usage(&account, "dashboards")],
            request_id: String::new(),
        })
        .await
        .expect("ingest");
    let card = create(
        &mut admin,
        scorecard("default", &[(Breadth, 60), (Sentiment, 40)]),
    )
    .await
    .expect("create");
    assert_eq!((card.version, card.etag.as_str()), (1, "v1"));
    let mut csm = app.client(Role::Csm);
    sentiment(&mut csm, &account, 80).await;

    // Breadth 1 of 2 key features = 5,000; sentiment 80 = 8,000.
    let first = score(&mut csm, &account).await;
    assert_eq!(first.score, Some(6_200));
    assert_eq!(first.grade, pb::Grade::B as i32);
    assert_eq!(
        (first.scorecard_key.as_str(), first.scorecard_version),
        ("default", 1)
    );
    assert_eq!(
        explained(&first),
        vec![
            (Breadth as i32, Some(5_000), 6_000, 3_000),
            (Sentiment as i32, Some(8_000), 4_000, 3_200),
        ]
    );
    assert_eq!(first.trend, None);

    // A new version weighs seat use too; the account has no seats, so seat
    // use is left out and its weight goes to the others, 50:20.
    let v2 = admin
        .publish_scorecard_version(pb::PublishScorecardVersionRequest {
            scorecard: Some(pb::Scorecard {
                etag: card.etag.clone(),
                ..scorecard("default", &[(Breadth, 50), (SeatUse, 30), (Sentiment, 20)])
            }),
            request_id: String::new(),
        })
        .await
        .expect("publish")
        .into_inner()
        .scorecard
        .expect("scorecard");
    assert_eq!(v2.version, 2);
    let stale = admin
        .publish_scorecard_version(pb::PublishScorecardVersionRequest {
            scorecard: Some(pb::Scorecard {
                etag: card.etag.clone(),
                ..scorecard("default", &[(Breadth, 50), (Sentiment, 50)])
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("stale");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    // The first score still says version 1 and its numbers.
    let latest = admin.get_health_score(get(&account)).await.expect("get");
    assert_eq!(latest.into_inner().score, Some(first.clone()));
    let v1 = admin
        .get_scorecard(pb::GetScorecardRequest {
            scorecard_key: "default".into(),
            version: 1,
        })
        .await
        .expect("v1")
        .into_inner()
        .scorecard
        .expect("v1");
    assert_eq!(v1.measures, weights(&[(Breadth, 60), (Sentiment, 40)]));
    assert_eq!(v1.etag, "v2");

    // Exact: (50 * 5,000 + 20 * 8,000) / 70 = 5,857.14 -> 5,857; the
    // contributions 3,571.43 and 2,285.71 round down to 3,571 and 2,285,
    // the missing unit goes to the larger remainder.
    let second = score(&mut csm, &account).await;
    assert_eq!(second.scorecard_version, 2);
    assert_eq!(second.score, Some(5_857));
    assert_eq!(second.grade, pb::Grade::C as i32);
    assert_eq!(
        explained(&second),
        vec![
            (Breadth as i32, Some(5_000), 7_143, 3_571),
            (SeatUse as i32, None, 0, 0),
            (Sentiment as i32, Some(8_000), 2_857, 2_286),
        ]
    );
    let sum: i32 = second.measures.iter().map(|m| m.contribution).sum();
    assert_eq!(Some(sum), second.score);
    assert_eq!(second.trend, Some(5_857 - 6_200));

    // The history, newest first, each score on its own version.
    let scores = admin
        .list_health_scores(history(&account))
        .await
        .expect("history")
        .into_inner()
        .scores;
    assert_eq!(scores, vec![second.clone(), first.clone()]);

    // Each change is announced with the measures that moved it; the same
    // score again announces nothing.
    score(&mut csm, &account).await;
    let changed: Vec<pb::HealthChanged> = payloads(&app.events().await);
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[1].score_before, Some(6_200));
    assert_eq!(changed[1].grade_before, pb::Grade::B as i32);
    let moves: Vec<(i32, i32, i32)> = changed[1]
        .changes
        .iter()
        .map(|c| (c.measure, c.contribution_before, c.contribution_after))
        .collect();
    assert_eq!(
        moves,
        vec![
            (Breadth as i32, 3_000, 3_571),
            (Sentiment as i32, 3_200, 2_286),
        ]
    );
    assert!(changed.iter().all(|c| c.partner_id == "p-1"));
}

#[tokio::test]
async fn grades_change_exactly_at_each_threshold_and_no_data_means_no_score() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app().await;
    let mut admin = app.admin();
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    // The product has no key feature: breadth has no data, so the score is
    // the sentiment alone.
    create(
        &mut admin,
        scorecard("default", &[(Breadth, 70), (Sentiment, 30)]),
    )
    .await
    .expect("create");
    let mut csm = app.client(Role::CsManager);
    let none = score(&mut csm, &account).await;
    assert_eq!(
        (none.score, none.grade),
        (None, pb::Grade::Unspecified as i32)
    );
    assert!(
        none.measures
            .iter()
            .all(|m| m.value.is_none() && m.contribution == 0)
    );
    for (at, grade, below) in [
        (80, pb::Grade::A, pb::Grade::B),
        (60, pb::Grade::B, pb::Grade::C),
        (40, pb::Grade::C, pb::Grade::D),
        (20, pb::Grade::D, pb::Grade::E),
    ] {
        sentiment(&mut csm, &account, at).await;
        let s = score(&mut csm, &account).await;
        assert_eq!(
            (s.score, s.grade),
            (Some(at * 100), grade as i32),
            "at {at}"
        );
        sentiment(&mut csm, &account, at - 1).await;
        let s = score(&mut csm, &account).await;
        assert_eq!(
            (s.score, s.grade),
            (Some(at * 100 - 100), below as i32),
            "below {at}"
        );
        assert_eq!(s.trend, Some(-100));
    }
    // A 1-5 rating maps onto 0-100: 4 is 75.
    csm.record_sentiment(pb::RecordSentimentRequest {
        account_id: account.clone(),
        product_key: "analytics".into(),
        rating: Some(4),
        note: "steady".into(),
        ..Default::default()
    })
    .await
    .expect("rating");
    assert_eq!(score(&mut csm, &account).await.score, Some(7_500));
}

#[tokio::test]
async fn sentiments_are_kept_with_their_author_and_the_latest_counts() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app().await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    create(
        &mut app.admin(),
        scorecard("default", &[(Breadth, 50), (Sentiment, 50)]),
    )
    .await
    .expect("create");
    let mut csm = app.client(Role::Csm);
    let first = sentiment(&mut csm, &account, 30).await;
    assert_eq!(first.author, "test-user");
    assert_eq!(first.note, "felt like 30");
    // A retry with the same request_id answers the same and keeps one.
    let once = pb::RecordSentimentRequest {
        account_id: account.clone(),
        product_key: "analytics".into(),
        score: Some(90),
        note: "felt like 90".into(),
        request_id: "sentiment-1".into(),
        ..Default::default()
    };
    let kept = csm.record_sentiment(once.clone()).await.expect("first");
    let again = csm.record_sentiment(once).await.expect("retry");
    assert_eq!(kept.into_inner(), again.into_inner());
    assert_eq!(app.rows("sentiments").await, 2);
    let recorded: Vec<pb::SentimentRecorded> = payloads(&app.events().await);
    let audit: Vec<(i32, &str, &str, &str)> = recorded
        .iter()
        .map(|r| {
            let s = r.sentiment.as_ref().expect("sentiment");
            (
                s.score,
                s.author.as_str(),
                s.note.as_str(),
                r.partner_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![
            (30, "test-user", "felt like 30", "p-1"),
            (90, "test-user", "felt like 90", "p-1"),
        ]
    );
    assert_eq!(score(&mut csm, &account).await.score, Some(9_000));
}

#[tokio::test]
async fn partner_users_read_only_their_own_accounts_scores_and_write_nothing() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app().await;
    let own = app.account("Acme", "SF-001", Some("p-1")).await;
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    create(
        &mut app.admin(),
        scorecard("default", &[(Breadth, 50), (Sentiment, 50)]),
    )
    .await
    .expect("create");
    let mut csm = app.client(Role::Csm);
    for account in [&own, &other] {
        sentiment(&mut csm, account, 50).await;
        score(&mut csm, account).await;
    }
    let mut partner = app.client(Role::PartnerUser);
    let mine = partner.get_health_score(get(&own)).await.expect("own");
    assert_eq!(mine.into_inner().score.expect("score").score, Some(5_000));
    partner
        .list_health_scores(history(&own))
        .await
        .expect("own history");
    let hidden = partner
        .get_health_score(get(&other))
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = partner
        .list_health_scores(history(&other))
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);

    let denied = partner
        .score_account(pb::ScoreAccountRequest {
            account_id: own.clone(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect_err("partner scoring");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = partner
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: own.clone(),
            product_key: "analytics".into(),
            score: Some(10),
            note: "no".into(),
            ..Default::default()
        })
        .await
        .expect_err("partner sentiment");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = create(
        &mut csm,
        scorecard("csm", &[(Breadth, 50), (Sentiment, 50)]),
    )
    .await
    .expect_err("csm scorecard");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(app.rows("health_scores").await, 2);
    assert_eq!(app.rows("sentiments").await, 2);
}

#[tokio::test]
async fn bad_scorecards_sentiments_and_scores_are_refused_and_write_nothing() {
    use pb::Measure::{Breadth, SeatUse, Sentiment};
    let app = spawn_app().await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    let mut admin = app.admin();
    let short = create(
        &mut admin,
        scorecard("default", &[(Breadth, 60), (Sentiment, 39)]),
    )
    .await
    .expect_err("99");
    assert_eq!(violated_fields(&short), vec!["scorecard.measures"]);
    let unordered = create(
        &mut admin,
        pb::Scorecard {
            thresholds: Some(pb::GradeThresholds {
                a_min: 8_000,
                b_min: 6_000,
                c_min: 6_000,
                d_min: 7_000,
            }),
            ..scorecard("default", &[(Breadth, 60), (Sentiment, 40)])
        },
    )
    .await
    .expect_err("overlapping");
    assert_eq!(
        violated_fields(&unordered),
        vec!["scorecard.thresholds.c_min", "scorecard.thresholds.d_min"]
    );
    let many = create(
        &mut admin,
        pb::Scorecard {
            measures: vec![
                pb::MeasureWeight {
                    measure: Breadth as i32,
                    weight: 50,
                },
                pb::MeasureWeight {
                    measure: Breadth as i32,
                    weight: 50,
                },
            ],
            ..scorecard("Bad Key", &[])
        },
    )
    .await
    .expect_err("twice");
    assert_eq!(
        violated_fields(&many),
        vec!["scorecard.scorecard_key", "scorecard.measures[1].measure"]
    );
    assert_eq!(app.rows("scorecards").await, 0);
    assert_eq!(app.rows("scorecard_versions").await, 0);

    // No scorecard yet: scoring is refused and keeps nothing.
    let mut csm = app.client(Role::Csm);
    let none = csm
        .score_account(pb::ScoreAccountRequest {
            account_id: account.clone(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect_err("no scorecard");
    assert_eq!(none.code(), Code::FailedPrecondition);
    assert_eq!(reason(&none), "NO_SCORECARD");
    let missing = admin
        .get_health_score(get(&account))
        .await
        .expect_err("none");
    assert_eq!(missing.code(), Code::NotFound);

    // One scorecard per scope.
    create(
        &mut admin,
        scorecard("default", &[(Breadth, 60), (SeatUse, 40)]),
    )
    .await
    .expect("create");
    let taken = create(
        &mut admin,
        scorecard("another", &[(Breadth, 60), (SeatUse, 40)]),
    )
    .await
    .expect_err("scope taken");
    assert_eq!(taken.code(), Code::AlreadyExists);
    let bad_publish = admin
        .publish_scorecard_version(pb::PublishScorecardVersionRequest {
            scorecard: Some(scorecard("default", &[(Breadth, 100), (SeatUse, 1)])),
            request_id: String::new(),
        })
        .await
        .expect_err("101");
    assert_eq!(violated_fields(&bad_publish), vec!["scorecard.measures"]);
    assert_eq!(app.rows("scorecard_versions").await, 1);

    let bad = csm
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: account.clone(),
            product_key: "analytics".into(),
            score: Some(101),
            note: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("bad sentiment");
    assert_eq!(violated_fields(&bad), vec!["score", "note"]);
    let both = csm
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: account.clone(),
            product_key: "analytics".into(),
            score: Some(50),
            rating: Some(3),
            note: "both".into(),
            ..Default::default()
        })
        .await
        .expect_err("both");
    assert_eq!(violated_fields(&both), vec!["rating"]);
    let unknown = csm
        .record_sentiment(pb::RecordSentimentRequest {
            account_id: "0190d6d4-0000-7000-8000-000000000000".into(),
            product_key: "analytics".into(),
            score: Some(50),
            note: "who".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown account");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(app.rows("sentiments").await, 0);
    assert_eq!(app.rows("health_scores").await, 0);
    let events = app.events().await;
    assert!(payloads::<pb::SentimentRecorded>(&events).is_empty());
    assert!(payloads::<pb::HealthChanged>(&events).is_empty());
}

#[tokio::test]
async fn an_account_is_scored_with_its_tiers_scorecard_else_the_default() {
    use pb::Measure::{Breadth, Sentiment};
    use themodel_proto::segmentation::Tier;
    let app = spawn_app().await;
    let mut admin = app.admin();
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    create(
        &mut admin,
        scorecard("default", &[(Breadth, 50), (Sentiment, 50)]),
    )
    .await
    .expect("default");
    let high = create(
        &mut admin,
        pb::Scorecard {
            tier: Tier::HighTouch as i32,
            ..scorecard("high-touch", &[(Breadth, 20), (Sentiment, 80)])
        },
    )
    .await
    .expect("high touch");
    assert_eq!(high.tier, Tier::HighTouch as i32);
    let mut csm = app.client(Role::Csm);
    sentiment(&mut csm, &account, 70).await;
    let before = score(&mut csm, &account).await;
    assert_eq!(before.scorecard_key, "default");

    // The account's ACV (12,000 USD) makes it high touch; the tier reaches
    // the service's projection through segmentation's events.
    app.tier_by_money(10_000).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.projected_tier(&account).await.as_deref() != Some("TIER_HIGH_TOUCH") {
        assert!(tokio::time::Instant::now() < deadline, "tier never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = score(&mut csm, &account).await;
    assert_eq!(
        (after.scorecard_key.as_str(), after.scorecard_version),
        ("high-touch", 1)
    );
    assert_eq!(after.score, Some(7_000));
    let listed = admin
        .list_scorecards(pb::ListScorecardsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.scorecards[0].scorecard_key, "default");
    let rest = admin
        .list_scorecards(pb::ListScorecardsRequest {
            page_size: 1,
            page_token: listed.next_page_token,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(rest.scorecards, vec![high]);
    assert!(rest.next_page_token.is_empty());
}

#[tokio::test]
async fn a_summary_groups_the_latest_scores_by_partner_and_explains_each_mean() {
    use pb::Measure::{Breadth, Sentiment};
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    create(
        &mut admin,
        scorecard("default", &[(Breadth, 50), (Sentiment, 50)]),
    )
    .await
    .expect("create");
    let first = app.account("Acme", "SF-001", Some("p-1")).await;
    let second = app.account("Globex", "SF-002", Some("p-1")).await;
    let third = app.account("Initech", "SF-003", Some("p-2")).await;
    app.client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest {
            events: vec![usage(&first, "dashboards"), usage(&third, "dashboards")],
            request_id: String::new(),
        })
        .await
        .expect("ingest");
    let mut csm = app.client(Role::Csm);
    // p-1: 10,000 (A, then 9,000 kept as the latest) and 0 (E: no use, no
    // sentiment to speak of); p-2: 10,000 (breadth alone).
    sentiment(&mut csm, &first, 100).await;
    score(&mut csm, &first).await;
    sentiment(&mut csm, &first, 80).await;
    assert_eq!(score(&mut csm, &first).await.score, Some(9_000));
    sentiment(&mut csm, &second, 0).await;
    assert_eq!(score(&mut csm, &second).await.score, Some(0));
    assert_eq!(score(&mut csm, &third).await.score, Some(10_000));

    let summary = |group_by: pb::HealthGrouping, client: &mut Client| {
        let mut client = client.clone();
        async move {
            client
                .get_health_summary(pb::GetHealthSummaryRequest {
                    group_by: group_by as i32,
                    ..Default::default()
                })
                .await
                .expect("summary")
                .into_inner()
                .groups
        }
    };
    let groups = summary(pb::HealthGrouping::Partner, &mut admin).await;
    let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, vec!["p-1", "p-2"]);
    let p1 = &groups[0];
    assert_eq!((p1.accounts, p1.scores), (2, 2));
    assert_eq!(
        p1.grades
            .iter()
            .map(|g| (g.grade, g.count))
            .collect::<Vec<_>>(),
        vec![(pb::Grade::A as i32, 1), (pb::Grade::E as i32, 1)]
    );
    // (9,000 + 0) / 2; breadth (5,000 + 0) / 2 and sentiment (4,000 + 0) / 2.
    assert_eq!(p1.mean_score, Some(4_500));
    let parts: Vec<(i32, i32, Option<i32>, i64)> = p1
        .measures
        .iter()
        .map(|m| (m.measure, m.contribution, m.mean_value, m.scores_with_data))
        .collect();
    assert_eq!(
        parts,
        vec![
            (Breadth as i32, 2_500, Some(5_000), 2),
            (Sentiment as i32, 2_000, Some(4_000), 2),
        ]
    );
    let whole = summary(pb::HealthGrouping::Unspecified, &mut admin).await;
    assert_eq!(whole.len(), 1);
    // (9,000 + 0 + 10,000) / 3 = 6,333.33.
    assert_eq!((whole[0].accounts, whole[0].mean_score), (3, Some(6_333)));

    // A partner user's summary counts its own partner's accounts only.
    let mut partner = app.client(Role::PartnerUser);
    let own = summary(pb::HealthGrouping::Partner, &mut partner).await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].group, "p-1");
    let err = admin
        .get_health_summary(pb::GetHealthSummaryRequest {
            group_by: 7,
            partner_ids: vec!["bad partner!".into()],
            ..Default::default()
        })
        .await
        .expect_err("bad");
    assert_eq!(violated_fields(&err), vec!["group_by", "partner_ids[0]"]);
}
