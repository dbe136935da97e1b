use std::time::Duration;

use prost::Message;
use themodel_platform::auth::Role;
use themodel_proto::{events as ev, segmentation as pb};
use tonic::Code;

use crate::helpers::*;

async fn list_all(feed: &mut FeedClient) -> Vec<ev::Event> {
    feed.list_events(ev::ListEventsRequest::default())
        .await
        .expect("list events")
        .into_inner()
        .events
}

fn rename(id: &str, name: &str) -> pb::UpdateAccountRequest {
    pb::UpdateAccountRequest {
        account: Some(pb::Account {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into()],
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_change_is_one_event_in_commit_order() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let created = create_ok(&mut client, account("Acme")).await;
    client
        .update_account(rename(&created.id, "Acme 2"))
        .await
        .expect("update");
    // An update that changes nothing and a rejected create emit nothing.
    client
        .update_account(rename(&created.id, "Acme 2"))
        .await
        .expect("no-op update");
    client
        .create_account(create(account("")))
        .await
        .expect_err("invalid");

    let events = list_all(&mut app.feed(Role::Bizops)).await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.sequence, e.r#type.as_str(), e.subject_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                1,
                "themodel.segmentation.v1.AccountCreated",
                created.id.as_str()
            ),
            (
                2,
                "themodel.segmentation.v1.AccountUpdated",
                created.id.as_str()
            ),
        ]
    );
    assert!(events.iter().all(|e| e.source == "segmentation"));
    let payload = events[1].payload.as_ref().expect("payload");
    assert_eq!(
        payload.type_url,
        "type.googleapis.com/themodel.segmentation.v1.AccountUpdated"
    );
    let updated = pb::AccountUpdated::decode(payload.value.as_slice()).expect("decode");
    assert_eq!(updated.changed_fields, ["name"]);
    assert_eq!(updated.account.map(|a| a.name), Some("Acme 2".into()));
}

#[tokio::test]
async fn listing_events_pages_by_sequence() {
    let app = spawn_app().await;
    let mut client = app.admin();
    for i in 0..5 {
        create_ok(&mut client, account(&format!("A{i}"))).await;
    }
    let mut feed = app.feed(Role::Service);
    let page = feed
        .list_events(ev::ListEventsRequest {
            after_sequence: 1,
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(
        page.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(page.head_sequence, 5);
    let rest = feed
        .list_events(ev::ListEventsRequest {
            page_token: page.next_page_token,
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("rest")
        .into_inner();
    assert_eq!(
        rest.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [4, 5]
    );
    assert!(rest.next_page_token.is_empty());

    let status = feed
        .list_events(ev::ListEventsRequest {
            after_sequence: -1,
            page_size: -5,
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&status), ["after_sequence", "page_size"]);
}

#[tokio::test]
async fn watching_streams_the_backlog_then_new_events() {
    let app = spawn_app().await;
    let mut client = app.admin();
    let first = create_ok(&mut client, account("Before")).await;
    let mut stream = app
        .feed(Role::Admin)
        .watch_events(ev::WatchEventsRequest { after_sequence: 0 })
        .await
        .expect("watch")
        .into_inner();
    let backlog = stream
        .message()
        .await
        .expect("stream")
        .expect("event")
        .event
        .expect("event");
    assert_eq!(
        (backlog.sequence, backlog.subject_id.as_str()),
        (1, first.id.as_str())
    );

    let second = create_ok(&mut client, account("After")).await;
    let live = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a live event arrives")
        .expect("stream")
        .expect("event")
        .event
        .expect("event");
    assert_eq!(
        (live.sequence, live.subject_id.as_str()),
        (2, second.id.as_str())
    );
}

#[tokio::test]
async fn feeds_are_for_integration_roles_only() {
    let app = spawn_app().await;
    for role in [Role::Csm, Role::CustomerSales, Role::CsManager] {
        let status = app
            .feed(role)
            .list_events(ev::ListEventsRequest::default())
            .await
            .expect_err("not an integration role");
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let mut partner =
        themodel_proto::events::event_feed_service_client::EventFeedServiceClient::with_interceptor(
            app.channel(),
            themodel_platform::testing::Bearer::new(Role::PartnerUser, Some("p-1")),
        );
    let status = partner
        .watch_events(ev::WatchEventsRequest::default())
        .await
        .expect_err("partners never read the whole feed");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_watch_ends_when_its_token_expires() {
    // No clock leeway, so the token's two seconds are all it gets.
    let app = spawn_app_with(|config| config.auth.auth_clock_leeway_secs = 0).await;
    let token = themodel_platform::testing::issuer()
        .mint("watcher", Role::Bizops, None, Duration::from_secs(2))
        .expect("mint");
    let mut feed =
        themodel_proto::events::event_feed_service_client::EventFeedServiceClient::with_interceptor(
            app.channel(),
            themodel_platform::testing::Bearer::raw(&format!("Bearer {token}")),
        );
    let mut stream = feed
        .watch_events(ev::WatchEventsRequest { after_sequence: 0 })
        .await
        .expect("watch")
        .into_inner();
    let status =
        themodel_platform::testing::final_status(&mut stream, Duration::from_secs(30)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(reason(&status), "UNAUTHENTICATED");
}
