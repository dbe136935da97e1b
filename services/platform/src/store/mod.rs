//! Persistence shared by every service: connecting to SQLite or PostgreSQL,
//! running migrations, and the unit of work that commits a change together
//! with its idempotency record and its domain events.

pub mod copy;
pub mod cursor;
pub mod db;
pub mod idempotency;
pub mod migration;
mod nodelay;
pub mod outbox;
pub mod point_reads;
pub mod tx;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use sea_orm::DbErr;
use sea_orm_migration::MigratorTrait;

use crate::error::ApiError;
pub use copy::{CopyRow, CopyTable, RowWriter};
pub use db::{Db, EachRow};
pub use idempotency::IdempotencyKey;
pub use outbox::{NewEvent, Outbox};
pub use point_reads::PointReads;
pub use tx::Tx;

/// Opens a connection pool. For a SQLite file URL the parent directory is
/// created and the database runs in WAL mode with a busy timeout, so readers
/// never block the writer.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    Ok(match connect_pool(url, None).await? {
        DriverPool::Postgres(pool) => Db::postgres(pool),
        DriverPool::Sqlite(pool) => Db::sqlite(pool),
    })
}

/// How long a caller waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver's pool.
enum DriverPool {
    Postgres(sea_orm::sqlx::PgPool),
    Sqlite(sea_orm::sqlx::SqlitePool),
}

/// Opens a pool of at most `max` connections (the backend's default when `None`).
///
/// The pools are built on the driver directly for settings the ORM does not
/// offer: connections are not pinged before each use (see [`db`]), SQLite
/// plans stay stable (see [`sqlite_stable_plans`]) and PostgreSQL sockets
/// send at once (see [`nodelay`]).
async fn connect_pool(url: &str, max: Option<u32>) -> anyhow::Result<DriverPool> {
    use sea_orm::sqlx::{
        ConnectOptions as _,
        pool::PoolOptions,
        postgres::PgConnectOptions,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    };
    fn pool<DB: sea_orm::sqlx::Database>(max: u32, fixed: bool) -> PoolOptions<DB> {
        PoolOptions::new()
            .max_connections(max)
            .min_connections(u32::from(fixed))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
    }
    let failed = || format!("connecting to {}", redact(url));
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_file(url).and_then(|f| Path::new(f).parent().map(Path::to_owned))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating database directory {}", dir.display()))?;
        }
        let options = url
            .parse::<SqliteConnectOptions>()
            .with_context(failed)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            .disable_statement_logging();
        let pool = pool(max.unwrap_or(8), max.is_some())
            .after_connect(|conn, _| Box::pin(sqlite_stable_plans(conn)))
            .connect_with(options)
            .await
            .with_context(failed)?;
        Ok(DriverPool::Sqlite(pool))
    } else {
        // Plan every statement with the table's current size. A cached generic
        // plan made while a table was small (a fresh database being filled by a
        // CRM import) otherwise keeps scanning it sequentially as it grows,
        // until an ANALYZE that autovacuum may never run.
        let options = url
            .parse::<PgConnectOptions>()
            .with_context(failed)?
            .options([("plan_cache_mode", "force_custom_plan")])
            .disable_statement_logging();
        let pool = pool(max.unwrap_or(16), max.is_some())
            .after_connect(|conn, _| Box::pin(nodelay::set(conn)))
            .connect_with(options)
            .await
            .with_context(failed)?;
        Ok(DriverPool::Postgres(pool))
    }
}

/// Turns on SQLite's query planner stability guarantee for a new connection.
///
/// Without it, SQLite marks a cached statement whose plan used a bound value
/// (every `LIMIT ?`, so every `.one()` and every page) as expired on each
/// re-bind and parses and plans it again on every execution: a fifth of the
/// server's CPU for a point read (see `docs/benchmarks.md`). With it, a
/// statement is planned once per connection, as on any other database.
async fn sqlite_stable_plans(
    conn: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection, held exclusively through `handle`
    // for the duration of the call; the option takes an int and an optional
    // int pointer for the previous value, as documented for
    // SQLITE_DBCONFIG_ENABLE_QPSG.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sea_orm::sqlx::Error::Configuration(
            format!("enabling SQLite's query planner stability guarantee failed ({rc})").into(),
        ))
    }
}

/// The file path of a `sqlite://path?...` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Applies every pending migration of `M` to the database at `url`.
///
/// Migrations run over a single connection: on SQLite they run outside a
/// transaction, and a statement on another pooled connection could still see
/// the schema as it was before the previous statement (a table just dropped).
pub async fn migrate<M: MigratorTrait>(url: &str) -> anyhow::Result<()> {
    let db = match connect_pool(url, Some(1)).await? {
        DriverPool::Postgres(pool) => sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
        DriverPool::Sqlite(pool) => sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
    };
    let applied = M::up(&db, None).await.context("running migrations");
    db.close().await.ok();
    applied
}

/// `column` equals one of `values`. On PostgreSQL that is `= ANY($1)` with
/// one array parameter: one short statement whatever the count, where an
/// `IN` list of a thousand parameters is parsed and planned anew each time.
/// Elsewhere it is an `IN` list (SQLite takes up to 32,766 parameters).
pub fn any_of<C: sea_orm::ColumnTrait>(
    backend: sea_orm::DbBackend,
    column: C,
    values: &[&str],
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{ArrayType, Expr, ExprTrait as _, PgFunc, Value};
    match backend {
        sea_orm::DbBackend::Postgres => {
            let array: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
            Expr::col(column).eq(PgFunc::any(Expr::val(Value::Array(
                ArrayType::String,
                Some(Box::new(array)),
            ))))
        }
        _ => column.is_in(values.iter().copied()),
    }
}

/// One page of `query`: up to `limit` rows, and whether more follow (one row
/// more is read to tell). The query carries the listing's order and its
/// "after the last key" filter.
pub async fn page<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    limit: u64,
) -> Result<(Vec<E::Model>, bool), DbErr> {
    use sea_orm::QuerySelect as _;
    let mut rows = query.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

/// Now, at the microsecond precision times are stored with, so a returned
/// time equals a re-read one.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let micros = chrono::Utc::now().timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Database settings every service shares (the URL is the service's own, for
/// its default).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Do not run migrations on start (run `themodel migrate` instead, e.g. as a
    /// deploy job when several replicas start at once).
    #[arg(long, env = "SKIP_MIGRATIONS", default_value_t = false)]
    pub skip_migrations: bool,
    /// Hours an idempotency key is honoured before it may be purged (at least 24).
    #[arg(long, env = "IDEMPOTENCY_RETENTION_HOURS", default_value_t = 72,
          value_parser = clap::value_parser!(u64).range(24..))]
    pub idempotency_retention_hours: u64,
    /// NATS server to publish the service's events to through JetStream
    /// (subjects `themodel.<service>.<EventType>`); off when unset.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Milliseconds between drains of a service's queue of background work
    /// (e.g. the health service's accounts to score again after new usage).
    #[arg(long, env = "QUEUE_INTERVAL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub queue_interval_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            skip_migrations: false,
            idempotency_retention_hours: 72,
            nats_url: None,
            queue_interval_ms: 2000,
        }
    }
}

/// A service's database plus its event log.
#[derive(Clone, Debug)]
pub struct Store {
    /// The connection pool.
    pub db: Db,
    /// The service's event log.
    pub outbox: Arc<Outbox>,
}

/// What [`Store::begin`] found for an idempotency key.
pub enum Begun<R> {
    /// A new request: make the change in this unit of work and commit it.
    Fresh(UnitOfWork),
    /// The same request was already done: this is its response.
    Replay(R),
}

/// Reads too large to hold whole, on the pool or inside a transaction: a
/// statement's rows one at a time, so memory stays flat however many there
/// are.
pub trait Scan: sea_orm::ConnectionTrait + Sync {
    /// Runs `stmt` and hands each row to `each` as the driver delivers it,
    /// stopping at the first error `each` returns. The connection runs nothing
    /// else until the rows end.
    fn scan<'a>(
        &'a self,
        stmt: sea_orm::Statement,
        each: &'a mut EachRow<'_>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send + 'a;
}

/// One database transaction holding a change, its events and its idempotency
/// record; they commit together or not at all.
pub struct UnitOfWork {
    tx: Tx,
    outbox: Arc<Outbox>,
    key: Option<IdempotencyKey>,
    events: Vec<NewEvent>,
    /// The log's head after the events already flushed.
    head: Option<i64>,
}

impl Store {
    /// Connects to `url`, applies the migrations of `M` (unless configured not
    /// to) and opens the store of service `source`.
    pub async fn connect<M: MigratorTrait>(
        source: &'static str,
        url: &str,
        config: &StoreConfig,
    ) -> anyhow::Result<Self> {
        if !config.skip_migrations {
            migrate::<M>(url).await?;
        }
        let db = connect(url).await?;
        Ok(Self::open(db, source).await?)
    }

    /// Schedules the store's own jobs: purging idempotency keys and consumed
    /// event ids older than the retention, every hour, and, when NATS is
    /// configured, relaying the event log to JetStream.
    pub fn schedule_jobs(&self, jobs: &crate::jobs::JobRunner, config: &StoreConfig) {
        if let Some(url) = &config.nats_url {
            crate::relay::schedule(self, jobs, url);
        }
        let db = self.db.clone();
        let retention = Duration::from_secs(config.idempotency_retention_hours * 3600);
        jobs.every(
            "purge-idempotency-keys",
            crate::jobs::Schedule::every(Duration::from_secs(3600)),
            move || {
                let db = db.clone();
                async move {
                    let keys = idempotency::purge(&db, retention).await?;
                    let ids = crate::consumer::purge_consumed(&db, retention).await?;
                    Ok(format!(
                        "{keys} expired idempotency keys and {ids} consumed event ids purged"
                    ))
                }
            },
        );
    }

    /// A store over `db` whose events carry `source` (the service name).
    pub async fn open(db: Db, source: &'static str) -> Result<Self, DbErr> {
        let outbox = Outbox::open(&db, source).await?;
        Ok(Self {
            db,
            outbox: Arc::new(outbox),
        })
    }

    /// Starts a write transaction. With a key, a request the same caller made
    /// before returns its stored response instead (or FAILED_PRECONDITION when
    /// the caller used the key for a different request); a concurrent duplicate
    /// waits for the first one. The service re-checks the caller's access to
    /// what a replayed response shows before returning it.
    pub async fn begin<R: prost::Message + Default>(
        &self,
        key: Option<IdempotencyKey>,
    ) -> Result<Begun<R>, ApiError> {
        let tx = self.begin_write().await?;
        if let Some(key) = &key {
            if let Some(stored) = idempotency::find(&tx, key).await? {
                return stored.replay().map(Begun::Replay);
            }
            if let Err(err) = idempotency::reserve(&tx, key).await {
                drop(tx);
                if !is_unique_violation(&err) {
                    return Err(err.into());
                }
                // Another request with this key committed first: answer as it did.
                let stored = idempotency::find(&self.db, key).await?.ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("idempotency key vanished after conflict"))
                })?;
                return stored.replay().map(Begun::Replay);
            }
        }
        Ok(Begun::Fresh(UnitOfWork {
            tx,
            outbox: self.outbox.clone(),
            key,
            events: Vec::new(),
            head: None,
        }))
    }

    /// A write transaction (on SQLite it takes the write lock at once).
    pub(crate) async fn begin_write(&self) -> Result<Tx, DbErr> {
        Tx::begin(&self.db).await
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }

    /// How many units of work a bulk writer should keep committing at once:
    /// one on SQLite, which has one writer at a time (a second waits in the
    /// busy handler's sleeps), two on PostgreSQL, where one can send its rows
    /// while the other waits for a lock or commits.
    pub fn concurrent_writers(&self) -> usize {
        use sea_orm::ConnectionTrait as _;
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => 2,
            _ => 1,
        }
    }
}

impl UnitOfWork {
    /// The transaction to make the change in.
    pub fn tx(&self) -> &Tx {
        &self.tx
    }

    /// Appends `rows` to `table` in this unit of work (binary COPY on
    /// PostgreSQL); returns how many were written.
    pub async fn append<R: CopyRow>(
        &self,
        table: &CopyTable,
        rows: impl IntoIterator<Item = R>,
    ) -> Result<u64, DbErr> {
        copy::append(&self.tx, table, rows).await
    }

    /// Adds a domain event to commit with the change.
    pub fn emit<M: prost::Name>(&mut self, subject_id: &str, payload: &M) {
        self.events.push(NewEvent::new(subject_id, payload));
    }

    /// Appends the events emitted so far to the log now, inside the
    /// transaction: a change that emits very many events flushes them as it
    /// goes instead of holding them all until it commits. Watchers still see
    /// none of them before the commit.
    pub async fn flush_events(&mut self) -> Result<(), DbErr> {
        let events = std::mem::take(&mut self.events);
        if let Some(head) = self.outbox.append(&self.tx, events).await? {
            self.head = Some(head);
        }
        Ok(())
    }

    /// Commits the change, its events and the response for the idempotency key.
    pub async fn commit<R: prost::Message>(self, response: &R) -> Result<(), ApiError> {
        if let Some(key) = &self.key {
            idempotency::complete(&self.tx, key, response).await?;
        }
        let head = self
            .outbox
            .append(&self.tx, self.events)
            .await?
            .or(self.head);
        self.tx.commit().await?;
        self.outbox.published(head);
        Ok(())
    }
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitOfWork")
            .field("events", &self.events.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_and_redaction() {
        assert_eq!(
            sqlite_file("sqlite://data/x.db?mode=rwc"),
            Some("data/x.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(
            redact("postgres://u:secret@localhost:5432/db"),
            "postgres://u:***@localhost:5432/db"
        );
        assert_eq!(
            redact("postgres://u@localhost/db"),
            "postgres://u@localhost/db"
        );
    }
}
