//! The whole suite in-process, driven through the gateway the way an
//! integration, a partner portal or another service would drive it.

use std::time::Duration;

use themodel_e2e::{TestSuite, as_partner, to_source, with_role};
use themodel_platform::{auth::Role, testing::Bearer};
use themodel_proto::{
    common::Money,
    events::{self as ev, event_feed_service_client::EventFeedServiceClient},
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::{self as hp, health_service_client::HealthServiceClient},
    onboarding::{self as ob, onboarding_service_client::OnboardingServiceClient},
    partner_success::{self as ps, partner_success_service_client::PartnerSuccessServiceClient},
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use tonic::{Code, Request};
use tonic_types::StatusExt;

fn account(name: &str, partner: &str) -> pb::Account {
    pb::Account {
        name: name.into(),
        partner_id: partner.into(),
        acv: Some(Money {
            currency_code: "JPY".into(),
            units: 2_400_000,
            nanos: 0,
        }),
        ..Default::default()
    }
}

fn create(account: pb::Account, request_id: &str) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(account),
        request_id: request_id.into(),
    }
}

/// Renames `account`, sending the etag it was read with.
fn rename(account: &pb::Account, name: &str) -> pb::UpdateAccountRequest {
    pb::UpdateAccountRequest {
        account: Some(pb::Account {
            id: account.id.clone(),
            name: name.into(),
            etag: account.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into()],
        }),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn reflection_alone_is_enough_to_discover_the_gateway() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let suite = TestSuite::start().await;
    let mut reflection = ServerReflectionClient::new(suite.gateway_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("stream")
        .expect("response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "themodel.segmentation.v1.SegmentationService",
        "themodel.expansion.v1.ExpansionService",
        "themodel.health.v1.HealthService",
        "themodel.onboarding.v1.OnboardingService",
        "themodel.partner_success.v1.PartnerSuccessService",
        "themodel.events.v1.EventFeedService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn the_gateway_reports_serving() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let suite = TestSuite::start().await;
    let status = HealthClient::new(suite.gateway_channel().await)
        .check(HealthCheckRequest::default())
        .await
        .expect("health")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn accounts_work_through_the_gateway_with_every_convention() {
    let suite = TestSuite::start().await;
    let mut client =
        SegmentationServiceClient::new(with_role(suite.gateway_channel().await, Role::Bizops));

    // A retried create leaves one account.
    let request = create(account("Acme", ""), "gw-create-1");
    let first = client
        .create_account(request.clone())
        .await
        .expect("create")
        .into_inner();
    let retried = client
        .create_account(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retried);
    let listed = client
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.accounts.len(), 1);
    let created = first.account.expect("account");

    // A stale etag is refused, with the service's error details intact.
    client
        .update_account(rename(&created, "Acme 2"))
        .await
        .expect("update");
    let stale = client
        .update_account(rename(&created, "Acme 3"))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::FailedPrecondition);
    let info = stale.get_details_error_info().expect("error info");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("ETAG_MISMATCH", "segmentation.themodel")
    );

    // Validation errors keep their field violations across the hop.
    let invalid = client
        .create_account(create(account("", ""), ""))
        .await
        .expect_err("invalid");
    let fields: Vec<_> = invalid
        .get_details_bad_request()
        .expect("bad request")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["account.name"]);
}

#[tokio::test]
async fn a_partner_never_sees_another_partners_account_through_either_door() {
    let suite = TestSuite::start().await;
    let mut admin =
        SegmentationServiceClient::new(with_role(suite.gateway_channel().await, Role::Admin));
    let ours = admin
        .create_account(create(account("Ours", "p-1"), ""))
        .await
        .expect("create")
        .into_inner()
        .account
        .expect("a");
    let theirs = admin
        .create_account(create(account("Theirs", "p-2"), ""))
        .await
        .expect("create")
        .into_inner()
        .account
        .expect("a");

    for channel in [
        suite.gateway_channel().await,
        suite.segmentation_channel().await,
    ] {
        let mut partner = SegmentationServiceClient::new(as_partner(channel, "p-1"));
        let listed = partner
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .expect("list")
            .into_inner()
            .accounts;
        assert_eq!(listed, vec![ours.clone()]);
        let hidden = partner
            .get_account(pb::GetAccountRequest {
                id: theirs.id.clone(),
            })
            .await
            .expect_err("hidden");
        assert_eq!(hidden.code(), Code::NotFound);
    }
}

#[tokio::test]
async fn tier_policies_are_previewed_applied_and_audited_through_the_gateway() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut admin = SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut ids = Vec::new();
    for (i, partner) in ["p-1", "p-2", "p-1"].iter().enumerate() {
        let mut a = account(&format!("Account {i}"), partner);
        a.acv = Some(Money {
            currency_code: "JPY".into(),
            units: (i as i64 + 1) * 10_000_000,
            nanos: 0,
        });
        let created = admin
            .create_account(create(a, ""))
            .await
            .expect("create")
            .into_inner()
            .account
            .expect("a");
        ids.push(created.id);
    }
    let preview = admin
        .preview_tier_policy(pb::PreviewTierPolicyRequest::default())
        .await
        .expect("preview")
        .into_inner();
    assert_eq!(preview.moves.len(), 3);
    let mut manager = SegmentationServiceClient::new(with_role(channel.clone(), Role::CsManager));
    let apply = pb::ApplyTierPolicyRequest {
        reason: "first baseline".into(),
        request_id: "baseline-1".into(),
        ..Default::default()
    };
    let applied = manager
        .apply_tier_policy(apply.clone())
        .await
        .expect("apply")
        .into_inner();
    let retried = manager
        .apply_tier_policy(apply)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(applied, retried);
    assert_eq!(applied.policy.as_ref().map(|p| p.version), Some(1));

    // A partner reads its own accounts' tiers, and nothing of the policy.
    let mut partner = SegmentationServiceClient::new(as_partner(channel, "p-1"));
    let own = partner
        .get_tier_as_of(pb::GetTierAsOfRequest {
            account_id: ids[2].clone(),
            as_of: None,
        })
        .await
        .expect("own tier")
        .into_inner();
    assert_eq!(own.tier, pb::Tier::LowTouch as i32);
    let hidden = partner
        .list_tier_changes(pb::ListTierChangesRequest {
            account_id: ids[1].clone(),
            ..Default::default()
        })
        .await
        .expect_err("another partner's account");
    assert_eq!(hidden.code(), Code::NotFound);
    let denied = partner
        .get_tier_policy(pb::GetTierPolicyRequest { version: 1 })
        .await
        .expect_err("policy");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn books_touchpoints_and_coverage_work_through_the_gateway() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut admin = SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin));
    let created = admin
        .create_account(create(account("Acme", "p-1"), ""))
        .await
        .expect("create")
        .into_inner()
        .account
        .expect("a");
    admin
        .apply_tier_policy(pb::ApplyTierPolicyRequest {
            request_id: "baseline".into(),
            ..Default::default()
        })
        .await
        .expect("apply");
    let mut manager = SegmentationServiceClient::new(with_role(channel.clone(), Role::CsManager));
    manager
        .create_csm(pb::CreateCsmRequest {
            csm: Some(pb::Csm {
                id: "sato@example.com".into(),
                display_name: "Sato".into(),
                team_id: "smb".into(),
                tier: pb::Tier::TechTouch as i32,
                ..Default::default()
            }),
            request_id: "csm-1".into(),
            ..Default::default()
        })
        .await
        .expect("csm");
    manager
        .assign_accounts(pb::AssignAccountsRequest {
            csm_id: "sato@example.com".into(),
            account_ids: vec![created.id.clone()],
            request_id: "assign-1".into(),
        })
        .await
        .expect("assign");

    // The partner's portal records a touch of its own account and sees it covered.
    let mut partner = SegmentationServiceClient::new(as_partner(channel, "p-1"));
    partner
        .record_touchpoint(pb::RecordTouchpointRequest {
            touchpoint: Some(pb::Touchpoint {
                account_id: created.id.clone(),
                kind: pb::TouchpointKind::Meeting as i32,
                occur_time: Some(std::time::SystemTime::now().into()),
                ..Default::default()
            }),
            request_id: "touch-1".into(),
        })
        .await
        .expect("touch");
    let coverage = partner
        .get_coverage(pb::GetCoverageRequest::default())
        .await
        .expect("coverage")
        .into_inner();
    let tech = coverage
        .tiers
        .iter()
        .find(|f| f.tier == pb::Tier::TechTouch as i32)
        .expect("tech-touch figure");
    assert_eq!((tech.account_count, tech.covered_count), (1, 1));
    assert_eq!(coverage.teams.len(), 1);
    let report = manager
        .get_capacity_report(pb::GetCapacityReportRequest::default())
        .await
        .expect("report")
        .into_inner();
    assert_eq!(report.csms.len(), 1);
    assert_eq!(report.csms[0].account_count, 1);
}

#[tokio::test]
async fn the_event_feed_is_read_through_the_gateway_by_source() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut client = SegmentationServiceClient::new(with_role(channel.clone(), Role::Service));
    let a = client
        .create_account(create(account("A", ""), ""))
        .await
        .expect("a")
        .into_inner()
        .account
        .expect("a");
    let b = client
        .create_account(create(account("B", ""), ""))
        .await
        .expect("b")
        .into_inner()
        .account
        .expect("b");

    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Bizops));
    let request = to_source(ev::ListEventsRequest::default(), "segmentation");
    let events = feed
        .list_events(request)
        .await
        .expect("events")
        .into_inner()
        .events;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.sequence, e.subject_id.clone()))
        .collect();
    assert_eq!(seen, [(1, a.id.clone()), (2, b.id.clone())]);

    // Watching through the gateway streams new events as they commit.
    let watch = to_source(ev::WatchEventsRequest { after_sequence: 2 }, "segmentation");
    let mut stream = feed.watch_events(watch).await.expect("watch").into_inner();
    let c = client
        .create_account(create(account("C", ""), ""))
        .await
        .expect("c")
        .into_inner()
        .account
        .expect("c");
    let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("live event in time")
        .expect("stream")
        .and_then(|m| m.event)
        .expect("event");
    assert_eq!((event.sequence, event.subject_id), (3, c.id));

    let missing = feed
        .list_events(ev::ListEventsRequest::default())
        .await
        .expect_err("no source");
    assert_eq!(missing.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_product_catalogue_works_through_the_gateway() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut bizops = ExpansionServiceClient::new(with_role(channel.clone(), Role::Bizops));
    let product = ex::Product {
        product_key: "analytics".into(),
        display_name: "Analytics".into(),
        plans: vec![ex::Plan {
            plan_key: "pro-annual".into(),
            display_name: "Pro, billed yearly".into(),
            list_price: Some(Money {
                currency_code: "USD".into(),
                units: 2000,
                nanos: 0,
            }),
            billing_period: ex::BillingPeriod::Annual as i32,
            ..Default::default()
        }],
        ..Default::default()
    };
    let created = bizops
        .create_product(ex::CreateProductRequest {
            product: Some(product.clone()),
            request_id: "catalogue-1".into(),
        })
        .await
        .expect("create")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(
        created.plans[0].list_mrr,
        Some(Money {
            currency_code: "USD".into(),
            units: 166,
            nanos: 670_000_000,
        })
    );

    // A partner portal reads the catalogue; a CSM may not change it.
    let mut partner = ExpansionServiceClient::new(as_partner(channel.clone(), "p-1"));
    let listed = partner
        .list_products(ex::ListProductsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .products;
    assert_eq!(listed, std::slice::from_ref(&created));
    let refused = ExpansionServiceClient::new(with_role(channel.clone(), Role::Csm))
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "other".into(),
                ..product
            }),
            request_id: String::new(),
        })
        .await
        .expect_err("csm");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The catalogue's events are served under its source.
    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Service));
    let request = to_source(ev::ListEventsRequest::default(), "expansion");
    let events = feed
        .list_events(request)
        .await
        .expect("events")
        .into_inner()
        .events;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.source.as_str(), e.subject_id.as_str()))
        .collect();
    assert_eq!(seen, [("expansion", "analytics")]);
}

#[tokio::test]
async fn partners_work_through_the_gateway_and_a_partner_user_sees_only_its_own() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut admin = PartnerSuccessServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut created = Vec::new();
    for id in ["p-1", "p-2"] {
        let partner = admin
            .create_partner(ps::CreatePartnerRequest {
                partner: Some(ps::Partner {
                    partner_id: id.into(),
                    display_name: format!("Partner {id}"),
                    contract_form: ps::ContractForm::Resale as i32,
                    cs_model: ps::CsModel::PartnerLed as i32,
                    ..Default::default()
                }),
                request_id: format!("partner-{id}"),
            })
            .await
            .expect("create")
            .into_inner()
            .partner
            .expect("partner");
        assert_eq!(partner.status, ps::PartnerStatus::Onboarding as i32);
        created.push(partner);
    }

    // The partner key of the token decides: its own partner, nothing else.
    let mut portal = PartnerSuccessServiceClient::new(as_partner(channel.clone(), "p-1"));
    let own = portal
        .get_partner(ps::GetPartnerRequest {
            partner_id: "p-1".into(),
        })
        .await
        .expect("own partner")
        .into_inner()
        .partner;
    assert_eq!(own.as_ref(), Some(&created[0]));
    for other in ["p-2", "p-3"] {
        let status = portal
            .get_partner(ps::GetPartnerRequest {
                partner_id: other.into(),
            })
            .await
            .expect_err("another partner");
        assert_eq!(status.code(), Code::NotFound, "{other}");
    }
    let listed = portal
        .list_partners(ps::ListPartnersRequest::default())
        .await
        .expect("list")
        .into_inner()
        .partners;
    assert_eq!(listed, std::slice::from_ref(&created[0]));

    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Service));
    let events = feed
        .list_events(to_source(
            ev::ListEventsRequest::default(),
            "partner_success",
        ))
        .await
        .expect("events")
        .into_inner()
        .events;
    let seen: Vec<_> = events.iter().map(|e| e.subject_id.as_str()).collect();
    assert_eq!(seen, ["p-1", "p-2"]);
}

#[tokio::test]
async fn the_gateway_refuses_calls_without_a_valid_token() {
    let suite = TestSuite::start().await;
    for bearer in [Bearer::none(), Bearer::raw("Bearer garbage")] {
        let mut client =
            SegmentationServiceClient::with_interceptor(suite.gateway_channel().await, bearer);
        let status = client
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .expect_err("unauthenticated");
        assert_eq!(status.code(), Code::Unauthenticated);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.domain, "gateway.themodel");
    }
}

#[tokio::test]
async fn unknown_methods_are_unimplemented() {
    let suite = TestSuite::start().await;
    let mut grpc = tonic::client::Grpc::new(with_role(suite.gateway_channel().await, Role::Admin));
    grpc.ready().await.expect("ready");
    let status = grpc
        .unary::<_, pb::GetAccountResponse, _>(
            Request::new(pb::GetAccountRequest::default()),
            http::uri::PathAndQuery::from_static("/themodel.nothing.v1.NothingService/Get"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("unknown method");
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn a_backend_address_that_does_not_parse_stops_the_start_naming_the_setting() {
    let error = themodel_gateway::Application::build(
        themodel_gateway::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            backends: vec![("segmentation".into(), "not a url".into())],
            backend_connections: 1,
            server: Default::default(),
            auth: themodel_platform::testing::auth_config(),
            web: Default::default(),
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect_err("refused");
    let message = format!("{error:#}");
    assert!(message.contains("SEGMENTATION_ADDR"), "{message}");
}

#[tokio::test]
async fn an_unreachable_backend_is_unavailable() {
    let (addr, _gateway) = themodel_e2e::start_gateway(vec![(
        "segmentation".into(),
        format!("http://{}", themodel_e2e::closed_address()),
    )])
    .await;
    let channel = themodel_e2e::channel(addr).await;
    let status = SegmentationServiceClient::new(with_role(channel, Role::Admin))
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect_err("backend down");
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn the_suite_drains_and_stops_on_shutdown() {
    let suite = TestSuite::start().await;
    let mut client =
        SegmentationServiceClient::new(with_role(suite.gateway_channel().await, Role::Admin));
    client
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("serving");
    tokio::time::timeout(Duration::from_secs(10), suite.stop())
        .await
        .expect("stopped within the drain timeout");
}

#[tokio::test]
async fn a_services_jobs_are_listed_through_the_gateway_by_source() {
    use themodel_proto::operations::{
        ListJobsRequest, operations_service_client::OperationsServiceClient,
    };
    let suite = TestSuite::start().await;
    let mut ops =
        OperationsServiceClient::new(with_role(suite.gateway_channel().await, Role::Admin));
    let request = to_source(ListJobsRequest::default(), "segmentation");
    let jobs = ops
        .list_jobs(request)
        .await
        .expect("jobs")
        .into_inner()
        .jobs;
    assert!(
        jobs.iter().any(|j| j.name == "purge-idempotency-keys"),
        "{jobs:?}"
    );
    let missing = ops
        .list_jobs(ListJobsRequest::default())
        .await
        .expect_err("no source");
    assert_eq!(missing.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_gateway_reports_each_backends_health_and_serves_the_others_when_one_is_down() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let suite = TestSuite::start().await;
    let (addr, _gateway) = themodel_e2e::start_gateway(vec![
        (
            "segmentation".into(),
            format!("http://{}", suite.segmentation),
        ),
        // A service that is down.
        (
            "onboarding".into(),
            format!("http://{}", themodel_e2e::closed_address()),
        ),
    ])
    .await;
    let channel = themodel_e2e::channel(addr).await;

    let mut health = HealthClient::new(channel.clone());
    let mut status_of = async |service: &str| {
        health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status)
            .ok()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let up = status_of("segmentation").await;
        let down = status_of("onboarding").await;
        if up == Some(ServingStatus::Serving as i32)
            && down == Some(ServingStatus::NotServing as i32)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backend health not reported: {up:?} {down:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of("themodel.segmentation.v1.SegmentationService").await,
        Some(ServingStatus::Serving as i32)
    );

    // Segmentation is served; the call to the service that is down fails alone,
    // naming it.
    SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin))
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("segmentation through the gateway");
    let status = themodel_platform::testing::raw_unary(
        channel,
        "/themodel.onboarding.v1.OnboardingService/GetPlaybook",
        Vec::new(),
        &themodel_platform::testing::bearer(Role::Admin, None),
    )
    .await
    .expect_err("onboarding is down");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("onboarding"),
        "{}",
        status.message()
    );
}

/// Polls `read` until `done` holds of its value, for at most 30 seconds.
async fn eventually<T, F, Fut>(what: &str, mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn usd(units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        units,
        nanos: 0,
    })
}

fn day(year: i32, month: i32, day: i32) -> Option<themodel_proto::common::Date> {
    Some(themodel_proto::common::Date { year, month, day })
}

#[tokio::test]
async fn segmentation_follows_expansions_revenue_record() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut segmentation = SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut expansion = ExpansionServiceClient::new(with_role(channel.clone(), Role::Admin));
    expansion
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                plans: vec![ex::Plan {
                    plan_key: "seat".into(),
                    display_name: "Per seat, monthly".into(),
                    list_price: usd(100),
                    billing_period: ex::BillingPeriod::Monthly as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("product");
    let account = segmentation
        .create_account(create(
            pb::Account {
                acv: usd(1_000),
                ..account("Acme", "p-1")
            },
            "",
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account");

    // Ten seats at 100 a month from 2024, renewing on 2099-01-01.
    let subscription = expansion
        .create_subscription(ex::CreateSubscriptionRequest {
            subscription: Some(ex::Subscription {
                account_id: account.id.clone(),
                product_key: "analytics".into(),
                plan_key: "seat".into(),
                terms: vec![ex::SubscriptionTerm {
                    quantity: 10,
                    start_date: day(2024, 1, 1),
                    end_date: day(2099, 1, 1),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: "billing-sync-1".into(),
        })
        .await
        .expect("subscription")
        .into_inner()
        .subscription
        .expect("subscription");

    let get = || {
        let mut segmentation = segmentation.clone();
        let id = account.id.clone();
        async move {
            segmentation
                .get_account(pb::GetAccountRequest { id })
                .await
                .expect("get")
                .into_inner()
                .account
                .expect("account")
        }
    };
    // ACV follows the subscriptions (12 x 1,000) and the renewal date is the
    // term's end.
    let followed = eventually("ACV is 12 x MRR", get, |a| a.acv == usd(12_000)).await;
    assert_eq!(followed.renewal_date, day(2099, 1, 1));

    // The last subscription ends: the account is churned.
    expansion
        .end_subscription(ex::EndSubscriptionRequest {
            id: subscription.id.clone(),
            end_date: day(2025, 1, 1),
            ..Default::default()
        })
        .await
        .expect("end");
    let churned = eventually("the account is churned", get, |a| {
        a.lifecycle_status == pb::LifecycleStatus::Churned as i32
    })
    .await;
    assert_eq!(churned.renewal_date, None);

    // Back on a new term: active again, and audited as the expansion service's
    // doing in segmentation's own event feed.
    expansion
        .change_subscription(ex::ChangeSubscriptionRequest {
            id: subscription.id,
            term: Some(ex::SubscriptionTerm {
                quantity: 5,
                start_date: day(2025, 6, 1),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("change");
    let back = eventually("the account is active again at 12 x 500", get, |a| {
        a.lifecycle_status == pb::LifecycleStatus::Active as i32 && a.acv == usd(6_000)
    })
    .await;
    assert_eq!(back.renewal_date, None);
    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Service));
    let events = feed
        .list_events(to_source(
            ev::ListEventsRequest {
                page_size: 1000,
                ..Default::default()
            },
            "segmentation",
        ))
        .await
        .expect("events")
        .into_inner()
        .events;
    let updates = events
        .iter()
        .filter(|e| e.r#type == <pb::AccountUpdated as prost::Name>::full_name())
        .count();
    assert!(updates >= 3, "each followed change is an AccountUpdated");
}

#[tokio::test]
async fn partners_register_deals_through_the_gateway_and_a_conflict_is_named_to_staff_only() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let mut admin = PartnerSuccessServiceClient::new(with_role(channel.clone(), Role::Admin));
    for id in ["p-1", "p-2"] {
        admin
            .create_partner(ps::CreatePartnerRequest {
                partner: Some(ps::Partner {
                    partner_id: id.into(),
                    display_name: format!("Partner {id}"),
                    contract_form: ps::ContractForm::Referral as i32,
                    cs_model: ps::CsModel::VendorLed as i32,
                    status: ps::PartnerStatus::Active as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("create partner");
    }
    let deal = |company_name: &str, domain: &str| ps::CreateDealRequest {
        deal: Some(ps::Deal {
            company_name: company_name.into(),
            domain: domain.into(),
            expected_mrr: usd(2_000),
            ..Default::default()
        }),
        request_id: format!("deal-{domain}"),
    };
    let submit = |id: &str| ps::SubmitDealRequest {
        id: id.into(),
        ..Default::default()
    };

    // Partner 1 registers first; partner 2 registers the same company.
    let mut first = PartnerSuccessServiceClient::new(as_partner(channel.clone(), "p-1"));
    let first_deal = first
        .create_deal(deal("Acme", "acme.example"))
        .await
        .expect("create")
        .into_inner()
        .deal
        .expect("deal");
    first
        .submit_deal(submit(&first_deal.id))
        .await
        .expect("submit");
    let mut second = PartnerSuccessServiceClient::new(as_partner(channel.clone(), "p-2"));
    let request = deal("ACME, Inc.", "https://www.acme.example/");
    let second_deal = second
        .create_deal(request.clone())
        .await
        .expect("create")
        .into_inner()
        .deal
        .expect("deal");
    // A retried create through the gateway is the same deal.
    let retried = second
        .create_deal(request)
        .await
        .expect("retry")
        .into_inner()
        .deal
        .expect("deal");
    assert_eq!(retried, second_deal);
    let seen = second
        .submit_deal(submit(&second_deal.id))
        .await
        .expect("submit")
        .into_inner()
        .deal
        .expect("deal");
    assert_eq!(seen.status, ps::DealStatus::Submitted as i32);
    let conflict = seen.conflict.expect("conflict");
    assert_eq!(conflict.description, "registered by another partner");
    assert!(conflict.conflicting_partner_id.is_empty() && conflict.conflicting_deal_id.is_empty());
    // Partner 2 cannot reach partner 1's deal.
    let hidden = second
        .get_deal(ps::GetDealRequest {
            id: first_deal.id.clone(),
        })
        .await
        .expect_err("another partner's deal");
    assert_eq!(hidden.code(), Code::NotFound);

    // Staff see who it collides with, and must override to approve.
    let full = admin
        .get_deal(ps::GetDealRequest {
            id: second_deal.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .deal
        .expect("deal")
        .conflict
        .expect("conflict");
    assert_eq!(
        (
            full.conflicting_deal_id.as_str(),
            full.conflicting_partner_id.as_str()
        ),
        (first_deal.id.as_str(), "p-1")
    );
    let refused = admin
        .approve_deal(ps::ApproveDealRequest {
            id: second_deal.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("conflict");
    let info = refused.get_details_error_info().expect("error info");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("DEAL_CONFLICT", "partner_success.themodel")
    );

    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Bizops));
    let events = feed
        .list_events(to_source(
            ev::ListEventsRequest::default(),
            "partner_success",
        ))
        .await
        .expect("events")
        .into_inner()
        .events;
    let types: Vec<_> = events
        .iter()
        .filter(|e| e.r#type.contains("Deal"))
        .map(|e| (e.r#type.as_str(), e.subject_id.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            (
                "themodel.partner_success.v1.DealRegistered",
                first_deal.id.as_str()
            ),
            (
                "themodel.partner_success.v1.DealRegistered",
                second_deal.id.as_str()
            ),
            (
                "themodel.partner_success.v1.DealConflictDetected",
                second_deal.id.as_str()
            ),
        ]
    );
}

#[tokio::test]
async fn health_ingests_scores_alerts_and_backtests_through_the_gateway() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let ids = product_and_two_partners_accounts(&channel).await;
    let mut admin = HealthServiceClient::new(with_role(channel.clone(), Role::Admin));
    admin
        .create_feature(hp::CreateFeatureRequest {
            feature: Some(hp::Feature {
                product_key: "analytics".into(),
                feature_key: "dashboards".into(),
                display_name: "Dashboards".into(),
                key_feature: true,
                ..Default::default()
            }),
            request_id: "feature-1".into(),
        })
        .await
        .expect("feature");
    admin
        .create_scorecard(hp::CreateScorecardRequest {
            scorecard: Some(hp::Scorecard {
                scorecard_key: "default".into(),
                display_name: "Default".into(),
                measures: vec![
                    hp::MeasureWeight {
                        measure: hp::Measure::Breadth as i32,
                        weight: 50,
                    },
                    hp::MeasureWeight {
                        measure: hp::Measure::Sentiment as i32,
                        weight: 50,
                    },
                ],
                thresholds: Some(hp::GradeThresholds {
                    a_min: 8_000,
                    b_min: 6_000,
                    c_min: 4_000,
                    d_min: 2_000,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("scorecard");

    // A collector streams usage through the gateway.
    let hour_ago = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 3600,
        nanos: 0,
    };
    let events: Vec<hp::UsageEvent> = ids
        .iter()
        .map(|id| hp::UsageEvent {
            account_id: id.clone(),
            user_id: "u-1".into(),
            product_key: "analytics".into(),
            feature_key: "dashboards".into(),
            occurred_at: Some(hour_ago),
            event_id: format!("ev-{id}"),
            ..Default::default()
        })
        .collect();
    let summary = HealthServiceClient::new(with_role(channel.clone(), Role::Service))
        .stream_usage(tokio_stream::iter(vec![hp::StreamUsageRequest { events }]))
        .await
        .expect("stream")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!((summary.accepted, summary.rejected), (2, 0));

    // A CSM scores both; a low sentiment drops the own account's grade.
    let mut csm = HealthServiceClient::new(with_role(channel.clone(), Role::Csm));
    for (id, sentiment) in [(&ids[0], 100), (&ids[1], 100), (&ids[0], 0)] {
        csm.record_sentiment(hp::RecordSentimentRequest {
            account_id: id.clone(),
            product_key: "analytics".into(),
            score: Some(sentiment),
            note: "QBR".into(),
            ..Default::default()
        })
        .await
        .expect("sentiment");
        csm.score_account(hp::ScoreAccountRequest {
            account_id: id.clone(),
            product_key: "analytics".into(),
            request_id: String::new(),
        })
        .await
        .expect("score");
    }

    // The partner portal reads its own account's score and alerts only.
    let mut portal = HealthServiceClient::new(as_partner(channel.clone(), "p-1"));
    let own = portal
        .get_health_score(hp::GetHealthScoreRequest {
            account_id: ids[0].clone(),
            product_key: "analytics".into(),
        })
        .await
        .expect("own score")
        .into_inner()
        .score
        .expect("score");
    assert_eq!((own.score, own.grade), (Some(5_000), hp::Grade::C as i32));
    let hidden = portal
        .get_health_score(hp::GetHealthScoreRequest {
            account_id: ids[1].clone(),
            product_key: "analytics".into(),
        })
        .await
        .expect_err("other partner");
    assert_eq!(hidden.code(), Code::NotFound);
    let alerts = portal
        .list_health_alerts(hp::ListHealthAlertsRequest::default())
        .await
        .expect("alerts")
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].account_id.as_str(), alerts[0].kind),
        (ids[0].as_str(), hp::AlertKind::GradeDrop as i32)
    );
    let refused = portal
        .backtest_scorecard(hp::BacktestScorecardRequest::default())
        .await
        .expect_err("partner backtest");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // BizOps backtests the scorecard over the last days: nobody churned.
    let today = themodel_platform::validate::date_to_proto(chrono::Utc::now().date_naive());
    let result = HealthServiceClient::new(with_role(channel.clone(), Role::Bizops))
        .backtest_scorecard(hp::BacktestScorecardRequest {
            scorecard_key: "default".into(),
            product_key: "analytics".into(),
            start_date: Some(today),
            end_date: Some(today),
            ..Default::default()
        })
        .await
        .expect("backtest")
        .into_inner()
        .result
        .expect("result");
    assert_eq!((result.observations, result.true_positives), (2, 0));
    assert_eq!(result.recall_basis_points, None);

    // Its events are served under its source.
    let mut feed = EventFeedServiceClient::new(with_role(channel, Role::Service));
    let events = feed
        .list_events(to_source(ev::ListEventsRequest::default(), "health"))
        .await
        .expect("events")
        .into_inner()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.r#type == "themodel.health.v1.HealthAlertRaised")
    );
}

#[tokio::test]
async fn onboarding_runs_a_plan_to_completion_through_the_gateway() {
    let suite = TestSuite::start().await;
    let channel = suite.gateway_channel().await;
    let ids = product_and_two_partners_accounts(&channel).await;
    let mut admin = OnboardingServiceClient::new(with_role(channel.clone(), Role::Admin));
    let step = |key: &str| ob::Step {
        step_key: key.into(),
        display_name: key.into(),
        kind: ob::StepKind::Setting as i32,
        due_day: 7,
        ..Default::default()
    };
    let on_step = |key: &str| ob::Criterion {
        criterion: Some(ob::criterion::Criterion::StepKey(key.into())),
    };
    admin
        .create_playbook(ob::CreatePlaybookRequest {
            playbook: Some(ob::Playbook {
                playbook_key: "analytics".into(),
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                phases: vec![ob::Phase {
                    phase_key: "all".into(),
                    display_name: "All".into(),
                    steps: vec![step("sso"), step("dashboards")],
                }],
                setup_criteria: vec![on_step("sso")],
                value_criteria: vec![ob::Criterion {
                    criterion: Some(ob::criterion::Criterion::Signal(ob::SignalCriterion {
                        signal_key: "users_active".into(),
                        threshold: 3,
                    })),
                }],
                anchor: ob::Anchor::ContractStart as i32,
                targets: vec![ob::TierTargets {
                    tier: pb::Tier::Unspecified as i32,
                    setup_days: 14,
                    value_days: 60,
                    stall_days: 7,
                }],
                ..Default::default()
            }),
            request_id: "playbook-1".into(),
        })
        .await
        .expect("playbook");
    let today = themodel_platform::validate::date_to_proto(chrono::Utc::now().date_naive());
    let mut csm = OnboardingServiceClient::new(with_role(channel.clone(), Role::Csm));
    let mut plans = Vec::new();
    for id in &ids {
        plans.push(
            csm.open_plan(ob::OpenPlanRequest {
                account_id: id.clone(),
                product_key: "analytics".into(),
                contract_start_date: Some(today),
                request_id: format!("open-{id}"),
            })
            .await
            .expect("open")
            .into_inner()
            .plan
            .expect("plan"),
        );
    }
    csm.complete_step(ob::CompleteStepRequest {
        plan_id: plans[0].id.clone(),
        step_key: "sso".into(),
        ..Default::default()
    })
    .await
    .expect("sso");
    let reached = OnboardingServiceClient::new(with_role(channel.clone(), Role::Service))
        .record_signals(ob::RecordSignalsRequest {
            signals: vec![ob::Signal {
                account_id: ids[0].clone(),
                product_key: "analytics".into(),
                signal_key: "users_active".into(),
                value: 3,
                ..Default::default()
            }],
            request_id: String::new(),
        })
        .await
        .expect("signals")
        .into_inner()
        .stages_reached;
    assert_eq!(reached, 1);

    // The partner portal sees its own plan, completed, and not the other.
    let mut portal = OnboardingServiceClient::new(as_partner(channel.clone(), "p-1"));
    let seen = portal
        .list_plans(ob::ListPlansRequest::default())
        .await
        .expect("plans")
        .into_inner()
        .plans;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, ob::PlanStatus::Completed as i32);
    let hidden = portal
        .get_plan(ob::GetPlanRequest {
            id: plans[1].id.clone(),
        })
        .await
        .expect_err("other partner");
    assert_eq!(hidden.code(), Code::NotFound);

    let report = OnboardingServiceClient::new(with_role(channel.clone(), Role::Bizops))
        .get_completion_report(ob::GetCompletionReportRequest {
            start_date: Some(today),
            end_date: Some(themodel_platform::validate::date_to_proto(
                chrono::Utc::now().date_naive() + chrono::Days::new(90),
            )),
            group_by: ob::CompletionGrouping::Partner as i32,
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner();
    let rates: Vec<(&str, Option<i32>)> = report
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.rate_basis_points))
        .collect();
    assert_eq!(rates, vec![("p-1", Some(10_000)), ("p-2", Some(0))]);
}

/// Puts product "analytics" in the catalogue and creates accounts "Own" of
/// partner p-1 and "Other" of p-2; their ids, in that order.
async fn product_and_two_partners_accounts(channel: &tonic::transport::Channel) -> Vec<String> {
    ExpansionServiceClient::new(with_role(channel.clone(), Role::Admin))
        .create_product(ex::CreateProductRequest {
            product: Some(ex::Product {
                product_key: "analytics".into(),
                display_name: "Analytics".into(),
                plans: vec![ex::Plan {
                    plan_key: "seat".into(),
                    display_name: "Per seat, monthly".into(),
                    list_price: usd(100),
                    billing_period: ex::BillingPeriod::Monthly as i32,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("product");
    let mut segmentation = SegmentationServiceClient::new(with_role(channel.clone(), Role::Admin));
    let mut ids = Vec::new();
    for (name, partner) in [("Own", "p-1"), ("Other", "p-2")] {
        ids.push(
            segmentation
                .create_account(create(account(name, partner), ""))
                .await
                .expect("account")
                .into_inner()
                .account
                .expect("account")
                .id,
        );
    }
    ids
}
