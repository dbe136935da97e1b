//! The bulk-append primitive: rows of every column type round-trip, inputs
//! larger than one chunk arrive whole, and a failure or a rollback leaves
//! nothing behind, together with the unit of work's events and idempotency
//! record. Runs on SQLite, or on PostgreSQL when `TEST_DATABASE_URL` is set.

mod common;

use chrono::NaiveDate;
use common::count;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use themodel_platform::{
    auth::{Principal, Role},
    store::{
        self, Begun, CopyRow, CopyTable, IdempotencyKey, RowWriter, Scan, Store, Tx,
        is_unique_violation,
    },
    testing::TestDatabase,
};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        store::migration::migrations()
    }
}

const SAMPLES: CopyTable = CopyTable {
    name: "usage_samples",
    columns: &[
        "id",
        "account_id",
        "metric",
        "quantity",
        "active",
        "day",
        "seats",
        "payload",
    ],
};

#[derive(Debug, Clone, PartialEq, FromQueryResult)]
struct Sample {
    id: i64,
    account_id: String,
    metric: Option<String>,
    quantity: f64,
    active: bool,
    day: Option<NaiveDate>,
    seats: i32,
    payload: Vec<u8>,
}

impl CopyRow for Sample {
    fn write(&self, row: &mut RowWriter) {
        row.int8(self.id);
        row.text(&self.account_id);
        row.opt(self.metric.as_deref(), RowWriter::text);
        row.float8(self.quantity);
        row.bool(self.active);
        row.opt(self.day, RowWriter::date);
        row.int4(self.seats);
        row.bytes(&self.payload);
    }
}

/// Writes one value too few.
struct Short;

impl CopyRow for Short {
    fn write(&self, row: &mut RowWriter) {
        row.int8(1);
    }
}

fn sample(i: i64, payload: usize) -> Sample {
    Sample {
        id: i,
        account_id: format!("acct-{}", i % 97),
        metric: (i % 3 != 0).then(|| format!("api_calls_{}", i % 5)),
        quantity: i as f64 * 1.5,
        active: i % 2 == 0,
        day: (i % 4 != 0).then(|| {
            NaiveDate::from_ymd_opt(
                1999 + (i % 40) as i32,
                1 + (i % 12) as u32,
                1 + (i % 28) as u32,
            )
            .expect("date")
        }),
        seats: -(i as i32),
        payload: vec![(i % 251) as u8; payload],
    }
}

async fn store() -> (TestDatabase, Store) {
    let db = TestDatabase::new().await;
    store::migrate::<Migrator>(&db.url).await.expect("migrate");
    let conn = store::connect(&db.url).await.expect("connect");
    let (bytes, double) = match conn.get_database_backend() {
        DbBackend::Postgres => ("BYTEA", "DOUBLE PRECISION"),
        _ => ("BLOB", "REAL"),
    };
    conn.execute_unprepared(&format!(
        "CREATE TABLE usage_samples (id BIGINT PRIMARY KEY, account_id VARCHAR(36) NOT NULL, \
         metric TEXT NULL, quantity {double} NOT NULL, active BOOLEAN NOT NULL, day DATE NULL, \
         seats INTEGER NOT NULL, payload {bytes} NOT NULL)"
    ))
    .await
    .expect("create table");
    let store = Store::open(conn, "test").await.expect("open");
    (db, store)
}

async fn stored(store: &Store) -> Vec<Sample> {
    Sample::find_by_statement(Statement::from_string(
        store.db.get_database_backend(),
        "SELECT * FROM usage_samples ORDER BY id",
    ))
    .all(&store.db)
    .await
    .expect("read back")
}

#[tokio::test]
async fn rows_of_every_type_round_trip_across_chunks() {
    let (_db, store) = store().await;
    // 3 MB of payload: several COPY chunks, several SQLite statements.
    let rows: Vec<Sample> = (1..=12_000).map(|i| sample(i, 256)).collect();
    let tx = Tx::begin(&store.db).await.expect("begin");
    let written = store::copy::append(&tx, &SAMPLES, &rows)
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(written, 12_000);
    assert_eq!(stored(&store).await, rows);
}

#[tokio::test]
async fn a_failed_append_writes_nothing() {
    let (_db, store) = store().await;
    let tx = Tx::begin(&store.db).await.expect("begin");
    store::copy::append(&tx, &SAMPLES, [sample(1, 8)])
        .await
        .expect("first append");
    // A duplicate key in the middle of a larger append fails it whole.
    let rows: Vec<Sample> = (2..=10)
        .chain([1])
        .chain(11..=20)
        .map(|i| sample(i, 8))
        .collect();
    let err = store::copy::append(&tx, &SAMPLES, &rows)
        .await
        .expect_err("duplicate key");
    assert!(is_unique_violation(&err), "{err:?}");
    drop(tx);
    assert!(stored(&store).await.is_empty());

    let tx = Tx::begin(&store.db).await.expect("begin");
    let err = store::copy::append(&tx, &SAMPLES, [Short])
        .await
        .expect_err("short row");
    assert!(
        err.to_string().contains("wrote 1 values for 8 columns"),
        "{err}"
    );
    drop(tx);
    assert!(stored(&store).await.is_empty());
}

#[tokio::test]
async fn appends_commit_with_their_events_and_idempotency_record() {
    let (_db, store) = store().await;
    let principal = Principal {
        subject: "ingest".into(),
        role: Role::Service,
        partner_id: None,
        actor: None,
    };
    let request = themodel_proto::events::Event::default();
    let key = || IdempotencyKey::new(&principal, Some("batch-1".into()), "Ingest", &request);

    // A unit of work appending 100 rows with one event.
    let work = async || {
        let Begun::Fresh(mut uow) = store
            .begin::<themodel_proto::events::Event>(key())
            .await
            .expect("begin")
        else {
            panic!("fresh key");
        };
        uow.append(&SAMPLES, (1..=100).map(|i| sample(i, 8)))
            .await
            .expect("append");
        uow.emit("acct-1", &themodel_proto::events::Event::default());
        uow
    };

    // Rolled back: nothing of the unit of work remains.
    drop(work().await);
    assert_eq!(count(&store.db, "usage_samples").await, 0);
    assert_eq!(count(&store.db, "outbox_events").await, 0);
    assert_eq!(count(&store.db, "idempotency_keys").await, 0);

    // Committed: rows, event and record together; the key then replays.
    let uow = work().await;
    let response = themodel_proto::events::Event {
        event_id: "done".into(),
        ..Default::default()
    };
    uow.commit(&response).await.expect("commit");
    assert_eq!(count(&store.db, "usage_samples").await, 100);
    assert_eq!(count(&store.db, "outbox_events").await, 1);
    match store
        .begin::<themodel_proto::events::Event>(key())
        .await
        .expect("replay")
    {
        Begun::Replay(replayed) => assert_eq!(replayed, response),
        Begun::Fresh(_) => panic!("the key was used"),
    }
}

#[tokio::test]
async fn events_flushed_early_commit_in_order_or_roll_back_with_the_change() {
    let (_db, store) = store().await;
    let event = |id: &str| themodel_proto::events::Event {
        event_id: id.into(),
        ..Default::default()
    };
    let work = async || {
        let Begun::Fresh(mut uow) = store
            .begin::<themodel_proto::events::Event>(None)
            .await
            .expect("begin")
        else {
            panic!("no key");
        };
        for chunk in 0..3 {
            for i in 0..4 {
                uow.emit(&format!("acct-{chunk}-{i}"), &event("e"));
            }
            uow.flush_events().await.expect("flush");
        }
        uow.emit("acct-last", &event("e"));
        uow
    };

    // Rolled back: the flushed events go with the change.
    let watcher = store.outbox.subscribe();
    drop(work().await);
    assert_eq!(count(&store.db, "outbox_events").await, 0);

    // Committed: all thirteen, in emission order, and watchers see the last.
    work().await.commit(&event("done")).await.expect("commit");
    let events = store.outbox.list(&store.db, 0, 100).await.expect("list");
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=13).collect::<Vec<_>>());
    assert_eq!(events[0].subject_id, "acct-0-0");
    assert_eq!(events[12].subject_id, "acct-last");
    assert_eq!(*watcher.borrow(), 13);
}

#[tokio::test]
async fn a_scan_hands_over_every_row_and_stops_at_the_first_refusal() {
    let (_db, store) = store().await;
    let tx = Tx::begin(&store.db).await.expect("begin");
    store::copy::append(&tx, &SAMPLES, (1..=5_000).map(|i| sample(i, 4)))
        .await
        .expect("append");
    let select = || {
        Statement::from_string(
            store.db.get_database_backend(),
            "SELECT id, seats FROM usage_samples",
        )
    };

    // Inside the transaction, which sees its own rows.
    let (mut rows, mut total) = (0, 0i64);
    tx.scan(select(), &mut |row| {
        rows += 1;
        total += row.try_get_by_index::<i64>(0)?;
        Ok(())
    })
    .await
    .expect("scan in the transaction");
    assert_eq!((rows, total), (5_000, 5_000 * 5_001 / 2));
    tx.commit().await.expect("commit");

    // On the pool; a refusal ends the scan and is what it returns.
    let mut seen = 0;
    let refused = store
        .db
        .scan(select(), &mut |_| {
            seen += 1;
            if seen == 10 {
                return Err(sea_orm::DbErr::Custom("enough".into()));
            }
            Ok(())
        })
        .await;
    assert_eq!(seen, 10);
    assert!(matches!(refused, Err(sea_orm::DbErr::Custom(m)) if m == "enough"));
    // The connection is fine afterwards.
    assert_eq!(count(&store.db, "usage_samples").await, 5_000);
}
