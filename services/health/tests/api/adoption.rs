//! Adoption day by day: active users, uses per feature, breadth over key
//! features, window users against the seats the subscriptions license.

use std::time::Duration;

use themodel_platform::auth::Role;
use themodel_proto::{common::Date, health as pb};
use tonic::Code;

use crate::helpers::*;

fn at(day: u32, hour: u32) -> Option<prost_types::Timestamp> {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 3, day)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .expect("a time")
        .and_utc();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn used(account: &str, feature: &str, user: &str, day: u32, count: i64) -> pb::UsageEvent {
    pb::UsageEvent {
        user_id: user.into(),
        occurred_at: at(day, 10),
        count,
        ..usage(account, feature)
    }
}

fn adoption(account: &str, window_days: i32) -> pb::GetAdoptionRequest {
    pb::GetAdoptionRequest {
        account_id: account.into(),
        product_key: "analytics".into(),
        start_date: Some(Date {
            year: 2026,
            month: 3,
            day: 1,
        }),
        end_date: Some(Date {
            year: 2026,
            month: 3,
            day: 5,
        }),
        window_days,
    }
}

#[tokio::test]
async fn adoption_shows_breadth_depth_and_seat_use_day_by_day() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    create_feature(&mut admin, feature("analytics", "dashboards", true)).await;
    create_feature(&mut admin, feature("analytics", "alerts", true)).await;
    create_feature(&mut admin, feature("analytics", "exports", false)).await;
    let account = app.account("Acme", "SF-001", Some("p-1")).await;
    app.subscribe(&account, "analytics", 4, (2026, 1, 1)).await;
    let summary = app
        .client(Role::Service)
        .ingest_usage(pb::IngestUsageRequest {
            events: vec![
                used(&account, "dashboards", "u1", 1, 5),
                used(&account, "exports", "u2", 1, 1),
                used(&account, "dashboards", "u1", 2, 2),
                used(&account, "dashboards", "u2", 2, 3),
                used(&account, "alerts", "u3", 5, 1),
            ],
            request_id: String::new(),
        })
        .await
        .expect("ingest")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!(summary.accepted, 5);

    // The seats arrive from the expansion service's events.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let series = loop {
        let series = admin
            .get_adoption(adoption(&account, 3))
            .await
            .expect("adoption")
            .into_inner();
        if series.days.iter().all(|d| d.seats == 4) {
            break series;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seats never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(series.key_features, 2);
    let days = &series.days;
    assert_eq!(days.len(), 5);
    assert_eq!(days[0].active_users, 2);
    let second = &days[1];
    assert_eq!(second.features.len(), 1);
    assert_eq!((second.features[0].uses, second.features[0].users), (5, 2));
    // 03-03: the window 03-01..03-03 used dashboards of two key features.
    assert_eq!(days[2].active_users, 0);
    assert_eq!(days[2].key_features_used, 1);
    assert_eq!(days[2].breadth_basis_points, Some(5_000));
    assert_eq!(days[2].window_users, 2);
    assert_eq!(days[2].seat_use_basis_points, Some(5_000));
    // 03-05: the window 03-03..03-05 used alerts alone, by one user.
    assert_eq!(days[4].key_features_used, 1);
    assert_eq!(days[4].window_users, 1);
    assert_eq!(days[4].seat_use_basis_points, Some(2_500));

    // Partner users see their own accounts' adoption; bad ranges are refused.
    let other = app.account("Other", "SF-002", Some("p-2")).await;
    let hidden = app
        .client(Role::PartnerUser)
        .get_adoption(adoption(&other, 3))
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    app.client(Role::PartnerUser)
        .get_adoption(adoption(&account, 3))
        .await
        .expect("own");
    let bad = admin
        .get_adoption(pb::GetAdoptionRequest {
            end_date: Some(Date {
                year: 2026,
                month: 2,
                day: 1,
            }),
            ..adoption(&account, 91)
        })
        .await
        .expect_err("bad");
    assert_eq!(violated_fields(&bad), vec!["end_date", "window_days"]);
}
