//! Usage ingestion: every event judged on its own, duplicates by event id,
//! adoption announced once, streams of any length.

use themodel_platform::auth::Role;
use themodel_proto::health as pb;
use tonic::Code;

use crate::helpers::*;

async fn setup(app: &TestApp) -> String {
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    create_feature(&mut admin, feature("analytics", "exports", false)).await;
    let old = create_feature(&mut admin, feature("analytics", "legacy", false)).await;
    admin
        .update_feature(pb::UpdateFeatureRequest {
            feature: Some(pb::Feature {
                retired: true,
                ..old
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["retired".into()],
            }),
            request_id: String::new(),
        })
        .await
        .expect("retire");
    app.account("Acme", "SF-001", Some("p-1")).await
}

async fn ingest(
    client: &mut Client,
    events: Vec<pb::UsageEvent>,
    request_id: &str,
) -> pb::IngestSummary {
    client
        .ingest_usage(pb::IngestUsageRequest {
            events,
            request_id: request_id.into(),
        })
        .await
        .expect("ingest")
        .into_inner()
        .summary
        .expect("summary")
}

#[tokio::test]
async fn each_event_is_accepted_duplicate_or_rejected_with_its_index_and_reason() {
    let app = spawn_app().await;
    let account = setup(&app).await;
    let mut service = app.client(Role::Service);
    let future = chrono::Utc::now() + chrono::Duration::hours(2);
    let events = vec![
        // 0: fine, with an event id.
        pb::UsageEvent {
            event_id: "e-1".into(),
            ..usage(&account, "dashboards")
        },
        // 1: the same event id again: a duplicate.
        pb::UsageEvent {
            event_id: "e-1".into(),
            ..usage(&account, "dashboards")
        },
        // 2: by the account's CRM id.
        pb::UsageEvent {
            account_id: String::new(),
            account_external_id: "SF-001".into(),
            ..usage("", "exports")
        },
        // 3: negative count and a malformed user.
        pb::UsageEvent {
            count: -3,
            user_id: "not a user!".into(),
            ..usage(&account, "dashboards")
        },
        // 4: in the future.
        pb::UsageEvent {
            occurred_at: Some(prost_types::Timestamp {
                seconds: future.timestamp(),
                nanos: 0,
            }),
            ..usage(&account, "dashboards")
        },
        // 5: an account nobody knows.
        usage("0190d6d4-0000-7000-8000-000000000000", "dashboards"),
        // 6: a feature the product does not have.
        usage(&account, "teleport"),
        // 7: a retired feature.
        usage(&account, "legacy"),
        // 8: fine.
        usage(&account, "exports"),
    ];
    let summary = ingest(&mut service, events.clone(), "batch-1").await;
    assert_eq!(
        (summary.accepted, summary.duplicates, summary.rejected),
        (3, 1, 5)
    );
    let rejected: Vec<(i64, &str)> = summary
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (3, "INVALID_FIELD"),
            (4, "INVALID_FIELD"),
            (5, "UNKNOWN_ACCOUNT"),
            (6, "UNKNOWN_FEATURE"),
            (7, "RETIRED_FEATURE"),
        ]
    );
    let fields: Vec<&str> = summary.rejections[0]
        .violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, vec!["user_id", "count"]);
    assert_eq!(app.stored_usage().await, 3);

    // A retry of the call answers the same and stores nothing more; the
    // event id seen in another call is a duplicate.
    let again = ingest(&mut service, events, "batch-1").await;
    assert_eq!(again, summary);
    let later = ingest(
        &mut service,
        vec![pb::UsageEvent {
            event_id: "e-1".into(),
            ..usage(&account, "dashboards")
        }],
        "batch-2",
    )
    .await;
    assert_eq!((later.accepted, later.duplicates), (0, 1));
    assert_eq!(app.stored_usage().await, 3);

    // Adoption is announced once per account and feature.
    ingest(&mut service, vec![usage(&account, "dashboards")], "").await;
    let adopted: Vec<pb::FeatureAdopted> = payloads(&app.events().await);
    let mut features: Vec<&str> = adopted.iter().map(|a| a.feature_key.as_str()).collect();
    features.sort_unstable();
    assert_eq!(features, vec!["dashboards", "exports"]);
    assert!(
        adopted
            .iter()
            .all(|a| a.partner_id == "p-1" && a.account_id == account)
    );
}

#[tokio::test]
async fn calls_out_of_bounds_or_from_partners_are_refused_whole() {
    let app = spawn_app().await;
    let account = setup(&app).await;
    let empty = app
        .client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest::default())
        .await
        .expect_err("empty");
    assert_eq!(violated_fields(&empty), vec!["events"]);
    let partner = app
        .client(Role::PartnerUser)
        .ingest_usage(pb::IngestUsageRequest {
            events: vec![usage(&account, "dashboards")],
            request_id: String::new(),
        })
        .await
        .expect_err("partner");
    assert_eq!(partner.code(), Code::PermissionDenied);
    assert_eq!(app.stored_usage().await, 0);
}

#[tokio::test]
async fn a_stream_of_any_length_commits_in_chunks_and_counts_every_event() {
    let app = spawn_app().await;
    let account = setup(&app).await;
    // Three chunks (a stream commits one chunk, or two at once on
    // PostgreSQL, while it judges the next), with a refused event and ids
    // repeated from a committed chunk and from one that may still be
    // committing.
    const MESSAGE: usize = 8_000;
    let mut messages = Vec::new();
    for m in 0..6 {
        let events = (0..MESSAGE)
            .map(|i| {
                let n = m * MESSAGE + i;
                let mut e = pb::UsageEvent {
                    event_id: format!("s-{n}"),
                    ..usage(
                        &account,
                        if n.is_multiple_of(2) {
                            "dashboards"
                        } else {
                            "exports"
                        },
                    )
                };
                if n == 11_000 {
                    e.count = -1;
                }
                if n == 31_000 {
                    e.event_id = "s-7".into();
                }
                if n == 45_000 {
                    e.event_id = "s-25000".into();
                }
                e
            })
            .collect();
        messages.push(pb::StreamUsageRequest { events });
    }
    let summary = app
        .client(Role::Service)
        .stream_usage(tokio_stream::iter(messages))
        .await
        .expect("stream")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!(
        (summary.accepted, summary.duplicates, summary.rejected),
        (47_997, 2, 1)
    );
    assert_eq!(summary.rejections[0].index, 11_000);
    assert_eq!(app.stored_usage().await, 47_997);
    // Each feature's first use is announced once, whichever chunk saw it.
    let adopted: Vec<pb::FeatureAdopted> = payloads(&app.events().await);
    assert_eq!(adopted.len(), 2);
}
