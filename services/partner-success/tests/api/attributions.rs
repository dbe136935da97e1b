//! Attributions: sourced and influenced reported apart, an influence
//! granting no visibility, ends and overlaps, partner scope, bad input.

use themodel_platform::auth::Role;
use themodel_proto::partner_success::{self as pb, AttributionKind};
use tonic::Code;

use crate::helpers::*;

fn attribution(
    account_id: &str,
    partner_id: &str,
    kind: AttributionKind,
    start: Option<themodel_proto::common::Date>,
) -> pb::RecordAttributionRequest {
    pb::RecordAttributionRequest {
        attribution: Some(pb::Attribution {
            account_id: account_id.into(),
            partner_id: partner_id.into(),
            kind: kind as i32,
            start_date: start,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

async fn record(client: &mut Client, request: pb::RecordAttributionRequest) -> pb::Attribution {
    client
        .record_attribution(request)
        .await
        .expect("record")
        .into_inner()
        .attribution
        .expect("attribution")
}

async fn summary(
    client: &mut Client,
    partner_id: &str,
    as_of: Option<themodel_proto::common::Date>,
) -> (i32, i32) {
    let s = client
        .get_attribution_summary(pb::GetAttributionSummaryRequest {
            partner_id: partner_id.into(),
            as_of,
        })
        .await
        .expect("summary")
        .into_inner();
    (s.sourced_accounts, s.influenced_accounts)
}

async fn listed(client: &mut Client, request: pb::ListAttributionsRequest) -> Vec<String> {
    client
        .list_attributions(request)
        .await
        .expect("list")
        .into_inner()
        .attributions
        .into_iter()
        .map(|a| a.id)
        .collect()
}

/// Partners p-1 and p-2; accounts: two of p-1, one of p-2.
async fn setup(app: &TestApp) -> [String; 3] {
    partners(app, &["p-1", "p-2"]).await;
    [
        app.account("Acme", Some("p-1"), None).await,
        app.account("Initech", Some("p-1"), None).await,
        app.account("Globex", Some("p-2"), None).await,
    ]
}

#[tokio::test]
async fn sourced_and_influenced_accounts_are_counted_apart() {
    use AttributionKind::*;
    let app = spawn_app().await;
    let [acme, initech, globex] = setup(&app).await;
    let mut admin = app.admin();
    let start = date(2026, 1, 1);
    record(&mut admin, attribution(&acme, "p-1", Sourced, start)).await;
    record(&mut admin, attribution(&initech, "p-1", Sourced, start)).await;
    record(&mut admin, attribution(&acme, "p-1", Influenced, start)).await;
    record(&mut admin, attribution(&globex, "p-1", Influenced, start)).await;
    record(&mut admin, attribution(&globex, "p-2", Sourced, start)).await;

    // Acme, sourced and influenced, counts in both; nothing is blended.
    assert_eq!(summary(&mut admin, "p-1", date(2026, 3, 1)).await, (2, 2));
    assert_eq!(summary(&mut admin, "p-2", date(2026, 3, 1)).await, (1, 0));
    // Before the start nothing holds.
    assert_eq!(summary(&mut admin, "p-1", date(2025, 12, 31)).await, (0, 0));
    let sourced_only = pb::ListAttributionsRequest {
        partner_id: "p-1".into(),
        kind: Sourced as i32,
        ..Default::default()
    };
    assert_eq!(listed(&mut admin, sourced_only).await.len(), 2);

    // Only the account's own partner sourced it.
    let mismatch = refused(
        admin
            .record_attribution(attribution(&globex, "p-1", Sourced, start))
            .await,
    );
    assert_eq!(mismatch.code(), Code::FailedPrecondition);
    assert_eq!(reason(&mismatch), "SOURCED_PARTNER_MISMATCH");
    let unknown = refused(
        admin
            .record_attribution(attribution(
                "0190a0b0-0000-7000-8000-000000000000",
                "p-1",
                Influenced,
                start,
            ))
            .await,
    );
    assert_eq!(unknown.code(), Code::NotFound);
    let unknown = refused(
        admin
            .record_attribution(attribution(&acme, "p-9", Influenced, start))
            .await,
    );
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        payloads::<pb::AttributionRecorded>(&app.events().await).len(),
        5
    );
}

#[tokio::test]
async fn an_influence_grants_a_partner_user_no_view_of_the_account() {
    use AttributionKind::*;
    let app = spawn_app().await;
    let [acme, _, globex] = setup(&app).await;
    let mut admin = app.admin();
    let start = date(2026, 1, 1);
    let own = record(&mut admin, attribution(&acme, "p-1", Sourced, start)).await;
    let influence = record(&mut admin, attribution(&globex, "p-1", Influenced, start)).await;
    let theirs = record(&mut admin, attribution(&globex, "p-2", Sourced, start)).await;

    let mut portal = app.portal("p-1");
    assert_eq!(
        listed(&mut portal, Default::default()).await,
        std::slice::from_ref(&own.id)
    );
    let by_account = pb::ListAttributionsRequest {
        account_id: globex.clone(),
        ..Default::default()
    };
    assert!(listed(&mut portal, by_account.clone()).await.is_empty());
    assert_eq!(
        listed(&mut admin, by_account).await,
        [influence.id.clone(), theirs.id.clone()]
    );
    let denied = refused(
        portal
            .list_attributions(pb::ListAttributionsRequest {
                partner_id: "p-2".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    // The influence on p-2's account does not count for p-1's own portal.
    assert_eq!(summary(&mut portal, "", date(2026, 3, 1)).await, (1, 0));
    assert_eq!(summary(&mut admin, "p-1", date(2026, 3, 1)).await, (1, 1));
    let denied = refused(
        portal
            .get_attribution_summary(pb::GetAttributionSummaryRequest {
                partner_id: "p-2".into(),
                as_of: None,
            })
            .await,
    );
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut other = app.portal("p-2");
    assert_eq!(
        listed(&mut other, Default::default()).await,
        std::slice::from_ref(&theirs.id)
    );
    // Recording and ending are staff's.
    for role in [Role::PartnerUser, Role::Csm, Role::CustomerSales] {
        let status = refused(
            app.client(role)
                .record_attribution(attribution(&acme, "p-1", Influenced, start))
                .await,
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        let status = refused(
            app.client(role)
                .end_attribution(pb::EndAttributionRequest {
                    id: own.id.clone(),
                    end_date: date(2026, 6, 1),
                    ..Default::default()
                })
                .await,
        );
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
}

#[tokio::test]
async fn an_attribution_ends_once_and_periods_of_the_same_kind_never_overlap() {
    use AttributionKind::*;
    let app = spawn_app().await;
    let [acme, ..] = setup(&app).await;
    let mut admin = app.admin();
    let first = record(
        &mut admin,
        attribution(&acme, "p-1", Influenced, date(2026, 1, 1)),
    )
    .await;
    let overlap = refused(
        admin
            .record_attribution(attribution(&acme, "p-1", Influenced, date(2026, 5, 1)))
            .await,
    );
    assert_eq!(reason(&overlap), "ATTRIBUTION_OVERLAP");
    let end = |id: &str, end_date, etag: &str| pb::EndAttributionRequest {
        id: id.into(),
        end_date,
        etag: etag.into(),
        request_id: String::new(),
    };
    let early = refused(
        admin
            .end_attribution(end(&first.id, date(2026, 1, 1), ""))
            .await,
    );
    assert_eq!(violated_fields(&early), ["end_date"]);
    let stale = refused(
        admin
            .end_attribution(end(&first.id, date(2026, 4, 1), "r9"))
            .await,
    );
    assert_eq!(reason(&stale), "ETAG_MISMATCH");
    let ended = admin
        .end_attribution(end(&first.id, date(2026, 4, 1), &first.etag))
        .await
        .expect("end")
        .into_inner()
        .attribution
        .expect("attribution");
    assert_eq!(ended.end_date, date(2026, 4, 1));
    let again = refused(
        admin
            .end_attribution(end(&first.id, date(2026, 5, 1), ""))
            .await,
    );
    assert_eq!(reason(&again), "ALREADY_ENDED");
    // The end day is the first without it.
    assert_eq!(summary(&mut admin, "p-1", date(2026, 3, 31)).await, (0, 1));
    assert_eq!(summary(&mut admin, "p-1", date(2026, 4, 1)).await, (0, 0));
    // After the end a new period may start.
    record(
        &mut admin,
        attribution(&acme, "p-1", Influenced, date(2026, 4, 1)),
    )
    .await;
    assert_eq!(
        payloads::<pb::AttributionEnded>(&app.events().await).len(),
        1
    );
}

#[tokio::test]
async fn bad_attributions_write_nothing_and_retries_record_once() {
    use AttributionKind::*;
    let app = spawn_app().await;
    let [acme, ..] = setup(&app).await;
    let mut admin = app.admin();
    let before = app.events().await.len();
    let backwards = pb::RecordAttributionRequest {
        attribution: Some(pb::Attribution {
            end_date: date(2025, 12, 1),
            ..attribution(&acme, "p-1", Influenced, date(2026, 1, 1))
                .attribution
                .expect("a")
        }),
        request_id: String::new(),
    };
    for (request, fields) in [
        (
            attribution(&acme, "p-1", Unspecified, date(2026, 1, 1)),
            vec!["attribution.kind"],
        ),
        (
            attribution("x", "", Influenced, None),
            vec![
                "attribution.account_id",
                "attribution.partner_id",
                "attribution.start_date",
            ],
        ),
        (backwards, vec!["attribution.end_date"]),
    ] {
        let status = refused(admin.record_attribution(request).await);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), fields);
    }
    assert_eq!(app.events().await.len(), before);
    let request = pb::RecordAttributionRequest {
        request_id: "attr-1".into(),
        ..attribution(&acme, "p-1", Sourced, date(2026, 1, 1))
    };
    let first = record(&mut admin, request.clone()).await;
    assert_eq!(record(&mut admin, request).await, first);
    assert_eq!(
        payloads::<pb::AttributionRecorded>(&app.events().await).len(),
        1
    );
}
