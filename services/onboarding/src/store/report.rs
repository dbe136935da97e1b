//! The completion report read from the plans due in a period: one
//! statement, the plans' few columns, grouped in memory.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::entity::plan;
use crate::{
    domain::report::{Due, Group},
    error::Result,
};

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

type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// The groups of the plans whose target date for `stage` falls in [`from`,
/// `to`], and how many open plans are not dated yet.
pub async fn completion(
    db: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
    stage: Stage,
    grouping: Grouping,
) -> Result<(BTreeMap<String, Group>, i64)> {
    use plan::Column as C;
    let (due_column, time_column) = match stage {
        Stage::Setup => (C::SetupDue, C::SetupTimeUs),
        Stage::Value => (C::ValueDue, C::ValueTimeUs),
    };
    let rows: Vec<Row> = plan::Entity::find()
        .select_only()
        .columns([
            C::Tier,
            C::ProductKey,
            C::OwnerCsmId,
            C::PartnerId,
            C::AnchorDate,
        ])
        .column(due_column)
        .column(time_column)
        .column(C::CancelTimeUs)
        .filter(due_column.between(from.to_string(), to.to_string()))
        .into_tuple()
        .all(db)
        .await?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (tier, product, csm, partner, anchor, target, reached, cancelled) in rows {
        let parse = |d: Option<String>| d.and_then(|d| d.parse::<NaiveDate>().ok());
        let (Some(anchor), Some(target)) = (parse(anchor), parse(target)) else {
            continue;
        };
        let group = match grouping {
            Grouping::Whole => String::new(),
            Grouping::Tier => tier,
            Grouping::Product => product,
            Grouping::Csm => csm.unwrap_or_default(),
            Grouping::Partner => partner.unwrap_or_default(),
            Grouping::StartMonth => anchor.format("%Y-%m").to_string(),
        };
        let due = Due {
            group,
            anchor,
            target,
            reached: reached
                .and_then(DateTime::from_timestamp_micros)
                .map(|t| t.date_naive()),
            cancelled: cancelled.is_some(),
        };
        groups.entry(due.group.clone()).or_default().add(&due);
    }
    let undated = plan::Entity::find()
        .filter(C::OpenSlot.is_not_null())
        .filter(C::AnchorDate.is_null())
        .count(db)
        .await?;
    Ok((groups, i64::try_from(undated).unwrap_or(i64::MAX)))
}
