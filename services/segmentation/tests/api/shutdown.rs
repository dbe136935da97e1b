//! Shutdown: NOT_SERVING, streams end at once with UNAVAILABLE, new calls are
//! refused, unary calls in flight finish, and the server stops as soon as
//! they have.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    TransactionOptions, TransactionTrait,
};
use themodel_platform::{
    auth::Role,
    testing::{Bearer, TestDatabase, final_status},
};
use themodel_proto::{
    events::{self as ev, event_feed_service_client::EventFeedServiceClient},
    segmentation::{self as pb, segmentation_service_client::SegmentationServiceClient},
};
use themodel_segmentation::Application;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::*;

/// Holds the service's write path: SQLite's write lock, or on PostgreSQL the
/// event-log head row every write updates.
struct WriteLock {
    _db: DatabaseConnection,
    tx: DatabaseTransaction,
}

impl WriteLock {
    async fn take(url: &str) -> WriteLock {
        let db = Database::connect(url).await.expect("connect");
        let tx = match db.get_database_backend() {
            DbBackend::Sqlite => db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
                .expect("write lock"),
            _ => {
                let tx = db.begin().await.expect("begin");
                tx.execute_unprepared("SELECT last_sequence FROM outbox_head FOR UPDATE")
                    .await
                    .expect("row lock");
                tx
            }
        };
        WriteLock { _db: db, tx }
    }

    async fn release(self) {
        self.tx.rollback().await.expect("release");
    }
}

#[tokio::test]
async fn shutdown_ends_streams_at_once_and_lets_unary_calls_finish() {
    themodel_platform::telemetry::init_for_tests();
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    // Far longer than the test may take: the server must not wait for it.
    config.server.drain_timeout_secs = 300;
    let shutdown = CancellationToken::new();
    let running = Application::build(config, shutdown.clone())
        .await
        .expect("start");
    let (addr, calls) = (running.addr, running.calls.clone());
    let run = tokio::spawn(running.run);
    let channel = connect(addr).await;

    let mut stream =
        EventFeedServiceClient::with_interceptor(channel.clone(), Bearer::new(Role::Admin, None))
            .watch_events(ev::WatchEventsRequest::default())
            .await
            .expect("watch")
            .into_inner();
    // A create that stays in flight until the lock is released.
    let lock = WriteLock::take(&db.url).await;
    let mut client = SegmentationServiceClient::with_interceptor(
        channel.clone(),
        Bearer::new(Role::Admin, None),
    );
    let in_flight =
        tokio::spawn(async move { client.create_account(create(account("In flight"))).await });
    tokio::time::timeout(Duration::from_secs(30), async {
        while calls.in_flight() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the watch and the create are in flight");

    shutdown.cancel();
    let ended = final_status(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");

    // While the create is in flight: NOT_SERVING, and new calls are refused.
    let fresh = connect(addr).await;
    let health = HealthClient::new(fresh.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status, ServingStatus::NotServing as i32);
    let refused =
        SegmentationServiceClient::with_interceptor(fresh, Bearer::new(Role::Admin, None))
            .list_accounts(pb::ListAccountsRequest::default())
            .await
            .expect_err("refused while draining");
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(!in_flight.is_finished());

    lock.release().await;
    let created = in_flight
        .await
        .expect("join")
        .expect("the call in flight finishes")
        .into_inner();
    assert_eq!(created.account.expect("account").name, "In flight");
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the server stops once its unary calls are done")
        .expect("join")
        .expect("clean stop");
}
