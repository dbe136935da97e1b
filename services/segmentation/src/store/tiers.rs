//! Tier policies in the database: previewing and applying versions, the
//! version in force that account writes tier by, and every account's tier
//! history.

use std::collections::BTreeSet;

use chrono::{DateTime, Months, Utc};
use prost::Message;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use themodel_platform::{
    ApiError,
    auth::Principal,
    store::{Begun, CopyRow, CopyTable, IdempotencyKey, RowWriter, Scan, Store, UnitOfWork, page},
    validate,
};
use themodel_proto::segmentation as pb;

use super::{
    csms,
    entity::{self, tier_change, tier_policy, touchpoint},
};
use crate::{
    convert::{
        policy::{policy_to_proto, rules_from_proto},
        timestamp,
    },
    domain::{
        account::{Tier, tier_slot},
        plan::{DEFAULT_MIX_WINDOW_MONTHS, Mix, MixCounts},
        policy::{Amount, InForce, Member, Plan, PlanError, Rules, Thresholds, TierRule, plan},
    },
    error::{Error, Result},
};

/// Tier policies and tier history in the service's database.
#[derive(Debug, Clone)]
pub struct Tiers {
    store: Store,
}

/// The accounts a policy ranks.
struct Population {
    members: Vec<Member>,
    currencies: BTreeSet<String>,
}

/// An account whose tier a policy changes, with what its change event
/// carries.
struct Mover {
    id: String,
    tier: Tier,
    basis: Amount,
    partner_id: Option<String>,
}

/// Accounts whose tier changes, read per statement by an apply: what it
/// holds in memory stays small whatever the number of accounts.
const CHUNK: u64 = 20_000;

impl Tiers {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// What applying `rules` now would do: the policy as the next version,
    /// and up to `limit` of the accounts that would move after account id
    /// `after`, in id order, with whether more follow.
    pub async fn preview(
        &self,
        rules: &Rules,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(pb::TierPolicy, Vec<pb::TierMove>, bool)> {
        let db = &self.store.db;
        let version = next_version(db).await?;
        let population = population(db).await?;
        let plan = plan(rules, &population.members, &population.currencies).map_err(refusal)?;
        let mix = mix_of(db, &plan).await?;
        let policy = policy_to_proto(version, rules, &plan, csms::count_by_tier(db).await?, &mix);
        let currency = &plan.thresholds.currency;
        let mut moves: Vec<pb::TierMove> = movers(db, &plan.thresholds, after, limit as u64 + 1)
            .await?
            .into_iter()
            .map(|m| pb::TierMove {
                account_id: m.id,
                basis: Some(m.basis.to_money(currency).to_proto()),
                old_tier: m.tier as i32,
                new_tier: plan.thresholds.tier_of(m.basis) as i32,
            })
            .collect();
        let more = moves.len() > limit;
        moves.truncate(limit);
        Ok((policy, moves, more))
    }

    /// Applies `rules` as the next version: every ranked account's tier, its
    /// history row and event, the version and its event commit together.
    pub async fn apply(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        rules: &Rules,
        reason: String,
    ) -> Result<pb::ApplyTierPolicyResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let tx = uow.tx();
        // Account writes take this lock in shared mode before they read the
        // version in force, so none of them tiers by the version this replaces.
        if tx.get_database_backend() == DatabaseBackend::Postgres {
            tx.execute_unprepared("LOCK TABLE tier_policies IN EXCLUSIVE MODE")
                .await?;
        }
        let version = next_version(tx).await?;
        let population = population(tx).await?;
        let plan = plan(rules, &population.members, &population.currencies).map_err(refusal)?;
        let now = now();
        let mix = mix_of(tx, &plan).await?;
        let mut policy =
            policy_to_proto(version, rules, &plan, csms::count_by_tier(tx).await?, &mix);
        policy.apply_time = Some(timestamp(now));
        policy.applied_by = principal.subject.clone();
        policy.reason = reason.clone();
        policy.rebaseline_due_date = now
            .date_naive()
            .checked_add_months(Months::new(rules.rebaseline_months))
            .map(validate::date_to_proto);

        // History rows and events go in chunks, read before the update
        // changes the tiers they record.
        let mut recorded = 0;
        let mut after: Option<String> = None;
        loop {
            let chunk = movers(uow.tx(), &plan.thresholds, after.as_deref(), CHUNK).await?;
            let full = chunk.len() as u64 == CHUNK;
            recorded += chunk.len() as u64;
            after = chunk.last().map(|m| m.id.clone());
            let changes = chunk.into_iter().map(|m| {
                let change = pb::TierChange {
                    new_tier: plan.thresholds.tier_of(m.basis) as i32,
                    account_id: m.id,
                    old_tier: m.tier as i32,
                    policy_version: version,
                    rule: rules.rule() as i32,
                    change_time: Some(timestamp(now)),
                    actor: principal.subject.clone(),
                    reason: reason.clone(),
                };
                (change, m.partner_id)
            });
            record(&mut uow, changes).await?;
            uow.flush_events().await?;
            if !full {
                break;
            }
        }
        let moved = retier_all(uow.tx(), &plan.thresholds, now).await?;
        if moved != plan.moved || recorded != plan.moved {
            // All three count the same stored amounts under the lock.
            return Err(Error::Api(ApiError::internal(anyhow::anyhow!(
                "policy {version} moved {moved} accounts in SQL and recorded {recorded}, \
                 but {} in the plan",
                plan.moved
            ))));
        }
        // A re-baseline ends every override: each account now has its rank.
        super::overrides::expire_all(uow.tx(), now).await?;
        tier_policy::Entity::insert(policy_row(&policy, &plan.thresholds, now))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| {
                if themodel_platform::store::is_unique_violation(&err) {
                    Error::Api(ApiError::Aborted(
                        "another policy version was applied concurrently; retry".into(),
                    ))
                } else {
                    err.into()
                }
            })?;
        uow.emit(
            &version.to_string(),
            &pb::PolicyApplied {
                policy: Some(policy.clone()),
            },
        );
        let response = pb::ApplyTierPolicyResponse {
            policy: Some(policy),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Accounts that are not churned, per tier (high, low, tech), and the
    /// CSMs serving each tier.
    pub async fn books(&self) -> Result<([u64; 3], [u64; 3])> {
        let db = &self.store.db;
        let rows: Vec<(String, i64)> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Tier)
            .column_as(Expr::col(entity::Column::Id).count(), "n")
            .filter(entity::Column::LifecycleStatus.ne(CHURNED))
            .group_by(entity::Column::Tier)
            .into_tuple()
            .all(db)
            .await?;
        let mut accounts = [0; 3];
        for (tier, count) in rows {
            if let Some(slot) = Tier::from_str_name(&tier).and_then(tier_slot) {
                accounts[slot] = u64::try_from(count).unwrap_or(0);
            }
        }
        Ok((accounts, csms::count_by_tier(db).await?))
    }

    /// The target mix of the policy in force (the default before the first).
    pub async fn target_mix(&self) -> Result<Mix> {
        Ok(rules_in_force(&self.store.db)
            .await?
            .map_or(Mix::TARGET, |rules| rules.target_mix))
    }

    /// Version `version`, or the newest for 0.
    pub async fn get(&self, version: i32) -> Result<Option<pb::TierPolicy>> {
        read(&self.store.db, version).await
    }

    /// Up to `limit` versions older than `before`, newest first, and whether
    /// more follow.
    pub async fn list(
        &self,
        before: Option<i32>,
        limit: u64,
    ) -> Result<(Vec<pb::TierPolicy>, bool)> {
        let mut query = tier_policy::Entity::find();
        if let Some(before) = before {
            query = query.filter(tier_policy::Column::Version.lt(before));
        }
        let query = query.order_by_desc(tier_policy::Column::Version);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        let policies = rows.into_iter().map(decode_policy).collect::<Result<_>>()?;
        Ok((policies, more))
    }

    /// Up to `limit` tier changes of `account_id` older than `before` (a
    /// change time in microseconds and id), newest first, and whether more
    /// follow.
    pub async fn changes(
        &self,
        account_id: &str,
        before: Option<&(i64, String)>,
        limit: u64,
    ) -> Result<(Vec<(i64, String, pb::TierChange)>, bool)> {
        let mut condition = Condition::all().add(tier_change::Column::AccountId.eq(account_id));
        if let Some((time, id)) = before {
            condition = condition.add(
                Condition::any()
                    .add(tier_change::Column::ChangeTimeUs.lt(*time))
                    .add(
                        Condition::all()
                            .add(tier_change::Column::ChangeTimeUs.eq(*time))
                            .add(tier_change::Column::Id.lt(id.as_str())),
                    ),
            );
        }
        let query = tier_change::Entity::find()
            .filter(condition)
            .order_by_desc(tier_change::Column::ChangeTimeUs)
            .order_by_desc(tier_change::Column::Id);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        let changes = rows
            .into_iter()
            .map(|row| Ok((row.change_time_us, row.id.clone(), change_from_row(row)?)))
            .collect::<Result<_>>()?;
        Ok((changes, more))
    }

    /// The last tier change of `account_id` at or before `at` (microseconds).
    pub async fn as_of(&self, account_id: &str, at: i64) -> Result<Option<pb::TierChange>> {
        tier_change::Entity::find()
            .filter(tier_change::Column::AccountId.eq(account_id))
            .filter(tier_change::Column::ChangeTimeUs.lte(at))
            .order_by_desc(tier_change::Column::ChangeTimeUs)
            .order_by_desc(tier_change::Column::Id)
            .one(&self.store.db)
            .await?
            .map(change_from_row)
            .transpose()
    }
}

/// Policy version `version`, or the newest for 0.
pub(crate) async fn read(
    db: &impl ConnectionTrait,
    version: i32,
) -> Result<Option<pb::TierPolicy>> {
    let query = tier_policy::Entity::find();
    let row = if version == 0 {
        query
            .order_by_desc(tier_policy::Column::Version)
            .one(db)
            .await?
    } else {
        query
            .filter(tier_policy::Column::Version.eq(version))
            .one(db)
            .await?
    };
    row.map(decode_policy).transpose()
}

/// The rules of the policy in force, if one has been applied.
pub(crate) async fn rules_in_force(db: &impl ConnectionTrait) -> Result<Option<Rules>> {
    Ok(read(db, 0)
        .await?
        .and_then(|p| rules_from_proto(p.rules.as_ref()).ok()))
}

/// The policy version account writes tier by, read under a shared lock
/// (PostgreSQL) that keeps a new version from being applied until the write
/// commits.
pub(crate) async fn in_force(db: &impl ConnectionTrait) -> Result<Option<InForce>> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("LOCK TABLE tier_policies IN SHARE MODE")
            .await?;
    }
    let row = tier_policy::Entity::find()
        .order_by_desc(tier_policy::Column::Version)
        .one(db)
        .await?;
    Ok(row.map(|row| {
        let floor = |units: Option<i64>, nanos: Option<i32>| {
            units.map(|u| Amount::from_parts(u, nanos.unwrap_or(0)))
        };
        InForce {
            version: row.version,
            thresholds: Thresholds {
                currency: row.currency_code,
                high_above: floor(row.high_above_units, row.high_above_nanos),
                low_above: floor(row.low_above_units, row.low_above_nanos),
            },
        }
    }))
}

/// Writes tier changes to the history and emits their events, each with the
/// account's partner.
pub(crate) async fn record(
    uow: &mut UnitOfWork,
    changes: impl IntoIterator<Item = (pb::TierChange, Option<String>)>,
) -> Result<()> {
    let mut rows = Vec::new();
    for (change, partner_id) in changes {
        uow.emit(
            &change.account_id,
            &pb::TierAssigned {
                change: Some(change.clone()),
                partner_id: partner_id.unwrap_or_default(),
            },
        );
        rows.push(ChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            change,
        });
    }
    uow.append(&TIER_CHANGES, rows).await?;
    Ok(())
}

/// Why a policy cannot be applied, as the caller's error.
pub(crate) fn refusal(err: PlanError) -> Error {
    match err {
        PlanError::MixedCurrencies(currencies) => Error::MixedCurrencies(currencies),
        PlanError::NothingToRank => Error::NothingToRank,
    }
}

/// The mix the plan's tiers give the population: tech-touch accounts with a
/// touchpoint in the default window count as hybrid.
async fn mix_of(db: &impl ConnectionTrait, plan: &Plan) -> Result<MixCounts> {
    use entity::Column as C;
    let now = Utc::now();
    let since = now
        .checked_sub_months(Months::new(DEFAULT_MIX_WINDOW_MONTHS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let touched = Query::select()
        .column(touchpoint::Column::AccountId)
        .from(touchpoint::Entity)
        .and_where(touchpoint::Column::OccurTimeUs.gt(since.timestamp_micros()))
        .and_where(touchpoint::Column::OccurTimeUs.lte(now.timestamp_micros()))
        .to_owned();
    let amounts: Vec<(i64, i32)> = entity::Entity::find()
        .select_only()
        .columns([C::BasisUnits, C::BasisNanos])
        .filter(C::LifecycleStatus.ne(CHURNED))
        .filter(C::Id.in_subquery(touched))
        .into_tuple()
        .all(db)
        .await?;
    let touched_tech = amounts
        .into_iter()
        .filter(|&(units, nanos)| {
            plan.thresholds.tier_of(Amount::from_parts(units, nanos)) == Tier::TechTouch
        })
        .count() as u64;
    Ok(MixCounts::of_tiers(
        plan.summaries.each_ref().map(|s| s.count),
        touched_tech,
    ))
}

async fn next_version(db: &impl ConnectionTrait) -> Result<i32> {
    let last: Option<i32> = tier_policy::Entity::find()
        .select_only()
        .column(tier_policy::Column::Version)
        .order_by_desc(tier_policy::Column::Version)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.unwrap_or(0) + 1)
}

const CHURNED: &str = "LIFECYCLE_STATUS_CHURNED";

/// Every account that is not churned, as the ranking needs it, read in one
/// pass with a row in memory at a time.
async fn population(db: &impl Scan) -> Result<Population> {
    use entity::Column as C;
    let currencies: Vec<String> = entity::Entity::find()
        .select_only()
        .column(C::CurrencyCode)
        .distinct()
        .filter(C::LifecycleStatus.ne(CHURNED))
        .into_tuple()
        .all(db)
        .await?;
    let query = entity::Entity::find()
        .select_only()
        .columns([
            C::BasisUnits,
            C::BasisNanos,
            C::AcvUnits,
            C::AcvNanos,
            C::Tier,
        ])
        .filter(C::LifecycleStatus.ne(CHURNED))
        .build(db.get_database_backend());
    let mut members = Vec::new();
    db.scan(query, &mut |row| {
        let tier: String = row.try_get_by_index(4)?;
        members.push(Member {
            basis: Amount::from_parts(row.try_get_by_index(0)?, row.try_get_by_index(1)?),
            acv: Amount::from_parts(row.try_get_by_index(2)?, row.try_get_by_index(3)?),
            tier: Tier::from_str_name(&tier).ok_or_else(|| {
                DbErr::Custom(format!("accounts.tier holds unknown value {tier:?}"))
            })?,
        });
        Ok(())
    })
    .await?;
    Ok(Population {
        members,
        currencies: currencies.into_iter().collect(),
    })
}

/// Up to `limit` accounts after id `after`, in id order, whose tier
/// `thresholds` change.
async fn movers(
    db: &impl ConnectionTrait,
    thresholds: &Thresholds,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Mover>> {
    use entity::Column as C;
    let mut query = entity::Entity::find()
        .select_only()
        .columns([C::Id, C::Tier, C::BasisUnits, C::BasisNanos, C::PartnerId])
        .filter(C::LifecycleStatus.ne(CHURNED))
        .filter(ExprTrait::ne(Expr::col(C::Tier), tier_by(thresholds)));
    if let Some(after) = after {
        query = query.filter(C::Id.gt(after));
    }
    type Row = (String, String, i64, i32, Option<String>);
    let rows: Vec<Row> = query
        .order_by_asc(C::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(id, tier, units, nanos, partner_id)| {
            Ok(Mover {
                id,
                tier: parse_tier("accounts.tier", &tier)?,
                basis: Amount::from_parts(units, nanos),
                partner_id,
            })
        })
        .collect()
}

/// The tier `thresholds` give an account, as an SQL expression over its
/// stored amount.
fn tier_by(thresholds: &Thresholds) -> Expr {
    use entity::Column as C;
    let above = |floor: Option<Amount>| {
        floor.map(|f| {
            let (units, nanos) = f.parts();
            Condition::any().add(C::BasisUnits.gt(units)).add(
                Condition::all()
                    .add(C::BasisUnits.eq(units))
                    .add(C::BasisNanos.gt(nanos)),
            )
        })
    };
    let name = |tier: Tier| Expr::val(tier.as_str_name());
    match (above(thresholds.high_above), above(thresholds.low_above)) {
        (None, _) => name(Tier::HighTouch),
        (Some(high), None) => Expr::case(high, name(Tier::HighTouch))
            .finally(name(Tier::LowTouch))
            .into(),
        (Some(high), Some(low)) => Expr::case(high, name(Tier::HighTouch))
            .case(low, name(Tier::LowTouch))
            .finally(name(Tier::TechTouch))
            .into(),
    }
}

/// Sets every ranked account's tier by `thresholds` in one statement;
/// returns how many changed.
async fn retier_all(
    db: &impl ConnectionTrait,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Result<u64> {
    use entity::Column as C;
    let tier = tier_by(thresholds);
    let statement = Query::update()
        .table(entity::Entity)
        .value(C::Tier, tier.clone())
        .value(C::Revision, Expr::col(C::Revision).add(1))
        .value(C::UpdateTimeUs, now.timestamp_micros())
        .and_where(C::LifecycleStatus.ne(CHURNED))
        .and_where(ExprTrait::ne(Expr::col(C::Tier), tier))
        .to_owned();
    Ok(db.execute(&statement).await?.rows_affected())
}

fn policy_row(
    policy: &pb::TierPolicy,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> tier_policy::ActiveModel {
    use sea_orm::ActiveValue::Set;
    let parts = |a: Option<Amount>| (a.map(|a| a.parts().0), a.map(|a| a.parts().1));
    let (high_units, high_nanos) = parts(thresholds.high_above);
    let (low_units, low_nanos) = parts(thresholds.low_above);
    tier_policy::ActiveModel {
        version: Set(policy.version),
        currency_code: Set(thresholds.currency.clone()),
        high_above_units: Set(high_units),
        high_above_nanos: Set(high_nanos),
        low_above_units: Set(low_units),
        low_above_nanos: Set(low_nanos),
        apply_time_us: Set(now.timestamp_micros()),
        reminded_time_us: Set(None),
        body: Set(policy.encode_to_vec()),
    }
}

pub(crate) fn decode_policy(row: tier_policy::Model) -> Result<pb::TierPolicy> {
    pb::TierPolicy::decode(row.body.as_slice()).map_err(|err| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "tier_policies.body of version {} does not decode: {err}",
            row.version
        )))
    })
}

fn change_from_row(row: tier_change::Model) -> Result<pb::TierChange> {
    let tier = |value: &str| parse_tier("tier_changes.tier", value).map(|t| t as i32);
    Ok(pb::TierChange {
        old_tier: tier(&row.old_tier)?,
        new_tier: tier(&row.new_tier)?,
        policy_version: row.policy_version,
        rule: TierRule::from_str_name(&row.rule)
            .ok_or_else(|| corrupt("tier_changes.rule", &row.rule))? as i32,
        change_time: DateTime::from_timestamp_micros(row.change_time_us).map(timestamp),
        actor: row.actor,
        reason: row.reason,
        account_id: row.account_id,
    })
}

fn parse_tier(column: &str, value: &str) -> Result<Tier> {
    Tier::from_str_name(value).ok_or_else(|| corrupt(column, value))
}

fn corrupt(column: &str, value: &str) -> Error {
    Error::Api(ApiError::internal(anyhow::anyhow!(
        "{column} holds unknown value {value:?}"
    )))
}

pub(crate) use themodel_platform::store::now;

/// The columns a tier change is written with.
const TIER_CHANGES: CopyTable = CopyTable {
    name: "tier_changes",
    columns: &[
        "id",
        "account_id",
        "change_time_us",
        "old_tier",
        "new_tier",
        "policy_version",
        "rule",
        "actor",
        "reason",
    ],
};

/// A tier change as a row of [`TIER_CHANGES`].
struct ChangeRow {
    id: String,
    change: pb::TierChange,
}

impl CopyRow for ChangeRow {
    fn write(&self, row: &mut RowWriter) {
        let c = &self.change;
        let tier = |value: i32| Tier::try_from(value).unwrap_or_default().as_str_name();
        let micros = c
            .change_time
            .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32))
            .map_or(0, |t| t.timestamp_micros());
        row.text(&self.id);
        row.text(&c.account_id);
        row.int8(micros);
        row.text(tier(c.old_tier));
        row.text(tier(c.new_tier));
        row.int4(c.policy_version);
        row.text(TierRule::try_from(c.rule).unwrap_or_default().as_str_name());
        row.text(&c.actor);
        row.text(&c.reason);
    }
}
