//! The store's connection handle: runs sea-orm queries (it implements
//! `ConnectionTrait`) on connections it lends out and takes back itself.
//!
//! The driver's pool (sqlx 0.9) pings every connection it gets back, from a
//! task it spawns per release: on SQLite two more thread switches per query,
//! on PostgreSQL one more network round trip. Here a connection leaves the
//! driver's pool once and is then reused from a list of idle ones; a
//! connection that failed at the transport level is not put back (the
//! driver's pool then closes it), and a semaphore keeps the number lent out at
//! the pool's size. A statement left unfinished by a cancelled call is no
//! hazard: the driver completes or discards it before its next statement on
//! that connection.

use std::{sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement, Values,
    sqlx::{self, Database, PgConnection, Pool, Postgres, Sqlite, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of connections to the service's database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

enum Inner {
    Postgres(Arc<Reuse<Postgres>>),
    Sqlite(Arc<Reuse<Sqlite>>),
}

/// The driver's pool and the connections taken from it that are idle.
struct Reuse<DB: Database> {
    pool: Pool<DB>,
    idle: std::sync::Mutex<Vec<PoolConnection<DB>>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

/// A connection lent out; it goes back to the idle list when dropped, unless
/// it broke.
pub(crate) struct Lease<DB: Database> {
    conn: Option<PoolConnection<DB>>,
    home: Arc<Reuse<DB>>,
    broken: bool,
    _permit: OwnedSemaphorePermit,
}

/// A lent connection of either backend.
pub(crate) enum Conn {
    Postgres(Lease<Postgres>),
    Sqlite(Lease<Sqlite>),
}

impl<DB: Database> Reuse<DB> {
    /// Lends at most the pool's size at once, waiting as long as the pool would.
    fn new(pool: Pool<DB>) -> Arc<Self> {
        let options = pool.options();
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(options.get_max_connections() as usize)),
            acquire_timeout: options.get_acquire_timeout(),
            idle: std::sync::Mutex::new(Vec::new()),
            pool,
        })
    }

    async fn lease(self: &Arc<Self>) -> Result<Lease<DB>, DbErr> {
        let permit =
            tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))?
                .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed))?;
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match idle {
            Some(conn) => conn,
            None => self.pool.acquire().await.map_err(conn_err)?,
        };
        Ok(Lease {
            conn: Some(conn),
            home: self.clone(),
            broken: false,
            _permit: permit,
        })
    }

    async fn close(&self) {
        self.permits.close();
        let idle = self.idle.lock().map(|mut idle| std::mem::take(&mut *idle));
        drop(idle);
        self.pool.close().await;
    }
}

impl<DB: Database> Lease<DB> {
    /// The driver's connection.
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    /// Notes a failure; a transport failure keeps the connection from reuse.
    fn check<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(err) = &result
            && matches!(
                err,
                sqlx::Error::Io(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        {
            self.broken = true;
        }
        result
    }
}

impl<DB: Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.broken
            && !self.home.permits.is_closed()
            && let Ok(mut idle) = self.home.idle.lock()
        {
            idle.push(conn);
        }
    }
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

/// What a scan does with each row.
pub type EachRow<'a> = dyn FnMut(QueryResult) -> Result<(), DbErr> + Send + 'a;

/// Feeds the rows of `rows` to `visit` until it returns false or they end.
async fn drain<R: Into<QueryResult>>(
    mut rows: impl futures::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    visit: &mut impl FnMut(QueryResult) -> bool,
) -> Result<(), sqlx::Error> {
    use futures::TryStreamExt as _;
    while let Some(row) = rows.try_next().await? {
        if !visit(row.into()) {
            break;
        }
    }
    Ok(())
}

fn split(stmt: Statement) -> (String, SqlxValues) {
    (
        stmt.sql,
        SqlxValues(stmt.values.unwrap_or(Values(Vec::new()))),
    )
}

impl Conn {
    /// Marks the connection as not to be reused.
    pub(crate) fn discard(&mut self) {
        match self {
            Conn::Postgres(lease) => lease.broken = true,
            Conn::Sqlite(lease) => lease.broken = true,
        }
    }

    pub(crate) async fn execute(&mut self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (sql, args) = split(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match self {
            Conn::Postgres(lease) => {
                let result = sqlx::query_with(sql, args).execute(lease.conn()).await;
                lease.check(result).map(Into::into)
            }
            Conn::Sqlite(lease) => {
                let result = sqlx::query_with(sql, args).execute(lease.conn()).await;
                lease.check(result).map(Into::into)
            }
        }
        .map_err(exec_err)
    }

    pub(crate) async fn execute_unprepared(&mut self, sql: &str) -> Result<ExecResult, DbErr> {
        use sqlx::Executor as _;
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Conn::Postgres(lease) => {
                let result = lease.conn().execute(sql).await;
                lease.check(result).map(Into::into)
            }
            Conn::Sqlite(lease) => {
                let result = lease.conn().execute(sql).await;
                lease.check(result).map(Into::into)
            }
        }
        .map_err(exec_err)
    }

    pub(crate) async fn query_one(
        &mut self,
        stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let (sql, args) = split(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match self {
            Conn::Postgres(lease) => {
                let result = sqlx::query_with(sql, args)
                    .fetch_optional(lease.conn())
                    .await;
                lease.check(result).map(|row| row.map(Into::into))
            }
            Conn::Sqlite(lease) => {
                let result = sqlx::query_with(sql, args)
                    .fetch_optional(lease.conn())
                    .await;
                lease.check(result).map(|row| row.map(Into::into))
            }
        }
        .map_err(query_err)
    }

    pub(crate) async fn query_all(&mut self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (sql, args) = split(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        match self {
            Conn::Postgres(lease) => {
                let result = sqlx::query_with(sql, args).fetch_all(lease.conn()).await;
                lease
                    .check(result)
                    .map(|rows| rows.into_iter().map(Into::into).collect())
            }
            Conn::Sqlite(lease) => {
                let result = sqlx::query_with(sql, args).fetch_all(lease.conn()).await;
                lease
                    .check(result)
                    .map(|rows| rows.into_iter().map(Into::into).collect())
            }
        }
        .map_err(query_err)
    }

    /// Runs `stmt` and hands its rows to `each` one at a time as the driver
    /// delivers them; stops at the first error `each` returns.
    pub(crate) async fn scan(
        &mut self,
        stmt: Statement,
        each: &mut EachRow<'_>,
    ) -> Result<(), DbErr> {
        let (sql, args) = split(stmt);
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        let mut refused = None;
        let mut visit = |row: QueryResult| match each(row) {
            Ok(()) => true,
            Err(err) => {
                refused = Some(err);
                false
            }
        };
        match self {
            Conn::Postgres(lease) => {
                let result =
                    drain(sqlx::query_with(sql, args).fetch(lease.conn()), &mut visit).await;
                lease.check(result)
            }
            Conn::Sqlite(lease) => {
                let result =
                    drain(sqlx::query_with(sql, args).fetch(lease.conn()), &mut visit).await;
                lease.check(result)
            }
        }
        .map_err(query_err)?;
        refused.map_or(Ok(()), Err)
    }

    /// The PostgreSQL connection, for what only it can do (COPY).
    pub(crate) fn postgres(&mut self) -> Option<&mut PgConnection> {
        match self {
            Conn::Postgres(lease) => Some(lease.conn()),
            Conn::Sqlite(_) => None,
        }
    }
}

impl Db {
    /// A handle over a PostgreSQL pool.
    pub(crate) fn postgres(pool: Pool<Postgres>) -> Self {
        Self {
            inner: Arc::new(Inner::Postgres(Reuse::new(pool))),
        }
    }

    /// A handle over a SQLite pool.
    pub(crate) fn sqlite(pool: Pool<Sqlite>) -> Self {
        Self {
            inner: Arc::new(Inner::Sqlite(Reuse::new(pool))),
        }
    }

    /// Lends a connection.
    pub(crate) async fn lease(&self) -> Result<Conn, DbErr> {
        Ok(match &*self.inner {
            Inner::Postgres(reuse) => Conn::Postgres(reuse.lease().await?),
            Inner::Sqlite(reuse) => Conn::Sqlite(reuse.lease().await?),
        })
    }

    /// True when the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        let mut conn = self.lease().await?;
        conn.execute_unprepared("SELECT 1").await.map(|_| ())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Postgres(reuse) => reuse.close().await,
            Inner::Sqlite(reuse) => reuse.close().await,
        }
    }
}

impl super::Scan for Db {
    async fn scan(&self, stmt: Statement, each: &mut EachRow<'_>) -> Result<(), DbErr> {
        self.lease().await?.scan(stmt, each).await
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.get_database_backend())
            .finish()
    }
}

#[tonic::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        match &*self.inner {
            Inner::Postgres(_) => DbBackend::Postgres,
            Inner::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.lease().await?.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.lease().await?.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.lease().await?.query_one(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.lease().await?.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.get_database_backend().support_returning()
    }
}
