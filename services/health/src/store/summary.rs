//! Health summaries: the latest score of every account and product read in
//! one statement, grouped by the accounts' partner or tier from the
//! projection.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use themodel_platform::accounts::{self, Account};

use super::{
    alerts::entity::alert,
    scores::{entity::health_score, to_score},
};
use crate::{domain::summary::Tally, error::Result};

/// Accounts read from the projection per statement.
const CHUNK: usize = 1000;

/// How accounts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One group.
    Whole,
    /// By partner.
    Partner,
    /// By tier.
    Tier,
}

/// Which accounts a summary counts.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only this product's scores.
    pub product_key: Option<String>,
    /// Only these partners' accounts (a partner user's own, or those asked).
    pub partners: Option<Vec<String>>,
}

fn group_of(account: &Account, grouping: Grouping) -> String {
    match grouping {
        Grouping::Whole => String::new(),
        Grouping::Partner => account.partner_id.clone().unwrap_or_default(),
        Grouping::Tier => account.tier.as_str_name().to_owned(),
    }
}

/// The groups of `scope` by `grouping`, in order of their name.
pub async fn summarize(
    db: &impl ConnectionTrait,
    scope: &Scope,
    grouping: Grouping,
) -> Result<BTreeMap<String, Tally>> {
    use health_score::Column as C;
    let mut latest = sea_orm::sea_query::Query::select();
    latest
        .expr(Expr::col(C::Id).max())
        .from(health_score::Entity)
        .add_group_by([Expr::col(C::AccountId), Expr::col(C::ProductKey)]);
    if let Some(product) = &scope.product_key {
        latest.and_where(Expr::col(C::ProductKey).eq(product.as_str()));
    }
    // The accounts of the partners asked for, chosen in the database: a
    // summary of a few partners reads their scores, not every account's.
    let of_partners = scope.partners.as_ref().map(|partners| {
        use accounts::entity::{Column, Entity};
        sea_orm::sea_query::Query::select()
            .column(Column::AccountId)
            .from(Entity)
            .and_where(Expr::col(Column::PartnerId).is_in(partners.iter().map(String::as_str)))
            .to_owned()
    });
    if let Some(of_partners) = &of_partners {
        latest.and_where(Expr::col(C::AccountId).in_subquery(of_partners.clone()));
    }
    let scores = health_score::Entity::find()
        .filter(C::Id.in_subquery(latest))
        .all(db)
        .await?
        .into_iter()
        .map(to_score)
        .collect::<Result<Vec<_>>>()?;
    let mut open_query = alert::Entity::find().filter(alert::Column::OpenSlot.is_not_null());
    if let Some(product) = &scope.product_key {
        open_query = open_query.filter(alert::Column::ProductKey.eq(product.as_str()));
    }
    if let Some(of_partners) = of_partners {
        open_query = open_query.filter(alert::Column::AccountId.in_subquery(of_partners));
    }
    let mut open: HashMap<String, i64> = HashMap::new();
    for row in open_query.all(db).await? {
        *open.entry(row.account_id).or_default() += 1;
    }
    let mut ids: Vec<&str> = scores
        .iter()
        .map(|s| s.account_id.as_str())
        .chain(open.keys().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut known: HashMap<String, Account> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        for account in accounts::projected(db, chunk).await? {
            known.insert(account.id.clone(), account);
        }
    }
    let counted = |account: &Account| {
        scope.partners.as_ref().is_none_or(|partners| {
            account
                .partner_id
                .as_ref()
                .is_some_and(|p| partners.contains(p))
        })
    };
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    for s in &scores {
        let Some(account) = known.get(&s.account_id).filter(|a| counted(a)) else {
            continue;
        };
        groups
            .entry(group_of(account, grouping))
            .or_default()
            .add(&s.account_id, &s.score);
    }
    for (id, n) in open {
        let Some(account) = known.get(&id).filter(|a| counted(a)) else {
            continue;
        };
        groups
            .entry(group_of(account, grouping))
            .or_default()
            .open_alerts += n;
    }
    Ok(groups)
}
