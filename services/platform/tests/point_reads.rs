//! Coalesced reads by primary key: many concurrent callers each get their own
//! row (or none), a read after a commit sees it, and a failed statement fails
//! its callers without stopping later reads. Runs on SQLite, or on PostgreSQL
//! when `TEST_DATABASE_URL` is set.

use futures::future::join_all;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use themodel_platform::{
    store::{self, Db, PointReads, Tx},
    testing::TestDatabase,
};

mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const CREATE: &str = "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)";

async fn db() -> (TestDatabase, Db) {
    let test = TestDatabase::new().await;
    let db = store::connect(&test.url).await.expect("connect");
    db.execute_unprepared(CREATE).await.expect("create table");
    (test, db)
}

fn placeholders(backend: DbBackend, sql: &str) -> String {
    match backend {
        DbBackend::Postgres => sql.replacen('?', "$1", 1).replacen('?', "$2", 1),
        _ => sql.to_owned(),
    }
}

/// Writes `body` for `id` in a committed transaction.
async fn write(db: &Db, id: &str, body: &str) {
    let backend = db.get_database_backend();
    let tx = Tx::begin(db).await.expect("begin");
    let sql = placeholders(
        backend,
        "INSERT INTO notes (id, body) VALUES (?, ?) \
         ON CONFLICT (id) DO UPDATE SET body = excluded.body",
    );
    tx.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [id.into(), body.into()],
    ))
    .await
    .expect("write");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn concurrent_callers_each_get_their_own_row_or_none() {
    let (_test, db) = db().await;
    for i in 0..300 {
        write(&db, &format!("note-{i}"), &format!("body {i}")).await;
    }
    let reads = PointReads::<note::Entity>::new(db.clone());
    // More callers than one statement reads, present and absent keys, each
    // present key asked for twice.
    let asked: Vec<String> = (0..600).map(|i| format!("note-{}", i % 400)).collect();
    let answers = join_all(asked.iter().map(|id| {
        let reads = reads.clone();
        async move { reads.get(id).await }
    }))
    .await;
    for (id, answer) in asked.iter().zip(answers) {
        let i: usize = id["note-".len()..].parse().expect("number");
        let row = answer.expect("read");
        if i < 300 {
            let row = row.unwrap_or_else(|| panic!("{id} was not found"));
            assert_eq!(row.id, *id);
            assert_eq!(row.body, format!("body {i}"));
        } else {
            assert_eq!(row, None, "{id} does not exist");
        }
    }
}

#[tokio::test]
async fn a_read_after_a_commit_sees_it_while_others_read() {
    let (_test, db) = db().await;
    write(&db, "busy", "x").await;
    let reads = PointReads::<note::Entity>::new(db.clone());
    // Other callers keep a statement running most of the time, so the reads
    // below often arrive while one started before their write committed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let others: Vec<_> = (0..8)
        .map(|_| {
            let (reads, stop) = (reads.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    reads.get("busy").await.expect("read");
                }
            })
        })
        .collect();
    for version in 0..100 {
        let body = format!("version {version}");
        write(&db, "watched", &body).await;
        let row = reads.get("watched").await.expect("read").expect("found");
        assert_eq!(row.body, body);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for other in others {
        other.await.expect("reader");
    }
}

#[tokio::test]
async fn a_failed_statement_fails_its_callers_and_later_reads_work() {
    let (_test, db) = db().await;
    write(&db, "kept", "body").await;
    let reads = PointReads::<note::Entity>::new(db.clone());
    db.execute_unprepared("DROP TABLE notes")
        .await
        .expect("drop");
    let answers = join_all((0..20).map(|i| {
        let reads = reads.clone();
        async move { reads.get(&format!("note-{i}")).await }
    }))
    .await;
    assert!(
        answers.iter().all(Result::is_err),
        "a read of a missing table must fail: {answers:?}"
    );
    db.execute_unprepared(CREATE).await.expect("create again");
    write(&db, "kept", "again").await;
    let row = reads.get("kept").await.expect("read").expect("found");
    assert_eq!(row.body, "again");
}
