//! Renewals in the service's database: the terms say when they fall due and,
//! when nobody recorded it, how they ended; `renewal_plans` holds the
//! closing plans, reviews and recorded outcomes.

use chrono::{DateTime, NaiveDate};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Query,
};
use serde::{Deserialize, Serialize};
use themodel_platform::{
    ApiError, accounts,
    store::{Begun, IdempotencyKey, Store},
    validate,
};
use themodel_proto::expansion as pb;

use super::{
    entity::{renewal_plan, term},
    subscriptions::{by_ids, change_in, partner_accounts},
};
use crate::{
    convert::subscription::subscription_to_proto,
    domain::{
        renewal::{Plan, RenewalOutcome, Step, derived_outcome, review_every_days},
        subscription::{Subscription, Term, etag, money},
    },
    error::{Error, Result},
};

/// Where a renewal falls: the subscription and the index of the term that
/// ends.
#[derive(Debug, Clone)]
pub struct Due {
    /// The subscription.
    pub subscription: Subscription,
    /// The ending term's index.
    pub index: usize,
}

impl Due {
    /// The subscription's next renewal: the end of its last term; refused when
    /// the last term has no end.
    pub fn next(subscription: Subscription) -> Result<Due> {
        let index = subscription.fields.terms.len().saturating_sub(1);
        if subscription
            .fields
            .terms
            .get(index)
            .and_then(|t| t.end)
            .is_none()
        {
            return Err(Error::NoRenewalDue(format!(
                "subscription {}'s last term runs until it is ended: no renewal is due",
                subscription.id
            )));
        }
        Ok(Due {
            subscription,
            index,
        })
    }

    /// The renewal date.
    pub fn date(&self) -> NaiveDate {
        self.ending().end.unwrap_or_default()
    }

    fn ending(&self) -> &Term {
        &self.subscription.fields.terms[self.index]
    }
}

/// Renewal plans and outcomes.
#[derive(Debug, Clone)]
pub struct Renewals {
    store: Store,
}

/// A step as stored in `renewal_plans.steps`.
#[derive(Serialize, Deserialize)]
struct StoredStep {
    key: String,
    description: String,
    due: Option<NaiveDate>,
    done_us: Option<i64>,
    done_by: Option<String>,
}

impl Renewals {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The renewal `due` with its plan, for an account of `tier`.
    pub async fn get(&self, due: &Due, tier: &str, today: NaiveDate) -> Result<pb::Renewal> {
        let plan = plan_of(&self.store.db, due).await?;
        Ok(renewal_to_proto(due, plan.as_ref(), tier, today))
    }

    /// Renewals falling in [`from`, `to`), after (`after_date`,
    /// `after_subscription`), at most `limit`, in date then subscription
    /// order; and whether more follow. Only `owner_id`'s plans and
    /// `partner_id`'s accounts when given. Tiers come from `tiers`.
    #[allow(clippy::too_many_arguments)]
    pub async fn list(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        owner_id: Option<&str>,
        partner_id: Option<&str>,
        after: Option<(NaiveDate, String)>,
        limit: u64,
        today: NaiveDate,
    ) -> Result<(Vec<pb::Renewal>, bool)> {
        use term::Column as T;
        let db = &self.store.db;
        let mut query = term::Entity::find()
            .select_only()
            .columns([T::SubscriptionId, T::EndDate])
            .filter(T::EndDate.gte(from.to_string()))
            .filter(T::EndDate.lt(to.to_string()));
        if let Some((date, id)) = &after {
            query = query.filter(
                Condition::any().add(T::EndDate.gt(date.to_string())).add(
                    Condition::all()
                        .add(T::EndDate.eq(date.to_string()))
                        .add(T::SubscriptionId.gt(id.as_str())),
                ),
            );
        }
        if let Some(partner_id) = partner_id {
            query = query.filter(T::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        if let Some(owner_id) = owner_id {
            query = query.filter(
                T::SubscriptionId.in_subquery(
                    Query::select()
                        .column(renewal_plan::Column::SubscriptionId)
                        .from(renewal_plan::Entity)
                        .and_where(renewal_plan::Column::OwnerId.eq(owner_id))
                        .to_owned(),
                ),
            );
        }
        let mut rows: Vec<(String, Option<String>)> = query
            .order_by_asc(T::EndDate)
            .order_by_asc(T::SubscriptionId)
            .limit(limit + 1)
            .into_tuple()
            .all(db)
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        let subscriptions = by_ids(db, &ids).await?;
        let accounts: Vec<&str> = subscriptions
            .iter()
            .map(|s| s.fields.account_id.as_str())
            .collect();
        let projected = accounts::projected(db, &accounts).await?;
        // The page's plans in one read, by (subscription, renewal date).
        let mut plans = std::collections::HashMap::new();
        if !ids.is_empty() {
            for row in renewal_plan::Entity::find()
                .filter(renewal_plan::Column::SubscriptionId.is_in(ids.iter().copied()))
                .all(db)
                .await?
            {
                let key = (row.subscription_id.clone(), row.renewal_date.clone());
                plans.insert(key, plan_from_row(row)?);
            }
        }
        let mut renewals = Vec::with_capacity(rows.len());
        for (id, end) in rows {
            let Some(sub) = subscriptions.iter().find(|s| s.id == id) else {
                continue;
            };
            let end = end.unwrap_or_default();
            let Some(index) = sub
                .fields
                .terms
                .iter()
                .position(|t| t.end.map(|d| d.to_string()) == Some(end.clone()))
            else {
                continue;
            };
            let due = Due {
                subscription: sub.clone(),
                index,
            };
            let plan = plans.remove(&(id.clone(), end.clone()));
            if owner_id.is_some_and(|owner| plan.as_ref().is_none_or(|p| p.owner_id != owner)) {
                continue;
            }
            let tier = projected
                .iter()
                .find(|a| a.id == sub.fields.account_id)
                .map_or("", |a| a.tier.as_str_name());
            renewals.push(renewal_to_proto(&due, plan.as_ref(), tier, today));
        }
        Ok((renewals, more))
    }

    /// Changes the plan of renewal `due` with `change` (which gets the
    /// current plan, if any), for an account of `tier`; `respond` wraps the
    /// renewal in the method's response.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_plan<R>(
        &self,
        idempotency: Option<IdempotencyKey>,
        due: &Due,
        tier: &str,
        today: NaiveDate,
        etag_sent: Option<&str>,
        change: impl FnOnce(Option<Plan>) -> Result<Plan>,
        respond: impl FnOnce(pb::Renewal) -> R,
    ) -> Result<R>
    where
        R: prost::Message + Default,
    {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked_plan(uow.tx(), due).await?;
        if let Some(sent) = etag_sent {
            let now = current.as_ref().map_or(0, |p| p.revision);
            if sent != etag(now) {
                return Err(Error::EtagMismatch {
                    resource: "renewal",
                    id: due.subscription.id.clone(),
                    current: etag(now),
                });
            }
        }
        if current.as_ref().is_some_and(|p| p.outcome.is_some()) {
            return Err(Error::RenewalRecorded(format!(
                "the renewal of subscription {} on {} is decided already",
                due.subscription.id,
                due.date()
            )));
        }
        let plan = change(current)?;
        save_plan(uow.tx(), due, &plan).await?;
        let response = respond(renewal_to_proto(due, Some(&plan), tier, today));
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Records how renewal `due` of `account` ended: `term` is the term to
    /// add (none for churn), `reason` the churn reason.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_outcome(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        due: &Due,
        outcome: RenewalOutcome,
        reason: Option<String>,
        term: Option<Term>,
        today: NaiveDate,
    ) -> Result<pb::RecordRenewalOutcomeResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked_plan(uow.tx(), due).await?;
        let derived = derived_outcome(&due.subscription.fields.terms, due.index, today);
        let decided = current.as_ref().is_some_and(|p| p.outcome.is_some())
            || derived.is_some_and(|d| d != RenewalOutcome::Churned || outcome != d);
        if decided {
            return Err(Error::RenewalRecorded(format!(
                "the renewal of subscription {} on {} is decided already",
                due.subscription.id,
                due.date()
            )));
        }
        let subscription = match term {
            Some(term) => {
                change_in(&mut uow, account, &due.subscription.id, None, |current| {
                    Ok(crate::domain::subscription::with_term(
                        &current.fields.terms,
                        term,
                    )?)
                })
                .await?
            }
            None => subscription_to_proto(&due.subscription, today),
        };
        let tier = account.tier.as_str_name();
        let mut plan = current.unwrap_or_else(|| Plan {
            owner_id: String::new(),
            steps: Vec::new(),
            review_every_days: review_every_days(tier),
            created_on: today,
            last_review: None,
            outcome: None,
            revision: 0,
        });
        plan.outcome = Some((outcome, reason));
        plan.revision += 1;
        save_plan(uow.tx(), due, &plan).await?;
        let renewal = renewal_to_proto(due, Some(&plan), tier, today);
        uow.emit(
            &account.id,
            &pb::RenewalRecorded {
                renewal: Some(renewal.clone()),
                subscription: Some(subscription.clone()),
                partner_id: account.partner_id.clone().unwrap_or_default(),
            },
        );
        let response = pb::RecordRenewalOutcomeResponse {
            renewal: Some(renewal),
            subscription: Some(subscription),
        };
        uow.commit(&response).await?;
        Ok(response)
    }
}

/// The plan of `due`, if one was set.
async fn plan_of(db: &impl ConnectionTrait, due: &Due) -> Result<Option<Plan>> {
    renewal_plan::Entity::find_by_id((due.subscription.id.clone(), due.date().to_string()))
        .one(db)
        .await?
        .map(plan_from_row)
        .transpose()
}

async fn locked_plan(db: &impl ConnectionTrait, due: &Due) -> Result<Option<Plan>> {
    renewal_plan::Entity::find_by_id((due.subscription.id.clone(), due.date().to_string()))
        .lock_exclusive()
        .one(db)
        .await?
        .map(plan_from_row)
        .transpose()
}

async fn save_plan(db: &impl ConnectionTrait, due: &Due, plan: &Plan) -> Result<()> {
    let steps: Vec<StoredStep> = plan
        .steps
        .iter()
        .map(|s| StoredStep {
            key: s.key.clone(),
            description: s.description.clone(),
            due: s.due,
            done_us: s.done.as_ref().map(|(t, _)| t.timestamp_micros()),
            done_by: s.done.as_ref().map(|(_, by)| by.clone()),
        })
        .collect();
    let row = renewal_plan::ActiveModel {
        subscription_id: Set(due.subscription.id.clone()),
        renewal_date: Set(due.date().to_string()),
        account_id: Set(due.subscription.fields.account_id.clone()),
        owner_id: Set(plan.owner_id.clone()),
        steps: Set(serde_json::to_string(&steps).map_err(ApiError::internal)?),
        review_every_days: Set(plan.review_every_days),
        created_on: Set(plan.created_on.to_string()),
        last_review_date: Set(plan.last_review.as_ref().map(|r| r.0.to_string())),
        last_review_note: Set(plan.last_review.as_ref().map(|r| r.1.clone())),
        outcome: Set(plan.outcome.as_ref().map(|o| o.0.as_str_name().to_owned())),
        churn_reason: Set(plan.outcome.as_ref().and_then(|o| o.1.clone())),
        revision: Set(plan.revision),
    };
    renewal_plan::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                renewal_plan::Column::SubscriptionId,
                renewal_plan::Column::RenewalDate,
            ])
            .update_columns([
                renewal_plan::Column::OwnerId,
                renewal_plan::Column::Steps,
                renewal_plan::Column::ReviewEveryDays,
                renewal_plan::Column::LastReviewDate,
                renewal_plan::Column::LastReviewNote,
                renewal_plan::Column::Outcome,
                renewal_plan::Column::ChurnReason,
                renewal_plan::Column::Revision,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn corrupt(column: &str, value: &str) -> Error {
    Error::Api(ApiError::internal(anyhow::anyhow!(
        "renewal_plans.{column} holds unknown value {value:?}"
    )))
}

fn plan_from_row(row: renewal_plan::Model) -> Result<Plan> {
    let date = |column: &str, text: &str| -> Result<NaiveDate> {
        text.parse().map_err(|_| corrupt(column, text))
    };
    let steps: Vec<StoredStep> =
        serde_json::from_str(&row.steps).map_err(|_| corrupt("steps", &row.steps))?;
    let last_review = match (&row.last_review_date, row.last_review_note) {
        (Some(day), note) => Some((date("last_review_date", day)?, note.unwrap_or_default())),
        _ => None,
    };
    let outcome = match &row.outcome {
        Some(text) => Some((
            RenewalOutcome::from_str_name(text).ok_or_else(|| corrupt("outcome", text))?,
            row.churn_reason,
        )),
        None => None,
    };
    Ok(Plan {
        owner_id: row.owner_id,
        steps: steps
            .into_iter()
            .map(|s| Step {
                key: s.key,
                description: s.description,
                due: s.due,
                done: s.done_us.map(|us| {
                    (
                        DateTime::from_timestamp_micros(us).unwrap_or_default(),
                        s.done_by.unwrap_or_default(),
                    )
                }),
            })
            .collect(),
        review_every_days: row.review_every_days,
        created_on: date("created_on", &row.created_on)?,
        last_review,
        outcome,
        revision: row.revision,
    })
}

/// The contract form of renewal `due` with `plan`, for an account of `tier`.
pub fn renewal_to_proto(
    due: &Due,
    plan: Option<&Plan>,
    tier: &str,
    today: NaiveDate,
) -> pb::Renewal {
    let ending = due.ending();
    let recorded = plan.and_then(|p| p.outcome.clone());
    let outcome = recorded
        .as_ref()
        .map(|o| o.0)
        .or_else(|| derived_outcome(&due.subscription.fields.terms, due.index, today));
    let next_review = plan.map(Plan::next_review);
    pb::Renewal {
        subscription_id: due.subscription.id.clone(),
        renewal_date: Some(validate::date_to_proto(due.date())),
        account_id: due.subscription.fields.account_id.clone(),
        product_key: due.subscription.fields.product_key.clone(),
        mrr: ending
            .mrr()
            .map(|m| m.to_proto())
            .or_else(|| Some(money(&ending.unit_price.currency_code, 0).to_proto())),
        tier: tier.to_owned(),
        owner_id: plan.map(|p| p.owner_id.clone()).unwrap_or_default(),
        steps: plan
            .map(|p| {
                p.steps
                    .iter()
                    .map(|s| pb::ClosingStep {
                        step_key: s.key.clone(),
                        description: s.description.clone(),
                        due_date: s.due.map(validate::date_to_proto),
                        done: s.done.is_some(),
                        done_time: s.done.as_ref().map(|(t, _)| crate::convert::timestamp(*t)),
                        done_by: s
                            .done
                            .as_ref()
                            .map(|(_, by)| by.clone())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        review_every_days: plan.map_or_else(|| review_every_days(tier), |p| p.review_every_days),
        last_review_date: plan
            .and_then(|p| p.last_review.as_ref())
            .map(|r| validate::date_to_proto(r.0)),
        last_review_note: plan
            .and_then(|p| p.last_review.as_ref())
            .map(|r| r.1.clone())
            .unwrap_or_default(),
        next_review_date: next_review.map(validate::date_to_proto),
        review_overdue: outcome.is_none() && next_review.is_some_and(|d| d < today),
        outcome: outcome.map_or(0, |o| o as i32),
        churn_reason: recorded.and_then(|o| o.1).unwrap_or_default(),
        outcome_recorded: plan.is_some_and(|p| p.outcome.is_some()),
        etag: etag(plan.map_or(0, |p| p.revision)),
    }
}
