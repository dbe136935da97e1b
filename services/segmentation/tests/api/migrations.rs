//! Migrations that change the service's tables keep what they hold, and go
//! down and up again.

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use themodel_platform::testing::{TestDatabase, index_count};
use themodel_segmentation::store::migration::Migrator;

const HISTORIES_KEYED_BY_ACCOUNT: &str = "m20261203_000008_histories_keyed_by_account";

/// The schema as it was before the histories were keyed by account.
struct Before;

impl MigratorTrait for Before {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Migrator::migrations()
            .into_iter()
            .filter(|m| m.name() != HISTORIES_KEYED_BY_ACCOUNT)
            .collect()
    }
}

/// Every row of `table` (with its value column `value`), in a fixed order.
async fn history(db: &impl ConnectionTrait, table: &str, value: &str) -> Vec<Vec<Option<String>>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT id, account_id, {value} AS value, \
                 CAST(change_time_us AS VARCHAR(20)) AS at FROM {table} ORDER BY id"
            ),
        ))
        .await
        .expect("history");
    rows.iter()
        .map(|row| {
            ["id", "account_id", "value", "at"]
                .iter()
                .map(|column| row.try_get("", column).expect("column"))
                .collect()
        })
        .collect()
}

async fn histories(db: &impl ConnectionTrait) -> [Vec<Vec<Option<String>>>; 2] {
    [
        history(db, "lifecycle_changes", "status").await,
        history(db, "owner_changes", "owner_csm_id").await,
    ]
}

async fn indexes(db: &impl ConnectionTrait) -> [i64; 2] {
    [
        index_count(db, "lifecycle_changes").await,
        index_count(db, "owner_changes").await,
    ]
}

#[tokio::test]
async fn histories_written_before_they_were_keyed_by_account_are_kept() {
    themodel_platform::telemetry::init_for_tests();
    let test = TestDatabase::new().await;
    let db = test.migration_connection().await;
    Before::up(&db, None).await.expect("old schema");
    // Two changes of one account in the same microsecond, which the new key
    // must keep apart, and an account left without an owner.
    for (id, account, status, owner, at) in [
        (
            "0190a0b0-0000-7000-8000-000000000001",
            "a-1",
            "LIFECYCLE_STATUS_ONBOARDING",
            "'csm-1'",
            10,
        ),
        (
            "0190a0b0-0000-7000-8000-000000000002",
            "a-1",
            "LIFECYCLE_STATUS_ACTIVE",
            "NULL",
            10,
        ),
        (
            "0190a0b0-0000-7000-8000-000000000003",
            "a-2",
            "LIFECYCLE_STATUS_CHURNED",
            "'csm-2'",
            20,
        ),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO lifecycle_changes (id, account_id, status, change_time_us) \
             VALUES ('{id}', '{account}', '{status}', {at})"
        ))
        .await
        .expect("insert lifecycle change");
        db.execute_unprepared(&format!(
            "INSERT INTO owner_changes (id, account_id, owner_csm_id, change_time_us) \
             VALUES ('{id}', '{account}', {owner}, {at})"
        ))
        .await
        .expect("insert owner change");
    }
    let before = histories(&db).await;
    assert_eq!(before[0].len(), 3);
    assert_eq!(before[1][1][2], None);
    // A primary key on the id and an index by account and time.
    assert_eq!(indexes(&db).await, [2, 2]);

    Migrator::up(&db, None).await.expect("upgrade");
    assert_eq!(histories(&db).await, before);
    // One key, by account and time, in place of both.
    assert_eq!(indexes(&db).await, [1, 1]);

    Migrator::down(&db, Some(1)).await.expect("downgrade");
    assert_eq!(indexes(&db).await, [2, 2]);
    assert_eq!(histories(&db).await, before);
    Migrator::up(&db, None).await.expect("upgrade again");
    assert_eq!(indexes(&db).await, [1, 1]);
    assert_eq!(histories(&db).await, before);
}
