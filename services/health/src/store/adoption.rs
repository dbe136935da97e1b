//! Adoption read from usage in one grouped statement per series, and the
//! seats the expansion service's subscriptions license, kept from its
//! `SubscriptionChanged` events.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use prost::{Message as _, Name as _};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};
use themodel_platform::{
    client::Clients,
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    registry,
    store::{Store, UnitOfWork},
    validate,
};
use themodel_proto::{events::Event, expansion as exp};

use super::{entity::seat_term, scoring::queue};
use crate::{domain::adoption::UseRow, error::Result};

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// The consumer of the expansion service's subscription events.
pub const SEATS_CONSUMER: &str = "subscription-seats";

/// Uses of `product_key` by `account_id` per day, feature and user, on the
/// days [`from`, `to`], in day order.
pub async fn use_rows(
    db: &impl ConnectionTrait,
    account_id: &str,
    product_key: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UseRow>> {
    let mut rows = uses_of(db, &[account_id], Some(product_key), from, to).await?;
    Ok(rows
        .remove(&(account_id.to_owned(), product_key.to_owned()))
        .unwrap_or_default())
}

/// The first microsecond of `day`.
pub fn day_start_us(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}

fn day_of(day: i64) -> Result<NaiveDate> {
    Ok(chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| DbErr::Custom(format!("usage day {day} is out of range")))?)
}

/// Uses by each of `account_ids` (of `product_key` only, when given) per
/// day, feature and user on the days [`from`, `to`], by (account, product),
/// each in day order: one grouped statement.
pub async fn uses_of(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
    product_key: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<HashMap<(String, String), Vec<UseRow>>> {
    let mut out: HashMap<(String, String), Vec<UseRow>> = HashMap::new();
    if account_ids.is_empty() {
        return Ok(out);
    }
    let day = Expr::cust(format!("occurred_at_us / {DAY_US}"));
    let mut query = Query::select();
    query
        .column(Alias::new("account_id"))
        .column(Alias::new("product_key"))
        .expr_as(day.clone(), Alias::new("day"))
        .column(Alias::new("feature_key"))
        .column(Alias::new("user_id"))
        .expr_as(Expr::cust("CAST(SUM(count) AS BIGINT)"), Alias::new("uses"))
        .from(Alias::new("usage_events"))
        .and_where(Expr::col(Alias::new("account_id")).is_in(account_ids.iter().copied()))
        .and_where(Expr::col(Alias::new("occurred_at_us")).gte(day_start_us(from)))
        .and_where(Expr::col(Alias::new("occurred_at_us")).lt(day_start_us(to) + DAY_US))
        .add_group_by([
            Expr::col(Alias::new("account_id")),
            Expr::col(Alias::new("product_key")),
            day.clone(),
            Expr::col(Alias::new("feature_key")),
            Expr::col(Alias::new("user_id")),
        ])
        .order_by_expr(day, Order::Asc);
    if let Some(product_key) = product_key {
        query.and_where(Expr::col(Alias::new("product_key")).eq(product_key));
    }
    let stmt = db.get_database_backend().build(&query);
    for row in db.query_all_raw(stmt).await? {
        let key = (
            row.try_get::<String>("", "account_id")?,
            row.try_get::<String>("", "product_key")?,
        );
        out.entry(key).or_default().push(UseRow {
            day: day_of(row.try_get("", "day")?)?,
            feature_key: row.try_get("", "feature_key")?,
            user_id: row.try_get("", "user_id")?,
            uses: row.try_get("", "uses")?,
        });
    }
    Ok(out)
}

/// The day of the last use of each product by each of `account_ids`.
pub async fn last_uses(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
) -> Result<HashMap<(String, String), NaiveDate>> {
    let mut out = HashMap::new();
    if account_ids.is_empty() {
        return Ok(out);
    }
    let mut query = Query::select();
    query
        .column(Alias::new("account_id"))
        .column(Alias::new("product_key"))
        .expr_as(
            Expr::cust(format!("MAX(occurred_at_us) / {DAY_US}")),
            Alias::new("day"),
        )
        .from(Alias::new("usage_events"))
        .and_where(Expr::col(Alias::new("account_id")).is_in(account_ids.iter().copied()))
        .add_group_by([
            Expr::col(Alias::new("account_id")),
            Expr::col(Alias::new("product_key")),
        ]);
    let stmt = db.get_database_backend().build(&query);
    for row in db.query_all_raw(stmt).await? {
        out.insert(
            (
                row.try_get::<String>("", "account_id")?,
                row.try_get::<String>("", "product_key")?,
            ),
            day_of(row.try_get("", "day")?)?,
        );
    }
    Ok(out)
}

/// A term licensing seats: (quantity, start, end exclusive).
pub type SeatTerm = (i64, NaiveDate, Option<NaiveDate>);

/// The terms licensing seats of `product_key` to `account_id`.
pub async fn seat_terms(
    db: &impl ConnectionTrait,
    account_id: &str,
    product_key: &str,
) -> Result<Vec<SeatTerm>> {
    let mut terms = seat_terms_of(db, &[account_id]).await?;
    Ok(terms
        .remove(&(account_id.to_owned(), product_key.to_owned()))
        .unwrap_or_default())
}

/// The terms licensing seats to each of `account_ids`, by (account,
/// product).
pub async fn seat_terms_of(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
) -> Result<HashMap<(String, String), Vec<SeatTerm>>> {
    let mut out: HashMap<(String, String), Vec<SeatTerm>> = HashMap::new();
    if account_ids.is_empty() {
        return Ok(out);
    }
    let rows = seat_term::Entity::find()
        .filter(seat_term::Column::AccountId.is_in(account_ids.iter().copied()))
        .all(db)
        .await?;
    let date = |text: &str| {
        text.parse::<NaiveDate>()
            .map_err(|_| DbErr::Custom(format!("seat_terms holds the date {text:?}")))
    };
    for row in rows {
        let end = match &row.end_date {
            Some(text) => Some(date(text)?),
            None => None,
        };
        out.entry((row.account_id, row.product_key))
            .or_default()
            .push((row.quantity, date(&row.start_date)?, end));
    }
    Ok(out)
}

/// Keeps `seat_terms` from the expansion service's subscription events.
struct Seats;

#[tonic::async_trait]
impl EventHandler for Seats {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        if event.r#type != exp::SubscriptionChanged::full_name() {
            return Ok(());
        }
        let payload = event
            .payload
            .as_ref()
            .map(|p| p.value.as_slice())
            .unwrap_or_default();
        let Some(sub) = exp::SubscriptionChanged::decode(payload)?.subscription else {
            return Ok(());
        };
        let tx = uow.tx();
        seat_term::Entity::delete_many()
            .filter(seat_term::Column::SubscriptionId.eq(sub.id.as_str()))
            .exec(tx)
            .await?;
        let mut rows = Vec::with_capacity(sub.terms.len());
        for (position, term) in sub.terms.iter().enumerate() {
            let start = term
                .start_date
                .as_ref()
                .map(validate::date)
                .transpose()
                .map_err(|_| anyhow::anyhow!("a term with a bad start_date"))?
                .ok_or_else(|| anyhow::anyhow!("a term without start_date"))?;
            let end = term
                .end_date
                .as_ref()
                .map(validate::date)
                .transpose()
                .map_err(|_| anyhow::anyhow!("a term with a bad end_date"))?;
            rows.push(seat_term::ActiveModel {
                subscription_id: Set(sub.id.clone()),
                position: Set(i32::try_from(position)?),
                account_id: Set(sub.account_id.clone()),
                product_key: Set(sub.product_key.clone()),
                quantity: Set(term.quantity),
                start_date: Set(start.to_string()),
                end_date: Set(end.map(|d| d.to_string())),
            });
        }
        if !rows.is_empty() {
            seat_term::Entity::insert_many(rows)
                .exec_without_returning(tx)
                .await?;
        }
        // Seats change seat use and when onboarding started: score again.
        let pair = (sub.account_id.as_str(), sub.product_key.as_str());
        queue(tx, &BTreeSet::from([pair])).await?;
        Ok(())
    }
}

/// Follows the expansion service's subscriptions on `jobs`.
pub fn follow_seats(store: &Store, jobs: &JobRunner, clients: Clients) {
    Consumer::new(SEATS_CONSUMER, registry::EXPANSION.name, store, Seats).start(jobs, clients);
}
