//! Bulk inserts. On PostgreSQL rows are sent column-wise: a multi-row
//! `INSERT ... VALUES` of a thousand rows carries tens of thousands of
//! parameters that PostgreSQL parses and plans on every call, while
//! `INSERT ... SELECT * FROM UNNEST(<one array per column>)` stays one short,
//! constant statement whatever the row count. Elsewhere it is a plain
//! multi-row insert.
//!
//! Array parameters cannot hold NULL elements here, so a column with NULLs
//! in the batch is sent with a placeholder and a companion `bool[]` that marks
//! which rows are NULL.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ColumnType, ConnectionTrait, DbBackend, DbErr, EntityName,
    EntityTrait, IdenStatic, Iterable, Statement, Value, sea_query::ArrayType,
};

/// The PostgreSQL array element type, sea-query array kind and NULL
/// placeholder of a column.
fn array_of(column_type: &ColumnType) -> Option<(&'static str, ArrayType, Value)> {
    Some(match column_type {
        ColumnType::String(_) | ColumnType::Char(_) => {
            ("varchar", ArrayType::String, Value::from(""))
        }
        ColumnType::Text => ("text", ArrayType::String, Value::from("")),
        ColumnType::Integer => ("int4", ArrayType::Int, Value::from(0i32)),
        ColumnType::BigInteger => ("int8", ArrayType::BigInt, Value::from(0i64)),
        ColumnType::Date => (
            "date",
            ArrayType::ChronoDate,
            Value::from(chrono::NaiveDate::default()),
        ),
        ColumnType::Blob | ColumnType::VarBinary(_) | ColumnType::Binary(_) => {
            ("bytea", ArrayType::Bytes, Value::from(Vec::<u8>::new()))
        }
        _ => return None,
    })
}

/// Inserts `models` (every column set) in one statement.
pub async fn insert_many<A>(db: &impl ConnectionTrait, models: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    if models.is_empty() {
        return Ok(());
    }
    type Col<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Column;
    let columns: Vec<Col<A>> = Col::<A>::iter().collect();
    let arrays: Option<Vec<_>> = columns
        .iter()
        .map(|c| array_of(c.def().get_column_type()))
        .collect();
    let (DbBackend::Postgres, Some(arrays)) = (db.get_database_backend(), arrays) else {
        return A::Entity::insert_many(models)
            .exec_without_returning(db)
            .await
            .map(|_| ());
    };
    let mut values: Vec<Vec<Value>> = columns
        .iter()
        .map(|_| Vec::with_capacity(models.len()))
        .collect();
    let mut nulls: Vec<Vec<bool>> = columns
        .iter()
        .map(|_| Vec::with_capacity(models.len()))
        .collect();
    for model in &models {
        for (i, column) in columns.iter().enumerate() {
            let value = model.get(*column).into_value().ok_or_else(|| {
                DbErr::Custom(format!(
                    "bulk insert: column {} is not set",
                    column.as_str()
                ))
            })?;
            let is_null = value == value.as_null();
            nulls[i].push(is_null);
            values[i].push(if is_null { arrays[i].2.clone() } else { value });
        }
    }
    // Parameters, their aliases in UNNEST, and the expression selected per column.
    let mut params = Vec::new();
    let mut sources = Vec::new();
    let mut aliases = Vec::new();
    let mut selected = Vec::new();
    for (i, ((vals, nulls), (pg_type, kind, _))) in
        values.into_iter().zip(nulls).zip(arrays).enumerate()
    {
        params.push(Value::Array(kind, Some(Box::new(vals))));
        sources.push(format!("${}::{pg_type}[]", params.len()));
        aliases.push(format!("c{i}"));
        if nulls.contains(&true) {
            params.push(Value::Array(
                ArrayType::Bool,
                Some(Box::new(nulls.into_iter().map(Value::from).collect())),
            ));
            sources.push(format!("${}::bool[]", params.len()));
            aliases.push(format!("n{i}"));
            selected.push(format!("CASE WHEN n{i} THEN NULL ELSE c{i} END"));
        } else {
            selected.push(format!("c{i}"));
        }
    }
    let sql = format!(
        "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        A::Entity::default().table_name(),
        columns
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        selected.join(", "),
        sources.join(", "),
        aliases.join(", ")
    );
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        params,
    ))
    .await
    .map(|_| ())
}
