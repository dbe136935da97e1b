use prost_types::FieldMask;
use themodel_proto::segmentation as pb;
use tonic::Code;

use crate::helpers::*;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

#[tokio::test]
async fn masked_update_changes_only_named_fields_and_the_etag() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(
        &mut client,
        pb::Account {
            industry: "Retail".into(),
            ..account("Acme")
        },
    )
    .await;
    let updated = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                name: "Acme Holdings".into(),
                industry: "ignored: not in mask".into(),
                owner_csm_id: "csm-9".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["name", "owner_csm_id"]),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(updated.name, "Acme Holdings");
    assert_eq!(updated.owner_csm_id, "csm-9");
    assert_eq!(updated.industry, "Retail");
    assert_eq!(updated.acv, created.acv);
    assert_ne!(updated.etag, created.etag);
    assert_eq!(updated.create_time, created.create_time);

    // The old etag is now stale: refused, nothing changes.
    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                name: "Lost update".into(),
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
            ..Default::default()
        })
        .await
        .expect_err("stale etag");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ETAG_MISMATCH");
    let current = client
        .get_account(pb::GetAccountRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(current, updated);

    // Without an etag, last write wins.
    client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                lifecycle_status: pb::LifecycleStatus::Active as i32,
                ..Default::default()
            }),
            update_mask: None,
            ..Default::default()
        })
        .await
        .expect("update without etag");
}

#[tokio::test]
async fn bad_masks_and_values_are_rejected_without_change() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, account("Acme")).await;
    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["tier", "colour", "name"]),
            ..Default::default()
        })
        .await
        .expect_err("bad mask");
    assert_eq!(
        violated_fields(&status),
        ["update_mask.paths[0]", "update_mask.paths[1]"]
    );

    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                name: "".into(),
                acv: Some(themodel_proto::common::Money {
                    currency_code: "JPY".into(),
                    units: -1,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            update_mask: mask(&["name", "acv"]),
            ..Default::default()
        })
        .await
        .expect_err("bad values");
    assert_eq!(
        violated_fields(&status),
        ["account.name", "account.acv.units"]
    );

    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: "x".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
            ..Default::default()
        })
        .await
        .expect_err("bad id");
    assert_eq!(violated_fields(&status), ["account.id"]);

    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: uuid::Uuid::now_v7().to_string(),
                name: "N".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
            ..Default::default()
        })
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);

    let current = app.all_accounts().await;
    assert_eq!(current, vec![created]);
}

#[tokio::test]
async fn external_id_moves_only_to_a_free_value() {
    let app = spawn_app().await;
    let mut client = app.admin();
    create_ok(
        &mut client,
        pb::Account {
            external_id: "SF-A".into(),
            ..account("A")
        },
    )
    .await;
    let b = create_ok(
        &mut client,
        pb::Account {
            external_id: "SF-B".into(),
            ..account("B")
        },
    )
    .await;
    let status = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: b.id.clone(),
                external_id: "SF-A".into(),
                ..Default::default()
            }),
            update_mask: mask(&["external_id"]),
            ..Default::default()
        })
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    let moved = client
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: b.id.clone(),
                external_id: "SF-C".into(),
                ..Default::default()
            }),
            update_mask: mask(&["external_id"]),
            ..Default::default()
        })
        .await
        .expect("free")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(moved.external_id, "SF-C");
}

#[tokio::test]
async fn concurrent_updates_without_an_etag_all_succeed() {
    let app = spawn_app().await;
    let created = create_ok(&mut app.admin(), account("Race")).await;
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let mut client = app.admin();
            let id = created.id.clone();
            tokio::spawn(async move {
                let patch = pb::Account {
                    id,
                    employee_count: i + 1,
                    ..Default::default()
                };
                client
                    .update_account(update(patch, &["employee_count"]))
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await
            .expect("join")
            .expect("last write wins, no conflict");
    }
    let last = app.all_accounts().await.remove(0);
    // Every update applied in turn: one revision each.
    assert_eq!(last.etag, "\"r51\"");
}
