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

fn keyed(account: pb::Account, request_id: &str) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(account),
        request_id: request_id.into(),
    }
}

async fn create_keyed(client: &mut Client, request: pb::CreateAccountRequest) -> pb::Account {
    client
        .create_account(request)
        .await
        .expect("create")
        .into_inner()
        .account
        .expect("account")
}

#[tokio::test]
async fn the_same_key_from_another_caller_is_an_independent_request() {
    let app = spawn_app().await;
    let request = keyed(account("Acme"), "crm-sync-0001");
    let ours = create_keyed(&mut app.partner_client("p-1"), request.clone()).await;
    assert_eq!(ours.partner_id, "p-1");

    // p-2 sends p-1's exact request: it creates its own account and learns
    // nothing of p-1's.
    let theirs = create_keyed(&mut app.partner_client("p-2"), request.clone()).await;
    assert_ne!(theirs.id, ours.id);
    assert_eq!(theirs.partner_id, "p-2");

    // p-1's retry still replays its own response; an admin's request with the
    // same key is a third, independent one.
    let retried = create_keyed(&mut app.partner_client("p-1"), request.clone()).await;
    assert_eq!(retried, ours);
    let admins = create_keyed(&mut app.admin(), request).await;
    assert!(admins.id != ours.id && admins.id != theirs.id);
    assert_eq!(app.all_accounts().await.len(), 3);
}

#[tokio::test]
async fn a_key_another_caller_used_first_can_be_neither_hijacked_nor_squatted() {
    let app = spawn_app().await;
    // p-2 takes a predictable key first, once with the victim's body and once
    // with another body.
    create_keyed(
        &mut app.partner_client("p-2"),
        keyed(account("Acme"), "crm-sync-0001"),
    )
    .await;
    create_keyed(
        &mut app.partner_client("p-2"),
        keyed(account("Squat"), "crm-sync-0002"),
    )
    .await;

    // The admin's CRM sync with those keys creates its own accounts, unowned by p-2.
    let mut admin = app.admin();
    let first = create_keyed(&mut admin, keyed(account("Acme"), "crm-sync-0001")).await;
    assert_eq!(first.partner_id, "");
    let second = create_keyed(&mut admin, keyed(account("Real"), "crm-sync-0002")).await;
    assert_eq!(second.name, "Real");

    // And p-2 cannot touch them.
    let hidden = app
        .partner_client("p-2")
        .get_account(pb::GetAccountRequest {
            id: first.id.clone(),
        })
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
}

#[tokio::test]
async fn a_replay_rechecks_that_the_caller_may_still_see_the_account() {
    let app = spawn_app().await;
    let mut partner = app.partner_client("p-1");
    let create = keyed(account("Acme"), "p1-create-1");
    let created = create_keyed(&mut partner, create.clone()).await;
    let patch = pb::Account {
        id: created.id.clone(),
        employee_count: 10,
        ..Default::default()
    };
    let keyed_update = pb::UpdateAccountRequest {
        request_id: "p1-update-1".into(),
        ..update(patch, &["employee_count"])
    };
    partner
        .update_account(keyed_update.clone())
        .await
        .expect("update");

    // The account moves to another partner; p-1's retries no longer show it.
    app.admin()
        .update_account(update(
            pb::Account {
                id: created.id.clone(),
                partner_id: "p-2".into(),
                ..Default::default()
            },
            &["partner_id"],
        ))
        .await
        .expect("move");
    let status = partner
        .create_account(create)
        .await
        .expect_err("create replay");
    assert_eq!(status.code(), Code::NotFound);
    let status = partner
        .update_account(keyed_update)
        .await
        .expect_err("update replay");
    assert_eq!(status.code(), Code::NotFound);
}

/// The fingerprint records had before keys were scoped (method, then the
/// request's bytes), as the upgrade finds them.
fn legacy_fingerprint(method: &str, request: &impl prost::Message) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(request.encode_to_vec());
    hasher.finalize().to_vec()
}

#[tokio::test]
async fn records_from_before_keys_were_scoped_still_replay_after_the_upgrade() {
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;
    use themodel_platform::store::migration::SCOPE_IDEMPOTENCY_KEYS;
    use themodel_segmentation::store::migration::Migrator;

    themodel_platform::telemetry::init_for_tests();
    let db = themodel_platform::testing::TestDatabase::new().await;

    // The schema as it was before the upgrade.
    struct Before;
    impl MigratorTrait for Before {
        fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
            Migrator::migrations()
                .into_iter()
                .filter(|m| m.name() != SCOPE_IDEMPOTENCY_KEYS)
                .collect()
        }
    }
    themodel_platform::store::migrate::<Before>(&db.url)
        .await
        .expect("old schema");

    // A create answered before the upgrade: its account and its key.
    let request = keyed(account("Before"), "legacy-0001");
    let account_id = "0190a0b0-0000-7000-8000-000000000001";
    let stored = pb::CreateAccountResponse {
        account: Some(pb::Account {
            id: account_id.into(),
            ..account("Before")
        }),
    };
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    conn.execute_unprepared(&format!(
        "INSERT INTO accounts (id, name, industry, employee_count, currency_code, acv_units, \
         acv_nanos, cloud_literacy, migration_source, lifecycle_status, tier, create_time_us, \
         update_time_us, revision) VALUES ('{account_id}', 'Before', '', 0, 'JPY', 1200000, 0, \
         'CLOUD_LITERACY_UNSPECIFIED', 'MIGRATION_SOURCE_UNSPECIFIED', \
         'LIFECYCLE_STATUS_ONBOARDING', 'TIER_UNSPECIFIED', 0, 0, 1)"
    ))
    .await
    .expect("insert account");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let blob = |bytes: &[u8]| match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("'\\x{}'::bytea", hex(bytes)),
        _ => format!("X'{}'", hex(bytes)),
    };
    conn.execute_unprepared(&format!(
        "INSERT INTO idempotency_keys (request_id, method, fingerprint, response, created_at_ms) \
         VALUES ('legacy-0001', 'CreateAccount', {}, {}, {})",
        blob(&legacy_fingerprint("CreateAccount", &request)),
        blob(&prost::Message::encode_to_vec(&stored)),
        chrono::Utc::now().timestamp_millis(),
    ))
    .await
    .expect("insert key");
    conn.close().await.ok();

    // The upgraded service replays it for the same request, and treats the
    // key with another body as a new request without an error about it.
    let app = spawn_app_on(db).await;
    let mut admin = app.admin();
    let replayed = admin
        .create_account(request)
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replayed, stored);
    assert_eq!(app.all_accounts().await.len(), 1);
    let other = create_keyed(&mut admin, keyed(account("Other"), "legacy-0001")).await;
    assert_eq!(other.name, "Other");
    assert_eq!(app.all_accounts().await.len(), 2);
}
