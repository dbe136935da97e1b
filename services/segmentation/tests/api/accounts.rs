use themodel_proto::{common::Date, segmentation as pb};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn create_then_get_returns_every_field() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let input = pb::Account {
        external_id: "SF-0001".into(),
        name: "Acme KK".into(),
        industry: "Manufacturing".into(),
        employee_count: 250,
        acv: jpy(12_000_000),
        potential_acv: jpy(3_000_000),
        cloud_literacy: pb::CloudLiteracy::High as i32,
        migration_source: pb::MigrationSource::AnalogueProcess as i32,
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
        owner_csm_id: "csm-7".into(),
        partner_id: "partner-a".into(),
        lifecycle_status: pb::LifecycleStatus::Active as i32,
        tier: pb::Tier::HighTouch as i32, // output only: ignored
        ..Default::default()
    };
    let created = create_ok(&mut client, input.clone()).await;
    assert!(uuid::Uuid::parse_str(&created.id).is_ok());
    assert_eq!(created.tier, pb::Tier::Unspecified as i32);
    assert!(!created.etag.is_empty());
    assert!(created.create_time.is_some());
    let expected = pb::Account {
        id: created.id.clone(),
        tier: 0,
        create_time: created.create_time,
        update_time: created.update_time,
        etag: created.etag.clone(),
        ..input
    };
    assert_eq!(created, expected);

    let got = client
        .get_account(pb::GetAccountRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .account;
    assert_eq!(got, Some(created));
}

#[tokio::test]
async fn lifecycle_defaults_to_onboarding() {
    let app = spawn_app().await;
    let created = create_ok(&mut app.admin(), account("Beta")).await;
    assert_eq!(
        created.lifecycle_status,
        pb::LifecycleStatus::Onboarding as i32
    );
}

#[tokio::test]
async fn invalid_accounts_name_every_bad_field_and_write_nothing() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let bad = pb::Account {
        name: "".into(),
        employee_count: -3,
        acv: Some(themodel_proto::common::Money {
            currency_code: "XYZ".into(),
            units: -100,
            nanos: 0,
        }),
        potential_acv: jpy(5),
        cloud_literacy: 99,
        external_id: "bad id with spaces".into(),
        ..Default::default()
    };
    let status = client
        .create_account(create(bad))
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "account.external_id",
            "account.name",
            "account.employee_count",
            "account.acv.currency_code",
            "account.acv.units",
            "account.cloud_literacy",
        ]
    );
    assert_eq!(reason(&status), "INVALID_ARGUMENT");

    let mixed = pb::Account {
        potential_acv: Some(themodel_proto::common::Money {
            currency_code: "USD".into(),
            units: 10,
            nanos: 0,
        }),
        contract_start_date: Some(Date {
            year: 2026,
            month: 5,
            day: 1,
        }),
        renewal_date: Some(Date {
            year: 2026,
            month: 4,
            day: 1,
        }),
        ..account("Mixed")
    };
    let status = client
        .create_account(create(mixed))
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        [
            "account.potential_acv.currency_code",
            "account.renewal_date"
        ]
    );
    let missing = client
        .create_account(pb::CreateAccountRequest::default())
        .await
        .expect_err("no account");
    assert_eq!(violated_fields(&missing), ["account"]);
    assert!(app.all_accounts().await.is_empty());
}

#[tokio::test]
async fn external_ids_are_unique() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let first = pb::Account {
        external_id: "SF-1".into(),
        ..account("One")
    };
    create_ok(&mut client, first.clone()).await;
    let status = client
        .create_account(create(pb::Account {
            name: "Two".into(),
            ..first
        }))
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "ALREADY_EXISTS");
    assert_eq!(app.all_accounts().await.len(), 1);
}

#[tokio::test]
async fn get_rejects_malformed_and_unknown_ids() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let status = client
        .get_account(pb::GetAccountRequest { id: "nope".into() })
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&status), ["id"]);
    let status = client
        .get_account(pb::GetAccountRequest {
            id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn listing_pages_through_filtered_accounts_in_creation_order() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let mut owned = Vec::new();
    for i in 0..7 {
        let owner = if i % 2 == 0 { "csm-even" } else { "csm-odd" };
        let a = create_ok(
            &mut client,
            pb::Account {
                owner_csm_id: owner.into(),
                external_id: format!("SF-{i}"),
                ..account(&format!("Account {i}"))
            },
        )
        .await;
        if owner == "csm-even" {
            owned.push(a.id);
        }
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_accounts(pb::ListAccountsRequest {
                page_size: 3,
                page_token: token.clone(),
                owner_csm_id: "csm-even".into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        seen.extend(page.accounts.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        // A token is bound to its filters.
        let status = client
            .list_accounts(pb::ListAccountsRequest {
                page_token: page.next_page_token.clone(),
                owner_csm_id: "csm-odd".into(),
                ..Default::default()
            })
            .await
            .expect_err("other filters");
        assert_eq!(violated_fields(&status), ["page_token"]);
        token = page.next_page_token;
    }
    assert_eq!(seen, owned);
    assert_eq!(pages, 2);

    let by_external = client
        .list_accounts(pb::ListAccountsRequest {
            external_id: "SF-3".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(by_external.accounts.len(), 1);
    assert_eq!(by_external.accounts[0].name, "Account 3");

    let onboarding = client
        .list_accounts(pb::ListAccountsRequest {
            lifecycle_status: pb::LifecycleStatus::Churned as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(onboarding.accounts.is_empty());
}

#[tokio::test]
async fn listing_rejects_bad_paging_and_filters() {
    let app = spawn_app().await;
    let status = app
        .admin()
        .list_accounts(pb::ListAccountsRequest {
            page_size: -1,
            tier: 42,
            page_token: "garbage".into(),
            partner_id: "has space".into(),
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        ["page_size", "tier", "partner_id", "page_token"]
    );
}

#[tokio::test]
async fn domains_are_normalised_and_accounts_found_by_name_or_domain() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let acme = create_ok(
        &mut client,
        pb::Account {
            domain: "https://www.Acme.co.jp/about".into(),
            ..account("Acme KK")
        },
    )
    .await;
    assert_eq!(acme.domain, "acme.co.jp");
    create_ok(&mut client, account("Beta 100% Foods")).await;

    let find = |name: &str, domain: &str| pb::ListAccountsRequest {
        name_contains: name.into(),
        domain: domain.into(),
        ..Default::default()
    };
    let names = |r: pb::ListAccountsResponse| -> Vec<String> {
        r.accounts.into_iter().map(|a| a.name).collect()
    };
    let by_domain = client
        .list_accounts(find("", "ACME.co.jp"))
        .await
        .expect("list");
    assert_eq!(names(by_domain.into_inner()), ["Acme KK"]);
    let by_name = client.list_accounts(find("acme", "")).await.expect("list");
    assert_eq!(names(by_name.into_inner()), ["Acme KK"]);
    // Wildcards are literal.
    let literal = client.list_accounts(find("100%", "")).await.expect("list");
    assert_eq!(names(literal.into_inner()), ["Beta 100% Foods"]);
    let none = client.list_accounts(find("_", "")).await.expect("list");
    assert!(none.into_inner().accounts.is_empty());

    let status = client
        .create_account(create(pb::Account {
            domain: "not a domain".into(),
            ..account("Bad")
        }))
        .await
        .expect_err("bad domain");
    assert_eq!(violated_fields(&status), ["account.domain"]);
}
