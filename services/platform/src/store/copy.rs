//! Bulk append: many rows into one table inside a [`Tx`], committing with the
//! rest of the unit of work (its events and idempotency record).
//!
//! On PostgreSQL the rows stream as binary `COPY ... FROM STDIN`: no SQL is
//! parsed or planned per row and values travel in their binary form, which is
//! as fast as PostgreSQL takes rows in. On SQLite they go as multi-row
//! `INSERT`s as wide as SQLite's parameter limit allows. Either way rows are
//! encoded and sent in bounded chunks, so memory stays flat whatever the
//! number of rows.
//!
//! The writer does not know the table's column types: a row must write each
//! column with the method of its SQL type (`int4` for INTEGER, `int8` for
//! BIGINT, `text` for VARCHAR/TEXT, ...). PostgreSQL refuses a mismatch.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, Statement, Value, Values};

use super::{
    db::exec_err,
    tx::{Tx, live},
};

/// Bytes of encoded rows sent to PostgreSQL at a time.
const COPY_CHUNK_BYTES: usize = 1 << 20;
/// SQLite's limit on parameters in one statement.
const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// A table rows are appended to, and the columns each row writes, in order.
#[derive(Debug, Clone, Copy)]
pub struct CopyTable {
    /// Table name.
    pub name: &'static str,
    /// Column names, in the order [`CopyRow::write`] writes them.
    pub columns: &'static [&'static str],
}

impl CopyTable {
    /// `"table" ("column", ...)`, quoted.
    fn target(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        format!("{} ({})", quote(self.name), columns.join(", "))
    }
}

/// A row that can be appended to a [`CopyTable`].
pub trait CopyRow {
    /// Writes the row's columns in the table's column order.
    fn write(&self, row: &mut RowWriter);
}

impl<T: CopyRow> CopyRow for &T {
    fn write(&self, row: &mut RowWriter) {
        (*self).write(row);
    }
}

/// Receives one row's values.
pub struct RowWriter {
    out: Out,
    written: usize,
}

enum Out {
    /// PostgreSQL binary COPY data.
    Copy(Vec<u8>),
    /// Parameters of a multi-row INSERT.
    Values(Vec<Value>),
}

/// Days from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_DAYS: i64 = 10_957;

impl RowWriter {
    fn new(out: Out) -> Self {
        Self { out, written: 0 }
    }

    /// Writes `row`, which must write one value per column of `table`.
    fn row(&mut self, table: &CopyTable, row: &impl CopyRow) -> Result<(), DbErr> {
        if let Out::Copy(buf) = &mut self.out {
            buf.extend_from_slice(&(table.columns.len() as i16).to_be_bytes());
        }
        self.written = 0;
        row.write(self);
        check_width(table, self.written)
    }

    /// The parameters an INSERT writer collected, leaving it empty.
    fn take_values(&mut self) -> Vec<Value> {
        match &mut self.out {
            Out::Values(values) => std::mem::take(values),
            Out::Copy(_) => Vec::new(),
        }
    }

    fn field(&mut self, bytes: &[u8], value: impl FnOnce() -> Value) {
        self.written += 1;
        match &mut self.out {
            Out::Copy(buf) => {
                buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                buf.extend_from_slice(bytes);
            }
            Out::Values(values) => values.push(value()),
        }
    }

    /// SQL NULL.
    pub fn null(&mut self) {
        self.written += 1;
        match &mut self.out {
            Out::Copy(buf) => buf.extend_from_slice(&(-1i32).to_be_bytes()),
            Out::Values(values) => values.push(Value::String(None)),
        }
    }

    /// A VARCHAR or TEXT column.
    pub fn text(&mut self, value: &str) {
        self.field(value.as_bytes(), || Value::from(value));
    }

    /// A BYTEA / BLOB column.
    pub fn bytes(&mut self, value: &[u8]) {
        self.field(value, || Value::from(value.to_vec()));
    }

    /// An INTEGER column.
    pub fn int4(&mut self, value: i32) {
        self.field(&value.to_be_bytes(), || Value::from(value));
    }

    /// A BIGINT column.
    pub fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes(), || Value::from(value));
    }

    /// A DOUBLE PRECISION column.
    pub fn float8(&mut self, value: f64) {
        self.field(&value.to_bits().to_be_bytes(), || Value::from(value));
    }

    /// A BOOLEAN column.
    pub fn bool(&mut self, value: bool) {
        self.field(&[u8::from(value)], || Value::from(value));
    }

    /// A DATE column.
    pub fn date(&mut self, value: NaiveDate) {
        let days = i64::from(value.to_epoch_days()) - PG_EPOCH_DAYS;
        self.field(&(days as i32).to_be_bytes(), || Value::from(value));
    }

    /// A nullable column: `write` for a value, NULL for `None`.
    pub fn opt<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            Some(v) => write(self, v),
            None => self.null(),
        }
    }
}

/// Appends `rows` to `table` inside `tx`; returns how many were written.
/// A failure (a constraint violated, a row of the wrong shape) writes
/// nothing and leaves the transaction to be rolled back. No rows cost no
/// statement (an empty `COPY` would still be two round trips).
pub async fn append<R: CopyRow>(
    tx: &Tx,
    table: &CopyTable,
    rows: impl IntoIterator<Item = R>,
) -> Result<u64, DbErr> {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(0);
    }
    match tx.get_database_backend() {
        DbBackend::Postgres => copy_postgres(tx, table, rows).await,
        _ => insert_sqlite(tx, table, rows).await,
    }
}

async fn copy_postgres<R: CopyRow>(
    tx: &Tx,
    table: &CopyTable,
    rows: impl IntoIterator<Item = R>,
) -> Result<u64, DbErr> {
    let mut guard = tx.conn().await;
    let Some(conn) = live(&mut guard)?.postgres() else {
        return Err(DbErr::Custom("COPY needs PostgreSQL".into()));
    };
    let statement = format!("COPY {} FROM STDIN (FORMAT binary)", table.target());
    let mut copy = conn.copy_in_raw(&statement).await.map_err(exec_err)?;
    let mut buf = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let mut writer = RowWriter::new(Out::Copy(buf));
    let mut count = 0u64;
    for row in rows {
        if let Err(err) = writer.row(table, &row) {
            let _ = copy.abort(err.to_string()).await;
            return Err(err);
        }
        count += 1;
        if let Out::Copy(buf) = &mut writer.out
            && buf.len() >= COPY_CHUNK_BYTES
        {
            let chunk = std::mem::replace(buf, Vec::with_capacity(COPY_CHUNK_BYTES + 4096));
            copy.send(chunk).await.map_err(exec_err)?;
        }
    }
    if let Out::Copy(mut buf) = writer.out {
        buf.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
        copy.send(buf).await.map_err(exec_err)?;
    }
    copy.finish().await.map_err(exec_err)?;
    Ok(count)
}

async fn insert_sqlite<R: CopyRow>(
    tx: &Tx,
    table: &CopyTable,
    rows: impl IntoIterator<Item = R>,
) -> Result<u64, DbErr> {
    let width = table.columns.len();
    let per_statement = (SQLITE_MAX_PARAMETERS / width.max(1)).max(1);
    let row_sql = format!("({})", vec!["?"; width].join(", "));
    let head = format!("INSERT INTO {} VALUES ", table.target());
    let mut writer = RowWriter::new(Out::Values(Vec::with_capacity(per_statement * width)));
    let mut pending = 0;
    let mut count = 0u64;
    let mut rows = rows.into_iter().peekable();
    while let Some(row) = rows.next() {
        writer.row(table, &row)?;
        pending += 1;
        count += 1;
        if pending == per_statement || rows.peek().is_none() {
            let sql = format!("{head}{}", vec![row_sql.as_str(); pending].join(", "));
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                Values(writer.take_values()),
            ))
            .await?;
            pending = 0;
        }
    }
    Ok(count)
}

fn check_width(table: &CopyTable, written: usize) -> Result<(), DbErr> {
    if written == table.columns.len() {
        Ok(())
    } else {
        Err(DbErr::Custom(format!(
            "a row for {} wrote {written} values for {} columns",
            table.name,
            table.columns.len()
        )))
    }
}

/// A quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
