use std::time::{Duration, SystemTime};

use themodel_platform::auth::Role;
use themodel_proto::segmentation as pb;
use tonic::Code;

use crate::helpers::*;

fn ago(days: u64) -> Option<prost_types::Timestamp> {
    Some((SystemTime::now() - Duration::from_secs(days * 86_400)).into())
}

fn touch(account_id: &str, days_ago: u64) -> pb::Touchpoint {
    pb::Touchpoint {
        account_id: account_id.into(),
        kind: pb::TouchpointKind::Meeting as i32,
        occur_time: ago(days_ago),
        note: "monthly check-in".into(),
        ..Default::default()
    }
}

async fn record_all(
    client: &mut Client,
    touchpoints: Vec<pb::Touchpoint>,
) -> pb::BatchRecordTouchpointsResponse {
    client
        .batch_record_touchpoints(pb::BatchRecordTouchpointsRequest {
            touchpoints,
            request_id: String::new(),
        })
        .await
        .expect("batch")
        .into_inner()
}

/// 50 accounts, all high-touch (any amount above zero is).
async fn fifty_high_touch(client: &mut Client) -> Vec<pb::Account> {
    let rows = (0..50)
        .map(|i| pb::Account {
            external_id: format!("SF-{i:03}"),
            ..account(&format!("Account {i:02}"))
        })
        .collect();
    let accounts: Vec<pb::Account> = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: rows,
            request_id: String::new(),
        })
        .await
        .expect("import")
        .into_inner()
        .results
        .into_iter()
        .map(|r| r.account.expect("account"))
        .collect();
    client
        .apply_tier_policy(by_money(0, 0))
        .await
        .expect("apply");
    accounts
}

async fn coverage_at(
    client: &mut Client,
    as_of: Option<prost_types::Timestamp>,
) -> pb::GetCoverageResponse {
    client
        .get_coverage(pb::GetCoverageRequest {
            as_of,
            targets: Vec::new(),
        })
        .await
        .expect("coverage")
        .into_inner()
}

#[tokio::test]
async fn forty_of_fifty_high_touch_accounts_touched_last_month_is_eighty_percent() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let accounts = fifty_high_touch(&mut client).await;
    let mut csms = app.client(Role::CsManager);
    csms.create_csm(pb::CreateCsmRequest {
        csm: Some(pb::Csm {
            id: "sato".into(),
            display_name: "Sato".into(),
            team_id: "enterprise".into(),
            tier: pb::Tier::HighTouch as i32,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("csm");
    csms.assign_accounts(pb::AssignAccountsRequest {
        csm_id: "sato".into(),
        account_ids: accounts[..25].iter().map(|a| a.id.clone()).collect(),
        request_id: String::new(),
    })
    .await
    .expect("assign");

    // 40 touched ten days ago; 9 touched two months ago; one never.
    let touches = accounts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 49)
        .map(|(i, a)| touch(&a.id, if i < 40 { 10 } else { 60 }))
        .collect();
    let recorded = record_all(&mut client, touches).await;
    assert_eq!(recorded.recorded_count, 49);

    let now = coverage_at(&mut client, None).await;
    let high = &now.tiers[0];
    assert_eq!(high.tier, pb::Tier::HighTouch as i32);
    assert_eq!((high.account_count, high.covered_count), (50, 40));
    assert_eq!(high.rate_basis_points, 8000);
    assert!(high.target_met);
    assert_eq!(
        high.target
            .as_ref()
            .map(|t| (t.window_months, t.target_percent)),
        Some((1, 80))
    );
    let sato: Vec<_> = now
        .csms
        .iter()
        .map(|f| (f.csm_id.as_str(), f.account_count, f.covered_count))
        .collect();
    assert_eq!(sato, [("sato", 25, 25)]);
    let teams: Vec<_> = now
        .teams
        .iter()
        .map(|f| (f.team_id.as_str(), f.account_count))
        .collect();
    assert_eq!(teams, [("enterprise", 25)]);

    // A stricter target is missed.
    let strict = client
        .get_coverage(pb::GetCoverageRequest {
            as_of: None,
            targets: vec![pb::CoverageTarget {
                tier: pb::Tier::HighTouch as i32,
                window_months: 1,
                target_percent: 90,
            }],
        })
        .await
        .expect("coverage")
        .into_inner();
    assert!(!strict.tiers[0].target_met);

    // Whom to contact next: never touched first, then longest untouched; paged.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_uncovered_accounts(pb::ListUncoveredAccountsRequest {
                page_size: 4,
                page_token,
                ..Default::default()
            })
            .await
            .expect("uncovered")
            .into_inner();
        seen.extend(page.accounts);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0].account_id, accounts[49].id);
    assert_eq!(seen[0].days_since_last_touch, -1);
    assert!(seen[1..].iter().all(|u| u.days_since_last_touch == 60));

    assert_eq!(
        events_of_type(&app, "themodel.segmentation.v1.TouchpointRecorded")
            .await
            .len(),
        49
    );
}

#[tokio::test]
async fn coverage_as_of_a_past_instant_counts_the_customers_and_tiers_of_then() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let before_any = Some(SystemTime::now().into());
    let accounts = fifty_high_touch(&mut client).await;
    let touches = accounts.iter().map(|a| touch(&a.id, 1)).collect();
    record_all(&mut client, touches).await;
    let before_churn = Some(SystemTime::now().into());
    client
        .update_account(update(
            pb::Account {
                id: accounts[0].id.clone(),
                lifecycle_status: pb::LifecycleStatus::Churned as i32,
                ..Default::default()
            },
            &["lifecycle_status"],
        ))
        .await
        .expect("churn");
    client
        .override_tier(pb::OverrideTierRequest {
            account_id: accounts[1].id.clone(),
            tier: pb::Tier::LowTouch as i32,
            reason: "moved down".into(),
            request_id: String::new(),
        })
        .await
        .expect("override");

    // Now: one churned, one low-touch (covered: touched a day ago).
    let now = coverage_at(&mut client, None).await;
    let counts = |c: &pb::GetCoverageResponse| {
        c.tiers
            .iter()
            .map(|f| (f.account_count, f.covered_count))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&now), [(48, 48), (1, 1), (0, 0)]);
    // Then: all fifty high-touch, from their histories.
    let then = coverage_at(&mut client, before_churn).await;
    assert_eq!(counts(&then), [(50, 50), (0, 0), (0, 0)]);
    // Before the accounts existed there was nothing to cover.
    let empty = coverage_at(&mut client, before_any).await;
    assert!(empty.tiers.iter().all(|f| f.account_count == 0));
}

#[tokio::test]
async fn coverage_as_of_a_past_instant_counts_accounts_under_their_owner_then() {
    let app = spawn_app().await;
    let mut client = app.admin();
    for (id, team) in [("ann", "east"), ("bob", "west")] {
        client
            .create_csm(pb::CreateCsmRequest {
                csm: Some(pb::Csm {
                    id: id.into(),
                    display_name: id.into(),
                    team_id: team.into(),
                    tier: pb::Tier::HighTouch as i32,
                    ..Default::default()
                }),
                team_start_date: None,
                request_id: String::new(),
            })
            .await
            .expect("create csm");
    }
    let accounts = fifty_high_touch(&mut client).await;
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let assign = |csm: &str, ids: &[String]| pb::AssignAccountsRequest {
        csm_id: csm.into(),
        account_ids: ids.to_vec(),
        request_id: String::new(),
    };
    client
        .assign_accounts(assign("ann", &ids))
        .await
        .expect("assign to ann");
    record_all(&mut client, ids.iter().map(|id| touch(id, 1)).collect()).await;
    let before_move = Some(SystemTime::now().into());
    client
        .assign_accounts(assign("bob", &ids[..5]))
        .await
        .expect("move five to bob");

    let per = |figures: &[pb::CoverageFigure], key: fn(&pb::CoverageFigure) -> &str| {
        figures
            .iter()
            .map(|f| (key(f).to_owned(), f.account_count, f.covered_count))
            .collect::<Vec<_>>()
    };
    let now = coverage_at(&mut client, None).await;
    assert_eq!(
        per(&now.csms, |f| &f.csm_id),
        [("ann".into(), 45, 45), ("bob".into(), 5, 5)]
    );
    assert_eq!(
        per(&now.teams, |f| &f.team_id),
        [("east".into(), 45, 45), ("west".into(), 5, 5)]
    );
    let then = coverage_at(&mut client, before_move).await;
    assert_eq!(per(&then.csms, |f| &f.csm_id), [("ann".into(), 50, 50)]);
    assert_eq!(per(&then.teams, |f| &f.team_id), [("east".into(), 50, 50)]);
}

#[tokio::test]
async fn bad_touchpoints_are_refused_and_duplicates_are_recognised() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let own = create_ok(&mut client, partner_account("Own", "p1")).await;
    let other = create_ok(&mut client, partner_account("Other", "p2")).await;

    let future = pb::Touchpoint {
        occur_time: Some((SystemTime::now() + Duration::from_secs(3600)).into()),
        ..touch(&own.id, 0)
    };
    let status = client
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(future),
            request_id: String::new(),
        })
        .await
        .expect_err("future");
    assert_eq!(violated_fields(&status), ["touchpoint.occur_time"]);
    let status = client
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(touch("01890000-0000-7000-8000-000000000000", 1)),
            request_id: String::new(),
        })
        .await
        .expect_err("unknown account");
    assert_eq!(status.code(), Code::NotFound);

    // A partner user records for its own accounts only.
    let mut partner = app.partner_client("p1");
    partner
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(touch(&own.id, 1)),
            request_id: String::new(),
        })
        .await
        .expect("own account");
    let status = partner
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(touch(&other.id, 1)),
            request_id: String::new(),
        })
        .await
        .expect_err("other partner");
    assert_eq!(status.code(), Code::NotFound);

    let with_id = |id: &str, account: &str| pb::Touchpoint {
        external_id: id.into(),
        ..touch(account, 2)
    };
    let batch = record_all(
        &mut client,
        vec![
            with_id("CAL-1", &own.id),
            with_id("CAL-1", &own.id),
            with_id("CAL-2", "01890000-0000-7000-8000-000000000000"),
            pb::Touchpoint {
                kind: 0,
                ..with_id("CAL-3", &other.id)
            },
        ],
    )
    .await;
    let outcomes: Vec<i32> = batch.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            pb::TouchpointOutcome::Recorded as i32,
            pb::TouchpointOutcome::Duplicate as i32,
            pb::TouchpointOutcome::Rejected as i32,
            pb::TouchpointOutcome::Rejected as i32
        ]
    );
    assert_eq!(batch.results[2].violations[0].field, "account_id");
    assert_eq!(batch.results[3].violations[0].field, "kind");
    // Importing the same calendar again records nothing new.
    let again = record_all(&mut client, vec![with_id("CAL-1", &own.id)]).await;
    assert_eq!(again.duplicate_count, 1);
    let status = client
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(with_id("CAL-1", &own.id)),
            request_id: String::new(),
        })
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    // A partner user never sets the CRM activity id: whether one is taken
    // would tell it about other partners' touchpoints.
    let status = partner
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(with_id("CAL-1", &own.id)),
            request_id: String::new(),
        })
        .await
        .expect_err("partner external id");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Partner users list their own accounts' touchpoints only.
    client
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(touch(&other.id, 1)),
            request_id: String::new(),
        })
        .await
        .expect("other partner's touch");
    let listed = partner
        .list_touchpoints(pb::ListTouchpointsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .touchpoints;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.account_id == own.id));
    let all = client
        .list_touchpoints(pb::ListTouchpointsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.touchpoints.len(), 2);
    assert!(!all.next_page_token.is_empty());
}
