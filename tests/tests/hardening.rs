//! Through the gateway as well as directly: what one caller does can never
//! reach another caller's data or calls, and malformed input, expired tokens
//! and shutdowns end calls cleanly.

use std::time::Duration;

use themodel_e2e::{TestSuite, as_partner, channel, with_role};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, bearer, final_status, hex, issuer, raw_unary},
};
use themodel_proto::{
    common::Money,
    events::{self as ev, event_feed_service_client::EventFeedServiceClient},
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{Code, Request};
use tonic_types::StatusExt;

fn account(name: &str) -> pb::Account {
    pb::Account {
        name: name.into(),
        acv: Some(Money {
            currency_code: "JPY".into(),
            units: 2_400_000,
            nanos: 0,
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn oversized_requests_fail_alone_and_never_break_other_callers_calls() {
    let suite = TestSuite::start().await;
    let mut admin =
        SegmentationServiceClient::new(with_role(suite.gateway_channel().await, Role::Admin));
    admin
        .create_account(pb::CreateAccountRequest {
            account: Some(account("Acme")),
            request_id: String::new(),
        })
        .await
        .expect("seed");

    // Eight clients list accounts through the gateway while one partner user
    // sends ids of 200 KB to 1 MB; the gateway's connections to the service
    // are shared by all of them.
    let gateway = suite.gateway;
    let listers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut client =
                    SegmentationServiceClient::new(with_role(channel(gateway).await, Role::Csm));
                let mut failures = Vec::new();
                for _ in 0..100 {
                    if let Err(status) = client
                        .list_accounts(pb::ListAccountsRequest::default())
                        .await
                    {
                        failures.push(status);
                    }
                }
                failures
            })
        })
        .collect();
    let attackers: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let mut client =
                    SegmentationServiceClient::new(as_partner(channel(gateway).await, "p-2"));
                let mut statuses = Vec::new();
                for _ in 0..5 {
                    let id = "x".repeat(200_000 + i * 100_000);
                    statuses.push(
                        client
                            .get_account(pb::GetAccountRequest { id })
                            .await
                            .expect_err("oversized id"),
                    );
                }
                statuses
            })
        })
        .collect();
    for attacker in attackers {
        for status in attacker.await.expect("join") {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().len() <= 1024);
            let fields: Vec<_> = status
                .get_details_bad_request()
                .expect("field violations")
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert_eq!(fields, ["id"]);
        }
    }
    for lister in listers {
        let failures = lister.await.expect("join");
        assert!(
            failures.is_empty(),
            "other callers' calls failed: {failures:?}"
        );
    }
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_caller_through_either_door() {
    let suite = TestSuite::start().await;
    for (door, door_channel) in [
        ("gateway", suite.gateway_channel().await),
        ("direct", suite.segmentation_channel().await),
    ] {
        let request = pb::CreateAccountRequest {
            account: Some(account("Acme")),
            request_id: format!("crm-sync-{door}"),
        };
        let mut ids = Vec::new();
        for partner in ["p-1", "p-2", "p-1"] {
            let created = SegmentationServiceClient::new(as_partner(door_channel.clone(), partner))
                .create_account(request.clone())
                .await
                .expect("create")
                .into_inner()
                .account
                .expect("account");
            assert_eq!(created.partner_id, partner);
            ids.push(created.id);
        }
        // p-2 got its own account; p-1's retry replayed p-1's.
        assert_ne!(ids[0], ids[1], "{door}");
        assert_eq!(ids[0], ids[2], "{door}");
    }
}

#[tokio::test]
async fn malformed_and_oversized_messages_are_the_callers_error_through_either_door() {
    const CREATE: &str = "/themodel.segmentation.v1.SegmentationService/CreateAccount";
    let suite = TestSuite::start().await;
    let auth = bearer(Role::Admin, None);
    for door in [
        suite.gateway_channel().await,
        suite.segmentation_channel().await,
    ] {
        for body in ["0a0b1a06fffe2062616432050a034a5059", "0affffffff0f"] {
            let status = raw_unary(door.clone(), CREATE, hex(body), &auth)
                .await
                .expect_err("undecodable");
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            let info = status.get_details_error_info().expect("error info");
            assert_eq!(info.reason, "MALFORMED_REQUEST");
        }
        let status = raw_unary(door.clone(), CREATE, vec![0; 5 << 20], &auth)
            .await
            .expect_err("too large");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    }
}

fn watch_segmentation(after_sequence: i64) -> Request<ev::WatchEventsRequest> {
    themodel_e2e::to_source(ev::WatchEventsRequest { after_sequence }, "segmentation")
}

#[tokio::test]
async fn a_watch_through_the_gateway_ends_when_its_token_expires() {
    let suite = TestSuite::start_with(|config| config.auth.auth_clock_leeway_secs = 0).await;
    let token = issuer()
        .mint("watcher", Role::Bizops, None, Duration::from_secs(2))
        .expect("mint");
    let mut feed = EventFeedServiceClient::with_interceptor(
        suite.gateway_channel().await,
        Bearer::raw(&format!("Bearer {token}")),
    );
    let mut stream = feed
        .watch_events(watch_segmentation(0))
        .await
        .expect("watch")
        .into_inner();
    let status = final_status(&mut stream, Duration::from_secs(30)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test]
async fn open_watches_end_with_unavailable_and_do_not_hold_up_a_stop() {
    // A drain timeout far longer than the test: the stop must not wait for it.
    let suite = TestSuite::start_with(|config| config.server.drain_timeout_secs = 300).await;
    let mut streams = Vec::new();
    for door in [
        suite.gateway_channel().await,
        suite.segmentation_channel().await,
    ] {
        let mut feed = EventFeedServiceClient::new(with_role(door, Role::Admin));
        streams.push(
            feed.watch_events(watch_segmentation(0))
                .await
                .expect("watch")
                .into_inner(),
        );
    }
    let stop = tokio::spawn(suite.stop());
    for stream in &mut streams {
        let status = final_status(stream, Duration::from_secs(30)).await;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    tokio::time::timeout(Duration::from_secs(30), stop)
        .await
        .expect("the suite stops at once")
        .expect("join");
}

#[tokio::test]
async fn irregular_tokens_are_refused_with_short_reasons_through_either_door() {
    let suite = TestSuite::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |extra: serde_json::Value| {
        let mut claims = serde_json::json!({
            "sub": "u1", "role": "admin", "iss": "themodel-test", "aud": "themodel",
            "iat": now, "exp": now + 600,
        });
        if let (Some(base), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        claims
    };
    let sign = |header: fn(&mut _), claims: serde_json::Value| {
        issuer().sign_raw(header, &claims).expect("sign")
    };
    let valid = sign(|_| {}, claims(serde_json::json!({})));
    let refused = [
        // Not valid before a minute from now.
        sign(|_| {}, claims(serde_json::json!({"nbf": now + 60}))),
        // A critical extension nobody here understands.
        sign(
            |h| h.crit = Some(vec!["urn:example:ext".into()]),
            claims(serde_json::json!({})),
        ),
        // A hundred years.
        sign(
            |_| {},
            claims(serde_json::json!({"exp": now + 100 * 365 * 86_400})),
        ),
        // A role that does not exist.
        sign(|_| {}, claims(serde_json::json!({"role": "none"}))),
    ];
    for door in [
        suite.gateway_channel().await,
        suite.segmentation_channel().await,
    ] {
        for scheme in ["Bearer", "bearer", "BEARER"] {
            SegmentationServiceClient::with_interceptor(
                door.clone(),
                Bearer::raw(&format!("{scheme} {valid}")),
            )
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
        }
        for token in &refused {
            let status = SegmentationServiceClient::with_interceptor(
                door.clone(),
                Bearer::raw(&format!("Bearer {token}")),
            )
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .expect_err("refused");
            assert_eq!(status.code(), Code::Unauthenticated);
            assert!(status.message().len() < 80, "{}", status.message());
            assert!(
                !status.message().contains("variant"),
                "{}",
                status.message()
            );
        }
    }
}
