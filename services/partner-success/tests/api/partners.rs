use prost::Message;
use themodel_platform::{auth::Role, testing::Bearer};
use themodel_proto::partner_success as pb;
use tonic::Code;

use crate::helpers::*;

use pb::{ContractForm, CsModel, PartnerStatus};

const PARTNER_CREATED: &str = "themodel.partner_success.v1.PartnerCreated";
const PARTNER_UPDATED: &str = "themodel.partner_success.v1.PartnerUpdated";

/// Every role but the partner user's, which sees its own partner alone.
const READERS: [Role; 6] = [
    Role::Admin,
    Role::Bizops,
    Role::CsManager,
    Role::Csm,
    Role::CustomerSales,
    Role::Service,
];

/// `partner("...")` with its contract form, CS model and status replaced.
fn partner_as(
    partner_id: &str,
    contract_form: ContractForm,
    cs_model: CsModel,
    status: PartnerStatus,
) -> pb::Partner {
    pb::Partner {
        contract_form: contract_form as i32,
        cs_model: cs_model as i32,
        status: status as i32,
        ..partner(partner_id)
    }
}

/// The ids of every page of a listing walked with `page_size` and `filter`.
async fn id_pages(
    client: &mut Client,
    page_size: i32,
    filter: &pb::ListPartnersRequest,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_partners(pb::ListPartnersRequest {
                page_size,
                page_token,
                ..filter.clone()
            })
            .await
            .expect("list")
            .into_inner();
        pages.push(page.partners.into_iter().map(|p| p.partner_id).collect());
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 10, "the listing never ends: {pages:?}");
        page_token = page.next_page_token;
    }
}

/// The ids of the partners of one listing call with `filter`.
async fn listed_ids(client: &mut Client, filter: &pb::ListPartnersRequest) -> Vec<String> {
    client
        .list_partners(filter.clone())
        .await
        .expect("list")
        .into_inner()
        .partners
        .into_iter()
        .map(|p| p.partner_id)
        .collect()
}

fn with_status(status: PartnerStatus) -> pb::ListPartnersRequest {
    pb::ListPartnersRequest {
        status: status as i32,
        ..Default::default()
    }
}

fn with_contract_form(contract_form: ContractForm) -> pb::ListPartnersRequest {
    pb::ListPartnersRequest {
        contract_form: contract_form as i32,
        ..Default::default()
    }
}

fn status_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>, what: &str) -> tonic::Status {
    result.expect_err(what)
}

/// The type and subject of every event, oldest first.
async fn event_summary(app: &TestApp) -> Vec<(String, String)> {
    app.events()
        .await
        .into_iter()
        .map(|e| (e.r#type, e.subject_id))
        .collect()
}

#[tokio::test]
async fn a_created_partner_has_its_times_and_etag_and_reads_back() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(
        &mut client,
        partner_as(
            "acme",
            ContractForm::CoSell,
            CsModel::Shared,
            PartnerStatus::Active,
        ),
    )
    .await;
    assert!(created.create_time.is_some(), "{created:?}");
    assert!(created.update_time.is_some(), "{created:?}");
    assert!(!created.etag.is_empty(), "{created:?}");
    assert_eq!(
        created,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Partner acme".into(),
            contract_form: ContractForm::CoSell as i32,
            cs_model: CsModel::Shared as i32,
            status: PartnerStatus::Active as i32,
            create_time: created.create_time,
            update_time: created.update_time,
            etag: created.etag.clone(),
            // No tier until an evaluation of the tier program places it.
            tier: String::new(),
        }
    );
    assert_eq!(get_ok(&mut client, "acme").await, created);
    assert_eq!(app.all_partners().await, std::slice::from_ref(&created));
}

#[tokio::test]
async fn a_partner_created_without_a_status_starts_onboarding() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(
        &mut client,
        pb::Partner {
            status: PartnerStatus::Unspecified as i32,
            ..partner("acme")
        },
    )
    .await;
    assert_eq!(
        created.status,
        PartnerStatus::Onboarding as i32,
        "{created:?}"
    );
    assert_eq!(
        get_ok(&mut client, "acme").await.status,
        PartnerStatus::Onboarding as i32
    );
}

#[tokio::test]
async fn partners_are_listed_in_id_order_by_page() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let mut created = Vec::new();
    for id in ["charlie", "alpha", "bravo"] {
        created.push(create_ok(&mut client, partner(id)).await);
    }
    let listed = client
        .list_partners(pb::ListPartnersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.partners,
        [created[1].clone(), created[2].clone(), created[0].clone()]
    );
    assert!(listed.next_page_token.is_empty(), "{listed:?}");
    assert_eq!(
        id_pages(&mut client, 1, &Default::default()).await,
        [["alpha"], ["bravo"], ["charlie"]]
    );
    assert_eq!(
        id_pages(&mut client, 2, &Default::default()).await,
        [vec!["alpha", "bravo"], vec!["charlie"]]
    );
}

#[tokio::test]
async fn status_and_contract_form_filters_narrow_the_listing_and_its_pages() {
    let app = spawn_app().await;
    let mut client = app.admin();
    for (id, contract_form, status) in [
        ("a", ContractForm::Resale, PartnerStatus::Active),
        ("b", ContractForm::Referral, PartnerStatus::Active),
        ("c", ContractForm::Resale, PartnerStatus::Suspended),
        ("d", ContractForm::Resale, PartnerStatus::Active),
        ("e", ContractForm::CoSell, PartnerStatus::Terminated),
        ("f", ContractForm::Referral, PartnerStatus::Active),
    ] {
        create_ok(
            &mut client,
            partner_as(id, contract_form, CsModel::VendorLed, status),
        )
        .await;
    }
    create_ok(
        &mut client,
        pb::Partner {
            status: PartnerStatus::Unspecified as i32,
            ..partner("g")
        },
    )
    .await;

    let active = with_status(PartnerStatus::Active);
    assert_eq!(listed_ids(&mut client, &active).await, ["a", "b", "d", "f"]);
    assert_eq!(
        id_pages(&mut client, 1, &active).await,
        [["a"], ["b"], ["d"], ["f"]]
    );
    assert_eq!(
        id_pages(&mut client, 3, &active).await,
        [vec!["a", "b", "d"], vec!["f"]]
    );
    assert_eq!(
        listed_ids(&mut client, &with_status(PartnerStatus::Onboarding)).await,
        ["g"]
    );

    let resale = with_contract_form(ContractForm::Resale);
    assert_eq!(listed_ids(&mut client, &resale).await, ["a", "c", "d", "g"]);
    assert_eq!(
        id_pages(&mut client, 1, &resale).await,
        [["a"], ["c"], ["d"], ["g"]]
    );
    assert_eq!(
        listed_ids(
            &mut client,
            &with_contract_form(ContractForm::ManagedService)
        )
        .await,
        Vec::<String>::new()
    );

    let active_resale = pb::ListPartnersRequest {
        status: PartnerStatus::Active as i32,
        contract_form: ContractForm::Resale as i32,
        ..Default::default()
    };
    assert_eq!(listed_ids(&mut client, &active_resale).await, ["a", "d"]);
    assert_eq!(
        id_pages(&mut client, 1, &active_resale).await,
        [["a"], ["d"]]
    );
}

#[tokio::test]
async fn invalid_partners_are_refused_field_by_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let keyed = |partner_id: &str| pb::Partner {
        partner_id: partner_id.into(),
        ..partner("acme")
    };
    let named = |display_name: String| pb::Partner {
        display_name,
        ..partner("acme")
    };
    let cases = [
        (keyed(""), "partner.partner_id"),
        (keyed("acme corp"), "partner.partner_id"),
        (keyed(&"a".repeat(129)), "partner.partner_id"),
        (named(String::new()), "partner.display_name"),
        (named("n".repeat(201)), "partner.display_name"),
        (
            pb::Partner {
                contract_form: ContractForm::Unspecified as i32,
                ..partner("acme")
            },
            "partner.contract_form",
        ),
        (
            pb::Partner {
                contract_form: 99,
                ..partner("acme")
            },
            "partner.contract_form",
        ),
        (
            pb::Partner {
                cs_model: CsModel::Unspecified as i32,
                ..partner("acme")
            },
            "partner.cs_model",
        ),
    ];
    for (bad, field) in cases {
        let status = status_of(
            client.create_partner(create(bad.clone())).await,
            "invalid partner",
        );
        assert_eq!(violated_fields(&status), [field], "{bad:?}");
    }
    assert_eq!(app.all_partners().await, []);
    assert_eq!(app.events().await, []);

    // The limits themselves are fine: a 128-character id with every allowed
    // punctuation mark, and a 200-character name.
    let id = format!("Acme-corp_EU.west:team@x{}", "9".repeat(104));
    assert_eq!(id.len(), 128);
    let widest = create_ok(
        &mut client,
        pb::Partner {
            display_name: "n".repeat(200),
            ..partner(&id)
        },
    )
    .await;
    assert_eq!(widest.partner_id, id);
    assert_eq!(get_ok(&mut client, &id).await, widest);
    assert_eq!(app.all_partners().await, [widest]);
}

#[tokio::test]
async fn a_taken_partner_id_is_already_exists_and_the_first_is_unchanged() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let first = create_ok(&mut client, partner("acme")).await;
    let status = status_of(
        client
            .create_partner(create(pb::Partner {
                display_name: "Another Acme".into(),
                contract_form: ContractForm::Referral as i32,
                ..partner("acme")
            }))
            .await,
        "taken",
    );
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(get_ok(&mut client, "acme").await, first);
    assert_eq!(app.all_partners().await, [first]);
    assert_eq!(event_summary(&app).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_partner_id_is_not_found_on_get_and_update() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let acme = create_ok(&mut client, partner("acme")).await;
    let status = status_of(
        client
            .get_partner(pb::GetPartnerRequest {
                partner_id: "missing".into(),
            })
            .await,
        "get missing",
    );
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = status_of(
        client
            .update_partner(update(
                pb::Partner {
                    partner_id: "missing".into(),
                    display_name: "Missing".into(),
                    ..Default::default()
                },
                &["display_name"],
            ))
            .await,
        "update missing",
    );
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(app.all_partners().await, [acme]);
}

#[tokio::test]
async fn an_update_changes_the_masked_fields_moves_the_etag_and_keeps_the_create_time() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, partner("acme")).await;
    let when = |t: Option<prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));

    // One field at a time; the patch carries other values that the mask
    // leaves out and that must not apply.
    let stray = pb::Partner {
        partner_id: "acme".into(),
        display_name: "Not masked".into(),
        contract_form: ContractForm::ManagedService as i32,
        cs_model: CsModel::VendorLed as i32,
        status: PartnerStatus::Terminated as i32,
        ..Default::default()
    };
    let mut current = created.clone();
    let steps: [(&str, pb::Partner, pb::Partner); 4] = [
        (
            "display_name",
            pb::Partner {
                display_name: "Acme Europe".into(),
                ..stray.clone()
            },
            pb::Partner {
                display_name: "Acme Europe".into(),
                ..created.clone()
            },
        ),
        (
            "contract_form",
            pb::Partner {
                contract_form: ContractForm::CoSell as i32,
                ..stray.clone()
            },
            pb::Partner {
                display_name: "Acme Europe".into(),
                contract_form: ContractForm::CoSell as i32,
                ..created.clone()
            },
        ),
        (
            "cs_model",
            pb::Partner {
                cs_model: CsModel::Shared as i32,
                ..stray.clone()
            },
            pb::Partner {
                display_name: "Acme Europe".into(),
                contract_form: ContractForm::CoSell as i32,
                cs_model: CsModel::Shared as i32,
                ..created.clone()
            },
        ),
        (
            "status",
            pb::Partner {
                status: PartnerStatus::Suspended as i32,
                ..stray.clone()
            },
            pb::Partner {
                display_name: "Acme Europe".into(),
                contract_form: ContractForm::CoSell as i32,
                cs_model: CsModel::Shared as i32,
                status: PartnerStatus::Suspended as i32,
                ..created.clone()
            },
        ),
    ];
    for (path, patch, expected) in steps {
        let updated = update_ok(
            &mut client,
            pb::Partner {
                etag: current.etag.clone(),
                ..patch
            },
            &[path],
        )
        .await;
        assert_eq!(
            updated,
            pb::Partner {
                update_time: updated.update_time,
                etag: updated.etag.clone(),
                ..expected
            },
            "{path}"
        );
        assert_ne!(updated.etag, current.etag, "{path}");
        assert!(
            when(updated.update_time) >= when(current.update_time),
            "{path}: {updated:?}"
        );
        assert_eq!(get_ok(&mut client, "acme").await, updated, "{path}");
        current = updated;
    }

    // "*" replaces every updatable field.
    let everything = update_ok(
        &mut client,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme Worldwide".into(),
            contract_form: ContractForm::Referral as i32,
            cs_model: CsModel::VendorLed as i32,
            status: PartnerStatus::Active as i32,
            etag: current.etag.clone(),
            ..Default::default()
        },
        &["*"],
    )
    .await;
    assert_eq!(
        everything,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme Worldwide".into(),
            contract_form: ContractForm::Referral as i32,
            cs_model: CsModel::VendorLed as i32,
            status: PartnerStatus::Active as i32,
            create_time: created.create_time,
            update_time: everything.update_time,
            etag: everything.etag.clone(),
            tier: String::new(),
        }
    );
    assert_ne!(everything.etag, current.etag);
    assert_ne!(everything.etag, created.etag);
    assert_eq!(get_ok(&mut client, "acme").await, everything);
    assert_eq!(app.all_partners().await, [everything]);
}

#[tokio::test]
async fn refused_updates_leave_the_partner_unchanged() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, partner("acme")).await;
    let current = update_ok(
        &mut client,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme Europe".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_ne!(current.etag, created.etag);

    // The etag it was created with is stale now.
    let status = status_of(
        client
            .update_partner(update(
                pb::Partner {
                    partner_id: "acme".into(),
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
    assert_eq!(get_ok(&mut client, "acme").await, current);

    // Masks naming a field that cannot be updated, or no mask at all.
    let patch = pb::Partner {
        partner_id: "acme".into(),
        display_name: "Masked".into(),
        ..Default::default()
    };
    for paths in [&["partner_id"][..], &["nope"], &["display_name", "nope"]] {
        let status = status_of(
            client.update_partner(update(patch.clone(), paths)).await,
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
            .update_partner(pb::UpdatePartnerRequest {
                partner: Some(patch),
                update_mask: None,
                request_id: String::new(),
            })
            .await,
        "no mask",
    );
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // A status cannot be cleared.
    let status = status_of(
        client
            .update_partner(update(
                pb::Partner {
                    partner_id: "acme".into(),
                    status: PartnerStatus::Unspecified as i32,
                    ..Default::default()
                },
                &["status"],
            ))
            .await,
        "status cleared",
    );
    assert_eq!(violated_fields(&status), ["partner.status"]);

    assert_eq!(get_ok(&mut client, "acme").await, current);
    assert_eq!(app.all_partners().await, std::slice::from_ref(&current));
    assert_eq!(
        event_summary(&app).await,
        [
            (PARTNER_CREATED.to_owned(), "acme".to_owned()),
            (PARTNER_UPDATED.to_owned(), "acme".to_owned())
        ]
    );
}

#[tokio::test]
async fn only_admin_and_bizops_change_partners_and_every_other_role_reads_them() {
    let app = spawn_app().await;
    create_ok(&mut app.admin(), partner("acme")).await;
    let mut bizops = app.client(Role::Bizops);
    let globex = create_ok(&mut bizops, partner("globex")).await;
    let acme = update_ok(
        &mut bizops,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme by bizops".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_eq!(acme.display_name, "Acme by bizops");
    let globex = update_ok(
        &mut app.admin(),
        pb::Partner {
            partner_id: "globex".into(),
            display_name: "Globex by admin".into(),
            etag: globex.etag.clone(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_eq!(globex.display_name, "Globex by admin");
    let events_before = app.events().await.len();
    assert_eq!(events_before, 4);

    for role in [
        Role::CsManager,
        Role::Csm,
        Role::CustomerSales,
        Role::Service,
        Role::PartnerUser,
    ] {
        let mut client = app.client(role);
        let status = status_of(
            client.create_partner(create(partner("denied"))).await,
            "create",
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
        // A partner user is refused even on its own partner.
        let status = status_of(
            client.create_partner(create(partner("p-1"))).await,
            "create own",
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
        let status = status_of(
            client
                .update_partner(update(
                    pb::Partner {
                        partner_id: "acme".into(),
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
    assert_eq!(app.all_partners().await, [acme.clone(), globex.clone()]);
    assert_eq!(app.events().await.len(), events_before);

    for role in READERS {
        let mut client = app.client(role);
        for expected in [&acme, &globex] {
            let got = client
                .get_partner(pb::GetPartnerRequest {
                    partner_id: expected.partner_id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("{role} gets: {e:?}"))
                .into_inner()
                .partner;
            assert_eq!(got.as_ref(), Some(expected), "{role}");
        }
        let listed = client
            .list_partners(pb::ListPartnersRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{role} lists: {e:?}"))
            .into_inner()
            .partners;
        assert_eq!(listed, [acme.clone(), globex.clone()], "{role}");
    }
}

#[tokio::test]
async fn a_partner_user_sees_its_own_partner_alone_and_any_other_is_not_found() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let own = create_ok(
        &mut admin,
        partner_as(
            "p-1",
            ContractForm::Resale,
            CsModel::PartnerLed,
            PartnerStatus::Active,
        ),
    )
    .await;
    create_ok(
        &mut admin,
        partner_as(
            "p-0",
            ContractForm::Resale,
            CsModel::PartnerLed,
            PartnerStatus::Active,
        ),
    )
    .await;
    create_ok(
        &mut admin,
        partner_as(
            "p-2",
            ContractForm::Referral,
            CsModel::Shared,
            PartnerStatus::Suspended,
        ),
    )
    .await;

    let mut client = app.client(Role::PartnerUser);
    assert_eq!(get_ok(&mut client, "p-1").await, own);

    // Another partner and one that does not exist answer alike.
    let mut codes = Vec::new();
    for partner_id in ["p-2", "p-0", "p-3"] {
        let status = status_of(
            client
                .get_partner(pb::GetPartnerRequest {
                    partner_id: partner_id.into(),
                })
                .await,
            "foreign partner",
        );
        codes.push(status.code());
    }
    assert_eq!(codes, [Code::NotFound, Code::NotFound, Code::NotFound]);

    let listed = client
        .list_partners(pb::ListPartnersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.partners, std::slice::from_ref(&own));
    assert!(listed.next_page_token.is_empty(), "{listed:?}");
    assert_eq!(
        id_pages(&mut client, 1, &Default::default()).await,
        [["p-1"]]
    );

    // Filters narrow the partner user's own listing only.
    assert_eq!(
        listed_ids(&mut client, &with_status(PartnerStatus::Active)).await,
        ["p-1"]
    );
    assert_eq!(
        listed_ids(&mut client, &with_contract_form(ContractForm::Resale)).await,
        ["p-1"]
    );
    assert_eq!(
        listed_ids(&mut client, &with_status(PartnerStatus::Suspended)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed_ids(&mut client, &with_contract_form(ContractForm::Referral)).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_partner_user_whose_partner_does_not_exist_sees_nothing() {
    let app = spawn_app().await;
    create_ok(&mut app.admin(), partner("p-2")).await;
    let mut client = app.client(Role::PartnerUser);
    let status = status_of(
        client
            .get_partner(pb::GetPartnerRequest {
                partner_id: "p-1".into(),
            })
            .await,
        "own partner missing",
    );
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        listed_ids(&mut client, &Default::default()).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_retried_create_returns_the_first_response_and_writes_one_partner_and_event() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let request = pb::CreatePartnerRequest {
        partner: Some(partner("acme")),
        request_id: "partner-sync-42".into(),
    };
    let first = client
        .create_partner(request.clone())
        .await
        .expect("first")
        .into_inner();
    let second = client
        .create_partner(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, second);
    let created = first.partner.expect("partner");
    assert_eq!(app.all_partners().await, std::slice::from_ref(&created));
    assert_eq!(
        event_summary(&app).await,
        [(PARTNER_CREATED.to_owned(), "acme".to_owned())]
    );

    // The same key with a different request is refused and writes nothing.
    let status = status_of(
        client
            .create_partner(pb::CreatePartnerRequest {
                partner: Some(partner("globex")),
                request_id: "partner-sync-42".into(),
            })
            .await,
        "reused key",
    );
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.all_partners().await, [created]);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn creates_and_updates_emit_their_events_in_order_and_refusals_emit_nothing() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, partner("acme")).await;
    // The contract form and status are in the mask but keep their values:
    // they did not change.
    let updated = update_ok(
        &mut client,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme Europe".into(),
            contract_form: created.contract_form,
            cs_model: CsModel::Shared as i32,
            status: created.status,
            etag: created.etag.clone(),
            ..Default::default()
        },
        &["display_name", "contract_form", "cs_model", "status"],
    )
    .await;
    // A stale etag is refused and emits nothing.
    let status = status_of(
        client
            .update_partner(update(
                pb::Partner {
                    partner_id: "acme".into(),
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
        [(PARTNER_CREATED, "acme"), (PARTNER_UPDATED, "acme")]
    );
    assert!(events[0].sequence < events[1].sequence, "{events:?}");

    let payload = events[0].payload.as_ref().expect("payload");
    assert_eq!(
        payload.type_url,
        format!("type.googleapis.com/{PARTNER_CREATED}")
    );
    let partner_created = pb::PartnerCreated::decode(payload.value.as_slice()).expect("decode");
    assert_eq!(partner_created.partner, Some(created));

    let payload = events[1].payload.as_ref().expect("payload");
    assert_eq!(
        payload.type_url,
        format!("type.googleapis.com/{PARTNER_UPDATED}")
    );
    let partner_updated = pb::PartnerUpdated::decode(payload.value.as_slice()).expect("decode");
    assert_eq!(partner_updated.changed_fields, ["display_name", "cs_model"]);
    assert_eq!(partner_updated.partner, Some(updated));
}

#[tokio::test]
async fn an_update_that_changes_nothing_emits_nothing_and_keeps_the_etag() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, partner("acme")).await;
    let same = update_ok(
        &mut client,
        pb::Partner {
            etag: created.etag.clone(),
            ..created.clone()
        },
        &["*"],
    )
    .await;
    assert_eq!(same.etag, created.etag);
    assert_eq!(same, created);
    let same = update_ok(
        &mut client,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: created.display_name.clone(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_eq!(same, created);
    assert_eq!(get_ok(&mut client, "acme").await, created);
    assert_eq!(
        event_summary(&app).await,
        [(PARTNER_CREATED.to_owned(), "acme".to_owned())]
    );

    // The unchanged etag still guards the next real change.
    let renamed = update_ok(
        &mut client,
        pb::Partner {
            partner_id: "acme".into(),
            display_name: "Acme Europe".into(),
            etag: created.etag.clone(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await;
    assert_ne!(renamed.etag, created.etag);
}

#[tokio::test]
async fn calls_without_a_token_are_unauthenticated() {
    let app = spawn_app().await;
    create_ok(&mut app.admin(), partner("acme")).await;
    let mut anonymous = app.client_with(Bearer::none());
    let statuses = [
        status_of(
            anonymous
                .get_partner(pb::GetPartnerRequest {
                    partner_id: "acme".into(),
                })
                .await,
            "get",
        ),
        status_of(
            anonymous
                .list_partners(pb::ListPartnersRequest::default())
                .await,
            "list",
        ),
        status_of(
            anonymous.create_partner(create(partner("globex"))).await,
            "create",
        ),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    assert_eq!(
        listed_ids(&mut app.admin(), &Default::default()).await,
        ["acme"]
    );
    assert_eq!(app.events().await.len(), 1);
}
