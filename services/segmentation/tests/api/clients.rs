//! Calls from one service to another through the platform's clients: identity,
//! deadline, trace context and correlation id travel with the call; retries
//! happen only on UNAVAILABLE and only for calls safe to repeat; a target that
//! is down is UNAVAILABLE by name; a partner user's fan-out stays confined.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use themodel_platform::{
    auth::{Keys, Principal, Role, TokenExpiry},
    client::{CORRELATION_HEADER, CallContext, ClientConfig, Clients, Retry, parse_timeout},
    server::{Server, ServerConfig},
    testing::{auth_config, service_identity},
};
use themodel_proto::segmentation::{
    self as pb, segmentation_service_client::SegmentationServiceClient,
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::helpers::*;

/// A stand-in service that records each call's metadata and answers
/// UNAVAILABLE to the first `failures` calls, NOT_FOUND after, each after
/// a delay.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Fake {
    async fn start(failures: usize) -> Fake {
        Fake::start_slow(failures, Duration::ZERO).await
    }

    async fn start_slow(failures: usize, delay: Duration) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let left = Arc::new(AtomicUsize::new(failures));
        let service = {
            let seen = seen.clone();
            tower::service_fn(move |request: http::Request<axum::body::Body>| {
                seen.lock().expect("lock").push(request.headers().clone());
                let status = if left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    Status::unavailable("fake outage")
                } else {
                    Status::not_found("fake answer")
                };
                async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, Infallible>(status.into_http::<tonic::body::Body>())
                }
            })
        };
        let shutdown = CancellationToken::new();
        let running = Server::new("fake", "fake.themodel", &ServerConfig::default())
            .fallback(service)
            .start(
                "127.0.0.1:0".parse::<std::net::SocketAddr>().expect("addr"),
                shutdown.clone(),
            )
            .await
            .expect("fake");
        let url = format!("http://{}", running.addr);
        tokio::spawn(running.run);
        Fake {
            url,
            seen,
            _shutdown: shutdown.drop_guard(),
        }
    }

    fn calls(&self) -> Vec<http::HeaderMap> {
        self.seen.lock().expect("lock").clone()
    }
}

fn clients(targets: &[(&str, &str)]) -> Clients {
    let identity = Arc::new(service_identity("onboarding", auth_config().auth_key_file));
    let targets: Vec<(String, String)> = targets
        .iter()
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .collect();
    Clients::new("onboarding", identity, &ClientConfig::default(), &targets).expect("clients")
}

async fn get_account(
    clients: &Clients,
    ctx: &CallContext,
    target: &str,
    retry: Retry,
) -> Result<pb::GetAccountResponse, Status> {
    clients
        .call(
            ctx,
            target,
            "GetAccount",
            retry,
            pb::GetAccountRequest {
                id: "0190a0b0-0000-7000-8000-000000000000".into(),
            },
            |channel, request| async move {
                SegmentationServiceClient::new(channel)
                    .get_account(request)
                    .await
            },
        )
        .await
}

/// An incoming request of a user of partner `partner`, whose token is good
/// for ten more minutes.
fn from_partner_user(partner: &str) -> tonic::Request<()> {
    let mut incoming = tonic::Request::new(());
    incoming.extensions_mut().insert(Principal {
        subject: "user-1".into(),
        role: Role::PartnerUser,
        partner_id: Some(partner.into()),
        actor: None,
    });
    incoming
        .extensions_mut()
        .insert(TokenExpiry(unix_now() + 600));
    incoming
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn a_call_carries_the_callers_identity_deadline_trace_and_correlation_id() {
    themodel_platform::telemetry::init_for_tests();
    let fake = Fake::start(0).await;
    let clients = clients(&[("fake", &fake.url)]);

    // An incoming request of a partner user with 300 ms left.
    let mut incoming = from_partner_user("p-1");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    incoming
        .metadata_mut()
        .insert("grpc-timeout", "300m".parse().expect("ascii"));
    incoming
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ascii"));
    incoming
        .metadata_mut()
        .insert(CORRELATION_HEADER, "req-42".parse().expect("ascii"));
    let ctx = CallContext::of(&incoming);

    let status = get_account(&clients, &ctx, "fake", Retry::Safe)
        .await
        .expect_err("the fake answers NOT_FOUND");
    assert_eq!(status.code(), Code::NotFound);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "NOT_FOUND is not retried");
    let headers = &calls[0];
    let timeout = headers
        .get("grpc-timeout")
        .and_then(|v| parse_timeout(v.to_str().ok()?))
        .expect("a deadline");
    assert!(timeout <= Duration::from_millis(295), "{timeout:?}");
    assert!(timeout > Duration::from_millis(100), "{timeout:?}");
    assert_eq!(
        headers.get("traceparent").and_then(|v| v.to_str().ok()),
        Some(traceparent)
    );
    assert_eq!(
        headers
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("req-42")
    );
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a token");
    let principal = Keys::load(&auth_config())
        .expect("keys")
        .authenticator
        .verify(token)
        .expect("a valid token");
    assert_eq!(principal.subject, "user-1");
    assert_eq!(principal.partner_scope(), Some("p-1"));
    assert_eq!(principal.actor.as_deref(), Some("service:onboarding"));

    // Background work calls as the service itself, with the default deadline.
    get_account(&clients, &CallContext::background(), "fake", Retry::Safe)
        .await
        .expect_err("NOT_FOUND");
    let headers = &fake.calls()[1];
    let timeout = headers
        .get("grpc-timeout")
        .and_then(|v| parse_timeout(v.to_str().ok()?))
        .expect("a deadline");
    assert!(timeout > Duration::from_secs(4), "{timeout:?}");
}

#[tokio::test]
async fn a_peer_slower_than_the_deadline_is_deadline_exceeded_never_an_internal_error() {
    let fake = Fake::start_slow(0, Duration::from_secs(3)).await;
    let clients = clients(&[("fake", &fake.url)]);
    let ctx = CallContext::background().with_timeout(Duration::from_millis(300));
    let status = get_account(&clients, &ctx, "fake", Retry::Once)
        .await
        .expect_err("too slow");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("fake"), "{}", status.message());
    // What the calling service answers its own caller: retry later.
    let answered = themodel_platform::ApiError::from_peer("fake", status).into_status("fake");
    assert_eq!(answered.code(), Code::Unavailable, "{answered:?}");
}

#[tokio::test]
async fn only_calls_safe_to_repeat_are_retried_and_only_on_unavailable() {
    themodel_platform::telemetry::init_for_tests();
    let fake = Fake::start(2).await;
    let clients = clients(&[("fake", &fake.url)]);
    let status = get_account(&clients, &CallContext::background(), "fake", Retry::Safe)
        .await
        .expect_err("NOT_FOUND after two outages");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(fake.calls().len(), 3);
    // Each attempt is counted per target and code.
    let metrics = themodel_platform::observe::prometheus().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("grpc_client_handled_total")
                && l.contains("target=\"fake\"")
                && l.contains("code=\"Unavailable\"")),
        "{metrics}"
    );

    let fake = Fake::start(2).await;
    let clients = self::clients(&[("fake", &fake.url)]);
    let status = get_account(&clients, &CallContext::background(), "fake", Retry::Once)
        .await
        .expect_err("unavailable");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        fake.calls().len(),
        1,
        "a call unsafe to repeat is sent once"
    );

    // A call whose deadline has already passed is not sent at all.
    let fake = Fake::start(0).await;
    let clients = self::clients(&[("fake", &fake.url)]);
    let expired = CallContext::background().with_timeout(Duration::ZERO);
    let status = get_account(&clients, &expired, "fake", Retry::Safe)
        .await
        .expect_err("expired");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(status.message().contains("fake"), "{}", status.message());
    assert!(fake.calls().is_empty());

    // Retries stop at the deadline.
    let fake = Fake::start(1000).await;
    let clients = self::clients(&[("fake", &fake.url)]);
    let ctx = CallContext::background().with_timeout(Duration::from_millis(50));
    let started = std::time::Instant::now();
    get_account(&clients, &ctx, "fake", Retry::Safe)
        .await
        .expect_err("still down");
    assert!(fake.calls().len() <= 4);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_target_that_is_down_is_unavailable_by_name() {
    themodel_platform::telemetry::init_for_tests();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let clients = clients(&[("segmentation", &format!("http://{closed}"))]);
    let status = get_account(
        &clients,
        &CallContext::background(),
        "segmentation",
        Retry::Safe,
    )
    .await
    .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("segmentation"),
        "{}",
        status.message()
    );
    assert!(
        Clients::new(
            "onboarding",
            Arc::new(service_identity("onboarding", auth_config().auth_key_file)),
            &ClientConfig::default(),
            &[("segmentation".into(), "not a url".into())],
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_partner_users_fan_out_sees_only_that_partners_accounts() {
    let app = spawn_app().await;
    let mut admin = app.admin();
    let ours = create_ok(&mut admin, partner_account("Ours", "p-1")).await;
    create_ok(&mut admin, partner_account("Theirs", "p-2")).await;
    let addr = app.addr();
    let clients = clients(&[("segmentation", &format!("http://{addr}"))]);
    let incoming = from_partner_user("p-1");
    let listed = clients
        .call(
            &CallContext::of(&incoming),
            "segmentation",
            "ListAccounts",
            Retry::Safe,
            pb::ListAccountsRequest::default(),
            |channel, request| async move {
                SegmentationServiceClient::new(channel)
                    .list_accounts(request)
                    .await
            },
        )
        .await
        .expect("list")
        .accounts;
    assert_eq!(listed, vec![ours]);
}
