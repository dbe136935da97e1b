//! CSMs, their team memberships, and the books they carry.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use themodel_platform::{
    ApiError,
    store::{Begun, IdempotencyKey, Store, any_of, is_unique_violation, page},
};
use themodel_proto::segmentation as pb;

use super::{
    entity::{self, csm, team_membership},
    tiers::{self, now},
};
use crate::{
    convert::csm::{capacity_from_proto, csm_to_proto},
    domain::{
        account::{LifecycleStatus, TIERS, Tier},
        books::{Carrier, Holding, Report, report},
        csm::{Csm, CsmFields, Membership, default_capacity, move_team},
        policy::{Amount, Capacity, Rules},
    },
    error::{Error, Result},
};

/// Filters of a CSM listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsmFilter {
    /// Only CSMs in this team now.
    pub team_id: Option<String>,
    /// Only CSMs of this tier.
    pub tier: Option<i32>,
}

/// CSMs in the service's database.
#[derive(Debug, Clone)]
pub struct Csms {
    store: Store,
}

impl Csms {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates CSM `id`, in its team from `team_start`.
    pub async fn create(
        &self,
        key: Option<IdempotencyKey>,
        id: String,
        fields: CsmFields,
        team_start: NaiveDate,
    ) -> Result<pb::CreateCsmResponse> {
        let uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let time = now();
        let team_history =
            move_team(&[], fields.team_id.as_deref(), team_start).unwrap_or_default();
        let created = Csm {
            id,
            fields,
            team_history,
            create_time: time,
            update_time: time,
            revision: 1,
        };
        csm::Entity::insert(to_active(&created))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    Error::CsmExists(created.id.clone())
                } else {
                    err.into()
                }
            })?;
        write_history(uow.tx(), &created).await?;
        let response = pb::CreateCsmResponse {
            csm: Some(csm_to_proto(&created)),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// The CSM with `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<Csm>> {
        let Some(row) = csm::Entity::find_by_id(id.to_owned())
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let mut histories = histories(&self.store.db, &[id]).await?;
        Ok(Some(to_domain(
            row,
            histories.remove(id).unwrap_or_default(),
        )?))
    }

    /// Up to `limit` CSMs after `after` (an id) in id order, and whether more follow.
    pub async fn list(
        &self,
        filter: &CsmFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Csm>, bool)> {
        let mut condition = Condition::all();
        if let Some(team) = &filter.team_id {
            condition = condition.add(csm::Column::TeamId.eq(team.as_str()));
        }
        if let Some(tier) = filter.tier {
            let name = Tier::try_from(tier).unwrap_or_default().as_str_name();
            condition = condition.add(csm::Column::Tier.eq(name));
        }
        if let Some(after) = after {
            condition = condition.add(csm::Column::Id.gt(after));
        }
        let db = &self.store.db;
        let query = csm::Entity::find()
            .filter(condition)
            .order_by_asc(csm::Column::Id);
        let (rows, more) = page(db, query, limit).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut histories = histories(db, &ids).await?;
        let csms = rows
            .into_iter()
            .map(|row| {
                let history = histories.remove(&row.id).unwrap_or_default();
                to_domain(row, history)
            })
            .collect::<Result<_>>()?;
        Ok((csms, more))
    }

    /// Updates CSM `id`: `change` turns it into its new fields (or refuses);
    /// a team change takes effect on `team_change`.
    pub async fn update(
        &self,
        key: Option<IdempotencyKey>,
        id: &str,
        etag: Option<&str>,
        team_change: NaiveDate,
        change: impl FnOnce(&Csm) -> Result<CsmFields>,
    ) -> Result<pb::UpdateCsmResponse> {
        let uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let row = csm::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .ok_or_else(|| Error::CsmNotFound(id.to_owned()))?;
        let mut histories = histories(uow.tx(), &[id]).await?;
        let current = to_domain(row, histories.remove(id).unwrap_or_default())?;
        let fields = change(&current)?;
        let current_etag = crate::domain::account::etag(current.revision);
        if let Some(etag) = etag
            && etag != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "csm",
                id: id.to_owned(),
                current: current_etag,
            });
        }
        if fields == current.fields {
            let response = pb::UpdateCsmResponse {
                csm: Some(csm_to_proto(&current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        let team_history = move_team(
            &current.team_history,
            fields.team_id.as_deref(),
            team_change,
        )
        .map_err(|start| {
            Error::Invalid(vec![themodel_platform::Violation::new(
                "team_change_date",
                format!("must not be before the current team's start ({start})"),
            )])
        })?;
        let updated = Csm {
            fields,
            team_history,
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = to_active(&updated);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        csm::Entity::update(active).exec(uow.tx()).await?;
        write_history(uow.tx(), &updated).await?;
        let response = pb::UpdateCsmResponse {
            csm: Some(csm_to_proto(&updated)),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Every CSM's book against capacity and the moves that would even them.
    pub async fn report(&self) -> Result<Report> {
        let db = &self.store.db;
        let (high, low) = tier_defaults(db).await?;
        let carriers: Vec<Carrier> = csm::Entity::find()
            .order_by_asc(csm::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|row| {
                let tier = parse_tier(&row.tier)?;
                let own = own_capacity(&row);
                Ok(Carrier {
                    capacity: own.or(default_capacity(tier, high, low)),
                    id: row.id,
                    tier,
                    team_id: row.team_id,
                })
            })
            .collect::<Result<_>>()?;
        use entity::Column as C;
        type Row = (String, String, Option<String>, i64, i32);
        let rows: Vec<Row> = entity::Entity::find()
            .select_only()
            .columns([C::Id, C::Tier, C::OwnerCsmId, C::BasisUnits, C::BasisNanos])
            .filter(C::LifecycleStatus.ne(LifecycleStatus::Churned.as_str_name()))
            .into_tuple()
            .all(db)
            .await?;
        let holdings = rows
            .into_iter()
            .map(|(id, tier, owner, units, nanos)| {
                Ok(Holding {
                    tier: parse_tier(&tier)?,
                    id,
                    owner,
                    basis: Amount::from_parts(units, nanos),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(report(&carriers, &holdings, |tier| {
            default_capacity(tier, high, low)
        }))
    }
}

/// CSMs serving each tier: high-touch, low-touch, tech-touch.
pub(crate) async fn count_by_tier(db: &impl ConnectionTrait) -> Result<[u64; 3]> {
    let mut counts = [0; 3];
    for (slot, tier) in TIERS.into_iter().enumerate() {
        counts[slot] = csm::Entity::find()
            .filter(csm::Column::Tier.eq(tier.as_str_name()))
            .count(db)
            .await?;
    }
    Ok(counts)
}

/// The owners among `owners` that name no CSM, once CSMs are managed (while
/// there is no CSM at all, owners are free references).
pub(crate) async fn unknown_owners(
    db: &impl ConnectionTrait,
    owners: &[&str],
) -> Result<HashSet<String>> {
    if owners.is_empty() || csm::Entity::find().one(db).await?.is_none() {
        return Ok(HashSet::new());
    }
    let backend = db.get_database_backend();
    let known: HashSet<String> = csm::Entity::find()
        .select_only()
        .column(csm::Column::Id)
        .filter(any_of(backend, csm::Column::Id, owners))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(owners
        .iter()
        .filter(|o| !known.contains(**o))
        .map(|o| o.to_string())
        .collect())
}

/// True when CSM `id` exists.
pub(crate) async fn exists(db: &impl ConnectionTrait, id: &str) -> Result<bool> {
    Ok(csm::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// The default capacity of high-touch and low-touch CSMs: the policy in
/// force's, or the defaults before the first.
async fn tier_defaults(db: &impl ConnectionTrait) -> Result<(Capacity, Capacity)> {
    Ok(tiers::rules_in_force(db)
        .await?
        .map_or((Rules::HIGH_CAPACITY, Rules::LOW_CAPACITY), |r| {
            (r.high_capacity, r.low_capacity)
        }))
}

async fn histories(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashMap<String, Vec<Membership>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let rows = team_membership::Entity::find()
        .filter(any_of(backend, team_membership::Column::CsmId, ids))
        .order_by_asc(team_membership::Column::StartDate)
        .all(db)
        .await?;
    let mut histories: HashMap<String, Vec<Membership>> = HashMap::new();
    for row in rows {
        histories.entry(row.csm_id).or_default().push(Membership {
            team_id: row.team_id,
            start: row.start_date,
            end: row.end_date,
        });
    }
    Ok(histories)
}

/// Replaces the stored memberships of `csm` with its history.
async fn write_history(db: &impl ConnectionTrait, csm: &Csm) -> Result<()> {
    team_membership::Entity::delete_many()
        .filter(team_membership::Column::CsmId.eq(csm.id.as_str()))
        .exec(db)
        .await?;
    if csm.team_history.is_empty() {
        return Ok(());
    }
    let rows = csm
        .team_history
        .iter()
        .map(|m| team_membership::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            csm_id: Set(csm.id.clone()),
            team_id: Set(m.team_id.clone()),
            start_date: Set(m.start),
            end_date: Set(m.end),
        });
    team_membership::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn own_capacity(row: &csm::Model) -> Option<Capacity> {
    match (row.capacity_min, row.capacity_max) {
        (Some(min), Some(max)) => capacity_from_proto(&pb::CapacityRange {
            min_accounts: min,
            max_accounts: max,
        })
        .ok(),
        _ => None,
    }
}

fn parse_tier(value: &str) -> Result<Tier> {
    Tier::from_str_name(value).ok_or_else(|| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "unknown tier {value:?} in the database"
        )))
    })
}

fn to_active(c: &Csm) -> csm::ActiveModel {
    let f = &c.fields;
    csm::ActiveModel {
        id: Set(c.id.clone()),
        display_name: Set(f.display_name.clone()),
        team_id: Set(f.team_id.clone()),
        tier: Set(f.tier.as_str_name().to_owned()),
        capacity_min: Set(f.capacity.map(|c| c.min as i32)),
        capacity_max: Set(f.capacity.map(|c| c.max as i32)),
        create_time_us: Set(c.create_time.timestamp_micros()),
        update_time_us: Set(c.update_time.timestamp_micros()),
        revision: Set(c.revision),
    }
}

fn to_domain(row: csm::Model, team_history: Vec<Membership>) -> Result<Csm> {
    let fields = CsmFields {
        display_name: row.display_name.clone(),
        team_id: row.team_id.clone(),
        tier: parse_tier(&row.tier)?,
        capacity: own_capacity(&row),
    };
    Ok(Csm {
        id: row.id,
        fields,
        team_history,
        create_time: DateTime::from_timestamp_micros(row.create_time_us).unwrap_or_default(),
        update_time: DateTime::from_timestamp_micros(row.update_time_us).unwrap_or_default(),
        revision: row.revision,
    })
}
