//! Revenue reports read from the terms table in one streamed pass, ordered
//! by account, so memory holds one account's history at a time whatever the
//! number of accounts.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Order, Query},
};
use themodel_platform::{
    accounts::entity as projected,
    store::{Scan, Store},
};

use super::entity::term;
use crate::{
    domain::revenue::{AccountSpans, GroupReport, Report, Span},
    error::{Error, Result},
};

/// What a report counts.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The currency, when the caller named one.
    pub currency: Option<String>,
    /// Only accounts of this partner.
    pub partner_id: Option<String>,
    /// The projected column accounts are grouped by, for
    /// [`Grouping::ByAccount`].
    pub label: Option<projected::Column>,
}

/// Revenue reports over the service's database.
#[derive(Debug, Clone)]
pub struct Revenue {
    store: Store,
}

impl Revenue {
    /// The reports over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// `report` filled with every account in `scope`, and the currency of its
    /// amounts (`None` when there is no revenue at all). Amounts in several
    /// currencies with none named are refused.
    pub async fn report(
        &self,
        mut report: Report,
        scope: &Scope,
    ) -> Result<(Vec<GroupReport>, Option<String>)> {
        let db = &self.store.db;
        let currency = match &scope.currency {
            Some(currency) => Some(currency.clone()),
            None => only_currency(db, scope).await?,
        };
        let Some(currency) = currency else {
            return Ok((report.finish(), None));
        };
        let query = db
            .get_database_backend()
            .build(&spans_query(&currency, scope));
        let mut current: Option<(String, AccountSpans)> = None;
        db.scan(query, &mut |row| {
            let account: String = row.try_get_by_index(0)?;
            let mrr_micros: i64 = row.try_get_by_index(2)?;
            let start: String = row.try_get_by_index(3)?;
            let end: Option<String> = row.try_get_by_index(4)?;
            let span = Span {
                product: row.try_get_by_index(1)?,
                mrr: i128::from(mrr_micros) * 1000,
                start: date(&start)?,
                end: end.as_deref().map(date).transpose()?,
            };
            match &mut current {
                Some((id, spans)) if *id == account => spans.spans.push(span),
                _ => {
                    if let Some((_, spans)) = current.take() {
                        report.add(&spans);
                    }
                    let group = match scope.label {
                        Some(_) => row
                            .try_get_by_index::<Option<String>>(5)?
                            .unwrap_or_default(),
                        None => String::new(),
                    };
                    current = Some((
                        account,
                        AccountSpans {
                            group,
                            spans: vec![span],
                        },
                    ));
                }
            }
            Ok(())
        })
        .await?;
        if let Some((_, spans)) = current {
            report.add(&spans);
        }
        Ok((report.finish(), Some(currency)))
    }
}

fn date(text: &str) -> Result<chrono::NaiveDate, DbErr> {
    text.parse()
        .map_err(|_| DbErr::Custom(format!("subscription_terms holds the date {text:?}")))
}

/// The one currency of the revenue in `scope`; none when there is none,
/// MIXED_CURRENCIES when there are several.
async fn only_currency(db: &impl ConnectionTrait, scope: &Scope) -> Result<Option<String>> {
    let mut query = term::Entity::find()
        .select_only()
        .column(term::Column::CurrencyCode)
        .distinct();
    if let Some(partner_id) = &scope.partner_id {
        query = query.filter(
            term::Column::AccountId.in_subquery(super::subscriptions::partner_accounts(partner_id)),
        );
    }
    let mut currencies: Vec<String> = query.into_tuple().all(db).await?;
    currencies.sort();
    match currencies.len() {
        0 | 1 => Ok(currencies.pop()),
        _ => Err(Error::MixedCurrencies(currencies.join(", "))),
    }
}

/// Account, product, MRR, start, end and the grouping label of every term in
/// `currency` within `scope`, ordered by account.
fn spans_query(currency: &str, scope: &Scope) -> sea_orm::sea_query::SelectStatement {
    use term::Column as T;
    let mut query = Query::select();
    query
        .columns([
            (term::Entity, T::AccountId),
            (term::Entity, T::ProductKey),
            (term::Entity, T::MrrMicros),
            (term::Entity, T::StartDate),
            (term::Entity, T::EndDate),
        ])
        .from(term::Entity)
        .and_where(Expr::col((term::Entity, T::CurrencyCode)).eq(currency))
        .order_by((term::Entity, T::AccountId), Order::Asc);
    if scope.label.is_some() || scope.partner_id.is_some() {
        query.left_join(
            projected::Entity,
            Expr::col((projected::Entity, projected::Column::AccountId))
                .equals((term::Entity, T::AccountId)),
        );
    }
    if let Some(label) = scope.label {
        query.column((projected::Entity, label));
    }
    if let Some(partner_id) = &scope.partner_id {
        query.and_where(
            Expr::col((projected::Entity, projected::Column::PartnerId)).eq(partner_id.as_str()),
        );
    }
    query.to_owned()
}
