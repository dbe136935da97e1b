//! Certifications: level and date validation, the certified headcount by
//! level on a day, partner scope, idempotency.

use themodel_platform::auth::Role;
use themodel_proto::partner_success as pb;
use tonic::Code;

use crate::{
    helpers::*,
    staff::{add_staff, staff},
};

fn certification(
    staff_id: &str,
    level: i32,
    earned_on: Option<themodel_proto::common::Date>,
    expires_on: Option<themodel_proto::common::Date>,
) -> pb::RecordCertificationRequest {
    pb::RecordCertificationRequest {
        certification: Some(pb::Certification {
            staff_id: staff_id.into(),
            course_key: "admin-course".into(),
            level,
            earned_on,
            expires_on,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

async fn certify(
    client: &mut Client,
    request: pb::RecordCertificationRequest,
) -> pb::Certification {
    client
        .record_certification(request)
        .await
        .expect("record")
        .into_inner()
        .certification
        .expect("certification")
}

async fn headcount(
    client: &mut Client,
    partner_id: &str,
    as_of: Option<themodel_proto::common::Date>,
) -> (Vec<(i32, i32)>, i32) {
    let counted = client
        .get_certified_headcount(pb::GetCertifiedHeadcountRequest {
            partner_id: partner_id.into(),
            as_of,
        })
        .await
        .expect("headcount")
        .into_inner();
    (
        counted
            .levels
            .into_iter()
            .map(|l| (l.level, l.staff_count))
            .collect(),
        counted.active_staff,
    )
}

#[tokio::test]
async fn levels_outside_one_to_three_and_expiry_before_earning_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    partners(&app, &["p-1"]).await;
    let mut admin = app.admin();
    let s = add_staff(&mut admin, staff("p-1", "Hanako", "hanako@acme.co.jp")).await;
    let before = app.events().await.len();
    for (request, fields) in [
        (
            certification(&s.id, 0, date(2026, 1, 1), None),
            vec!["certification.level"],
        ),
        (
            certification(&s.id, 4, date(2026, 1, 1), None),
            vec!["certification.level"],
        ),
        (
            certification(&s.id, 2, date(2026, 3, 1), date(2026, 2, 28)),
            vec!["certification.expires_on"],
        ),
        (
            certification(&s.id, 9, date(2026, 3, 1), date(2026, 2, 28)),
            vec!["certification.level", "certification.expires_on"],
        ),
        (
            certification(&s.id, 1, None, None),
            vec!["certification.earned_on"],
        ),
        (
            certification("not-a-uuid", 1, date(2026, 1, 1), None),
            vec!["certification.staff_id"],
        ),
    ] {
        let status = refused(admin.record_certification(request).await);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), fields, "{status:?}");
    }
    let unknown = refused(
        admin
            .record_certification(certification(
                "0190a0b0-0000-7000-8000-000000000000",
                1,
                date(2026, 1, 1),
                None,
            ))
            .await,
    );
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(app.events().await.len(), before);
    // Expiring on the day it was earned is valid for that day.
    certify(
        &mut admin,
        certification(&s.id, 3, date(2026, 1, 1), date(2026, 1, 1)),
    )
    .await;
    let earned = payloads::<pb::CertificationEarned>(&app.events().await);
    assert_eq!(earned.len(), 1);
    assert_eq!(
        earned[0]
            .certification
            .as_ref()
            .map(|c| c.partner_id.as_str()),
        Some("p-1")
    );
}

#[tokio::test]
async fn the_certified_headcount_counts_active_staff_at_or_above_each_level_on_the_day() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    let mut person = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        person.push(
            add_staff(
                &mut admin,
                staff("p-1", name, &format!("{name}@acme.co.jp")),
            )
            .await
            .id,
        );
    }
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| person[i].clone());
    certify(&mut admin, certification(&a, 3, date(2026, 1, 1), None)).await;
    certify(&mut admin, certification(&a, 1, date(2025, 1, 1), None)).await;
    certify(
        &mut admin,
        certification(&b, 2, date(2026, 1, 1), date(2026, 6, 30)),
    )
    .await;
    // Expired before the day.
    certify(
        &mut admin,
        certification(&c, 3, date(2025, 1, 1), date(2026, 2, 28)),
    )
    .await;
    // Earned after the day.
    certify(&mut admin, certification(&e, 1, date(2026, 7, 1), None)).await;
    // Someone who left.
    certify(&mut admin, certification(&d, 3, date(2025, 1, 1), None)).await;
    admin
        .update_partner_staff(pb::UpdatePartnerStaffRequest {
            staff: Some(pb::PartnerStaff {
                id: d.clone(),
                status: pb::StaffStatus::Left as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
            request_id: String::new(),
        })
        .await
        .expect("left");
    // Another partner's staff never count.
    let other = add_staff(&mut admin, staff("p-2", "x", "x@other.com")).await;
    certify(
        &mut admin,
        certification(&other.id, 3, date(2025, 1, 1), None),
    )
    .await;

    assert_eq!(
        headcount(&mut admin, "p-1", date(2026, 3, 1)).await,
        (vec![(1, 2), (2, 2), (3, 1)], 4)
    );
    // The last valid day counts; the day after does not.
    assert_eq!(
        headcount(&mut admin, "p-1", date(2026, 6, 30)).await.0,
        [(1, 2), (2, 2), (3, 1)]
    );
    assert_eq!(
        headcount(&mut admin, "p-1", date(2026, 7, 1)).await.0,
        [(1, 2), (2, 1), (3, 1)]
    );
    assert_eq!(
        headcount(&mut admin, "p-1", date(2026, 2, 28)).await.0,
        [(1, 3), (2, 3), (3, 2)]
    );

    let by_staff = admin
        .list_certifications(pb::ListCertificationsRequest {
            staff_id: a.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .certifications;
    assert_eq!(by_staff.len(), 2);
    let by_partner = admin
        .list_certifications(pb::ListCertificationsRequest {
            partner_id: "p-1".into(),
            page_size: 4,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(by_partner.certifications.len(), 4);
    assert!(!by_partner.next_page_token.is_empty());
}

#[tokio::test]
async fn a_partner_user_sees_its_own_certifications_and_headcount_only() {
    let app = spawn_app().await;
    partners(&app, &["p-1", "p-2"]).await;
    let mut admin = app.admin();
    let own = add_staff(&mut admin, staff("p-1", "Hanako", "hanako@acme.co.jp")).await;
    let theirs = add_staff(&mut admin, staff("p-2", "Taro", "taro@other.com")).await;
    let request = pb::RecordCertificationRequest {
        request_id: "cert-1".into(),
        ..certification(&own.id, 2, date(2026, 1, 1), None)
    };
    let first = certify(&mut admin, request.clone()).await;
    assert_eq!(certify(&mut admin, request).await, first);
    certify(
        &mut admin,
        certification(&theirs.id, 3, date(2026, 1, 1), None),
    )
    .await;
    assert_eq!(
        payloads::<pb::CertificationEarned>(&app.events().await).len(),
        2
    );

    let mut portal = app.portal("p-1");
    let listed = portal
        .list_certifications(pb::ListCertificationsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .certifications;
    assert_eq!(listed, [first]);
    let none = portal
        .list_certifications(pb::ListCertificationsRequest {
            staff_id: theirs.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .certifications;
    assert!(none.is_empty(), "{none:?}");
    let denied = refused(
        portal
            .list_certifications(pb::ListCertificationsRequest {
                partner_id: "p-2".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = refused(
        portal
            .get_certified_headcount(pb::GetCertifiedHeadcountRequest {
                partner_id: "p-2".into(),
                as_of: date(2026, 3, 1),
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        headcount(&mut portal, "", date(2026, 3, 1)).await,
        (vec![(1, 1), (2, 1), (3, 0)], 1)
    );
    // Issuing certifications is the company's call.
    for role in [
        Role::PartnerUser,
        Role::Csm,
        Role::CustomerSales,
        Role::Service,
    ] {
        let status = refused(
            app.client(role)
                .record_certification(certification(&own.id, 3, date(2026, 1, 1), None))
                .await,
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    // Staff must name the partner to count.
    let missing = refused(
        admin
            .get_certified_headcount(pb::GetCertifiedHeadcountRequest::default())
            .await,
    );
    assert_eq!(violated_fields(&missing), ["partner_id"]);
}
