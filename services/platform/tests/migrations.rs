//! Migrations that change the platform's tables keep what the tables hold,
//! and go down and up again. Runs on SQLite, or on PostgreSQL when
//! `TEST_DATABASE_URL` is set.

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use themodel_platform::{
    store::migration::{self, UNINDEXED_EVENT_IDS},
    testing::{TestDatabase, index_count},
};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migration::migrations()
    }
}

/// The platform's tables as they were before event ids lost their index.
struct Before;

impl MigratorTrait for Before {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migration::migrations()
            .into_iter()
            .filter(|m| m.name() != UNINDEXED_EVENT_IDS)
            .collect()
    }
}

/// Each event's sequence, id, type, subject and payload, in order.
async fn events(db: &impl ConnectionTrait) -> Vec<(i64, String, String, String, Vec<u8>)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT sequence, event_id, event_type, subject_id, payload \
             FROM outbox_events ORDER BY sequence",
        ))
        .await
        .expect("events");
    rows.iter()
        .map(|row| {
            (
                row.try_get("", "sequence").expect("sequence"),
                row.try_get("", "event_id").expect("event_id"),
                row.try_get("", "event_type").expect("event_type"),
                row.try_get("", "subject_id").expect("subject_id"),
                row.try_get("", "payload").expect("payload"),
            )
        })
        .collect()
}

#[tokio::test]
async fn events_written_before_event_ids_lost_their_index_are_kept() {
    themodel_platform::telemetry::init_for_tests();
    let test = TestDatabase::new().await;
    let db = test.migration_connection().await;
    Before::up(&db, None).await.expect("old schema");
    // The sequence's index (SQLite keeps an integer key in the row id
    // instead) and the event id's.
    let indexed = index_count(&db, "outbox_events").await;
    let blob = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "'\\x0a0b'::bytea",
        _ => "X'0A0B'",
    };
    for sequence in 1..=3 {
        db.execute_unprepared(&format!(
            "INSERT INTO outbox_events \
             (sequence, event_id, event_type, subject_id, payload, occurred_at_us) \
             VALUES ({sequence}, '0190a0b0-0000-7000-8000-00000000000{sequence}', \
             'test.v1.Happened', 'subject-{sequence}', {blob}, {sequence})"
        ))
        .await
        .expect("insert event");
    }
    let before = events(&db).await;
    assert_eq!(before.len(), 3);

    Migrator::up(&db, None).await.expect("upgrade");
    assert_eq!(events(&db).await, before);
    assert_eq!(index_count(&db, "outbox_events").await, indexed - 1);

    // Down again: the index is back and the events are as they were.
    Migrator::down(&db, Some(1)).await.expect("downgrade");
    assert_eq!(index_count(&db, "outbox_events").await, indexed);
    assert_eq!(events(&db).await, before);
    Migrator::up(&db, None).await.expect("upgrade again");
    assert_eq!(index_count(&db, "outbox_events").await, indexed - 1);
    assert_eq!(events(&db).await, before);
}
