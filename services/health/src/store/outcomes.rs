//! Outcomes: churns, renewals and reactivations, kept from the expansion
//! service's events (the source of truth for churn) and imported history,
//! each once; and churn retrospectives read from the kept history.

use std::collections::HashMap;

use chrono::NaiveDate;
use prost::Name as _;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Value,
    sea_query::{Alias, Cond, Expr, ExprTrait, OnConflict, Query},
};
use themodel_platform::{
    accounts,
    client::Clients,
    consumer::{Consumer, EventHandler},
    jobs::JobRunner,
    registry,
    store::{Begun, IdempotencyKey, Store, UnitOfWork, page},
    validate,
};
use themodel_proto::{events::Event, expansion as exp, health as pb};

use super::{
    adoption::day_start_us,
    alerts::{alert_to_proto, open_on},
    now,
    scores::{latest_scores, score_to_proto},
};
use crate::{
    domain::{backtest::Turn, scorecard::Grade},
    error::Result,
};

/// The consumer of the expansion service's churn and renewal events.
pub const OUTCOMES_CONSUMER: &str = "expansion-outcomes";

/// The `outcomes` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One outcome.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outcomes")]
    pub struct Model {
        /// Order of recording.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The account.
        pub account_id: String,
        /// `CHURNED`, `RENEWED`, `REACTIVATED`.
        pub kind: String,
        /// `YYYY-MM-DD`.
        pub outcome_date: String,
        /// The product; empty for the account.
        pub product_key: String,
        /// `EXPANSION` or `IMPORT`.
        pub source: String,
        /// Unix microseconds.
        pub record_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Logo churn.
    Churned,
    /// A renewal.
    Renewed,
    /// Customer again.
    Reactivated,
}

impl Kind {
    /// Its stored name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Churned => "CHURNED",
            Kind::Renewed => "RENEWED",
            Kind::Reactivated => "REACTIVATED",
        }
    }
}

/// Where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The expansion service's events.
    Expansion,
    /// Imported.
    Import,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Expansion => "EXPANSION",
            Source::Import => "IMPORT",
        }
    }
}

fn source_to_proto(name: &str) -> pb::OutcomeSource {
    match name {
        "EXPANSION" => pb::OutcomeSource::Expansion,
        "IMPORT" => pb::OutcomeSource::Import,
        _ => pb::OutcomeSource::Unspecified,
    }
}

/// One outcome to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutcome {
    /// The account.
    pub account_id: String,
    /// What happened.
    pub kind: Kind,
    /// The day.
    pub date: NaiveDate,
    /// The product; empty for the account.
    pub product_key: String,
}

/// Rows per insert statement.
const INSERT_ROWS: usize = 1000;

/// Records `outcomes` from `source` in `db`; how many were new (the others
/// were known already, from any source).
pub async fn record(
    db: &impl ConnectionTrait,
    outcomes: &[NewOutcome],
    source: Source,
) -> Result<u64> {
    let at = now().timestamp_micros();
    let mut inserted = 0;
    for chunk in outcomes.chunks(INSERT_ROWS) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("outcomes")).columns([
            Alias::new("account_id"),
            Alias::new("kind"),
            Alias::new("outcome_date"),
            Alias::new("product_key"),
            Alias::new("source"),
            Alias::new("record_time_us"),
        ]);
        for o in chunk {
            insert
                .values([
                    Value::from(o.account_id.as_str()).into(),
                    Value::from(o.kind.name()).into(),
                    Value::from(o.date.to_string()).into(),
                    Value::from(o.product_key.as_str()).into(),
                    Value::from(source.name()).into(),
                    at.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert.on_conflict(
            OnConflict::columns([
                Alias::new("account_id"),
                Alias::new("kind"),
                Alias::new("outcome_date"),
                Alias::new("product_key"),
            ])
            .do_nothing()
            .to_owned(),
        );
        inserted += db.execute(&insert).await?.rows_affected();
    }
    Ok(inserted)
}

/// Keeps outcomes from the expansion service's events.
struct FromExpansion;

fn decode<M: prost::Message + Default>(event: &Event) -> anyhow::Result<M> {
    let payload = event
        .payload
        .as_ref()
        .map(|p| p.value.as_slice())
        .unwrap_or_default();
    Ok(M::decode(payload)?)
}

fn event_date(date: Option<&themodel_proto::common::Date>) -> anyhow::Result<NaiveDate> {
    date.map(validate::date)
        .transpose()
        .map_err(|_| anyhow::anyhow!("an outcome with a bad date"))?
        .ok_or_else(|| anyhow::anyhow!("an outcome without a date"))
}

#[tonic::async_trait]
impl EventHandler for FromExpansion {
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> anyhow::Result<()> {
        let outcome = if event.r#type == exp::AccountChurned::full_name() {
            let e: exp::AccountChurned = decode(event)?;
            NewOutcome {
                date: event_date(e.churn_date.as_ref())?,
                account_id: e.account_id,
                kind: Kind::Churned,
                product_key: String::new(),
            }
        } else if event.r#type == exp::AccountReactivated::full_name() {
            let e: exp::AccountReactivated = decode(event)?;
            NewOutcome {
                date: event_date(e.reactivation_date.as_ref())?,
                account_id: e.account_id,
                kind: Kind::Reactivated,
                product_key: String::new(),
            }
        } else if event.r#type == exp::RenewalRecorded::full_name() {
            let Some(renewal) = decode::<exp::RenewalRecorded>(event)?.renewal else {
                return Ok(());
            };
            let renewed = matches!(
                exp::RenewalOutcome::try_from(renewal.outcome),
                Ok(exp::RenewalOutcome::Renewed | exp::RenewalOutcome::RenewedWithChange)
            );
            // A product not renewed is not the account's churn: that comes
            // as AccountChurned when its last subscription ends.
            if !renewed {
                return Ok(());
            }
            NewOutcome {
                date: event_date(renewal.renewal_date.as_ref())?,
                account_id: renewal.account_id,
                kind: Kind::Renewed,
                product_key: renewal.product_key,
            }
        } else {
            return Ok(());
        };
        record(uow.tx(), &[outcome], Source::Expansion).await?;
        Ok(())
    }
}

/// Follows the expansion service's churns and renewals on `jobs`.
pub fn follow_outcomes(store: &Store, jobs: &JobRunner, clients: Clients) {
    Consumer::new(
        OUTCOMES_CONSUMER,
        registry::EXPANSION.name,
        store,
        FromExpansion,
    )
    .start(jobs, clients);
}

/// The churns and reactivations of each of `account_ids` (all when none),
/// in day order.
pub async fn turns(
    db: &impl ConnectionTrait,
    account_ids: Option<&[&str]>,
) -> Result<HashMap<String, Vec<(NaiveDate, Turn)>>> {
    let mut query = entity::Entity::find()
        .filter(entity::Column::Kind.is_in([Kind::Churned.name(), Kind::Reactivated.name()]));
    if let Some(ids) = account_ids {
        query = query.filter(entity::Column::AccountId.is_in(ids.iter().copied()));
    }
    let rows = query
        .order_by_asc(entity::Column::OutcomeDate)
        .all(db)
        .await?;
    let mut out: HashMap<String, Vec<(NaiveDate, Turn)>> = HashMap::new();
    for row in rows {
        let date = row.outcome_date.parse::<NaiveDate>().map_err(|_| {
            DbErr::Custom(format!("outcomes holds the date {:?}", row.outcome_date))
        })?;
        let turn = if row.kind == Kind::Churned.name() {
            Turn::Churned
        } else {
            Turn::Reactivated
        };
        out.entry(row.account_id).or_default().push((date, turn));
    }
    Ok(out)
}

/// What a listing of churns keeps to.
#[derive(Debug, Clone, Default)]
pub struct ChurnFilter {
    /// Churns on or after.
    pub from: Option<NaiveDate>,
    /// Churns on or before.
    pub to: Option<NaiveDate>,
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only the accounts of this partner.
    pub partner_id: Option<String>,
}

/// A page position in the churns: (day, id).
pub type ChurnCursor = (String, i64);

/// Outcomes.
#[derive(Debug, Clone)]
pub struct Outcomes {
    store: Store,
}

impl Outcomes {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Imports `outcomes`; the accepted count and the duplicates.
    pub async fn import(
        &self,
        idempotency: Option<IdempotencyKey>,
        outcomes: Vec<NewOutcome>,
        rejections: Vec<pb::RejectedOutcome>,
    ) -> Result<pb::ImportOutcomesResponse> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let accepted = record(uow.tx(), &outcomes, Source::Import).await?;
        let response = pb::ImportOutcomesResponse {
            accepted: i64::try_from(accepted).unwrap_or(i64::MAX),
            duplicates: i64::try_from(outcomes.len() as u64 - accepted).unwrap_or(0),
            rejections,
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` churns kept to `filter` after `after`, newest first,
    /// each with what the score said before it; and whether more follow.
    pub async fn retrospectives(
        &self,
        filter: &ChurnFilter,
        after: Option<ChurnCursor>,
        limit: u64,
        churn_grade: Grade,
    ) -> Result<(Vec<(pb::ChurnRetrospective, ChurnCursor)>, bool)> {
        use entity::Column as C;
        let db = &self.store.db;
        let mut query = entity::Entity::find().filter(C::Kind.eq(Kind::Churned.name()));
        if let Some(from) = filter.from {
            query = query.filter(C::OutcomeDate.gte(from.to_string()));
        }
        if let Some(to) = filter.to {
            query = query.filter(C::OutcomeDate.lte(to.to_string()));
        }
        if let Some(account) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account.as_str()));
        }
        if let Some(partner) = &filter.partner_id {
            let partner_accounts = Query::select()
                .column(accounts::entity::Column::AccountId)
                .from(accounts::entity::Entity)
                .and_where(Expr::col(accounts::entity::Column::PartnerId).eq(partner.as_str()))
                .to_owned();
            query = query.filter(C::AccountId.in_subquery(partner_accounts));
        }
        if let Some((date, id)) = after {
            query = query.filter(
                Cond::any()
                    .add(C::OutcomeDate.lt(date.clone()))
                    .add(C::OutcomeDate.eq(date).and(C::Id.lt(id))),
            );
        }
        let query = query.order_by_desc(C::OutcomeDate).order_by_desc(C::Id);
        let (rows, more) = page(db, query, limit).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.account_id.as_str()).collect();
        let partners: HashMap<String, Option<String>> = accounts::projected(db, &ids)
            .await?
            .into_iter()
            .map(|a| (a.id, a.partner_id))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let day = row.outcome_date.parse::<NaiveDate>().map_err(|_| {
                DbErr::Custom(format!("outcomes holds the date {:?}", row.outcome_date))
            })?;
            // By the end of the churn day.
            let by = day.succ_opt().unwrap_or(day);
            let mut before: Vec<_> =
                latest_scores(db, &[row.account_id.as_str()], Some(day_start_us(by)))
                    .await?
                    .into_values()
                    .collect();
            before.sort_by(|a, b| a.product_key.cmp(&b.product_key));
            let looked_healthy = !before.is_empty()
                && before
                    .iter()
                    .all(|s| s.score.grade.is_some_and(|g| g < churn_grade));
            let open = open_on(db, &row.account_id, by).await?;
            out.push((
                pb::ChurnRetrospective {
                    account_id: row.account_id.clone(),
                    churn_date: Some(validate::date_to_proto(day)),
                    source: source_to_proto(&row.source) as i32,
                    scores_before: before.iter().map(score_to_proto).collect(),
                    open_alerts: open.iter().map(alert_to_proto).collect(),
                    looked_healthy,
                    partner_id: partners
                        .get(&row.account_id)
                        .cloned()
                        .flatten()
                        .unwrap_or_default(),
                },
                (row.outcome_date.clone(), row.id),
            ));
        }
        Ok((out, more))
    }
}
