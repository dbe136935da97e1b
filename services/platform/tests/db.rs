//! The store's connection handle: a transaction dropped without commit
//! rolls back and its connection serves later calls, connections are reused
//! rather than exhausted, and a read after a commit sees the commit.

mod common;

use common::count;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use themodel_platform::{
    store::{self, Db, Tx},
    testing::TestDatabase,
};

async fn db() -> (TestDatabase, Db) {
    let test = TestDatabase::new().await;
    let db = store::connect(&test.url).await.expect("connect");
    db.execute_unprepared("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        .await
        .expect("create table");
    (test, db)
}

fn insert(backend: DbBackend, id: i64) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => "INSERT INTO notes (id, body) VALUES ($1, 'x')",
        _ => "INSERT INTO notes (id, body) VALUES (?, 'x')",
    };
    Statement::from_sql_and_values(backend, sql, [id.into()])
}

#[tokio::test]
async fn dropped_transactions_roll_back_and_give_their_connection_back() {
    let (_test, db) = db().await;
    let backend = db.get_database_backend();
    // Far more transactions than the pool has connections: each must find one.
    for id in 0..100 {
        let tx = Tx::begin(&db).await.expect("begin");
        tx.execute_raw(insert(backend, id)).await.expect("insert");
        drop(tx);
    }
    assert_eq!(count(&db, "notes").await, 0);
    // A committed one after them is kept.
    let tx = Tx::begin(&db).await.expect("begin");
    tx.execute_raw(insert(backend, 1)).await.expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(count(&db, "notes").await, 1);
}

#[tokio::test]
async fn a_read_after_a_commit_sees_it() {
    let (_test, db) = db().await;
    let backend = db.get_database_backend();
    for id in 0..50 {
        let tx = Tx::begin(&db).await.expect("begin");
        tx.execute_raw(insert(backend, id)).await.expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(&db, "notes").await, id + 1);
    }
}

#[tokio::test]
async fn concurrent_callers_share_the_pool_without_exhausting_it() {
    let (_test, db) = db().await;
    let backend = db.get_database_backend();
    let mut tasks = Vec::new();
    for worker in 0..24i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let id = worker * 1000 + i;
                let tx = Tx::begin(&db).await.expect("begin");
                tx.execute_raw(insert(backend, id)).await.expect("insert");
                if i % 2 == 0 {
                    tx.commit().await.expect("commit");
                } else {
                    drop(tx);
                }
                count(&db, "notes").await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    assert_eq!(count(&db, "notes").await, 24 * 10);
}
