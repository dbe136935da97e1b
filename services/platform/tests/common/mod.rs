//! What the store's tests share.

use sea_orm::{ConnectionTrait, Statement};
use themodel_platform::store::Db;

/// The rows in `table`.
pub async fn count(db: &Db, table: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ))
    .await
    .expect("count")
    .expect("a row")
    .try_get("", "n")
    .expect("n")
}
