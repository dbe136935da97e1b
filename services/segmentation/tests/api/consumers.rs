//! A durable consumer of the segmentation feed: every event applied exactly
//! once across a consumer crash, failing events parked and retried.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use prost::Message as _;
use sea_orm::{ConnectionTrait, Statement};
use themodel_platform::{
    auth::{Keys, Role},
    client::{ClientConfig, Clients},
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    server::{Server, ServerConfig},
    store::{Store, StoreConfig, cursor},
    testing::{Bearer, TestDatabase, auth_config, service_identity},
};
use themodel_proto::{
    events::Event,
    operations::{
        ListDeadLettersRequest, ListJobsRequest, RetryDeadLetterRequest,
        operations_service_client::OperationsServiceClient,
    },
    segmentation as pb,
};
use themodel_segmentation::store::migration::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::helpers::*;

/// Records each account it sees in the consumer's own table; refuses the
/// account named "Poison" until it is cured.
struct Projection {
    cured: Arc<AtomicBool>,
    /// Time each event takes, so a crash can land in the middle of the feed.
    pace: Duration,
}

#[tonic::async_trait]
impl EventHandler for Projection {
    async fn handle(
        &self,
        uow: &mut themodel_platform::store::UnitOfWork,
        event: &Event,
    ) -> anyhow::Result<()> {
        let tx = uow.tx();
        tokio::time::sleep(self.pace).await;
        let payload = event
            .payload
            .as_ref()
            .map(|p| p.value.as_slice())
            .unwrap_or_default();
        let created = pb::AccountCreated::decode(payload)?;
        let name = created.account.map(|a| a.name).unwrap_or_default();
        anyhow::ensure!(
            name != "Poison" || self.cured.load(Ordering::SeqCst),
            "cannot project {name}"
        );
        let backend = tx.get_database_backend();
        // A second application of the same event would break the primary key.
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO projected (event_id, name) VALUES ($1, $2)"
                }
                _ => "INSERT INTO projected (event_id, name) VALUES (?, ?)",
            },
            [event.event_id.clone().into(), name.into()],
        ))
        .await?;
        Ok(())
    }
}

/// The consumer's side: its own database with the platform's tables and the
/// projection's.
async fn consumer_store(db: &TestDatabase) -> Store {
    let store = Store::connect::<Migrator>("health", &db.url, &StoreConfig::default())
        .await
        .expect("store");
    store
        .db
        .execute_unprepared(
            "CREATE TABLE IF NOT EXISTS projected (event_id VARCHAR(36) PRIMARY KEY, name TEXT)",
        )
        .await
        .expect("projection table");
    store
}

/// Starts a replica of the consumer; its job runner.
fn start_consumer(store: &Store, source: &str, cured: Arc<AtomicBool>) -> JobRunner {
    start_paced_consumer(store, source, cured, Duration::ZERO)
}

fn start_paced_consumer(
    store: &Store,
    source: &str,
    cured: Arc<AtomicBool>,
    pace: Duration,
) -> JobRunner {
    let jobs = JobRunner::new(store, "health", CancellationToken::new());
    let identity = Arc::new(service_identity("health", auth_config().auth_key_file));
    let clients = Clients::new(
        "health",
        identity,
        &ClientConfig::default(),
        &[("segmentation".into(), source.to_owned())],
    )
    .expect("clients");
    Consumer::new(
        "account-projection",
        "segmentation",
        store,
        Projection { cured, pace },
    )
    .start(&jobs, clients);
    jobs
}

async fn projected(db: &themodel_platform::store::Db) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM projected",
    ))
    .await
    .expect("count")
    .and_then(|row| row.try_get::<i64>("", "n").ok())
    .unwrap_or(0)
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn every_event_is_applied_exactly_once_across_a_consumer_crash() {
    let source = spawn_app().await;
    let url = format!("http://{}", source.addr());
    let mut admin = source.admin();
    for i in 0..40 {
        create_ok(&mut admin, account(&format!("Account {i}"))).await;
    }
    let db = TestDatabase::new().await;
    let store = consumer_store(&db).await;

    // The first replica dies abruptly in the middle of the feed.
    {
        let url = url.clone();
        let db_url = db.url.clone();
        let runtime = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let store = consumer_store_at(&db_url).await;
                start_paced_consumer(&store, &url, Arc::default(), Duration::from_millis(30));
            });
            runtime
        })
        .join()
        .expect("first replica");
        until("the first replica applied some", async || {
            projected(&store.db).await >= 5
        })
        .await;
        runtime.shutdown_background();
    }

    // Another replica takes over (once the lease runs out) from the cursor.
    let _jobs = start_consumer(&store, &url, Arc::default());
    for i in 40..50 {
        create_ok(&mut admin, account(&format!("Account {i}"))).await;
    }
    until("every event is applied", async || {
        cursor::position(&store.db, "account-projection")
            .await
            .unwrap_or(0)
            == 50
    })
    .await;
    assert_eq!(projected(&store.db).await, 50);
    let (letters, _) = dead_letters(&store).await;
    assert!(letters.is_empty(), "nothing parked: {letters:?}");
}

async fn consumer_store_at(url: &str) -> Store {
    Store::connect::<Migrator>("health", url, &StoreConfig::default())
        .await
        .expect("store")
}

/// The consumer's operations service, served for the test.
async fn operations(
    store: &Store,
    jobs: &JobRunner,
) -> OperationsServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
> {
    let keys = Keys::load(&auth_config()).expect("keys");
    let running = Server::new("health", "health.themodel", &ServerConfig::default())
        .service(jobs.clone().into_server("health.themodel"))
        .authenticate(keys.authenticator)
        .check_database(store.clone())
        .start(
            "127.0.0.1:0".parse::<std::net::SocketAddr>().expect("addr"),
            CancellationToken::new(),
        )
        .await
        .expect("operations");
    let addr = running.addr;
    tokio::spawn(running.run);
    OperationsServiceClient::with_interceptor(connect(addr).await, Bearer::new(Role::Bizops, None))
}

async fn dead_letters(store: &Store) -> (Vec<themodel_proto::operations::DeadLetter>, ()) {
    let jobs = JobRunner::new(store, "health", CancellationToken::new());
    let mut ops = operations(store, &jobs).await;
    let letters = ops
        .list_dead_letters(ListDeadLettersRequest::default())
        .await
        .expect("dead letters")
        .into_inner()
        .dead_letters;
    (letters, ())
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_parked_and_can_be_retried() {
    let source = spawn_app().await;
    let url = format!("http://{}", source.addr());
    let mut admin = source.admin();
    for name in ["Before", "Poison", "After"] {
        create_ok(&mut admin, account(name)).await;
    }
    let db = TestDatabase::new().await;
    let store = consumer_store(&db).await;
    let cured = Arc::new(AtomicBool::new(false));
    let jobs = start_consumer(&store, &url, cured.clone());
    until("the feed is consumed", async || {
        cursor::position(&store.db, "account-projection")
            .await
            .unwrap_or(0)
            == 3
    })
    .await;
    // The poison is parked; the events after it flowed on.
    assert_eq!(projected(&store.db).await, 2);
    let mut ops = operations(&store, &jobs).await;
    let letters = ops
        .list_dead_letters(ListDeadLettersRequest {
            consumer: "account-projection".into(),
            ..Default::default()
        })
        .await
        .expect("dead letters")
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!((letter.sequence, letter.attempts), (2, 3));
    assert!(
        letter.error.contains("cannot project Poison"),
        "{}",
        letter.error
    );

    // Retried while still failing: it stays, with one more attempt.
    let retry = RetryDeadLetterRequest {
        consumer: letter.consumer.clone(),
        event_id: letter.event_id.clone(),
    };
    let again = ops
        .retry_dead_letter(retry.clone())
        .await
        .expect("retry")
        .into_inner();
    assert!(!again.resolved);
    assert_eq!(again.dead_letter.map(|l| l.attempts), Some(4));
    // Cured, it is applied and leaves the list; a second retry finds nothing.
    cured.store(true, Ordering::SeqCst);
    let fixed = ops
        .retry_dead_letter(retry.clone())
        .await
        .expect("retry")
        .into_inner();
    assert!(fixed.resolved);
    assert_eq!(projected(&store.db).await, 3);
    let status = ops.retry_dead_letter(retry).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_consumer_of_a_feed_that_cannot_be_reached_reports_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("addr");
    let db = TestDatabase::new().await;
    let store = consumer_store(&db).await;
    let jobs = start_consumer(&store, &format!("http://{closed}"), Arc::default());
    let mut ops = operations(&store, &jobs).await;
    until("the consumer reports its failure", async || {
        ops.list_jobs(ListJobsRequest::default())
            .await
            .map(|r| {
                r.into_inner().jobs.iter().any(|j| {
                    j.name == "account-projection" && j.last_error.contains("segmentation feed")
                })
            })
            .unwrap_or(false)
    })
    .await;
}
