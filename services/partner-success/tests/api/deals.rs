//! Deal registration: the state machine, conflicts with other partners'
//! deals and existing customers (and what a partner user learns of them),
//! expiry, partner scope, idempotency, bad input.

use chrono::{Days, NaiveDate, Utc};
use themodel_platform::auth::Role;
use themodel_proto::partner_success::{self as pb, DealConflictKind, DealOutcome, DealStatus};
use tonic::Code;

use crate::helpers::*;

fn deal(partner_id: &str, company_name: &str, domain: &str) -> pb::Deal {
    pb::Deal {
        partner_id: partner_id.into(),
        company_name: company_name.into(),
        domain: domain.into(),
        contact_name: "Yamada".into(),
        contact_email: "yamada@example.com".into(),
        expected_mrr: usd(1_000),
        notes: "Met at the expo.\nWants SSO.".into(),
        ..Default::default()
    }
}

fn create(deal: pb::Deal) -> pb::CreateDealRequest {
    pb::CreateDealRequest {
        deal: Some(deal),
        request_id: String::new(),
    }
}

async fn create_deal(client: &mut Client, d: pb::Deal) -> pb::Deal {
    client
        .create_deal(create(d))
        .await
        .expect("create deal")
        .into_inner()
        .deal
        .expect("deal")
}

fn submit(id: &str) -> pb::SubmitDealRequest {
    pb::SubmitDealRequest {
        id: id.into(),
        ..Default::default()
    }
}

async fn submit_deal(client: &mut Client, id: &str) -> pb::Deal {
    client
        .submit_deal(submit(id))
        .await
        .expect("submit")
        .into_inner()
        .deal
        .expect("deal")
}

fn approve(id: &str) -> pb::ApproveDealRequest {
    pb::ApproveDealRequest {
        id: id.into(),
        ..Default::default()
    }
}

async fn approve_deal(client: &mut Client, request: pb::ApproveDealRequest) -> pb::Deal {
    client
        .approve_deal(request)
        .await
        .expect("approve")
        .into_inner()
        .deal
        .expect("deal")
}

fn close(id: &str, outcome: DealOutcome) -> pb::CloseDealRequest {
    pb::CloseDealRequest {
        id: id.into(),
        outcome: outcome as i32,
        ..Default::default()
    }
}

async fn get(client: &mut Client, id: &str) -> Result<pb::Deal, tonic::Status> {
    client
        .get_deal(pb::GetDealRequest { id: id.into() })
        .await
        .map(|r| r.into_inner().deal.expect("deal"))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn day_proto(day: NaiveDate) -> Option<themodel_proto::common::Date> {
    use chrono::Datelike;
    date(day.year(), day.month() as i32, day.day() as i32)
}

/// The ErrorInfo metadata value `key` of a status.
fn metadata(status: &tonic::Status, key: &str) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_deal_goes_from_draft_to_won_and_moves_out_of_order_are_refused() {
    let app = spawn_app().await;
    partners(&app, &["p-1"]).await;
    let mut portal = app.portal("p-1");
    let mut admin = app.admin();
    let draft = create_deal(&mut portal, deal("", "Acme, Inc.", "https://www.Acme.com/")).await;
    assert_eq!(draft.status, DealStatus::Draft as i32);
    assert_eq!(draft.partner_id, "p-1");
    assert_eq!(draft.domain, "acme.com");
    assert!(draft.conflict.is_none());

    // Won before it was approved.
    let early = refused(admin.close_deal(close(&draft.id, DealOutcome::Won)).await);
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(reason(&early), "INVALID_TRANSITION");
    assert_eq!(metadata(&early, "current_status"), "DEAL_STATUS_DRAFT");
    assert_eq!(metadata(&early, "requested_status"), "DEAL_STATUS_WON");
    let early = refused(admin.approve_deal(approve(&draft.id)).await);
    assert_eq!(reason(&early), "INVALID_TRANSITION");

    let submitted = submit_deal(&mut portal, &draft.id).await;
    assert_eq!(submitted.status, DealStatus::Submitted as i32);
    assert!(submitted.submit_time.is_some() && submitted.conflict.is_none());
    let twice = refused(portal.submit_deal(submit(&draft.id)).await);
    assert_eq!(reason(&twice), "INVALID_TRANSITION");
    assert_eq!(metadata(&twice, "current_status"), "DEAL_STATUS_SUBMITTED");
    let early = refused(admin.close_deal(close(&draft.id, DealOutcome::Won)).await);
    assert_eq!(metadata(&early, "current_status"), "DEAL_STATUS_SUBMITTED");

    // A stale etag is refused.
    let stale = refused(
        admin
            .approve_deal(pb::ApproveDealRequest {
                etag: draft.etag.clone(),
                ..approve(&draft.id)
            })
            .await,
    );
    assert_eq!(reason(&stale), "ETAG_MISMATCH");
    let approved = approve_deal(
        &mut admin,
        pb::ApproveDealRequest {
            etag: submitted.etag.clone(),
            ..approve(&draft.id)
        },
    )
    .await;
    assert_eq!(approved.status, DealStatus::Approved as i32);
    assert_eq!(approved.protection_days, 90);
    assert_eq!(approved.approved_on, day_proto(today()));
    assert_eq!(
        approved.expires_on,
        day_proto(today().checked_add_days(Days::new(90)).expect("day"))
    );
    let won = admin
        .close_deal(close(&draft.id, DealOutcome::Won))
        .await
        .expect("won")
        .into_inner()
        .deal
        .expect("deal");
    assert_eq!(won.status, DealStatus::Won as i32);
    let after = refused(admin.close_deal(close(&draft.id, DealOutcome::Lost)).await);
    assert_eq!(metadata(&after, "current_status"), "DEAL_STATUS_WON");
    assert_eq!(get(&mut portal, &draft.id).await.expect("get"), won);

    let events = app.events().await;
    let registered = payloads::<pb::DealRegistered>(&events);
    assert_eq!(registered.len(), 1);
    assert!(payloads::<pb::DealConflictDetected>(&events).is_empty());
    let won_events = payloads::<pb::DealWon>(&events);
    assert_eq!(won_events.len(), 1);
    assert_eq!(won_events[0].deal.as_ref(), Some(&won));
    let changes: Vec<(i32, i32)> = payloads::<pb::DealStatusChanged>(&events)
        .into_iter()
        .map(|c| (c.previous_status, c.deal.expect("deal").status))
        .collect();
    assert_eq!(
        changes,
        [
            (DealStatus::Submitted as i32, DealStatus::Approved as i32),
            (DealStatus::Approved as i32, DealStatus::Won as i32)
        ]
    );
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_is_final_and_a_window_can_be_shorter() {
    let app = spawn_app().await;
    partners(&app, &["p-1"]).await;
    let mut portal = app.portal("p-1");
    let mut admin = app.admin();
    let first = create_deal(&mut portal, deal("", "Acme", "acme.com")).await;
    submit_deal(&mut portal, &first.id).await;
    let no_reason = refused(
        admin
            .reject_deal(pb::RejectDealRequest {
                id: first.id.clone(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let rejected = admin
        .reject_deal(pb::RejectDealRequest {
            id: first.id.clone(),
            reason: "Already in our pipeline".into(),
            ..Default::default()
        })
        .await
        .expect("reject")
        .into_inner()
        .deal
        .expect("deal");
    assert_eq!(rejected.status, DealStatus::Rejected as i32);
    assert_eq!(rejected.rejection_reason, "Already in our pipeline");
    let late = refused(admin.approve_deal(approve(&first.id)).await);
    assert_eq!(metadata(&late, "current_status"), "DEAL_STATUS_REJECTED");

    let second = create_deal(&mut portal, deal("", "Initech", "initech.com")).await;
    submit_deal(&mut portal, &second.id).await;
    for days in [-1, 366] {
        let status = refused(
            admin
                .approve_deal(pb::ApproveDealRequest {
                    protection_days: days,
                    ..approve(&second.id)
                })
                .await,
        );
        assert_eq!(violated_fields(&status), ["protection_days"]);
    }
    let approved = approve_deal(
        &mut admin,
        pb::ApproveDealRequest {
            protection_days: 30,
            ..approve(&second.id)
        },
    )
    .await;
    assert_eq!(approved.protection_days, 30);
    assert_eq!(
        approved.expires_on,
        day_proto(today().checked_add_days(Days::new(30)).expect("day"))
    );
    // Deciding on deals is the company's call.
    for role in [
        Role::PartnerUser,
        Role::Csm,
        Role::CustomerSales,
        Role::Service,
    ] {
        let status = refused(
            app.client(role)
                .close_deal(close(&second.id, DealOutcome::Won))
                .await,
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
}

#[tokio::test]
async fn the_same_domain_registered_by_another_partner_is_a_conflict_named_to_staff_only() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2", "p-3"]).await;
    let mut admin = app.admin();
    let mut first_portal = app.portal("p-1");
    let mut second_portal = app.portal("p-2");
    let first = create_deal(&mut first_portal, deal("", "Acme", "acme.com")).await;
    submit_deal(&mut first_portal, &first.id).await;
    // The same partner registering again is no conflict with itself.
    let own_again = create_deal(&mut first_portal, deal("", "Acme K.K.", "acme.com")).await;
    assert!(
        submit_deal(&mut first_portal, &own_again.id)
            .await
            .conflict
            .is_none()
    );

    let second = create_deal(
        &mut second_portal,
        deal("", "ACME Holdings", "www.acme.com"),
    )
    .await;
    let submitted = submit_deal(&mut second_portal, &second.id).await;
    // The deal is recorded, not refused, and the portal learns only that
    // another partner registered it.
    assert_eq!(submitted.status, DealStatus::Submitted as i32);
    assert_eq!(
        submitted.conflict,
        Some(pb::DealConflict {
            kind: DealConflictKind::RegisteredByAnotherPartner as i32,
            description: "registered by another partner".into(),
            matched_on: "domain".into(),
            ..Default::default()
        })
    );
    assert_eq!(
        get(&mut second_portal, &second.id)
            .await
            .expect("get")
            .conflict,
        submitted.conflict
    );
    let full = get(&mut admin, &second.id).await.expect("get");
    assert_eq!(
        full.conflict,
        Some(pb::DealConflict {
            kind: DealConflictKind::RegisteredByAnotherPartner as i32,
            description: "registered by another partner".into(),
            matched_on: "domain".into(),
            conflicting_deal_id: first.id.clone(),
            conflicting_partner_id: "p-1".into(),
            account_id: String::new(),
        })
    );
    let detected = payloads::<pb::DealConflictDetected>(&app.events().await);
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0].deal.as_ref(), Some(&full));

    // The normalised name alone also collides.
    let mut third_portal = app.portal("p-3");
    let third = create_deal(&mut third_portal, deal("", "acme, inc.", "acme.co.jp")).await;
    let third = submit_deal(&mut third_portal, &third.id).await;
    assert_eq!(
        third.conflict.as_ref().map(|c| c.matched_on.as_str()),
        Some("company_name")
    );

    // Approval is refused without an override, and granted with a reason.
    let refused_approval = refused(admin.approve_deal(approve(&second.id)).await);
    assert_eq!(refused_approval.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused_approval), "DEAL_CONFLICT");
    let no_reason = refused(
        admin
            .approve_deal(pb::ApproveDealRequest {
                override_conflict: true,
                ..approve(&second.id)
            })
            .await,
    );
    assert_eq!(violated_fields(&no_reason), ["override_reason"]);
    let approved = approve_deal(
        &mut admin,
        pb::ApproveDealRequest {
            override_conflict: true,
            override_reason: "p-1 withdrew by phone".into(),
            ..approve(&second.id)
        },
    )
    .await;
    assert_eq!(approved.status, DealStatus::Approved as i32);
    assert_eq!(approved.override_reason, "p-1 withdrew by phone");
    let seen = get(&mut second_portal, &second.id).await.expect("get");
    assert!(seen.override_reason.is_empty(), "{seen:?}");
    assert!(
        seen.conflict
            .is_some_and(|c| c.conflicting_partner_id.is_empty())
    );
}

#[tokio::test]
async fn a_company_that_is_already_a_customer_is_a_conflict() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let customer = app
        .account("Globex Corporation", Some("p-2"), Some("globex.com"))
        .await;
    app.projected(&customer).await;
    let mut portal = app.portal("p-1");
    let mut admin = app.admin();

    let by_domain = create_deal(&mut portal, deal("", "Globex", "https://globex.com")).await;
    let by_domain = submit_deal(&mut portal, &by_domain.id).await;
    assert_eq!(
        by_domain.conflict,
        Some(pb::DealConflict {
            kind: DealConflictKind::ExistingCustomer as i32,
            description: "already a customer".into(),
            matched_on: "domain".into(),
            ..Default::default()
        })
    );
    let full = get(&mut admin, &by_domain.id).await.expect("get");
    assert_eq!(
        full.conflict.as_ref().map(|c| c.account_id.as_str()),
        Some(customer.as_str())
    );

    let by_name = create_deal(&mut portal, deal("", "GLOBEX CORP.", "globex.co.jp")).await;
    let by_name = submit_deal(&mut portal, &by_name.id).await;
    assert_eq!(
        by_name
            .conflict
            .as_ref()
            .map(|c| (c.kind, c.matched_on.as_str())),
        Some((DealConflictKind::ExistingCustomer as i32, "company_name"))
    );
    let unrelated = create_deal(&mut portal, deal("", "Globex Logistics", "gl.example")).await;
    assert!(
        submit_deal(&mut portal, &unrelated.id)
            .await
            .conflict
            .is_none()
    );
}

#[tokio::test]
async fn approved_deals_expire_when_their_window_runs_out_and_stop_blocking() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut portal = app.portal("p-1");
    let mut admin = app.admin();
    let d = create_deal(&mut portal, deal("", "Acme", "acme.com")).await;
    submit_deal(&mut portal, &d.id).await;
    approve_deal(
        &mut admin,
        pb::ApproveDealRequest {
            protection_days: 10,
            ..approve(&d.id)
        },
    )
    .await;
    let deals = app.deals().await;
    let day = |n: u64| today().checked_add_days(Days::new(n)).expect("day");
    assert_eq!(deals.expire_due(day(9)).await.expect("expire"), 0);
    assert_eq!(
        get(&mut admin, &d.id).await.expect("get").status,
        DealStatus::Approved as i32
    );
    assert_eq!(deals.expire_due(day(10)).await.expect("expire"), 1);
    let expired = get(&mut admin, &d.id).await.expect("get");
    assert_eq!(expired.status, DealStatus::Expired as i32);
    assert_eq!(deals.expire_due(day(11)).await.expect("expire"), 0);
    let late = refused(admin.close_deal(close(&d.id, DealOutcome::Won)).await);
    assert_eq!(metadata(&late, "current_status"), "DEAL_STATUS_EXPIRED");
    let changes = payloads::<pb::DealStatusChanged>(&app.events().await);
    assert_eq!(
        changes
            .last()
            .map(|c| (c.previous_status, c.deal.as_ref().map(|d| d.status))),
        Some((
            DealStatus::Approved as i32,
            Some(DealStatus::Expired as i32)
        ))
    );
    // An expired registration no longer blocks another partner.
    let mut other = app.portal("p-2");
    let next = create_deal(&mut other, deal("", "Acme", "acme.com")).await;
    assert!(submit_deal(&mut other, &next.id).await.conflict.is_none());
}

#[tokio::test]
async fn a_partner_user_never_reaches_another_partners_deals() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut theirs_portal = app.portal("p-2");
    let theirs = create_deal(&mut theirs_portal, deal("", "Initech", "initech.com")).await;
    let mut portal = app.portal("p-1");
    let own = create_deal(&mut portal, deal("p-1", "Acme", "acme.com")).await;

    assert_eq!(
        get(&mut portal, &theirs.id)
            .await
            .expect_err("hidden")
            .code(),
        Code::NotFound
    );
    let hidden = refused(portal.submit_deal(submit(&theirs.id)).await);
    assert_eq!(hidden.code(), Code::NotFound);
    let listed = portal
        .list_deals(pb::ListDealsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .deals;
    assert_eq!(listed, std::slice::from_ref(&own));
    let denied = refused(
        portal
            .list_deals(pb::ListDealsRequest {
                partner_id: "p-2".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = refused(
        portal
            .create_deal(create(deal("p-2", "Spy", "spy.com")))
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    for call in [
        portal.approve_deal(approve(&own.id)).await.map(|_| ()),
        portal
            .reject_deal(pb::RejectDealRequest {
                id: own.id.clone(),
                reason: "no".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(call.expect_err("staff only").code(), Code::PermissionDenied);
    }
    // Staff see both, and filter by partner and status.
    let mut admin = app.admin();
    let all = admin
        .list_deals(pb::ListDealsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .deals;
    assert_eq!(all.len(), 2);
    submit_deal(&mut portal, &own.id).await;
    let submitted = admin
        .list_deals(pb::ListDealsRequest {
            status: DealStatus::Submitted as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .deals;
    assert_eq!(
        submitted.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [own.id.as_str()]
    );
}

#[tokio::test]
async fn bad_deals_write_nothing_and_retries_register_once() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    admin
        .update_partner(update(
            pb::Partner {
                partner_id: "p-2".into(),
                status: pb::PartnerStatus::Suspended as i32,
                ..Default::default()
            },
            &["status"],
        ))
        .await
        .expect("suspend");
    let before = app.events().await.len();
    let mut portal = app.portal("p-1");
    let status = refused(portal.create_deal(create(deal("", "", ""))).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["deal.company_name", "deal.domain"]
    );
    let status = refused(
        portal
            .create_deal(create(pb::Deal {
                expected_mrr: None,
                ..deal("", "Inc.", "not a domain")
            }))
            .await,
    );
    assert_eq!(
        violated_fields(&status),
        ["deal.domain", "deal.expected_mrr"]
    );
    let status = refused(
        admin
            .create_deal(create(deal("", "Acme", "acme.com")))
            .await,
    );
    assert_eq!(violated_fields(&status), ["deal.partner_id"]);
    let inactive = refused(
        admin
            .create_deal(create(deal("p-2", "Acme", "acme.com")))
            .await,
    );
    assert_eq!(reason(&inactive), "PARTNER_INACTIVE");
    let listed = admin
        .list_deals(pb::ListDealsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .deals;
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(app.events().await.len(), before);

    let request = pb::CreateDealRequest {
        request_id: "deal-1".into(),
        ..create(deal("", "Acme", "acme.com"))
    };
    let first = portal
        .create_deal(request.clone())
        .await
        .expect("create")
        .into_inner();
    let again = portal
        .create_deal(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    let id = first.deal.expect("deal").id;
    let submit_once = pb::SubmitDealRequest {
        request_id: "submit-1".into(),
        ..submit(&id)
    };
    let first = portal
        .submit_deal(submit_once.clone())
        .await
        .expect("submit")
        .into_inner();
    let again = portal
        .submit_deal(submit_once)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    let events = app.events().await;
    assert_eq!(payloads::<pb::DealRegistered>(&events).len(), 1);
    let listed = admin
        .list_deals(pb::ListDealsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .deals;
    assert_eq!(listed.len(), 1);
}
