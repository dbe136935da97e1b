//! Tier overrides: approved exceptions to the policy, audited, ending at the
//! next re-baseline; and the re-baseline reminder.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use themodel_platform::{
    ApiError,
    auth::Principal,
    jobs::{JobRunner, Schedule},
    store::{Begun, IdempotencyKey, Store, any_of, page},
    validate,
};
use themodel_proto::segmentation as pb;

use super::{
    entity::{self, tier_override, tier_policy},
    locked, set_tier,
    tiers::{self, now},
};
use crate::{
    convert::{account_to_proto, timestamp},
    domain::{
        account::{LifecycleStatus, Tier},
        policy::{TierRule, basis},
    },
    error::{Error, Result},
};

use pb::OverrideState;

/// Filters of an override listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OverrideFilter {
    /// Only this state.
    pub state: Option<i32>,
    /// Only this account.
    pub account_id: Option<String>,
}

/// How many overrides are in force, among how many ranked accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Active overrides.
    pub active: u64,
    /// Accounts that are not churned.
    pub ranked: u64,
}

/// Overrides in the service's database.
#[derive(Debug, Clone)]
pub struct Overrides {
    store: Store,
}

/// Who ends overrides that expire on their date.
const EXPIRY_ACTOR: &str = "segmentation";
/// Overrides one expiry transaction ends.
const EXPIRY_BATCH: u64 = 500;

impl Overrides {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Keeps `account_id` on `tier`, approved by `principal`, until the
    /// re-baseline of the version in force; replaces an active override.
    pub async fn create(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        account_id: &str,
        tier: Tier,
        reason: String,
    ) -> Result<pb::OverrideTierResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let policy = tiers::in_force(uow.tx())
            .await?
            .ok_or(Error::NoTierPolicy)?;
        let account = locked(uow.tx(), account_id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(account_id.to_owned()))?;
        if account.fields.lifecycle_status == LifecycleStatus::Churned {
            return Err(Error::AccountChurned(account.id));
        }
        let applied = tiers::read(uow.tx(), policy.version)
            .await?
            .ok_or(Error::PolicyNotFound(policy.version))?;
        let due = rebaseline_due(&applied)?;
        let now = now();
        end_active(
            uow.tx(),
            &[account.id.as_str()],
            OverrideState::Replaced,
            now,
        )
        .await?;
        let record = pb::TierOverride {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            tier: tier as i32,
            previous_tier: account.tier as i32,
            reason: reason.clone(),
            approved_by: principal.subject.clone(),
            policy_version: policy.version,
            create_time: Some(timestamp(now)),
            expire_time: Some(timestamp(start_of(due))),
            state: OverrideState::Active as i32,
            end_time: None,
        };
        tier_override::Entity::insert(to_row(&record, now, start_of(due)))
            .exec_without_returning(uow.tx())
            .await?;
        let partner_id = account.fields.partner_id.clone();
        uow.emit(
            &account.id,
            &pb::TierOverridden {
                r#override: Some(record.clone()),
                partner_id: partner_id.clone().unwrap_or_default(),
            },
        );
        let stored = if tier == account.tier {
            account
        } else {
            let updated = set_tier(uow.tx(), &account, tier).await?;
            let change = pb::TierChange {
                account_id: account.id.clone(),
                old_tier: account.tier as i32,
                new_tier: tier as i32,
                policy_version: policy.version,
                rule: TierRule::Override as i32,
                change_time: Some(timestamp(updated.update_time)),
                actor: principal.subject.clone(),
                reason,
            };
            tiers::record(&mut uow, [(change, partner_id)]).await?;
            updated
        };
        let response = pb::OverrideTierResponse {
            r#override: Some(record),
            account: Some(account_to_proto(&stored)),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` overrides matching `filter` older than `before` (an
    /// id), newest first, and whether more follow.
    pub async fn list(
        &self,
        filter: &OverrideFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<pb::TierOverride>, bool)> {
        let mut condition = Condition::all();
        if let Some(state) = filter.state {
            let name = OverrideState::try_from(state)
                .unwrap_or_default()
                .as_str_name();
            condition = condition.add(tier_override::Column::State.eq(name));
        }
        if let Some(account_id) = &filter.account_id {
            condition = condition.add(tier_override::Column::AccountId.eq(account_id.as_str()));
        }
        if let Some(before) = before {
            condition = condition.add(tier_override::Column::Id.lt(before));
        }
        let query = tier_override::Entity::find()
            .filter(condition)
            .order_by_desc(tier_override::Column::Id);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        let overrides = rows.into_iter().map(from_row).collect::<Result<_>>()?;
        Ok((overrides, more))
    }

    /// Active overrides among ranked accounts.
    pub async fn share(&self) -> Result<Share> {
        let db = &self.store.db;
        let active = tier_override::Entity::find()
            .filter(tier_override::Column::State.eq(OverrideState::Active.as_str_name()))
            .count(db)
            .await?;
        let ranked = entity::Entity::find()
            .filter(entity::Column::LifecycleStatus.ne(LifecycleStatus::Churned.as_str_name()))
            .count(db)
            .await?;
        Ok(Share { active, ranked })
    }

    /// Ends the overrides whose expiry time is at or before `at`: each
    /// account goes back to the tier the thresholds in force give it.
    /// Returns how many ended.
    pub async fn expire_due(&self, at: DateTime<Utc>) -> Result<u64> {
        let mut ended = 0;
        loop {
            let mut uow = match self.store.begin::<()>(None).await? {
                Begun::Fresh(uow) => uow,
                Begun::Replay(()) => return Ok(ended),
            };
            let policy = tiers::in_force(uow.tx()).await?;
            let due: Vec<(String, String)> = tier_override::Entity::find()
                .select_only()
                .columns([tier_override::Column::Id, tier_override::Column::AccountId])
                .filter(tier_override::Column::State.eq(OverrideState::Active.as_str_name()))
                .filter(tier_override::Column::ExpireTimeUs.lte(at.timestamp_micros()))
                .order_by_asc(tier_override::Column::ExpireTimeUs)
                .limit(EXPIRY_BATCH)
                .into_tuple()
                .all(uow.tx())
                .await?;
            if due.is_empty() {
                uow.commit(&()).await?;
                return Ok(ended);
            }
            let accounts: Vec<&str> = due.iter().map(|(_, a)| a.as_str()).collect();
            end_active(uow.tx(), &accounts, OverrideState::Expired, now()).await?;
            let mut changes = Vec::new();
            for account_id in accounts {
                let (Some(policy), Some(account)) =
                    (policy.as_ref(), locked(uow.tx(), account_id).await?)
                else {
                    continue;
                };
                let comparable = account.fields.acv.currency_code == policy.thresholds.currency;
                if account.fields.lifecycle_status == LifecycleStatus::Churned || !comparable {
                    continue;
                }
                let tier = policy.thresholds.tier_of(basis(&account.fields));
                if tier == account.tier {
                    continue;
                }
                let updated = set_tier(uow.tx(), &account, tier).await?;
                changes.push((
                    pb::TierChange {
                        account_id: account.id.clone(),
                        old_tier: account.tier as i32,
                        new_tier: tier as i32,
                        policy_version: policy.version,
                        rule: TierRule::MoneyThreshold as i32,
                        change_time: Some(timestamp(updated.update_time)),
                        actor: EXPIRY_ACTOR.into(),
                        reason: "tier override expired".into(),
                    },
                    account.fields.partner_id.clone(),
                ));
            }
            tiers::record(&mut uow, changes).await?;
            uow.commit(&()).await?;
            ended += due.len() as u64;
        }
    }

    /// Emits `RebaselineDue` once when the current version's re-baseline date
    /// is `today` or earlier; returns the version reminded of, if any.
    pub async fn remind_rebaseline(&self, today: NaiveDate) -> Result<Option<i32>> {
        let mut uow = match self.store.begin::<()>(None).await? {
            Begun::Fresh(uow) => uow,
            Begun::Replay(()) => return Ok(None),
        };
        let current = tier_policy::Entity::find()
            .order_by_desc(tier_policy::Column::Version)
            .lock_exclusive()
            .one(uow.tx())
            .await?;
        let Some(current) = current.filter(|p| p.reminded_time_us.is_none()) else {
            uow.commit(&()).await?;
            return Ok(None);
        };
        let due = rebaseline_due(&tiers::decode_policy(current.clone())?)?;
        if due > today {
            uow.commit(&()).await?;
            return Ok(None);
        }
        tier_policy::Entity::update_many()
            .col_expr(
                tier_policy::Column::RemindedTimeUs,
                now().timestamp_micros().into(),
            )
            .filter(tier_policy::Column::Version.eq(current.version))
            .exec(uow.tx())
            .await?;
        uow.emit(
            &current.version.to_string(),
            &pb::RebaselineDue {
                policy_version: current.version,
                due_date: Some(validate::date_to_proto(due)),
            },
        );
        uow.commit(&()).await?;
        Ok(Some(current.version))
    }
}

/// Schedules the override expiry (every 5 minutes) and the re-baseline
/// reminder (hourly) on `jobs`.
pub fn schedule(overrides: &Overrides, jobs: &JobRunner) {
    let expiry = overrides.clone();
    jobs.every(
        "expire-tier-overrides",
        Schedule::every(Duration::from_secs(300)),
        move || {
            let overrides = expiry.clone();
            async move {
                let ended = overrides.expire_due(Utc::now()).await.map_err(job_error)?;
                Ok(format!("{ended} tier overrides expired"))
            }
        },
    );
    let reminder = overrides.clone();
    jobs.every(
        "remind-rebaseline",
        Schedule::every(Duration::from_secs(3600)),
        move || {
            let overrides = reminder.clone();
            async move {
                let today = Utc::now().date_naive();
                Ok(
                    match overrides
                        .remind_rebaseline(today)
                        .await
                        .map_err(job_error)?
                    {
                        Some(version) => format!("re-baseline of tier policy {version} is due"),
                        None => "no re-baseline due".into(),
                    },
                )
            }
        },
    );
}

fn job_error(err: Error) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// The accounts among `account_ids` that have an active override.
pub(crate) async fn active_among(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
) -> Result<HashSet<String>> {
    if account_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let backend = db.get_database_backend();
    let rows: Vec<String> = tier_override::Entity::find()
        .select_only()
        .column(tier_override::Column::AccountId)
        .filter(any_of(
            backend,
            tier_override::Column::AccountId,
            account_ids,
        ))
        .filter(tier_override::Column::State.eq(OverrideState::Active.as_str_name()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Ends every active override (a new version re-ranks every account).
pub(crate) async fn expire_all(db: &impl ConnectionTrait, at: DateTime<Utc>) -> Result<u64> {
    Ok(tier_override::Entity::update_many()
        .col_expr(
            tier_override::Column::State,
            OverrideState::Expired.as_str_name().into(),
        )
        .col_expr(
            tier_override::Column::EndTimeUs,
            at.timestamp_micros().into(),
        )
        .filter(tier_override::Column::State.eq(OverrideState::Active.as_str_name()))
        .exec(db)
        .await?
        .rows_affected)
}

async fn end_active(
    db: &impl ConnectionTrait,
    account_ids: &[&str],
    state: OverrideState,
    at: DateTime<Utc>,
) -> Result<()> {
    let backend = db.get_database_backend();
    tier_override::Entity::update_many()
        .col_expr(tier_override::Column::State, state.as_str_name().into())
        .col_expr(
            tier_override::Column::EndTimeUs,
            at.timestamp_micros().into(),
        )
        .filter(any_of(
            backend,
            tier_override::Column::AccountId,
            account_ids,
        ))
        .filter(tier_override::Column::State.eq(OverrideState::Active.as_str_name()))
        .exec(db)
        .await?;
    Ok(())
}

/// The re-baseline date of policy `version`.
fn rebaseline_due(policy: &pb::TierPolicy) -> Result<NaiveDate> {
    let version = policy.version;
    policy
        .rebaseline_due_date
        .as_ref()
        .and_then(|d| validate::date(d).ok())
        .ok_or_else(|| {
            Error::Api(ApiError::internal(anyhow::anyhow!(
                "tier policy {version} has no valid re-baseline date"
            )))
        })
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn to_row(
    o: &pb::TierOverride,
    now: DateTime<Utc>,
    expire: DateTime<Utc>,
) -> tier_override::ActiveModel {
    let tier = |t: i32| {
        Tier::try_from(t)
            .unwrap_or_default()
            .as_str_name()
            .to_owned()
    };
    tier_override::ActiveModel {
        id: Set(o.id.clone()),
        account_id: Set(o.account_id.clone()),
        tier: Set(tier(o.tier)),
        previous_tier: Set(tier(o.previous_tier)),
        reason: Set(o.reason.clone()),
        approved_by: Set(o.approved_by.clone()),
        policy_version: Set(o.policy_version),
        create_time_us: Set(now.timestamp_micros()),
        expire_time_us: Set(expire.timestamp_micros()),
        state: Set(OverrideState::Active.as_str_name().to_owned()),
        end_time_us: Set(None),
    }
}

fn from_row(row: tier_override::Model) -> Result<pb::TierOverride> {
    let corrupt = |column: &str, value: &str| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "tier_overrides.{column} holds unknown value {value:?}"
        )))
    };
    let tier = |column: &str, value: &str| {
        Tier::from_str_name(value)
            .map(|t| t as i32)
            .ok_or_else(|| corrupt(column, value))
    };
    let time = |us: i64| DateTime::from_timestamp_micros(us).map(timestamp);
    Ok(pb::TierOverride {
        tier: tier("tier", &row.tier)?,
        previous_tier: tier("previous_tier", &row.previous_tier)?,
        state: OverrideState::from_str_name(&row.state)
            .ok_or_else(|| corrupt("state", &row.state))? as i32,
        create_time: time(row.create_time_us),
        expire_time: time(row.expire_time_us),
        end_time: row.end_time_us.and_then(time),
        policy_version: row.policy_version,
        id: row.id,
        account_id: row.account_id,
        reason: row.reason,
        approved_by: row.approved_by,
    })
}
