//! Subscriptions: terms, MRR, changes and ends, churn and reactivation
//! announced once, holdings and whitespace, bad input, partner scope.

use themodel_platform::auth::Role;
use themodel_proto::expansion as pb;
use tonic::Code;

use crate::helpers::*;

/// An account with the "analytics" and "crm" products in the catalogue.
async fn setup(app: &TestApp, partner: Option<&str>) -> (Client, String) {
    let mut admin = app.admin();
    create_ok(&mut admin, product("analytics")).await;
    create_ok(&mut admin, product("crm")).await;
    let account = app.account("Acme", partner).await;
    (admin, account)
}

#[tokio::test]
async fn a_subscription_shows_its_terms_mrr_and_status_and_is_announced() {
    let app = spawn_app().await;
    let (mut admin, account) = setup(&app, Some("p-1")).await;
    let created = subscribe(
        &mut admin,
        pb::Subscription {
            plan_key: "pro-annual".into(),
            external_id: "SUB-1".into(),
            terms: vec![pb::SubscriptionTerm {
                quantity: 1,
                start_date: date(2024, 1, 1),
                ..Default::default()
            }],
            ..subscription(&account, "analytics", vec![])
        },
    )
    .await;
    // The plan's list price and period fill the term: 2,000 a year is 166.67.
    let term = &created.terms[0];
    assert_eq!(term.unit_price, usd(2000));
    assert_eq!(term.billing_period, pb::BillingPeriod::Annual as i32);
    assert_eq!(term.mrr, money("USD", 166, 670_000_000));
    assert_eq!(created.current_mrr, money("USD", 166, 670_000_000));
    assert_eq!(created.status, pb::SubscriptionStatus::Active as i32);
    assert!(!created.id.is_empty() && !created.etag.is_empty());

    let got = admin
        .get_subscription(pb::GetSubscriptionRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .subscription;
    assert_eq!(got.as_ref(), Some(&created));

    let changed: Vec<pb::SubscriptionChanged> = payloads(&app.events().await);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].subscription.as_ref(), Some(&created));
    assert_eq!(changed[0].account_mrr_before, money("USD", 0, 0));
    assert_eq!(changed[0].account_mrr_after, money("USD", 166, 670_000_000));
    assert_eq!(changed[0].partner_id, "p-1");

    // The external id is unique.
    let status = admin
        .create_subscription(pb::CreateSubscriptionRequest {
            subscription: Some(pb::Subscription {
                external_id: "SUB-1".into(),
                ..subscription(&account, "crm", vec![term_from(2024, 1)])
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
}

fn term_from(year: i32, month: i32) -> pb::SubscriptionTerm {
    term(1, 100, date(year, month, 1), None)
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let (mut admin, account) = setup(&app, None).await;
    let events_before = app.events().await.len();
    let refused = |sub: pb::Subscription| {
        let mut admin = admin.clone();
        async move {
            admin
                .create_subscription(pb::CreateSubscriptionRequest {
                    subscription: Some(sub),
                    request_id: String::new(),
                })
                .await
                .expect_err("refused")
        }
    };

    let negative = refused(subscription(
        &account,
        "analytics",
        vec![pb::SubscriptionTerm {
            unit_price: usd(-5),
            ..term_from(2024, 1)
        }],
    ))
    .await;
    assert_eq!(negative.code(), Code::InvalidArgument);
    assert!(
        violated_fields(&negative)
            .iter()
            .any(|f| f.starts_with("subscription.terms[0].unit_price"))
    );

    let backwards = refused(subscription(
        &account,
        "analytics",
        vec![term(1, 100, date(2024, 5, 1), date(2024, 4, 1))],
    ))
    .await;
    assert_eq!(
        violated_fields(&backwards),
        vec!["subscription.terms[0].end_date"]
    );

    let overlapping = refused(subscription(
        &account,
        "analytics",
        vec![
            term(1, 100, date(2024, 1, 1), date(2025, 1, 1)),
            term(2, 100, date(2024, 6, 1), None),
        ],
    ))
    .await;
    assert_eq!(
        violated_fields(&overlapping),
        vec!["subscription.terms[1].start_date"]
    );

    let mixed = refused(subscription(
        &account,
        "analytics",
        vec![
            term(1, 100, date(2024, 1, 1), date(2025, 1, 1)),
            pb::SubscriptionTerm {
                unit_price: money("EUR", 90, 0),
                ..term_from(2025, 1)
            },
        ],
    ))
    .await;
    assert_eq!(
        violated_fields(&mixed),
        vec!["subscription.terms[1].unit_price.currency_code"]
    );

    let no_terms = refused(subscription(&account, "analytics", vec![])).await;
    assert_eq!(violated_fields(&no_terms), vec!["subscription.terms"]);

    let unknown_product = refused(subscription(&account, "nope", vec![term_from(2024, 1)])).await;
    assert_eq!(unknown_product.code(), Code::NotFound);
    let unknown_plan = refused(pb::Subscription {
        plan_key: "nope".into(),
        ..subscription(&account, "analytics", vec![term_from(2024, 1)])
    })
    .await;
    assert_eq!(unknown_plan.code(), Code::NotFound);
    let unknown_account = refused(subscription(
        "0190d6d4-0000-7000-8000-000000000000",
        "analytics",
        vec![term_from(2024, 1)],
    ))
    .await;
    assert_eq!(unknown_account.code(), Code::NotFound);
    let malformed_account = refused(subscription(
        "not an id!",
        "analytics",
        vec![term_from(2024, 1)],
    ))
    .await;
    assert_eq!(
        violated_fields(&malformed_account),
        vec!["subscription.account_id"]
    );

    let listed = admin
        .list_subscriptions(pb::ListSubscriptionsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.subscriptions.is_empty());
    assert_eq!(app.events().await.len(), events_before);

    // Only the billing side writes subscriptions.
    let status = app
        .client(Role::Csm)
        .create_subscription(pb::CreateSubscriptionRequest {
            subscription: Some(subscription(
                &account,
                "analytics",
                vec![term_from(2024, 1)],
            )),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn changes_add_terms_and_refuse_to_rewrite_the_past() {
    let app = spawn_app().await;
    let (mut admin, account) = setup(&app, None).await;
    let sub = subscribe(
        &mut admin,
        subscription(
            &account,
            "analytics",
            vec![term(10, 100, date(2024, 1, 1), None)],
        ),
    )
    .await;
    assert_eq!(sub.current_mrr, usd(1000));
    let upgraded = change(&mut admin, &sub.id, term(15, 100, date(2024, 7, 1), None)).await;
    assert_eq!(upgraded.terms.len(), 2);
    assert_eq!(upgraded.terms[0].end_date, date(2024, 7, 1));
    assert_eq!(upgraded.current_mrr, usd(1500));
    assert_ne!(upgraded.etag, sub.etag);

    let overlap = admin
        .change_subscription(pb::ChangeSubscriptionRequest {
            id: sub.id.clone(),
            term: Some(term(20, 100, date(2024, 7, 1), None)),
            ..Default::default()
        })
        .await
        .expect_err("overlap");
    assert_eq!(overlap.code(), Code::FailedPrecondition);
    assert_eq!(reason(&overlap), "TERM_OVERLAP");

    let stale = admin
        .change_subscription(pb::ChangeSubscriptionRequest {
            id: sub.id.clone(),
            term: Some(term(20, 100, date(2024, 9, 1), None)),
            etag: sub.etag.clone(),
            ..Default::default()
        })
        .await
        .expect_err("stale");
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    // A retry with the same request id changes nothing more.
    let request = pb::ChangeSubscriptionRequest {
        id: sub.id.clone(),
        term: Some(term(20, 100, date(2024, 9, 1), None)),
        etag: upgraded.etag.clone(),
        request_id: "renewal-1".into(),
    };
    let first = admin
        .change_subscription(request.clone())
        .await
        .expect("change")
        .into_inner();
    let again = admin
        .change_subscription(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(first.subscription.expect("sub").terms.len(), 3);

    let ended = end(&mut admin, &sub.id, date(2025, 1, 1)).await;
    assert_eq!(ended.status, pb::SubscriptionStatus::Ended as i32);
    assert_eq!(ended.current_mrr, usd(0));
    let again = admin
        .end_subscription(pb::EndSubscriptionRequest {
            id: sub.id.clone(),
            end_date: date(2025, 6, 1),
            ..Default::default()
        })
        .await
        .expect_err("ended");
    assert_eq!(reason(&again), "ALREADY_ENDED");
    let unknown = admin
        .end_subscription(pb::EndSubscriptionRequest {
            id: "0190d6d4-0000-7000-8000-000000000000".into(),
            end_date: date(2025, 6, 1),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn churn_is_the_last_subscription_ending_and_is_announced_once() {
    let app = spawn_app().await;
    let (mut admin, account) = setup(&app, Some("p-1")).await;
    let main = subscribe(
        &mut admin,
        subscription(
            &account,
            "analytics",
            vec![term(1, 500, date(2024, 1, 1), None)],
        ),
    )
    .await;
    let add_on = subscribe(
        &mut admin,
        subscription(&account, "crm", vec![term(1, 100, date(2024, 1, 1), None)]),
    )
    .await;
    // A cancelled add-on while the main plan runs is no churn.
    end(&mut admin, &add_on.id, date(2024, 6, 1)).await;
    let events = app.events().await;
    assert!(payloads::<pb::AccountChurned>(&events).is_empty());

    end(&mut admin, &main.id, date(2024, 9, 1)).await;
    let churned: Vec<pb::AccountChurned> = payloads(&app.events().await);
    assert_eq!(churned.len(), 1);
    assert_eq!(churned[0].account_id, account);
    assert_eq!(churned[0].churn_date, date(2024, 9, 1));
    assert_eq!(churned[0].lost_mrr, usd(500));
    assert_eq!(churned[0].partner_id, "p-1");

    // Back on a new subscription: reactivated, once.
    subscribe(
        &mut admin,
        subscription(&account, "crm", vec![term(2, 100, date(2025, 2, 1), None)]),
    )
    .await;
    let events = app.events().await;
    let reactivated: Vec<pb::AccountReactivated> = payloads(&events);
    assert_eq!(reactivated.len(), 1);
    assert_eq!(reactivated[0].reactivation_date, date(2025, 2, 1));
    assert_eq!(reactivated[0].mrr, usd(200));
    assert_eq!(payloads::<pb::AccountChurned>(&events).len(), 1);
}

#[tokio::test]
async fn holdings_name_what_an_account_holds_and_its_whitespace() {
    let app = spawn_app().await;
    let (mut admin, account) = setup(&app, None).await;
    create_ok(&mut admin, product("billing")).await;
    let retired = update_ok(
        &mut admin,
        pb::Product {
            product_key: "billing".into(),
            retired: true,
            ..Default::default()
        },
        &["retired"],
    )
    .await;
    assert!(retired.retired);
    create_ok(&mut admin, product("support")).await;
    let sub = subscribe(
        &mut admin,
        subscription(
            &account,
            "analytics",
            vec![term(3, 100, date(2024, 1, 1), None)],
        ),
    )
    .await;
    let holdings = admin
        .get_holdings(pb::GetHoldingsRequest {
            account_id: account.clone(),
            as_of: None,
        })
        .await
        .expect("holdings")
        .into_inner();
    assert_eq!(holdings.holdings.len(), 1);
    assert_eq!(holdings.holdings[0].product_key, "analytics");
    assert_eq!(holdings.holdings[0].subscription_ids, vec![sub.id]);
    assert_eq!(holdings.holdings[0].mrr, usd(300));
    // Retired products are no whitespace: they are not sold.
    assert_eq!(holdings.whitespace, vec!["crm", "support"]);

    // Before the subscription started, everything on sale is whitespace.
    let before = admin
        .get_holdings(pb::GetHoldingsRequest {
            account_id: account.clone(),
            as_of: date(2023, 12, 31),
        })
        .await
        .expect("holdings")
        .into_inner();
    assert!(before.holdings.is_empty());
    assert_eq!(before.whitespace, vec!["analytics", "crm", "support"]);

    // New revenue on a retired product is refused; its history is not.
    let status = admin
        .create_subscription(pb::CreateSubscriptionRequest {
            subscription: Some(subscription(&account, "billing", vec![term_from(2024, 1)])),
            request_id: String::new(),
        })
        .await
        .expect_err("retired");
    assert_eq!(reason(&status), "PLAN_RETIRED");
    subscribe(
        &mut admin,
        subscription(
            &account,
            "billing",
            vec![term(1, 100, date(2023, 1, 1), date(2023, 6, 1))],
        ),
    )
    .await;
}

#[tokio::test]
async fn a_partner_user_sees_only_its_own_accounts_subscriptions() {
    let app = spawn_app().await;
    let (mut admin, own) = setup(&app, Some("p-1")).await;
    let other = app.account("Other", Some("p-2")).await;
    let own_sub = subscribe(
        &mut admin,
        subscription(&own, "analytics", vec![term_from(2024, 1)]),
    )
    .await;
    let other_sub = subscribe(
        &mut admin,
        subscription(&other, "analytics", vec![term_from(2024, 1)]),
    )
    .await;
    let mut partner = app.client(Role::PartnerUser);
    let listed = partner
        .list_subscriptions(pb::ListSubscriptionsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .subscriptions;
    assert_eq!(
        listed.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&own_sub.id]
    );
    let hidden = partner
        .get_subscription(pb::GetSubscriptionRequest {
            id: other_sub.id.clone(),
        })
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = partner
        .get_holdings(pb::GetHoldingsRequest {
            account_id: other.clone(),
            as_of: None,
        })
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    // Filtering on another partner's account finds nothing.
    let filtered = partner
        .list_subscriptions(pb::ListSubscriptionsRequest {
            account_id: other.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .subscriptions;
    assert!(filtered.is_empty());
    // A partner user reads; it does not write.
    let status = partner
        .end_subscription(pb::EndSubscriptionRequest {
            id: own_sub.id.clone(),
            end_date: date(2025, 1, 1),
            ..Default::default()
        })
        .await
        .expect_err("read only");
    assert_eq!(status.code(), Code::PermissionDenied);
}
