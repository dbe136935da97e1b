//! The store's write transaction. It runs sea-orm queries like any
//! connection, and also gives the platform the driver's connection for what
//! the ORM cannot do, above all PostgreSQL's `COPY FROM STDIN` (see
//! [`super::copy`]), so a bulk append commits atomically with the change's
//! other rows, its events and its idempotency record.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};
use tokio::sync::{Mutex, MutexGuard};

use super::db::{Conn, Db};

/// An open transaction on one connection; rolled back when dropped without
/// [`Tx::commit`].
pub struct Tx {
    backend: DbBackend,
    /// Boxed: a lent connection is moved with every unit of work.
    conn: Box<Mutex<Option<Conn>>>,
}

impl Tx {
    /// Begins a write transaction on `db`. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a
    /// read lock.
    pub async fn begin(db: &Db) -> Result<Self, DbErr> {
        let backend = db.get_database_backend();
        let mut conn = db.lease().await?;
        let begin = match backend {
            DbBackend::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        };
        conn.execute_unprepared(begin).await?;
        Ok(Self {
            backend,
            conn: Box::new(Mutex::new(Some(conn))),
        })
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.end("COMMIT").await
    }

    /// Rolls back (dropping the transaction does too, in the background).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.end("ROLLBACK").await
    }

    async fn end(self, statement: &str) -> Result<(), DbErr> {
        let Some(mut conn) = self.conn.lock().await.take() else {
            return Err(DbErr::Custom("the transaction has ended".into()));
        };
        let result = conn.execute_unprepared(statement).await.map(|_| ());
        if result.is_err() {
            // Its state is unknown: do not lend it again.
            conn.discard();
        }
        result
    }

    /// The transaction's connection, held until the guard drops.
    pub(crate) async fn conn(&self) -> MutexGuard<'_, Option<Conn>> {
        self.conn.lock().await
    }
}

/// The connection of a transaction that has not ended.
pub(crate) fn live(conn: &mut Option<Conn>) -> Result<&mut Conn, DbErr> {
    conn.as_mut()
        .ok_or_else(|| DbErr::Custom("the transaction has ended".into()))
}

impl Drop for Tx {
    /// Rolls back on a task of its own, then lends the connection again; with
    /// no runtime to run it on, the connection is closed instead (which rolls
    /// back too).
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.get_mut().take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if conn.execute_unprepared("ROLLBACK").await.is_err() {
                        conn.discard();
                    }
                });
            }
            Err(_) => conn.discard(),
        }
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("backend", &self.backend)
            .finish()
    }
}

impl super::Scan for Tx {
    async fn scan(&self, stmt: Statement, each: &mut super::EachRow<'_>) -> Result<(), DbErr> {
        live(&mut *self.conn.lock().await)?.scan(stmt, each).await
    }
}

#[tonic::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        live(&mut *self.conn.lock().await)?.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        live(&mut *self.conn.lock().await)?
            .execute_unprepared(sql)
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        live(&mut *self.conn.lock().await)?.query_one(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        live(&mut *self.conn.lock().await)?.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.backend.support_returning()
    }
}
