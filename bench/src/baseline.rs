//! Raw-database baselines for the bulk write paths: PostgreSQL binary `COPY` and
//! a prepared-statement insert loop in one SQLite transaction, writing the same
//! rows into the same tables the services use: the segmentation service's
//! `accounts` and the health service's `usage_events`.

use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, Connection};

use crate::rows::{COLUMNS, StoredRow, stored};

/// Creates the schema in `url` with the service's own migrations.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    themodel_platform::store::migrate::<themodel_segmentation::store::migration::Migrator>(url)
        .await
}

/// One connection to the SQLite database at `url`, set up as the store sets
/// up its own (WAL, `synchronous = NORMAL`).
async fn sqlite_connection(url: &str) -> anyhow::Result<sqlx::SqliteConnection> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options: SqliteConnectOptions = url.parse()?;
    Ok(sqlx::SqliteConnection::connect_with(
        &options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal),
    )
    .await?)
}

/// Inserts `rows` accounts with one prepared statement in one transaction.
pub async fn sqlite_insert_loop(url: &str, rows: u64) -> anyhow::Result<Duration> {
    migrate(url).await?;
    let mut conn = sqlite_connection(url).await?;
    let placeholders = vec!["?"; COLUMNS.len()].join(", ");
    let sql = format!(
        "INSERT INTO accounts ({}) VALUES ({placeholders})",
        COLUMNS.join(", ")
    );
    let data: Vec<StoredRow> = (0..rows).map(stored).collect();
    let start = Instant::now();
    let mut tx = conn.begin().await?;
    for r in &data {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&r.id)
            .bind(&r.external_id)
            .bind(&r.name)
            .bind(&r.industry)
            .bind(r.employee_count)
            .bind("JPY")
            .bind(r.acv_units)
            .bind(0i32)
            .bind(None::<i64>)
            .bind(None::<i32>)
            .bind("CLOUD_LITERACY_MEDIUM")
            .bind("MIGRATION_SOURCE_SIMILAR_TOOL")
            .bind(r.start)
            .bind(r.renewal)
            .bind(&r.owner_csm_id)
            .bind(None::<String>)
            .bind("LIFECYCLE_STATUS_ONBOARDING")
            .bind("TIER_UNSPECIFIED")
            .bind(r.time_us)
            .bind(r.time_us)
            .bind(1i64)
            .bind(r.acv_units)
            .bind(0i32)
            .bind(None::<String>)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(start.elapsed())
}

/// Writes `rows` accounts with one binary `COPY`.
pub async fn postgres_copy(url: &str, rows: u64) -> anyhow::Result<Duration> {
    migrate(url).await?;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let data: Vec<StoredRow> = (0..rows).map(stored).collect();
    let start = Instant::now();
    let mut buffer = CopyEncoder::new();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY accounts ({}) FROM STDIN (FORMAT binary)",
            COLUMNS.join(", ")
        ))
        .await?;
    for r in &data {
        buffer.row(r);
        if buffer.bytes.len() > 1 << 20 {
            copy.send(std::mem::take(&mut buffer.bytes)).await?;
        }
    }
    buffer.finish();
    copy.send(buffer.bytes).await?;
    copy.finish().await?;
    Ok(start.elapsed())
}

/// Writes `rows` accounts with the store's bulk-append primitive in one unit
/// of work that also commits an event and an idempotency record.
pub async fn store_append(url: &str, rows: u64) -> anyhow::Result<Duration> {
    use themodel_platform::{
        auth::{Principal, Role},
        store::{Begun, IdempotencyKey, Store},
    };
    use themodel_segmentation::store::ACCOUNTS;
    migrate(url).await?;
    let store = Store::open(themodel_platform::store::connect(url).await?, "bench").await?;
    let data: Vec<StoredRow> = (0..rows).map(stored).collect();
    let principal = Principal {
        subject: "bench".into(),
        role: Role::Service,
        partner_id: None,
        actor: None,
    };
    let request = themodel_proto::segmentation::BatchUpsertAccountsResponse::default();
    let key = IdempotencyKey::new(&principal, Some("append".into()), "Append", &request);
    let start = Instant::now();
    let Begun::Fresh(mut uow) = store
        .begin::<themodel_proto::segmentation::BatchUpsertAccountsResponse>(key)
        .await?
    else {
        anyhow::bail!("the key was used before");
    };
    let written = uow.append(&ACCOUNTS, &data).await?;
    uow.emit("bench", &request);
    uow.commit(&request).await?;
    let took = start.elapsed();
    anyhow::ensure!(written == rows, "appended {written} of {rows} rows");
    store.db.close().await;
    Ok(took)
}

/// The columns the health service writes a usage event with, in its order.
pub const USAGE_COLUMNS: &[&str] = &[
    "account_id",
    "user_id",
    "product_key",
    "feature_key",
    "occurred_at_us",
    "count",
    "event_id",
];

/// A usage event as the health service stores it in `usage_events`.
pub struct UsageRow<'a> {
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub product_key: &'a str,
    pub feature_key: &'a str,
    pub occurred_at_us: i64,
    pub count: i64,
    pub event_id: Option<String>,
}

/// Creates the health service's schema in `url` with its own migrations.
pub async fn migrate_health(url: &str) -> anyhow::Result<()> {
    themodel_platform::store::migrate::<themodel_health::store::migration::Migrator>(url).await
}

/// Inserts `rows` into the health service's `usage_events` with one
/// prepared statement in one transaction.
pub async fn sqlite_usage_insert_loop(
    url: &str,
    rows: &[UsageRow<'_>],
) -> anyhow::Result<Duration> {
    migrate_health(url).await?;
    let mut conn = sqlite_connection(url).await?;
    let placeholders = vec!["?"; USAGE_COLUMNS.len()].join(", ");
    let sql = format!(
        "INSERT INTO usage_events ({}) VALUES ({placeholders})",
        USAGE_COLUMNS.join(", ")
    );
    let start = Instant::now();
    let mut tx = conn.begin().await?;
    for r in rows {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(r.account_id)
            .bind(r.user_id)
            .bind(r.product_key)
            .bind(r.feature_key)
            .bind(r.occurred_at_us)
            .bind(r.count)
            .bind(r.event_id.as_deref())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(start.elapsed())
}

/// Writes `rows` into the health service's `usage_events` with one binary
/// `COPY` over one connection.
pub async fn postgres_usage_copy(url: &str, rows: &[UsageRow<'_>]) -> anyhow::Result<Duration> {
    migrate_health(url).await?;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let start = Instant::now();
    let mut buffer = CopyEncoder::new();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY usage_events ({}) FROM STDIN (FORMAT binary)",
            USAGE_COLUMNS.join(", ")
        ))
        .await?;
    for r in rows {
        buffer.usage(r);
        if buffer.bytes.len() > 1 << 20 {
            copy.send(std::mem::take(&mut buffer.bytes)).await?;
        }
    }
    buffer.finish();
    copy.send(buffer.bytes).await?;
    copy.finish().await?;
    Ok(start.elapsed())
}

/// PostgreSQL's binary COPY format.
struct CopyEncoder {
    bytes: Vec<u8>,
}

impl CopyEncoder {
    fn new() -> Self {
        let mut bytes = b"PGCOPY\n\xff\r\n\0".to_vec();
        bytes.extend_from_slice(&0i32.to_be_bytes()); // flags
        bytes.extend_from_slice(&0i32.to_be_bytes()); // header extension
        Self { bytes }
    }

    fn text(&mut self, value: &str) {
        self.bytes
            .extend_from_slice(&(value.len() as i32).to_be_bytes());
        self.bytes.extend_from_slice(value.as_bytes());
    }

    fn int4(&mut self, value: i32) {
        self.bytes.extend_from_slice(&4i32.to_be_bytes());
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn int8(&mut self, value: i64) {
        self.bytes.extend_from_slice(&8i32.to_be_bytes());
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn date(&mut self, value: chrono::NaiveDate) {
        let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        self.int4((value - epoch).num_days() as i32);
    }

    fn null(&mut self) {
        self.bytes.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn row(&mut self, r: &StoredRow) {
        self.bytes
            .extend_from_slice(&(COLUMNS.len() as i16).to_be_bytes());
        self.text(&r.id);
        self.text(&r.external_id);
        self.text(&r.name);
        self.text(&r.industry);
        self.int4(r.employee_count);
        self.text("JPY");
        self.int8(r.acv_units);
        self.int4(0);
        self.null();
        self.null();
        self.text("CLOUD_LITERACY_MEDIUM");
        self.text("MIGRATION_SOURCE_SIMILAR_TOOL");
        self.date(r.start);
        self.date(r.renewal);
        self.text(&r.owner_csm_id);
        self.null();
        self.text("LIFECYCLE_STATUS_ONBOARDING");
        self.text("TIER_UNSPECIFIED");
        self.int8(r.time_us);
        self.int8(r.time_us);
        self.int8(1);
        self.int8(r.acv_units);
        self.int4(0);
        self.null();
    }

    fn usage(&mut self, r: &UsageRow) {
        self.bytes
            .extend_from_slice(&(USAGE_COLUMNS.len() as i16).to_be_bytes());
        self.text(r.account_id);
        self.text(r.user_id);
        self.text(r.product_key);
        self.text(r.feature_key);
        self.int8(r.occurred_at_us);
        self.int8(r.count);
        match &r.event_id {
            Some(id) => self.text(id),
            None => self.null(),
        }
    }

    fn finish(&mut self) {
        self.bytes.extend_from_slice(&(-1i16).to_be_bytes());
    }
}

/// A PostgreSQL database that exists for one scenario.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates a uniquely named database through `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("themodel_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops it.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}
