use themodel_platform::auth::Role;
use themodel_proto::segmentation as pb;

use crate::helpers::*;

fn row(external_id: &str, name: &str) -> pb::Account {
    pb::Account {
        external_id: external_id.into(),
        ..account(name)
    }
}

#[tokio::test]
async fn rows_are_created_updated_unchanged_or_rejected_on_their_own() {
    let app = spawn_app().await;
    let mut client = app.client(Role::Bizops);
    let first = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![row("SF-1", "One"), row("SF-2", "Two")],
            request_id: String::new(),
        })
        .await
        .expect("first batch")
        .into_inner();
    assert_eq!((first.created_count, first.updated_count), (2, 0));

    let second = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![
                row("SF-1", "One"),          // unchanged
                row("SF-2", "Two, renamed"), // updated
                row("SF-3", "Three"),        // created
                row("SF-4", ""),             // rejected: no name
                pb::Account {
                    external_id: "".into(),
                    ..account("No key")
                }, // rejected
                row("SF-3", "Three again"),  // rejected: duplicate in batch
            ],
            request_id: String::new(),
        })
        .await
        .expect("second batch")
        .into_inner();
    let outcomes: Vec<_> = second.results.iter().map(|r| r.outcome).collect();
    use pb::UpsertOutcome::*;
    assert_eq!(
        outcomes,
        [Unchanged, Updated, Created, Rejected, Rejected, Rejected].map(|o| o as i32)
    );
    assert_eq!(
        (
            second.created_count,
            second.updated_count,
            second.unchanged_count,
            second.rejected_count
        ),
        (1, 1, 1, 3)
    );
    assert_eq!(second.results[3].violations[0].field, "name");
    assert_eq!(second.results[4].violations[0].field, "external_id");
    assert!(second.results[3].account.is_none());
    assert_eq!(
        second.results[1].account.as_ref().map(|a| a.name.as_str()),
        Some("Two, renamed")
    );
    // The unchanged row kept its identity and etag.
    assert_eq!(second.results[0].account, first.results[0].account);

    let mut names: Vec<_> = app
        .all_accounts()
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    names.sort();
    assert_eq!(names, ["One", "Three", "Two, renamed"]);
}

#[tokio::test]
async fn a_batch_is_limited_to_one_thousand_rows() {
    let app = spawn_app().await;
    let mut client = app.client(Role::Service);
    let too_many: Vec<_> = (0..1001).map(|i| row(&format!("SF-{i}"), "X")).collect();
    let status = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: too_many,
            request_id: String::new(),
        })
        .await
        .expect_err("too many");
    assert_eq!(violated_fields(&status), ["accounts"]);
    let status = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest::default())
        .await
        .expect_err("empty");
    assert_eq!(violated_fields(&status), ["accounts"]);

    let full: Vec<_> = (0..1000)
        .map(|i| row(&format!("SF-{i}"), &format!("Account {i}")))
        .collect();
    let response = client
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: full,
            request_id: "bulk-1".into(),
        })
        .await
        .expect("a full batch")
        .into_inner();
    assert_eq!(response.created_count, 1000);
    assert_eq!(app.all_accounts().await.len(), 1000);
}

#[tokio::test]
async fn rows_with_and_without_optional_fields_round_trip_in_one_batch() {
    use themodel_proto::common::Date;
    let app = spawn_app().await;
    let full = pb::Account {
        potential_acv: jpy(300_000),
        contract_start_date: Some(Date {
            year: 2026,
            month: 4,
            day: 1,
        }),
        renewal_date: Some(Date {
            year: 2027,
            month: 3,
            day: 31,
        }),
        owner_csm_id: "csm-1".into(),
        partner_id: "p-1".into(),
        employee_count: 42,
        ..row("SF-FULL", "Full")
    };
    let sparse = row("SF-SPARSE", "Sparse");
    let response = app
        .client(Role::Bizops)
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![
                sparse.clone(),
                full.clone(),
                pb::Account {
                    external_id: "SF-SPARSE-2".into(),
                    ..sparse
                },
            ],
            request_id: String::new(),
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(response.created_count, 3);
    let stored = app.all_accounts().await;
    let by_external = |id: &str| {
        stored
            .iter()
            .find(|a| a.external_id == id)
            .cloned()
            .expect("stored")
    };
    let got_full = by_external("SF-FULL");
    assert_eq!(
        (
            got_full.potential_acv,
            got_full.contract_start_date,
            got_full.renewal_date,
            got_full.partner_id.as_str(),
            got_full.employee_count
        ),
        (
            full.potential_acv,
            full.contract_start_date,
            full.renewal_date,
            "p-1",
            42
        )
    );
    let got_sparse = by_external("SF-SPARSE");
    assert_eq!(
        (
            got_sparse.potential_acv,
            got_sparse.contract_start_date,
            got_sparse.owner_csm_id.as_str(),
            got_sparse.partner_id.as_str()
        ),
        (None, None, "", "")
    );
}
