use themodel_platform::{auth::Role, testing::Bearer};
use themodel_proto::segmentation as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let app = spawn_app().await;
    for bearer in [
        Bearer::none(),
        Bearer::raw("Bearer not-a-jwt"),
        Bearer::raw("Basic dXNlcjpwYXNz"),
    ] {
        let status = app
            .client_with(bearer)
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .expect_err("no valid token");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(reason(&status), "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn health_needs_no_token_and_reports_serving() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel());
    for service in ["", "themodel.segmentation.v1.SegmentationService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(response.status, ServingStatus::Serving as i32);
    }
}

#[tokio::test]
async fn read_only_roles_cannot_write() {
    let app = spawn_app().await;
    let status = app
        .client(Role::CustomerSales)
        .create_account(create(account("X")))
        .await
        .expect_err("read only");
    assert_eq!(status.code(), Code::PermissionDenied);
    // ...but may read.
    app.client(Role::CustomerSales)
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("read");
    let status = app
        .client(Role::Csm)
        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
            accounts: vec![account("X")],
            ..Default::default()
        })
        .await
        .expect_err("bulk is for integrations");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(app.all_accounts().await.is_empty());
}

#[tokio::test]
async fn partner_users_see_and_change_only_their_partners_accounts() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let ours = create_ok(&mut admin, partner_account("Ours", "p-1")).await;
    let theirs = create_ok(&mut admin, partner_account("Theirs", "p-2")).await;
    let direct = create_ok(&mut admin, account("Direct")).await;
    let mut partner = app.partner_client("p-1");

    // Get: another partner's or a direct account does not exist for them.
    for id in [&theirs.id, &direct.id] {
        let status = partner
            .get_account(pb::GetAccountRequest { id: id.clone() })
            .await
            .expect_err("hidden");
        assert_eq!(status.code(), Code::NotFound);
    }
    partner
        .get_account(pb::GetAccountRequest {
            id: ours.id.clone(),
        })
        .await
        .expect("own account");

    // List: only their own, whatever they ask for.
    let listed = partner
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .accounts
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        [ours.id.as_str()]
    );
    let status = partner
        .list_accounts(pb::ListAccountsRequest {
            partner_id: "p-2".into(),
            ..Default::default()
        })
        .await
        .expect_err("other partner");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Update: another partner's account is not found; moving theirs away is denied.
    let status = partner
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: theirs.id.clone(),
                name: "Mine now".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            ..Default::default()
        })
        .await
        .expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);
    let status = partner
        .update_account(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: ours.id.clone(),
                partner_id: "p-2".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["partner_id".into()],
            }),
            ..Default::default()
        })
        .await
        .expect_err("cannot give away");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Create: lands in their partner; naming another partner is denied.
    let created = create_ok(&mut partner, account("New")).await;
    assert_eq!(created.partner_id, "p-1");
    let status = partner
        .create_account(create(partner_account("Sneaky", "p-2")))
        .await
        .expect_err("other partner");
    assert_eq!(status.code(), Code::PermissionDenied);

    let theirs_now = admin
        .get_account(pb::GetAccountRequest {
            id: theirs.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .account;
    assert_eq!(theirs_now, Some(theirs));
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let app = spawn_app().await;
    let token = themodel_platform::testing::bearer(Role::Admin, None);
    let token = token.trim_start_matches("Bearer ");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        app.client_with(Bearer::raw(&format!("{scheme} {token}")))
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
    }
    let status = app
        .client_with(Bearer::raw(&format!("Basic {token}")))
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect_err("wrong scheme");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn partner_users_cannot_probe_for_crm_ids() {
    let app = spawn_app().await;
    let taken = create_ok(
        &mut app.admin(),
        pb::Account {
            external_id: "SF-TAKEN".into(),
            partner_id: "p-2".into(),
            ..account("Theirs")
        },
    )
    .await;
    let mut partner = app.partner_client("p-1");
    // A taken and a free CRM id get the very same refusal.
    let mut refusals = Vec::new();
    for external_id in ["SF-TAKEN", "SF-FREE"] {
        let status = partner
            .create_account(create(pb::Account {
                external_id: external_id.into(),
                ..account("Ours")
            }))
            .await
            .expect_err("partners do not write CRM ids");
        assert_eq!(status.code(), Code::PermissionDenied);
        refusals.push((status.message().to_owned(), status.details().to_vec()));
    }
    assert_eq!(refusals[0], refusals[1]);

    // Nor can they move one of their accounts onto a CRM id.
    let ours = create_ok(&mut partner, account("Ours")).await;
    let status = partner
        .update_account(update(
            pb::Account {
                id: ours.id.clone(),
                external_id: taken.external_id.clone(),
                ..Default::default()
            },
            &["external_id"],
        ))
        .await
        .expect_err("no CRM id changes");
    assert_eq!(status.code(), Code::PermissionDenied);
    // An account CRM sync gave an id keeps it through a partner's update of other fields.
    let synced = create_ok(
        &mut app.admin(),
        pb::Account {
            external_id: "SF-OURS".into(),
            partner_id: "p-1".into(),
            ..account("Synced")
        },
    )
    .await;
    let renamed = partner
        .update_account(update(
            pb::Account {
                id: synced.id.clone(),
                name: "Synced 2".into(),
                ..Default::default()
            },
            &["name"],
        ))
        .await
        .expect("rename")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(renamed.external_id, "SF-OURS");
}

#[tokio::test]
async fn a_service_acting_for_a_partner_user_sees_only_that_partners_accounts() {
    let dir = tempfile::tempdir().expect("dir");
    let (private, public) = themodel_platform::testing::service_key_pair(dir.path(), "onboarding");
    let app = spawn_app_with(|config| config.auth.auth_service_public_keys = vec![public]).await;
    let ours = create_ok(&mut app.admin(), partner_account("Ours", "p-1")).await;
    let theirs = create_ok(&mut app.admin(), partner_account("Theirs", "p-2")).await;

    // Onboarding, acting for a p-1 user, with its own key.
    let onboarding = themodel_platform::testing::service_identity("onboarding", private.clone());
    let user = themodel_platform::auth::Principal {
        subject: "user-1".into(),
        role: Role::PartnerUser,
        partner_id: Some("p-1".into()),
        actor: None,
    };
    let valid_until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 600;
    let token = onboarding.token_for(&user, valid_until).expect("delegated");
    let mut delegated = app.client_with(Bearer::raw(&format!("Bearer {token}")));
    let listed = delegated
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .accounts;
    assert_eq!(listed, vec![ours]);
    let hidden = delegated
        .get_account(pb::GetAccountRequest { id: theirs.id })
        .await
        .expect_err("another partner's account");
    assert_eq!(hidden.code(), Code::NotFound);
    let widened = delegated
        .list_accounts(pb::ListAccountsRequest {
            partner_id: "p-2".into(),
            ..Default::default()
        })
        .await
        .expect_err("no wider scope");
    assert_eq!(widened.code(), Code::PermissionDenied);

    // As itself, onboarding reads everything a service may.
    let own = onboarding.token().expect("service token");
    let all = app
        .client_with(Bearer::raw(&format!("Bearer {own}")))
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("list as a service")
        .into_inner()
        .accounts;
    assert_eq!(all.len(), 2);

    // A service's key cannot mint a plain user's token.
    let forged = themodel_platform::auth::Keys::load(&themodel_platform::auth::AuthConfig {
        auth_key_file: private,
        auth_generate_dev_key: false,
        ..themodel_platform::testing::auth_config()
    })
    .expect("keys")
    .issuer
    .expect("private")
    .mint(
        "root",
        Role::Admin,
        None,
        std::time::Duration::from_secs(60),
    )
    .expect("mint");
    let status = app
        .client_with(Bearer::raw(&format!("Bearer {forged}")))
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect_err("not a user's key");
    assert_eq!(status.code(), Code::Unauthenticated);
}
