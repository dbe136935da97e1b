//! Health summaries: the latest score of every account and product, read a
//! page of projected accounts at a time and grouped by their partner or tier.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use themodel_platform::accounts::{self, Account};

use super::{
    alerts::entity::alert,
    scores::{entity::health_score, to_score},
};
use crate::{domain::summary::Tally, error::Result};

/// Accounts read from the projection per page.
const PAGE: u64 = 1000;

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
///
/// Accounts are read from the projection a page at a time, in id order, each
/// page with the latest scores and open alerts of its accounts: memory holds
/// one page and the tallies, whatever the number of accounts.
pub async fn summarize(
    db: &impl ConnectionTrait,
    scope: &Scope,
    grouping: Grouping,
) -> Result<BTreeMap<String, Tally>> {
    use accounts::entity::{Column as A, Entity as Projected};
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let mut page = Projected::find()
            .filter(A::AccountId.gt(after.as_str()))
            .order_by_asc(A::AccountId)
            .limit(PAGE);
        if let Some(partners) = &scope.partners {
            page = page.filter(A::PartnerId.is_in(partners.iter().map(String::as_str)));
        }
        let rows = page.all(db).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.account_id.clone();
        let full = rows.len() as u64 == PAGE;
        let accounts: HashMap<String, Account> = rows
            .into_iter()
            .map(|row| {
                let account = accounts::to_account(row);
                (account.id.clone(), account)
            })
            .collect();
        tally_page(db, scope, grouping, &accounts, &mut groups).await?;
        if !full {
            break;
        }
    }
    Ok(groups)
}

/// Adds the latest scores and the open alerts of `accounts` to `groups`.
async fn tally_page(
    db: &impl ConnectionTrait,
    scope: &Scope,
    grouping: Grouping,
    accounts: &HashMap<String, Account>,
    groups: &mut BTreeMap<String, Tally>,
) -> Result<()> {
    use health_score::Column as C;
    let ids: Vec<&str> = accounts.keys().map(String::as_str).collect();
    let mut latest = sea_orm::sea_query::Query::select();
    latest
        .expr(Expr::col(C::Id).max())
        .from(health_score::Entity)
        .and_where(Expr::col(C::AccountId).is_in(ids.iter().copied()))
        .add_group_by([Expr::col(C::AccountId), Expr::col(C::ProductKey)]);
    if let Some(product) = &scope.product_key {
        latest.and_where(Expr::col(C::ProductKey).eq(product.as_str()));
    }
    let scores = health_score::Entity::find()
        .filter(C::Id.in_subquery(latest))
        .all(db)
        .await?;
    for row in scores {
        let score = to_score(row)?;
        if let Some(account) = accounts.get(&score.account_id) {
            groups
                .entry(group_of(account, grouping))
                .or_default()
                .add(&score.account_id, &score.score);
        }
    }
    let mut open = alert::Entity::find()
        .filter(alert::Column::OpenSlot.is_not_null())
        .filter(alert::Column::AccountId.is_in(ids.iter().copied()));
    if let Some(product) = &scope.product_key {
        open = open.filter(alert::Column::ProductKey.eq(product.as_str()));
    }
    for row in open.all(db).await? {
        if let Some(account) = accounts.get(&row.account_id) {
            groups
                .entry(group_of(account, grouping))
                .or_default()
                .open_alerts += 1;
        }
    }
    Ok(())
}
