//! Subscriptions, their terms and each account's revenue state in the
//! service's database. Every write settles the account's state in the same
//! transaction, so churn and reactivation are announced exactly once; a job
//! settles the accounts whose state changes with the calendar alone.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::OnConflict,
};
use themodel_platform::{
    ApiError, accounts,
    jobs::{JobRunner, Schedule},
    store::{Begun, IdempotencyKey, PointReads, Store, UnitOfWork, is_unique_violation, page},
    validate::{self, Money},
};
use themodel_proto::expansion as pb;

use super::entity::{revenue_account, subscription, term};
use crate::{
    convert::subscription::subscription_to_proto,
    domain::{
        catalogue::BillingPeriod,
        subscription::{
            Change, NewSubscription, RevenueState, Subscription, Term, etag, money, settle,
        },
    },
    error::{Error, Result},
    store::now,
};

/// The job that settles accounts whose state changes by the calendar.
pub const SETTLE_JOB: &str = "settle-revenue";
/// Accounts one settle transaction handles.
const SETTLE_BATCH: u64 = 200;

/// What a partner user may see: only its own partner's accounts.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this product.
    pub product_key: Option<String>,
    /// Only accounts of this partner.
    pub partner_id: Option<String>,
}

/// Subscriptions in the service's database.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    store: Store,
    reads: PointReads<subscription::Entity>,
}

impl Subscriptions {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        let reads = PointReads::new(store.db.clone());
        Self { store, reads }
    }

    /// Records `new` for `account`; ALREADY_EXISTS when its external id is
    /// taken.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        new: NewSubscription,
        account: &accounts::Account,
    ) -> Result<pb::CreateSubscriptionResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let created = create_in(&mut uow, new, account).await?;
        let response = pb::CreateSubscriptionResponse {
            subscription: Some(created),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Subscription `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Subscription>> {
        let db = &self.store.db;
        let Some(row) = self.reads.get(id).await? else {
            return Ok(None);
        };
        let mut terms = terms_of(db, &[id]).await?;
        Ok(Some(to_domain(row, terms.remove(id).unwrap_or_default())))
    }

    /// Up to `limit` subscriptions after id `after` matching `filter`, in
    /// creation order; and whether more follow.
    pub async fn list(
        &self,
        filter: &Filter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Subscription>, bool)> {
        use subscription::Column as C;
        let db = &self.store.db;
        let mut query = subscription::Entity::find();
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        if let Some(account_id) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account_id.as_str()));
        }
        if let Some(product_key) = &filter.product_key {
            query = query.filter(C::ProductKey.eq(product_key.as_str()));
        }
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        let (rows, more) = page(db, query.order_by_asc(C::Id), limit).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut terms = terms_of(db, &ids).await?;
        let subscriptions = rows
            .into_iter()
            .map(|row| {
                let terms = terms.remove(&row.id).unwrap_or_default();
                to_domain(row, terms)
            })
            .collect();
        Ok((subscriptions, more))
    }

    /// Replaces the terms of subscription `id` with what `change` makes of
    /// them, for `account` (the subscription's, as the caller may see it).
    pub async fn change(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag_sent: Option<&str>,
        change: impl FnOnce(&Subscription) -> Result<Vec<Term>>,
    ) -> Result<pb::Subscription> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let changed = change_in(&mut uow, account, id, etag_sent, change).await?;
        uow.commit(&changed).await?;
        Ok(changed)
    }

    /// The subscriptions of `account_id` in force on `day`, by product.
    pub async fn held_on(
        &self,
        account_id: &str,
        day: NaiveDate,
    ) -> Result<BTreeMap<String, Vec<Subscription>>> {
        let mut held: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
        for sub in account_subscriptions(&self.store.db, account_id).await? {
            if sub.fields.terms.iter().any(|t| t.in_force(day)) {
                held.entry(sub.fields.product_key.clone())
                    .or_default()
                    .push(sub);
            }
        }
        Ok(held)
    }

    /// Settles, every hour, the accounts whose state may have changed with
    /// the date.
    pub fn schedule(&self, jobs: &JobRunner) {
        let this = self.clone();
        jobs.every(
            SETTLE_JOB,
            Schedule::every(Duration::from_secs(3600)),
            move || {
                let this = this.clone();
                async move {
                    let settled = this.settle_due(today()).await?;
                    Ok(format!("{settled} accounts settled"))
                }
            },
        );
    }

    /// Settles every account whose next check is due on `day`; how many.
    pub async fn settle_due(&self, day: NaiveDate) -> Result<u64, ApiError> {
        let mut settled = 0;
        loop {
            let mut uow = match self.store.begin::<pb::Subscription>(None).await? {
                Begun::Fresh(uow) => uow,
                Begun::Replay(_) => return Ok(settled),
            };
            let due: Vec<String> = revenue_account::Entity::find()
                .select_only()
                .column(revenue_account::Column::AccountId)
                .filter(revenue_account::Column::NextCheck.lte(day.to_string()))
                .order_by_asc(revenue_account::Column::AccountId)
                .limit(SETTLE_BATCH)
                .into_tuple()
                .all(uow.tx())
                .await?;
            let ids: Vec<&str> = due.iter().map(String::as_str).collect();
            let projected = accounts::projected(uow.tx(), &ids).await?;
            for id in &due {
                let subs = account_subscriptions(uow.tx(), id)
                    .await
                    .map_err(ApiError::from)?;
                let account = projected
                    .iter()
                    .find(|a| &a.id == id)
                    .cloned()
                    .unwrap_or_else(|| unknown_account(id));
                settle_account(&mut uow, &account, &subs, day)
                    .await
                    .map_err(ApiError::from)?;
            }
            uow.commit(&pb::Subscription::default()).await?;
            settled += due.len() as u64;
            if (due.len() as u64) < SETTLE_BATCH {
                return Ok(settled);
            }
        }
    }
}

/// Records `new` for `account` in `uow`; ALREADY_EXISTS when its external id
/// is taken. The subscription as created.
pub async fn create_in(
    uow: &mut UnitOfWork,
    new: NewSubscription,
    account: &accounts::Account,
) -> Result<pb::Subscription> {
    let today = today();
    let before = account_subscriptions(uow.tx(), &account.id).await?;
    if let Some(external_id) = &new.external_id
        && subscription::Entity::find()
            .filter(subscription::Column::ExternalId.eq(external_id.as_str()))
            .one(uow.tx())
            .await?
            .is_some()
    {
        return Err(Error::SubscriptionExists(external_id.clone()));
    }
    let now = now();
    let created = Subscription {
        id: uuid::Uuid::now_v7().to_string(),
        fields: new,
        create_time: now,
        update_time: now,
        revision: 1,
    };
    subscription::Entity::insert(subscription_row(&created))
        .exec_without_returning(uow.tx())
        .await
        .map_err(|err| taken(err, &created))?;
    insert_terms(uow.tx(), &created).await?;
    let proto = subscription_to_proto(&created, today);
    let mut after = before.clone();
    after.push(created);
    announce(uow, account, &before, &after, proto.clone(), today).await?;
    Ok(proto)
}

/// Replaces the terms of subscription `id` of `account` in `uow` with what
/// `change` makes of them; `etag_sent`, when given, must be current. The
/// subscription after the change.
pub async fn change_in(
    uow: &mut UnitOfWork,
    account: &accounts::Account,
    id: &str,
    etag_sent: Option<&str>,
    change: impl FnOnce(&Subscription) -> Result<Vec<Term>>,
) -> Result<pb::Subscription> {
    let today = today();
    let before = account_subscriptions(uow.tx(), &account.id).await?;
    let current = before
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .ok_or_else(|| Error::SubscriptionNotFound(id.to_owned()))?;
    let current_etag = etag(current.revision);
    if let Some(sent) = etag_sent
        && sent != current_etag
    {
        return Err(Error::EtagMismatch {
            resource: "subscription",
            id: id.to_owned(),
            current: current_etag,
        });
    }
    let terms = change(&current)?;
    let changed = Subscription {
        fields: NewSubscription {
            terms,
            ..current.fields
        },
        update_time: now(),
        revision: current.revision + 1,
        ..current
    };
    let mut row = subscription_row(&changed);
    row.create_time_us = sea_orm::ActiveValue::NotSet;
    subscription::Entity::update(row).exec(uow.tx()).await?;
    term::Entity::delete_many()
        .filter(term::Column::SubscriptionId.eq(id))
        .exec(uow.tx())
        .await?;
    insert_terms(uow.tx(), &changed).await?;
    let proto = subscription_to_proto(&changed, today);
    let after: Vec<Subscription> = before
        .iter()
        .map(|s| {
            if s.id == id {
                changed.clone()
            } else {
                s.clone()
            }
        })
        .collect();
    announce(uow, account, &before, &after, proto.clone(), today).await?;
    Ok(proto)
}

/// An account the projection has lost track of: no partner, no CSM.
fn unknown_account(id: &str) -> accounts::Account {
    accounts::Account {
        id: id.to_owned(),
        external_id: None,
        name: String::new(),
        domain: None,
        partner_id: None,
        owner_csm_id: None,
        tier: Default::default(),
        lifecycle_status: Default::default(),
    }
}

/// The ids of the accounts of `partner_id`, as a subquery.
pub fn partner_accounts(partner_id: &str) -> sea_orm::sea_query::SelectStatement {
    use accounts::entity::{Column, Entity};
    sea_orm::sea_query::Query::select()
        .column(Column::AccountId)
        .from(Entity)
        .and_where(Column::PartnerId.eq(partner_id))
        .to_owned()
}

/// Emits the subscription's change and settles its account.
async fn announce(
    uow: &mut UnitOfWork,
    account: &accounts::Account,
    before: &[Subscription],
    after: &[Subscription],
    subscription: pb::Subscription,
    today: NaiveDate,
) -> Result<()> {
    let currency = after.first().map_or("", |s| s.currency()).to_owned();
    let mrr_on = |subs: &[Subscription]| -> i128 { subs.iter().map(|s| s.mrr_on(today)).sum() };
    uow.emit(
        &account.id,
        &pb::SubscriptionChanged {
            subscription: Some(subscription),
            account_mrr_before: Some(money(&currency, mrr_on(before)).to_proto()),
            account_mrr_after: Some(money(&currency, mrr_on(after)).to_proto()),
            partner_id: account.partner_id.clone().unwrap_or_default(),
        },
    );
    settle_account(uow, account, after, today).await
}

/// Brings `account`'s revenue state to `today` from its subscriptions `subs`,
/// announcing a churn or reactivation.
async fn settle_account(
    uow: &mut UnitOfWork,
    account: &accounts::Account,
    subs: &[Subscription],
    today: NaiveDate,
) -> Result<()> {
    use revenue_account::Column as C;
    let tx = uow.tx();
    // Inserted first so that the row lock below serializes writers.
    let currency = subs.first().map_or("", |s| s.currency()).to_owned();
    revenue_account::Entity::insert(revenue_account::ActiveModel {
        account_id: Set(account.id.clone()),
        state: Set(RevenueState::Pending.as_str().to_owned()),
        since: Set(today.to_string()),
        next_check: Set(None),
        currency_code: Set(currency.clone()),
        mrr_micros: Set(0),
        next_renewal: Set(None),
    })
    .on_conflict(OnConflict::column(C::AccountId).do_nothing().to_owned())
    .exec_without_returning(tx)
    .await?;
    let row = revenue_account::Entity::find_by_id(account.id.clone())
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| {
            Error::Api(ApiError::internal(anyhow::anyhow!(
                "revenue state vanished"
            )))
        })?;
    let previous = RevenueState::parse(&row.state).ok_or_else(|| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "revenue_accounts.state holds unknown value {:?}",
            row.state
        )))
    })?;
    let settled = settle(previous, subs, today);
    let since = if settled.state == previous {
        row.since.clone()
    } else {
        today.to_string()
    };
    let mrr_micros = i64::try_from(settled.mrr / 1000).unwrap_or(i64::MAX);
    let next_renewal = settled.next_renewal.map(|d| d.to_string());
    revenue_account::Entity::update(revenue_account::ActiveModel {
        account_id: Set(account.id.clone()),
        state: Set(settled.state.as_str().to_owned()),
        since: Set(since),
        next_check: Set(settled.next_check.map(|d| d.to_string())),
        currency_code: Set(currency.clone()),
        mrr_micros: Set(mrr_micros),
        next_renewal: Set(next_renewal.clone()),
    })
    .exec(tx)
    .await?;
    let partner_id = account.partner_id.clone().unwrap_or_default();
    if (row.mrr_micros, &row.currency_code, &row.next_renewal)
        != (mrr_micros, &currency, &next_renewal)
    {
        uow.emit(
            &account.id,
            &pb::AccountRevenueChanged {
                account_id: account.id.clone(),
                mrr: Some(money(&currency, settled.mrr).to_proto()),
                next_renewal_date: settled.next_renewal.map(validate::date_to_proto),
                partner_id: partner_id.clone(),
            },
        );
    }
    match settled.change {
        Some(Change::Churned { on, lost_mrr }) => uow.emit(
            &account.id,
            &pb::AccountChurned {
                account_id: account.id.clone(),
                churn_date: Some(validate::date_to_proto(on)),
                lost_mrr: Some(money(&currency, lost_mrr).to_proto()),
                partner_id,
            },
        ),
        Some(Change::Reactivated { on }) => uow.emit(
            &account.id,
            &pb::AccountReactivated {
                account_id: account.id.clone(),
                reactivation_date: Some(validate::date_to_proto(on)),
                mrr: Some(money(&currency, settled.mrr).to_proto()),
                partner_id,
            },
        ),
        None => {}
    }
    Ok(())
}

/// A unique violation on insert is a concurrent create with the same
/// external id.
fn taken(err: sea_orm::DbErr, sub: &Subscription) -> Error {
    match &sub.fields.external_id {
        Some(external_id) if is_unique_violation(&err) => {
            Error::SubscriptionExists(external_id.clone())
        }
        _ => err.into(),
    }
}

/// The subscriptions among `ids` that exist, in id order.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<Subscription>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = subscription::Entity::find()
        .filter(subscription::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(subscription::Column::Id)
        .all(db)
        .await?;
    let mut terms = terms_of(db, ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let terms = terms.remove(&row.id).unwrap_or_default();
            to_domain(row, terms)
        })
        .collect())
}

/// Every subscription of `account_id`, in creation order.
pub async fn account_subscriptions(
    db: &impl ConnectionTrait,
    account_id: &str,
) -> Result<Vec<Subscription>> {
    let rows = subscription::Entity::find()
        .filter(subscription::Column::AccountId.eq(account_id))
        .order_by_asc(subscription::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut terms = terms_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let terms = terms.remove(&row.id).unwrap_or_default();
            to_domain(row, terms)
        })
        .collect())
}

async fn insert_terms(db: &impl ConnectionTrait, sub: &Subscription) -> Result<()> {
    let f = &sub.fields;
    let rows = f.terms.iter().enumerate().map(|(position, t)| {
        let mrr = t.mrr().map_or(0, |m| {
            i64::try_from(crate::domain::subscription::nanos(&m) / 1000).unwrap_or(i64::MAX)
        });
        term::ActiveModel {
            subscription_id: Set(sub.id.clone()),
            position: Set(position as i32),
            account_id: Set(f.account_id.clone()),
            product_key: Set(f.product_key.clone()),
            currency_code: Set(t.unit_price.currency_code.clone()),
            quantity: Set(t.quantity),
            price_units: Set(t.unit_price.units),
            price_nanos: Set(t.unit_price.nanos),
            billing_period: Set(t.period.as_str_name().to_owned()),
            start_date: Set(t.start.to_string()),
            end_date: Set(t.end.map(|d| d.to_string())),
            mrr_micros: Set(mrr),
        }
    });
    term::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The terms of the subscriptions `ids`, each in its order.
async fn terms_of(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, Vec<Term>>> {
    let mut by_subscription: std::collections::HashMap<String, Vec<Term>> =
        std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(by_subscription);
    }
    let rows = term::Entity::find()
        .filter(term::Column::SubscriptionId.is_in(ids.iter().copied()))
        .order_by_asc(term::Column::SubscriptionId)
        .order_by_asc(term::Column::Position)
        .all(db)
        .await?;
    for row in rows {
        let corrupt = |what: &str, value: &str| {
            Error::Api(ApiError::internal(anyhow::anyhow!(
                "subscription_terms.{what} holds unknown value {value:?}"
            )))
        };
        let period = BillingPeriod::from_str_name(&row.billing_period)
            .ok_or_else(|| corrupt("billing_period", &row.billing_period))?;
        let start = row
            .start_date
            .parse()
            .map_err(|_| corrupt("start_date", &row.start_date))?;
        let end = match &row.end_date {
            Some(text) => Some(text.parse().map_err(|_| corrupt("end_date", text))?),
            None => None,
        };
        by_subscription
            .entry(row.subscription_id)
            .or_default()
            .push(Term {
                quantity: row.quantity,
                unit_price: Money {
                    currency_code: row.currency_code,
                    units: row.price_units,
                    nanos: row.price_nanos,
                },
                period,
                start,
                end,
            });
    }
    Ok(by_subscription)
}

fn subscription_row(s: &Subscription) -> subscription::ActiveModel {
    let f = &s.fields;
    subscription::ActiveModel {
        id: Set(s.id.clone()),
        external_id: Set(f.external_id.clone()),
        account_id: Set(f.account_id.clone()),
        product_key: Set(f.product_key.clone()),
        plan_key: Set(f.plan_key.clone()),
        currency_code: Set(s.currency().to_owned()),
        revision: Set(s.revision),
        create_time_us: Set(s.create_time.timestamp_micros()),
        update_time_us: Set(s.update_time.timestamp_micros()),
    }
}

fn to_domain(row: subscription::Model, terms: Vec<Term>) -> Subscription {
    let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    Subscription {
        fields: NewSubscription {
            external_id: row.external_id,
            account_id: row.account_id,
            product_key: row.product_key,
            plan_key: row.plan_key,
            terms,
        },
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        id: row.id,
    }
}

/// Today in UTC: the day revenue, status and whitespace are told for.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}
