use prost::Message;
use themodel_platform::{auth::Role, testing::Bearer};
use themodel_proto::{common::Money, expansion as pb};
use tonic::Code;

use crate::helpers::*;

use pb::BillingPeriod::{Annual, Monthly, Quarterly, Unspecified};

const PRODUCT_CREATED: &str = "themodel.expansion.v1.ProductCreated";
const PRODUCT_UPDATED: &str = "themodel.expansion.v1.ProductUpdated";

const ALL_ROLES: [Role; 7] = [
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::Csm,
    Role::CustomerSales,
    Role::PartnerUser,
    Role::Service,
];

/// `plan` as the service returns it, with its monthly list revenue.
fn with_mrr(plan: pb::Plan, list_mrr: Option<Money>) -> pb::Plan {
    pb::Plan { list_mrr, ..plan }
}

/// The keys of every page of a listing walked with `page_size`.
async fn key_pages(client: &mut Client, page_size: i32, include_retired: bool) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_products(pb::ListProductsRequest {
                page_size,
                page_token,
                include_retired,
            })
            .await
            .expect("list")
            .into_inner();
        pages.push(page.products.into_iter().map(|p| p.product_key).collect());
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 10, "the listing never ends: {pages:?}");
        page_token = page.next_page_token;
    }
}

/// The keys of the products of one listing call.
async fn listed_keys(client: &mut Client, include_retired: bool) -> Vec<String> {
    client
        .list_products(pb::ListProductsRequest {
            include_retired,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .products
        .into_iter()
        .map(|p| p.product_key)
        .collect()
}

/// The monthly list revenue of a one-plan product priced `list_price` per `period`.
async fn mrr_of(
    client: &mut Client,
    product_key: &str,
    list_price: Option<Money>,
    period: pb::BillingPeriod,
) -> Option<Money> {
    let created = create_ok(
        client,
        pb::Product {
            plans: vec![plan("only", list_price, period)],
            ..product(product_key)
        },
    )
    .await;
    assert_eq!(created.plans.len(), 1, "{created:?}");
    created.plans[0].list_mrr.clone()
}

fn status_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>, what: &str) -> tonic::Status {
    result.expect_err(what)
}

#[tokio::test]
async fn a_created_product_has_its_times_etag_and_monthly_list_revenue_and_reads_back() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, product("analytics")).await;
    assert!(created.create_time.is_some(), "{created:?}");
    assert!(created.update_time.is_some(), "{created:?}");
    assert!(!created.etag.is_empty(), "{created:?}");
    let expected = pb::Product {
        plans: vec![
            with_mrr(plan("pro-monthly", usd(100), Monthly), usd(100)),
            // The published example: 2,000.00 USD a year is 166.67 USD a month.
            with_mrr(
                plan("pro-annual", usd(2000), Annual),
                money("USD", 166, 670_000_000),
            ),
        ],
        create_time: created.create_time,
        update_time: created.update_time,
        etag: created.etag.clone(),
        ..product("analytics")
    };
    assert_eq!(created, expected);
    assert_eq!(get_ok(&mut client, "analytics").await, created);
    assert_eq!(app.all_products().await, vec![created]);
}

#[tokio::test]
async fn monthly_list_revenue_rounds_half_away_from_zero_to_the_currency_minor_unit() {
    let app = spawn_app().await;
    let mut client = app.admin();
    // 1,000 JPY a year is 83.33 a month; JPY has no decimals.
    assert_eq!(
        mrr_of(&mut client, "jpy", money("JPY", 1000, 0), Annual).await,
        money("JPY", 83, 0)
    );
    // 10 KWD a quarter is 3.3333 a month; KWD has 3 decimals.
    assert_eq!(
        mrr_of(&mut client, "kwd", money("KWD", 10, 0), Quarterly).await,
        money("KWD", 3, 333_000_000)
    );
    // 0.06 USD a year is 0.005 a month, which rounds up to 0.01.
    assert_eq!(
        mrr_of(&mut client, "usd-half", money("USD", 0, 60_000_000), Annual).await,
        money("USD", 0, 10_000_000)
    );
}

#[tokio::test]
async fn products_are_listed_in_key_order_by_page() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let mut created = Vec::new();
    for key in ["charlie", "alpha", "bravo"] {
        created.push(create_ok(&mut client, product(key)).await);
    }
    let listed = client
        .list_products(pb::ListProductsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.products,
        vec![created[1].clone(), created[2].clone(), created[0].clone()]
    );
    assert!(listed.next_page_token.is_empty(), "{listed:?}");
    assert_eq!(
        key_pages(&mut client, 1, false).await,
        [["alpha"], ["bravo"], ["charlie"]]
    );
    assert_eq!(
        key_pages(&mut client, 2, false).await,
        [vec!["alpha", "bravo"], vec!["charlie"]]
    );
}

#[tokio::test]
async fn invalid_products_are_refused_field_by_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let with_plans = |plans: Vec<pb::Plan>| pb::Product {
        plans,
        ..product("analytics")
    };
    let keyed = |product_key: &str| pb::Product {
        product_key: product_key.into(),
        ..product("analytics")
    };
    let many_plans = |count: usize| {
        (0..count)
            .map(|i| plan(&format!("plan-{i}"), usd(10), Monthly))
            .collect::<Vec<_>>()
    };
    let cases = [
        (keyed("Analytics"), "product.product_key"),
        (keyed(""), "product.product_key"),
        (keyed(&"a".repeat(65)), "product.product_key"),
        (
            pb::Product {
                display_name: String::new(),
                ..product("analytics")
            },
            "product.display_name",
        ),
        (with_plans(Vec::new()), "product.plans"),
        (
            with_plans(vec![
                plan("pro", usd(100), Monthly),
                plan("pro", usd(2000), Annual),
            ]),
            "product.plans[1].plan_key",
        ),
        (
            with_plans(vec![plan("pro", usd(-1), Monthly)]),
            "product.plans[0].list_price.units",
        ),
        (
            with_plans(vec![plan("pro", money("ZZZ", 100, 0), Monthly)]),
            "product.plans[0].list_price.currency_code",
        ),
        (
            with_plans(vec![plan("pro", usd(100), Unspecified)]),
            "product.plans[0].billing_period",
        ),
        (with_plans(many_plans(51)), "product.plans"),
    ];
    for (bad, field) in cases {
        let status = status_of(
            client.create_product(create(bad.clone())).await,
            "invalid product",
        );
        assert_eq!(violated_fields(&status), [field], "{bad:?}");
    }
    assert_eq!(app.all_products().await, []);
    assert_eq!(app.events().await, []);

    // The limits themselves are fine: a 64-character key and 50 plans.
    let widest = create_ok(
        &mut client,
        pb::Product {
            plans: many_plans(50),
            ..product(&"a".repeat(64))
        },
    )
    .await;
    assert_eq!(widest.plans.len(), 50);
    assert_eq!(app.all_products().await, [widest]);
}

#[tokio::test]
async fn a_taken_product_key_is_already_exists() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let first = create_ok(&mut client, product("analytics")).await;
    let status = status_of(
        client
            .create_product(create(pb::Product {
                display_name: "Another analytics".into(),
                ..product("analytics")
            }))
            .await,
        "taken",
    );
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(app.all_products().await, [first]);
}

#[tokio::test]
async fn an_unknown_product_key_is_not_found() {
    let app = spawn_app().await;
    let mut client = app.admin();
    create_ok(&mut client, product("analytics")).await;
    let status = status_of(
        client
            .get_product(pb::GetProductRequest {
                product_key: "missing".into(),
            })
            .await,
        "get missing",
    );
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = status_of(
        client
            .update_product(update(
                pb::Product {
                    product_key: "missing".into(),
                    display_name: "Missing".into(),
                    ..Default::default()
                },
                &["display_name"],
            ))
            .await,
        "update missing",
    );
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(listed_keys(&mut client, true).await, ["analytics"]);
}

#[tokio::test]
async fn an_update_changes_the_masked_fields_adds_and_reprices_plans_and_moves_the_etag() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, product("analytics")).await;

    let renamed = update_ok(
        &mut client,
        pb::Product {
            product_key: "analytics".into(),
            display_name: "Analytics Plus".into(),
            description: "Dashboards, reports and alerts".into(),
            etag: created.etag.clone(),
            ..Default::default()
        },
        &["display_name", "description"],
    )
    .await;
    assert_eq!(
        renamed,
        pb::Product {
            display_name: "Analytics Plus".into(),
            description: "Dashboards, reports and alerts".into(),
            update_time: renamed.update_time,
            etag: renamed.etag.clone(),
            ..created.clone()
        }
    );
    assert_ne!(renamed.etag, created.etag);
    let when = |t: Option<prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
    assert!(
        when(renamed.update_time) >= when(created.update_time),
        "{renamed:?}"
    );

    // Reprice the monthly plan, rename the annual one, add a third.
    let repriced = update_ok(
        &mut client,
        pb::Product {
            product_key: "analytics".into(),
            plans: vec![
                plan("pro-monthly", usd(120), Monthly),
                pb::Plan {
                    display_name: "Pro, billed yearly".into(),
                    ..plan("pro-annual", usd(2000), Annual)
                },
                plan("team-monthly", usd(30), Monthly),
            ],
            etag: renamed.etag.clone(),
            ..Default::default()
        },
        &["plans"],
    )
    .await;
    assert_eq!(
        repriced.plans,
        [
            with_mrr(plan("pro-monthly", usd(120), Monthly), usd(120)),
            with_mrr(
                pb::Plan {
                    display_name: "Pro, billed yearly".into(),
                    ..plan("pro-annual", usd(2000), Annual)
                },
                money("USD", 166, 670_000_000),
            ),
            with_mrr(plan("team-monthly", usd(30), Monthly), usd(30)),
        ]
    );
    assert_eq!(
        (
            repriced.display_name.as_str(),
            repriced.description.as_str(),
            repriced.create_time
        ),
        (
            "Analytics Plus",
            "Dashboards, reports and alerts",
            created.create_time
        )
    );
    assert_ne!(repriced.etag, renamed.etag);
    assert_ne!(repriced.etag, created.etag);
    assert_eq!(get_ok(&mut client, "analytics").await, repriced);
}

#[tokio::test]
async fn refused_updates_leave_the_product_unchanged() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, product("analytics")).await;
    let current = update_ok(
        &mut client,
        pb::Product {
            product_key: "analytics".into(),
            display_name: "Analytics Plus".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_ne!(current.etag, created.etag);

    // The etag it was created with is stale now.
    let status = status_of(
        client
            .update_product(update(
                pb::Product {
                    product_key: "analytics".into(),
                    display_name: "Stale".into(),
                    etag: created.etag.clone(),
                    ..Default::default()
                },
                &["display_name"],
            ))
            .await,
        "stale etag",
    );
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "ETAG_MISMATCH");
    assert_eq!(get_ok(&mut client, "analytics").await, current);

    // Plans are retired, never removed; a period is fixed once a plan exists.
    let left_out = vec![plan("pro-monthly", usd(100), Monthly)];
    let period_changed = vec![
        plan("pro-monthly", usd(300), Quarterly),
        plan("pro-annual", usd(2000), Annual),
    ];
    for plans in [left_out, period_changed] {
        let status = status_of(
            client
                .update_product(update(
                    pb::Product {
                        product_key: "analytics".into(),
                        plans: plans.clone(),
                        etag: current.etag.clone(),
                        ..Default::default()
                    },
                    &["plans"],
                ))
                .await,
            "refused plan change",
        );
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{plans:?}: {status:?}"
        );
        assert_eq!(reason(&status), "PLAN_CHANGE_REFUSED", "{plans:?}");
        assert_eq!(get_ok(&mut client, "analytics").await, current);
    }

    // Masks naming no updatable field, or no mask at all.
    let patch = pb::Product {
        product_key: "analytics".into(),
        display_name: "Masked".into(),
        ..Default::default()
    };
    for paths in [&["product_key"][..], &["nope"], &["display_name", "nope"]] {
        let status = status_of(
            client.update_product(update(patch.clone(), paths)).await,
            "bad mask",
        );
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{paths:?}: {status:?}"
        );
    }
    let status = status_of(
        client
            .update_product(pb::UpdateProductRequest {
                product: Some(patch),
                update_mask: None,
                request_id: String::new(),
            })
            .await,
        "no mask",
    );
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(get_ok(&mut client, "analytics").await, current);
    assert_eq!(app.all_products().await, [current]);
}

#[tokio::test]
async fn retired_plans_round_trip_and_retired_products_are_listed_only_on_request() {
    let app = spawn_app().await;
    let mut client = app.admin();
    for key in ["alpha", "bravo", "charlie"] {
        create_ok(&mut client, product(key)).await;
    }

    let plan_retired = update_ok(
        &mut client,
        pb::Product {
            product_key: "bravo".into(),
            plans: vec![
                plan("pro-monthly", usd(100), Monthly),
                pb::Plan {
                    retired: true,
                    ..plan("pro-annual", usd(2000), Annual)
                },
            ],
            ..Default::default()
        },
        &["plans"],
    )
    .await;
    assert_eq!(
        plan_retired
            .plans
            .iter()
            .map(|p| (p.plan_key.as_str(), p.retired))
            .collect::<Vec<_>>(),
        [("pro-monthly", false), ("pro-annual", true)]
    );
    assert!(!plan_retired.retired);
    assert_eq!(get_ok(&mut client, "bravo").await, plan_retired);
    assert_eq!(
        listed_keys(&mut client, false).await,
        ["alpha", "bravo", "charlie"]
    );

    let retired = update_ok(
        &mut client,
        pb::Product {
            product_key: "bravo".into(),
            retired: true,
            ..Default::default()
        },
        &["retired"],
    )
    .await;
    assert!(retired.retired, "{retired:?}");
    assert_eq!(get_ok(&mut client, "bravo").await, retired);
    assert_eq!(listed_keys(&mut client, false).await, ["alpha", "charlie"]);
    assert_eq!(
        listed_keys(&mut client, true).await,
        ["alpha", "bravo", "charlie"]
    );
    assert_eq!(
        key_pages(&mut client, 1, false).await,
        [["alpha"], ["charlie"]]
    );
    assert_eq!(
        key_pages(&mut client, 1, true).await,
        [["alpha"], ["bravo"], ["charlie"]]
    );
}

#[tokio::test]
async fn only_admin_and_bizops_change_the_catalogue_and_every_role_reads_it() {
    let app = spawn_app().await;
    create_ok(&mut app.admin(), product("analytics")).await;
    let mut bizops = app.client(Role::Bizops);
    let billing = create_ok(&mut bizops, product("billing")).await;
    let analytics = update_ok(
        &mut bizops,
        pb::Product {
            product_key: "analytics".into(),
            display_name: "Analytics by bizops".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_eq!(analytics.display_name, "Analytics by bizops");

    for role in [
        Role::Csm,
        Role::CsManager,
        Role::CustomerSales,
        Role::PartnerUser,
        Role::Service,
    ] {
        let mut client = app.client(role);
        let status = status_of(
            client.create_product(create(product("denied"))).await,
            "create",
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
        let status = status_of(
            client
                .update_product(update(
                    pb::Product {
                        product_key: "analytics".into(),
                        display_name: "Denied".into(),
                        ..Default::default()
                    },
                    &["display_name"],
                ))
                .await,
            "update",
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
    }
    assert_eq!(
        app.all_products().await,
        [analytics.clone(), billing.clone()]
    );

    for role in ALL_ROLES {
        let mut client = app.client(role);
        let got = client
            .get_product(pb::GetProductRequest {
                product_key: "analytics".into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{role} gets: {e:?}"))
            .into_inner()
            .product;
        assert_eq!(got.as_ref(), Some(&analytics), "{role}");
        let listed = client
            .list_products(pb::ListProductsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{role} lists: {e:?}"))
            .into_inner()
            .products;
        assert_eq!(listed, [analytics.clone(), billing.clone()], "{role}");
    }
}

#[tokio::test]
async fn calls_without_a_token_are_unauthenticated() {
    let app = spawn_app().await;
    create_ok(&mut app.admin(), product("analytics")).await;
    let mut anonymous = app.client_with(Bearer::none());
    let statuses = [
        status_of(
            anonymous
                .get_product(pb::GetProductRequest {
                    product_key: "analytics".into(),
                })
                .await,
            "get",
        ),
        status_of(
            anonymous
                .list_products(pb::ListProductsRequest::default())
                .await,
            "list",
        ),
        status_of(
            anonymous.create_product(create(product("billing"))).await,
            "create",
        ),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    assert_eq!(listed_keys(&mut app.admin(), true).await, ["analytics"]);
}

#[tokio::test]
async fn a_retried_create_returns_the_first_response_and_writes_one_product_and_event() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let request = pb::CreateProductRequest {
        product: Some(product("analytics")),
        request_id: "catalogue-sync-42".into(),
    };
    let first = client
        .create_product(request.clone())
        .await
        .expect("first")
        .into_inner();
    let second = client
        .create_product(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, second);
    let created = first.product.expect("product");
    assert_eq!(app.all_products().await, std::slice::from_ref(&created));
    let events: Vec<_> = app
        .events()
        .await
        .into_iter()
        .map(|e| (e.r#type, e.subject_id))
        .collect();
    assert_eq!(
        events,
        [(PRODUCT_CREATED.to_owned(), "analytics".to_owned())]
    );

    // The same key with a different request is refused and writes nothing.
    let status = status_of(
        client
            .create_product(pb::CreateProductRequest {
                product: Some(product("billing")),
                request_id: "catalogue-sync-42".into(),
            })
            .await,
        "reused key",
    );
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.all_products().await, [created]);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn creates_and_updates_emit_their_events_in_order_and_refusals_emit_nothing() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, product("analytics")).await;
    // The description is in the mask but keeps its value: it did not change.
    let updated = update_ok(
        &mut client,
        pb::Product {
            product_key: "analytics".into(),
            display_name: "Analytics Plus".into(),
            description: created.description.clone(),
            plans: vec![
                plan("pro-monthly", usd(120), Monthly),
                plan("pro-annual", usd(2000), Annual),
            ],
            etag: created.etag.clone(),
            ..Default::default()
        },
        &["display_name", "description", "plans"],
    )
    .await;
    // A stale etag is refused and emits nothing.
    let status = status_of(
        client
            .update_product(update(
                pb::Product {
                    product_key: "analytics".into(),
                    display_name: "Stale".into(),
                    etag: created.etag.clone(),
                    ..Default::default()
                },
                &["display_name"],
            ))
            .await,
        "stale",
    );
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let events = app.events().await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.r#type.as_str(), e.subject_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (PRODUCT_CREATED, "analytics"),
            (PRODUCT_UPDATED, "analytics")
        ]
    );
    assert!(events[0].sequence < events[1].sequence, "{events:?}");

    let payload = events[0].payload.as_ref().expect("payload");
    assert_eq!(
        payload.type_url,
        format!("type.googleapis.com/{PRODUCT_CREATED}")
    );
    let product_created = pb::ProductCreated::decode(payload.value.as_slice()).expect("decode");
    assert_eq!(product_created.product, Some(created));

    let payload = events[1].payload.as_ref().expect("payload");
    assert_eq!(
        payload.type_url,
        format!("type.googleapis.com/{PRODUCT_UPDATED}")
    );
    let product_updated = pb::ProductUpdated::decode(payload.value.as_slice()).expect("decode");
    assert_eq!(product_updated.changed_fields, ["display_name", "plans"]);
    assert_eq!(product_updated.product, Some(updated));
}
