use themodel_platform::auth::Role;
use themodel_proto::{common::Date, segmentation as pb};
use tonic::Code;

use crate::helpers::*;

fn csm(id: &str, tier: pb::Tier, team: &str) -> pb::Csm {
    pb::Csm {
        id: id.into(),
        display_name: format!("CSM {id}"),
        team_id: team.into(),
        tier: tier as i32,
        ..Default::default()
    }
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

async fn create_csm(client: &mut Client, csm: pb::Csm, start: Option<Date>) -> pb::Csm {
    client
        .create_csm(pb::CreateCsmRequest {
            csm: Some(csm),
            team_start_date: start,
            request_id: String::new(),
        })
        .await
        .expect("create csm")
        .into_inner()
        .csm
        .expect("csm")
}

fn move_team(csm: &pb::Csm, team: &str, on: Option<Date>) -> pb::UpdateCsmRequest {
    pb::UpdateCsmRequest {
        csm: Some(pb::Csm {
            id: csm.id.clone(),
            team_id: team.into(),
            etag: csm.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["team_id".into()],
        }),
        team_change_date: on,
        request_id: String::new(),
    }
}

#[tokio::test]
async fn csms_keep_their_team_history_with_dates() {
    let app = spawn_app().await;
    let mut client = app.client(Role::CsManager);
    let created = create_csm(
        &mut client,
        csm("sato@example.com", pb::Tier::HighTouch, "enterprise"),
        date(2026, 4, 1),
    )
    .await;
    assert_eq!(created.team_history.len(), 1);
    let moved = client
        .update_csm(move_team(&created, "smb", date(2026, 10, 1)))
        .await
        .expect("move")
        .into_inner()
        .csm
        .expect("csm");
    assert_eq!(moved.team_id, "smb");
    let history: Vec<_> = moved
        .team_history
        .iter()
        .map(|m| (m.team_id.as_str(), m.start_date, m.end_date))
        .collect();
    assert_eq!(
        history,
        [
            ("enterprise", date(2026, 4, 1), date(2026, 10, 1)),
            ("smb", date(2026, 10, 1), None)
        ]
    );
    let got = client
        .get_csm(pb::GetCsmRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .csm;
    assert_eq!(got, Some(moved.clone()));

    // The etag it was read with is stale now; a date before the current team's start is refused.
    let status = client
        .update_csm(move_team(&created, "mid", None))
        .await
        .expect_err("stale");
    assert_eq!(reason(&status), "ETAG_MISMATCH");
    let status = client
        .update_csm(move_team(&moved, "mid", date(2026, 9, 30)))
        .await
        .expect_err("before the start");
    assert_eq!(violated_fields(&status), ["team_change_date"]);

    create_csm(&mut client, csm("ito", pb::Tier::LowTouch, "smb"), None).await;
    let in_smb = client
        .list_csms(pb::ListCsmsRequest {
            team_id: "smb".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .csms;
    assert_eq!(in_smb.len(), 2);
    let low = client
        .list_csms(pb::ListCsmsRequest {
            tier: pb::Tier::LowTouch as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .csms;
    assert_eq!(
        low.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["ito"]
    );
}

#[tokio::test]
async fn bad_csms_are_refused() {
    let app = spawn_app().await;
    let mut client = app.admin();
    create_csm(&mut client, csm("sato", pb::Tier::HighTouch, ""), None).await;
    let status = client
        .create_csm(pb::CreateCsmRequest {
            csm: Some(csm("sato", pb::Tier::HighTouch, "")),
            ..Default::default()
        })
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = client
        .create_csm(pb::CreateCsmRequest {
            csm: Some(pb::Csm {
                id: "has space".into(),
                display_name: String::new(),
                capacity: Some(pb::CapacityRange {
                    min_accounts: 10,
                    max_accounts: 5,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "csm.id",
            "csm.display_name",
            "csm.tier",
            "csm.capacity.min_accounts"
        ]
    );
    let status = app
        .client(Role::Csm)
        .create_csm(pb::CreateCsmRequest {
            csm: Some(csm("me", pb::Tier::HighTouch, "")),
            ..Default::default()
        })
        .await
        .expect_err("csm role");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .partner_client("p1")
        .list_csms(pb::ListCsmsRequest::default())
        .await
        .expect_err("partner");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn once_csms_are_managed_an_owner_must_name_one_and_crm_rows_leave_it_alone() {
    let app = spawn_app().await;
    let mut client = app.admin();
    // Before any CSM, an owner is a free reference.
    let legacy = create_ok(
        &mut client,
        pb::Account {
            owner_csm_id: "someone@crm".into(),
            ..account("Legacy")
        },
    )
    .await;
    create_csm(&mut client, csm("sato", pb::Tier::LowTouch, ""), None).await;

    let status = client
        .create_account(create(pb::Account {
            owner_csm_id: "nobody".into(),
            ..account("Orphan")
        }))
        .await
        .expect_err("unknown owner");
    assert_eq!(violated_fields(&status), ["account.owner_csm_id"]);
    // An existing reference does not block other changes.
    client
        .update_account(update(
            pb::Account {
                id: legacy.id.clone(),
                name: "Legacy KK".into(),
                ..Default::default()
            },
            &["name"],
        ))
        .await
        .expect("rename keeps the legacy owner");

    let synced = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![
                pb::Account {
                    external_id: "SF-1".into(),
                    owner_csm_id: "sato".into(),
                    ..account("One")
                },
                pb::Account {
                    external_id: "SF-2".into(),
                    owner_csm_id: "nobody".into(),
                    ..account("Two")
                },
            ],
            request_id: String::new(),
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(
        synced.results[1].outcome,
        pb::UpsertOutcome::Rejected as i32
    );
    assert_eq!(synced.results[1].violations[0].field, "owner_csm_id");
    // A CRM row without an owner leaves the assignment alone.
    let resynced = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![pb::Account {
                external_id: "SF-1".into(),
                ..account("One renamed")
            }],
            request_id: String::new(),
        })
        .await
        .expect("batch")
        .into_inner();
    let one = resynced.results[0].account.as_ref().expect("account");
    assert_eq!(one.owner_csm_id, "sato");
    assert_eq!(one.name, "One renamed");
}

#[tokio::test]
async fn accounts_are_assigned_in_bulk_and_the_books_report_capacity_with_moves() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let accounts: Vec<pb::Account> = {
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(
                create_ok(
                    &mut admin,
                    pb::Account {
                        acv: jpy(10_000_000 + i * 1_000_000),
                        ..account(&format!("Big {i}"))
                    },
                )
                .await,
            );
        }
        created
    };
    // Everything above 1M is high-touch.
    admin
        .apply_tier_policy(by_money(1_000_000, 0))
        .await
        .expect("apply");
    let small = Some(pb::CapacityRange {
        min_accounts: 1,
        max_accounts: 2,
    });
    for id in ["a", "b"] {
        create_csm(
            &mut admin,
            pb::Csm {
                capacity: small,
                ..csm(id, pb::Tier::HighTouch, "enterprise")
            },
            None,
        )
        .await;
    }

    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let mut manager = app.client(Role::CsManager);
    let assigned = manager
        .assign_accounts(pb::AssignAccountsRequest {
            csm_id: "a".into(),
            account_ids: ids.clone(),
            request_id: "assign-1".into(),
        })
        .await
        .expect("assign")
        .into_inner();
    assert_eq!(assigned.changed_count, 5);
    assert!(assigned.accounts.iter().all(|a| a.owner_csm_id == "a"));
    assert_eq!(
        assigned
            .accounts
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>(),
        ids
    );

    // Unknown CSM or account: nothing is assigned.
    let status = manager
        .assign_accounts(pb::AssignAccountsRequest {
            csm_id: "ghost".into(),
            account_ids: ids.clone(),
            request_id: String::new(),
        })
        .await
        .expect_err("ghost");
    assert_eq!(status.code(), Code::NotFound);
    let status = manager
        .assign_accounts(pb::AssignAccountsRequest {
            csm_id: "b".into(),
            account_ids: vec![
                ids[0].clone(),
                "01890000-0000-7000-8000-000000000000".into(),
            ],
            request_id: String::new(),
        })
        .await
        .expect_err("unknown account");
    assert_eq!(status.code(), Code::NotFound);
    let first = admin
        .get_account(pb::GetAccountRequest { id: ids[0].clone() })
        .await
        .expect("get")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(first.owner_csm_id, "a");

    let report = manager
        .get_capacity_report(pb::GetCapacityReportRequest::default())
        .await
        .expect("report")
        .into_inner();
    let loads: Vec<_> = report
        .csms
        .iter()
        .map(|c| (c.csm_id.as_str(), c.account_count, c.load))
        .collect();
    assert_eq!(
        loads,
        [
            ("a", 5, pb::LoadState::Over as i32),
            ("b", 0, pb::LoadState::Under as i32)
        ]
    );
    let high = &report.tiers[0];
    assert_eq!(high.tier, pb::Tier::HighTouch as i32);
    assert_eq!((high.account_count, high.csms_available), (5, 2));
    assert_eq!(high.verdict, pb::CapacityVerdict::Short as i32);
    // a keeps its two biggest; b takes the next two; the smallest has no room.
    let moves: Vec<_> = report
        .moves
        .iter()
        .map(|m| {
            (
                m.account_id.clone(),
                m.from_owner_csm_id.as_str(),
                m.to_csm_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [(ids[2].clone(), "a", "b"), (ids[1].clone(), "a", "b")]
    );

    // The preview judges the policy against the CSMs there are.
    let preview = admin
        .preview_tier_policy(pb::PreviewTierPolicyRequest::default())
        .await
        .expect("preview")
        .into_inner()
        .policy
        .expect("policy");
    let summary: Vec<_> = preview
        .tiers
        .iter()
        .map(|t| (t.csms_available, t.capacity_verdict))
        .collect();
    assert_eq!(
        summary,
        [
            (2, pb::CapacityVerdict::Idle as i32),
            (0, pb::CapacityVerdict::Short as i32),
            (0, pb::CapacityVerdict::NotApplicable as i32)
        ]
    );
}
