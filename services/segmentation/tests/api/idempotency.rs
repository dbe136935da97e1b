use themodel_proto::segmentation as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_retried_create_returns_the_first_response_and_creates_one_account() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let request = pb::CreateAccountRequest {
        account: Some(account("Acme")),
        request_id: "crm-sync-42".into(),
    };
    let first = client
        .create_account(request.clone())
        .await
        .expect("first")
        .into_inner();
    let second = client
        .create_account(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(app.all_accounts().await.len(), 1);

    // The same key with a different request is refused.
    let status = client
        .create_account(pb::CreateAccountRequest {
            account: Some(account("Other")),
            request_id: "crm-sync-42".into(),
        })
        .await
        .expect_err("reused key");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.all_accounts().await.len(), 1);
}

#[tokio::test]
async fn concurrent_duplicates_create_one_account() {
    let app = spawn_app().await;
    let request = pb::CreateAccountRequest {
        account: Some(pb::Account {
            external_id: "SF-RACE".into(),
            ..account("Race")
        }),
        request_id: "race-1".into(),
    };
    let calls = (0..8).map(|_| {
        let mut client = app.admin();
        let request = request.clone();
        tokio::spawn(async move { client.create_account(request).await.map(|r| r.into_inner()) })
    });
    let mut responses = Vec::new();
    for call in calls {
        responses.push(call.await.expect("join").expect("every retry succeeds"));
    }
    assert!(responses.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.all_accounts().await.len(), 1);
}

#[tokio::test]
async fn a_retried_update_applies_once() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, account("Acme")).await;
    let request = pb::UpdateAccountRequest {
        account: Some(pb::Account {
            id: created.id.clone(),
            employee_count: 10,
            etag: created.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["employee_count".into()],
        }),
        request_id: "upd-1".into(),
    };
    let first = client
        .update_account(request.clone())
        .await
        .expect("first")
        .into_inner();
    // Would be an etag mismatch if it ran again.
    let second = client
        .update_account(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, second);
}

#[tokio::test]
async fn malformed_request_ids_are_rejected() {
    let app = spawn_app().await;
    let status = app
        .admin()
        .create_account(pb::CreateAccountRequest {
            account: Some(account("Acme")),
            request_id: "has spaces in it".into(),
        })
        .await
        .expect_err("bad key");
    assert_eq!(violated_fields(&status), ["request_id"]);
}
