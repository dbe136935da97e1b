//! The completion report as one grouped statement over the plans due in a
//! period: per group and days from the anchor to the stage, the counts (the
//! days give the median and p90). Only the groups' figures leave the
//! database.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};

use super::entity::plan;
use crate::{domain::report::Group, error::Result};

/// How plans are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One group.
    Whole,
    /// By tier.
    Tier,
    /// By product.
    Product,
    /// By owning CSM.
    Csm,
    /// By partner.
    Partner,
    /// By the anchor's month.
    StartMonth,
}

/// Which stage the report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// SETUP_COMPLETE.
    Setup,
    /// VALUE_CONFIRMED.
    Value,
}

/// The SQL of a group's key.
fn group_sql(grouping: Grouping) -> &'static str {
    match grouping {
        Grouping::Whole => "''",
        Grouping::Tier => "tier",
        Grouping::Product => "product_key",
        Grouping::Csm => "COALESCE(owner_csm_id, '')",
        Grouping::Partner => "COALESCE(partner_id, '')",
        Grouping::StartMonth => "SUBSTR(anchor_date, 1, 7)",
    }
}

/// The groups of the plans whose target date for `stage` falls in [`from`,
/// `to`], and how many open plans are not dated yet.
pub async fn completion(
    db: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
    stage: Stage,
    grouping: Grouping,
) -> Result<(BTreeMap<String, Group>, i64)> {
    let backend = db.get_database_backend();
    let (due, due_day, time) = match stage {
        Stage::Setup => ("setup_due", "setup_due_day", "setup_time_us"),
        Stage::Value => ("value_due", "value_due_day", "value_time_us"),
    };
    let g = group_sql(grouping);
    // Dates are validated values, written as literals.
    let due_in_period = format!("{due} >= '{from}' AND {due} <= '{to}' AND anchor_day IS NOT NULL");
    // A stage reached before the first microsecond after its target day
    // (UTC) is on time; days to it are whole UTC days from the anchor.
    const DAY_US: i64 = 86_400_000_000;
    let due_end = format!("(({due_day} + 1) * {DAY_US})");
    // One pass: per group and days to the stage (NULL for plans that have
    // not reached it), the counts; the groups' totals are their rows' sums.
    let grouped = format!(
        "SELECT {g} AS g, \
         CASE WHEN {time} IS NOT NULL THEN ({time} / {DAY_US}) - anchor_day END AS days, \
         COUNT(*) AS due, \
         SUM(CASE WHEN {time} IS NOT NULL AND {time} < {due_end} THEN 1 ELSE 0 END) AS on_time, \
         SUM(CASE WHEN {time} IS NOT NULL AND {time} >= {due_end} THEN 1 ELSE 0 END) AS late, \
         SUM(CASE WHEN {time} IS NULL AND cancel_time_us IS NULL THEN 1 ELSE 0 END) AS open, \
         SUM(CASE WHEN {time} IS NULL AND cancel_time_us IS NOT NULL THEN 1 ELSE 0 END) AS cancelled \
         FROM plans WHERE {due_in_period} GROUP BY 1, 2"
    );
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for row in db
        .query_all_raw(Statement::from_string(backend, grouped))
        .await?
    {
        let n = |c: &str| row.try_get::<i64>("", c);
        let group = groups.entry(row.try_get::<String>("", "g")?).or_default();
        group.due += n("due")?;
        group.on_time += n("on_time")?;
        group.late += n("late")?;
        group.open += n("open")?;
        group.cancelled += n("cancelled")?;
        if let Some(days) = row.try_get::<Option<i64>>("", "days")? {
            group.add_days(days, n("on_time")? + n("late")?);
        }
    }
    let undated = plan::Entity::find()
        .filter(plan::Column::AnchorDay.is_null())
        .filter(plan::Column::OpenSlot.is_not_null())
        .count(db)
        .await?;
    Ok((groups, i64::try_from(undated).unwrap_or(i64::MAX)))
}
