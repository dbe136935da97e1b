//! Partner staff: uniqueness of e-mails per partner, updates with masks and
//! etags, partner scope, idempotency, bad input.

use themodel_platform::{auth::Role, testing::Bearer};
use themodel_proto::partner_success as pb;
use tonic::Code;

use crate::helpers::*;

pub fn staff(partner_id: &str, name: &str, email: &str) -> pb::PartnerStaff {
    pb::PartnerStaff {
        partner_id: partner_id.into(),
        name: name.into(),
        email: email.into(),
        role: "CS lead".into(),
        ..Default::default()
    }
}

pub fn create_staff(staff: pb::PartnerStaff) -> pb::CreatePartnerStaffRequest {
    pb::CreatePartnerStaffRequest {
        staff: Some(staff),
        request_id: String::new(),
    }
}

pub async fn add_staff(client: &mut Client, s: pb::PartnerStaff) -> pb::PartnerStaff {
    client
        .create_partner_staff(create_staff(s))
        .await
        .expect("create staff")
        .into_inner()
        .staff
        .expect("staff")
}

fn update(patch: pb::PartnerStaff, paths: &[&str]) -> pb::UpdatePartnerStaffRequest {
    pb::UpdatePartnerStaffRequest {
        staff: Some(patch),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        request_id: String::new(),
    }
}

async fn listed(client: &mut Client, request: pb::ListPartnerStaffRequest) -> Vec<String> {
    client
        .list_partner_staff(request)
        .await
        .expect("list")
        .into_inner()
        .staff
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[tokio::test]
async fn staff_are_created_read_listed_and_updated_with_their_etag() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    let hanako = add_staff(&mut admin, staff("p-1", "Hanako", "hanako@acme.co.jp")).await;
    assert_eq!(hanako.status, pb::StaffStatus::Active as i32);
    assert!(!hanako.id.is_empty() && !hanako.etag.is_empty());
    let taro = add_staff(&mut admin, staff("p-2", "Taro", "taro@other.com")).await;

    let got = admin
        .get_partner_staff(pb::GetPartnerStaffRequest {
            id: hanako.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .staff;
    assert_eq!(got.as_ref(), Some(&hanako));
    let by_partner = pb::ListPartnerStaffRequest {
        partner_id: "p-1".into(),
        ..Default::default()
    };
    assert_eq!(
        listed(&mut admin, by_partner).await,
        std::slice::from_ref(&hanako.id)
    );
    assert_eq!(
        listed(&mut admin, Default::default()).await,
        [hanako.id.clone(), taro.id.clone()]
    );

    let left = admin
        .update_partner_staff(update(
            pb::PartnerStaff {
                id: hanako.id.clone(),
                etag: hanako.etag.clone(),
                status: pb::StaffStatus::Left as i32,
                role: "Former CS lead".into(),
                ..Default::default()
            },
            &["status", "role"],
        ))
        .await
        .expect("update")
        .into_inner()
        .staff
        .expect("staff");
    assert_eq!(left.status, pb::StaffStatus::Left as i32);
    assert_eq!(left.role, "Former CS lead");
    assert_eq!(left.email, hanako.email);
    assert_ne!(left.etag, hanako.etag);
    let stale = refused(
        admin
            .update_partner_staff(update(
                pb::PartnerStaff {
                    id: hanako.id.clone(),
                    etag: hanako.etag.clone(),
                    name: "Hanako Y".into(),
                    ..Default::default()
                },
                &["name"],
            ))
            .await,
    );
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert_eq!(reason(&stale), "ETAG_MISMATCH");
    let only_left = pb::ListPartnerStaffRequest {
        status: pb::StaffStatus::Left as i32,
        ..Default::default()
    };
    assert_eq!(
        listed(&mut admin, only_left).await,
        std::slice::from_ref(&hanako.id)
    );

    let events = app.events().await;
    assert_eq!(payloads::<pb::PartnerStaffCreated>(&events).len(), 2);
    let updated = payloads::<pb::PartnerStaffUpdated>(&events);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].changed_fields, ["role", "status"]);
}

#[tokio::test]
async fn an_email_is_unique_within_a_partner_whatever_its_case() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    add_staff(&mut admin, staff("p-1", "Hanako", "hanako@acme.co.jp")).await;
    let taken = refused(
        admin
            .create_partner_staff(create_staff(staff("p-1", "Other", "HANAKO@Acme.CO.JP")))
            .await,
    );
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");
    // Another partner may have a person with the same address.
    add_staff(&mut admin, staff("p-2", "Hanako", "hanako@acme.co.jp")).await;
    // An update to a taken address is refused too.
    let jiro = add_staff(&mut admin, staff("p-1", "Jiro", "jiro@acme.co.jp")).await;
    let taken = refused(
        admin
            .update_partner_staff(update(
                pb::PartnerStaff {
                    id: jiro.id.clone(),
                    email: "Hanako@acme.co.jp".into(),
                    ..Default::default()
                },
                &["email"],
            ))
            .await,
    );
    assert_eq!(taken.code(), Code::AlreadyExists);
    // Changing the case of one's own address is not a clash.
    admin
        .update_partner_staff(update(
            pb::PartnerStaff {
                id: jiro.id.clone(),
                email: "Jiro@acme.co.jp".into(),
                ..Default::default()
            },
            &["email"],
        ))
        .await
        .expect("own address in another case");
}

#[tokio::test]
async fn a_partner_user_manages_its_own_staff_only() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    let theirs = add_staff(&mut admin, staff("p-2", "Taro", "taro@other.com")).await;
    let mut portal = app.portal("p-1");

    // Without a partner the portal's own is used.
    let own = add_staff(&mut portal, staff("", "Hanako", "hanako@acme.co.jp")).await;
    assert_eq!(own.partner_id, "p-1");
    let other = refused(
        portal
            .create_partner_staff(create_staff(staff("p-2", "Spy", "spy@acme.co.jp")))
            .await,
    );
    assert_eq!(other.code(), Code::PermissionDenied);
    let external = refused(
        portal
            .create_partner_staff(create_staff(pb::PartnerStaff {
                external_id: "CRM-1".into(),
                ..staff("", "Jiro", "jiro@acme.co.jp")
            }))
            .await,
    );
    assert_eq!(external.code(), Code::PermissionDenied);

    let hidden = refused(
        portal
            .get_partner_staff(pb::GetPartnerStaffRequest {
                id: theirs.id.clone(),
            })
            .await,
    );
    assert_eq!(hidden.code(), Code::NotFound);
    let hidden = refused(
        portal
            .update_partner_staff(update(
                pb::PartnerStaff {
                    id: theirs.id.clone(),
                    name: "Renamed".into(),
                    ..Default::default()
                },
                &["name"],
            ))
            .await,
    );
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(
        listed(&mut portal, Default::default()).await,
        std::slice::from_ref(&own.id)
    );
    let denied = refused(
        portal
            .list_partner_staff(pb::ListPartnerStaffRequest {
                partner_id: "p-2".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Its own staff it updates.
    portal
        .update_partner_staff(update(
            pb::PartnerStaff {
                id: own.id.clone(),
                status: pb::StaffStatus::Left as i32,
                ..Default::default()
            },
            &["status"],
        ))
        .await
        .expect("own staff");
    // A CSM reads staff but does not manage them.
    let mut csm = app.client(Role::Csm);
    assert_eq!(listed(&mut csm, Default::default()).await.len(), 2);
    let denied = refused(
        csm.create_partner_staff(create_staff(staff("p-1", "X", "x@acme.co.jp")))
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn retries_are_idempotent_and_bad_staff_write_nothing() {
    let app = spawn_app().await;
    partners(&app, &["p-1"]).await;
    let before = app.events().await.len();
    let mut admin = app.admin();
    for (bad, field) in [
        (staff("p-1", "", "a@acme.com"), "staff.name"),
        (staff("p-1", "A", "not-an-email"), "staff.email"),
        (staff("bad id", "A", "a@acme.com"), "staff.partner_id"),
        (staff("", "A", "a@acme.com"), "staff.partner_id"),
    ] {
        let status = refused(admin.create_partner_staff(create_staff(bad)).await);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            violated_fields(&status).contains(&field.to_owned()),
            "{status:?}"
        );
    }
    let unknown = refused(
        admin
            .create_partner_staff(create_staff(staff("p-9", "A", "a@acme.com")))
            .await,
    );
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(app.events().await.len(), before);

    let request = pb::CreatePartnerStaffRequest {
        staff: Some(staff("p-1", "Hanako", "hanako@acme.co.jp")),
        request_id: "staff-1".into(),
    };
    let first = admin
        .create_partner_staff(request.clone())
        .await
        .expect("create")
        .into_inner();
    let again = admin
        .create_partner_staff(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(
        payloads::<pb::PartnerStaffCreated>(&app.events().await).len(),
        1
    );
    let reused = refused(
        admin
            .create_partner_staff(pb::CreatePartnerStaffRequest {
                staff: Some(staff("p-1", "Jiro", "jiro@acme.co.jp")),
                ..request
            })
            .await,
    );
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    // Another caller's identical key is its own request.
    let mut other = app.client_with(Bearer::new(Role::PartnerUser, Some("p-1")));
    let taken = refused(
        other
            .create_partner_staff(pb::CreatePartnerStaffRequest {
                staff: Some(staff("p-1", "Hanako", "hanako@acme.co.jp")),
                request_id: "staff-1".into(),
            })
            .await,
    );
    assert_eq!(taken.code(), Code::AlreadyExists);
}
