//! The NATS JetStream relay against a real nats-server: events arrive in
//! order, once, across a NATS restart and a relay crash.

use std::time::Duration;

use async_nats::jetstream;
use prost::Message as _;
use themodel_platform::{
    auth::Role,
    store::cursor,
    testing::{Bearer, NatsServer, TestDatabase},
};
use themodel_proto::{
    events as ev, segmentation::segmentation_service_client::SegmentationServiceClient,
};
use themodel_segmentation::Application;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// Waits until the stream holds `count` messages, then returns them in stream
/// order as (subject, Nats-Msg-Id, event).
async fn published(nats: &str, count: u64) -> Vec<(String, String, ev::Event)> {
    let js = jetstream::new(async_nats::connect(nats).await.expect("connect"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stream = loop {
        if let Ok(mut stream) = js.get_stream("THEMODEL_SEGMENTATION").await
            && let Ok(info) = stream.info().await
        {
            assert!(
                info.state.messages <= count,
                "more messages than events: {}",
                info.state.messages
            );
            if info.state.messages == count {
                break stream;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} events not published in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut messages = Vec::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.expect("message");
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let event = ev::Event::decode(message.payload).expect("an Event envelope");
        messages.push((message.subject.to_string(), id, event));
    }
    messages
}

/// Every event 1..=count exactly once, in order, under its subject and id.
fn assert_once_in_order(messages: &[(String, String, ev::Event)], count: i64) {
    let sequences: Vec<i64> = messages.iter().map(|(_, _, e)| e.sequence).collect();
    assert_eq!(sequences, (1..=count).collect::<Vec<_>>());
    for (subject, id, event) in messages {
        assert_eq!(subject, "themodel.segmentation.AccountCreated");
        assert_eq!(id, &event.event_id);
    }
}

async fn create_accounts(client: &mut Client, n: usize) {
    for i in 0..n {
        create_ok(client, account(&format!("Account {i}"))).await;
    }
}

#[tokio::test]
async fn events_reach_jetstream_in_order_once_across_a_nats_restart() {
    let Some(mut nats) = NatsServer::start().await else {
        return;
    };
    let url = nats.url();
    let app = spawn_app_with(|config| config.store.nats_url = Some(url.clone())).await;
    let mut client = app.admin();
    create_accounts(&mut client, 10).await;
    published(&url, 10).await;

    // NATS goes away while accounts keep changing, then comes back.
    nats.stop();
    create_accounts(&mut client, 10).await;
    nats.restart().await;
    let messages = published(&url, 20).await;
    assert_once_in_order(&messages, 20);
}

#[tokio::test]
async fn a_relay_that_crashed_resumes_from_its_cursor_without_duplicates() {
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let url = nats.url();
    themodel_platform::telemetry::init_for_tests();
    let db = TestDatabase::new().await;

    // The first replica, in a runtime of its own so that it can die abruptly.
    let (addr, runtime) = {
        let mut config = test_config(&db);
        config.store.nats_url = Some(url.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let running = runtime
                .block_on(Application::build(config, CancellationToken::new()))
                .expect("start");
            let addr = running.addr;
            runtime.spawn(running.run);
            (addr, runtime)
        })
        .join()
        .expect("first replica")
    };
    let mut first = SegmentationServiceClient::with_interceptor(
        connect(addr).await,
        Bearer::new(Role::Admin, None),
    );
    for i in 0..10 {
        first
            .create_account(create(account(&format!("First {i}"))))
            .await
            .expect("create");
    }
    published(&url, 10).await;
    runtime.shutdown_background();

    // It died after publishing 5..10 but before its cursor recorded them.
    let conn = sea_orm::Database::connect(db.url.as_str())
        .await
        .expect("connect");
    cursor::advance(&conn, themodel_platform::relay::RELAY, 4)
        .await
        .expect("rewind");
    conn.close().await.ok();

    // The next replica takes over the relay's lease once it runs out, and resumes.
    let app = spawn_app_on_with(db, |config| config.store.nats_url = Some(url.clone())).await;
    create_accounts(&mut app.admin(), 10).await;
    let messages = published(&url, 20).await;
    assert_once_in_order(&messages, 20);
}
