//! The store's own write transaction. It runs sea-orm queries like any
//! connection, and also exposes the driver's connection for what the ORM
//! cannot do, above all PostgreSQL's `COPY FROM STDIN` (see [`super::copy`]),
//! so a bulk append commits atomically with the change's other rows, its
//! events and its idempotency record.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, Values,
    sqlx::{self, Postgres, Sqlite, Transaction},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// An open transaction on one pooled connection; rolled back when dropped
/// without [`Tx::commit`].
pub struct Tx {
    backend: DbBackend,
    /// Boxed: a driver transaction is a few hundred bytes, moved with every
    /// unit of work.
    conn: Box<Mutex<Conn>>,
}

/// The driver's transaction.
pub(crate) enum Conn {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// A driver error as sea-orm reports a failed statement.
pub(crate) fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)))
}

fn values(stmt: Statement) -> (String, SqlxValues) {
    (
        stmt.sql,
        SqlxValues(stmt.values.unwrap_or(Values(Vec::new()))),
    )
}

impl Tx {
    /// Begins a write transaction on `db`. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a
    /// read lock.
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let backend = db.get_database_backend();
        let conn = match backend {
            DbBackend::Postgres => Conn::Postgres(
                db.get_postgres_connection_pool()
                    .begin()
                    .await
                    .map_err(conn_err)?,
            ),
            DbBackend::Sqlite => Conn::Sqlite(
                db.get_sqlite_connection_pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(conn_err)?,
            ),
            other => {
                return Err(DbErr::Custom(format!(
                    "the store does not support {other:?}"
                )));
            }
        };
        Ok(Self {
            backend,
            conn: Box::new(Mutex::new(conn)),
        })
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), DbErr> {
        match (*self.conn).into_inner() {
            Conn::Postgres(tx) => tx.commit().await,
            Conn::Sqlite(tx) => tx.commit().await,
        }
        .map_err(exec_err)
    }

    /// Rolls back (dropping the transaction does too, without waiting).
    pub async fn rollback(self) -> Result<(), DbErr> {
        match (*self.conn).into_inner() {
            Conn::Postgres(tx) => tx.rollback().await,
            Conn::Sqlite(tx) => tx.rollback().await,
        }
        .map_err(exec_err)
    }

    /// The driver's transaction, held until the guard drops.
    pub(crate) async fn conn(&self) -> tokio::sync::MutexGuard<'_, Conn> {
        self.conn.lock().await
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("backend", &self.backend)
            .finish()
    }
}

#[tonic::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (sql, args) = values(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match &mut *self.conn.lock().await {
            Conn::Postgres(tx) => sqlx::query_with(sql, args)
                .execute(&mut **tx)
                .await
                .map(Into::into),
            Conn::Sqlite(tx) => sqlx::query_with(sql, args)
                .execute(&mut **tx)
                .await
                .map(Into::into),
        }
        .map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        use sqlx::Executor as _;
        let sql = sqlx::AssertSqlSafe(sql);
        match &mut *self.conn.lock().await {
            Conn::Postgres(tx) => tx.execute(sql).await.map(Into::into),
            Conn::Sqlite(tx) => tx.execute(sql).await.map(Into::into),
        }
        .map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (sql, args) = values(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match &mut *self.conn.lock().await {
            Conn::Postgres(tx) => sqlx::query_with(sql, args)
                .fetch_optional(&mut **tx)
                .await
                .map(|row| row.map(Into::into)),
            Conn::Sqlite(tx) => sqlx::query_with(sql, args)
                .fetch_optional(&mut **tx)
                .await
                .map(|row| row.map(Into::into)),
        }
        .map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (sql, args) = values(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match &mut *self.conn.lock().await {
            Conn::Postgres(tx) => sqlx::query_with(sql, args)
                .fetch_all(&mut **tx)
                .await
                .map(|rows| rows.into_iter().map(Into::into).collect()),
            Conn::Sqlite(tx) => sqlx::query_with(sql, args)
                .fetch_all(&mut **tx)
                .await
                .map(|rows| rows.into_iter().map(Into::into).collect()),
        }
        .map_err(query_err)
    }

    fn support_returning(&self) -> bool {
        self.backend.support_returning()
    }
}
