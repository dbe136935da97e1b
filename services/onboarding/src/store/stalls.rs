//! Stall alerts: raised once by the hourly check (or `DetectStalls`),
//! cleared by the check or at once when the plan moves, each change
//! announced.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use themodel_platform::{
    accounts,
    jobs::{JobRunner, Schedule},
    store::{Begun, Store, UnitOfWork, page},
};
use themodel_proto::onboarding as pb;

use super::{
    entity::{plan, stall_alert},
    now,
};
use crate::{
    convert::timestamp,
    domain::plan::{StallKind, stalls},
    error::Result,
};

/// The job that checks open plans for stalls.
pub const STALL_JOB: &str = "detect-stalls";
/// Plans checked per unit of work.
const BATCH: u64 = 500;

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The contract form of a stall alert.
pub fn stall_to_proto(row: &stall_alert::Model) -> pb::StallAlert {
    let kind = match StallKind::from_name(&row.kind) {
        Some(StallKind::NoProgress) => pb::StallKind::NoProgress,
        Some(StallKind::SetupOverdue) => pb::StallKind::SetupOverdue,
        None => pb::StallKind::Unspecified,
    };
    pb::StallAlert {
        alert_id: row.alert_id.clone(),
        plan_id: row.plan_id.clone(),
        account_id: row.account_id.clone(),
        product_key: row.product_key.clone(),
        owner_csm_id: row.owner_csm_id.clone().unwrap_or_default(),
        kind: kind as i32,
        detail: row.detail.clone(),
        raise_time: Some(timestamp(time(row.raise_time_us))),
        clear_time: row.clear_time_us.map(|us| timestamp(time(us))),
        partner_id: row.partner_id.clone().unwrap_or_default(),
    }
}

/// The alerts open on plan `plan_id`.
pub async fn open_on(db: &impl ConnectionTrait, plan_id: &str) -> Result<Vec<stall_alert::Model>> {
    Ok(stall_alert::Entity::find()
        .filter(stall_alert::Column::PlanId.eq(plan_id))
        .filter(stall_alert::Column::OpenSlot.is_not_null())
        .all(db)
        .await?)
}

/// Clears the alerts of `kinds` open on plan `plan_id` in `uow` at `at`;
/// how many.
pub async fn clear(
    uow: &mut UnitOfWork,
    plan_id: &str,
    kinds: &[StallKind],
    at: DateTime<Utc>,
) -> Result<u64> {
    let mut cleared = 0;
    for row in open_on(uow.tx(), plan_id).await? {
        if !StallKind::from_name(&row.kind).is_some_and(|k| kinds.contains(&k)) {
            continue;
        }
        let done = stall_alert::Model {
            clear_time_us: Some(at.timestamp_micros()),
            open_slot: None,
            ..row
        };
        stall_alert::Entity::update(stall_alert::ActiveModel {
            alert_id: Set(done.alert_id.clone()),
            clear_time_us: Set(done.clear_time_us),
            open_slot: Set(None),
            ..Default::default()
        })
        .exec(uow.tx())
        .await?;
        uow.emit(
            plan_id,
            &pb::StallCleared {
                alert: Some(stall_to_proto(&done)),
            },
        );
        cleared += 1;
    }
    Ok(cleared)
}

/// Raises a `kind` alert on `row` in `uow` at `at`.
async fn raise(
    uow: &mut UnitOfWork,
    row: &plan::Model,
    kind: StallKind,
    detail: String,
    at: DateTime<Utc>,
) -> Result<()> {
    let alert = stall_alert::Model {
        alert_id: uuid::Uuid::now_v7().to_string(),
        plan_id: row.id.clone(),
        account_id: row.account_id.clone(),
        product_key: row.product_key.clone(),
        owner_csm_id: row.owner_csm_id.clone(),
        partner_id: row.partner_id.clone(),
        kind: kind.name().to_owned(),
        detail,
        raise_time_us: at.timestamp_micros(),
        clear_time_us: None,
        open_slot: Some(format!("{}/{}", row.id, kind.name())),
    };
    stall_alert::Entity::insert(stall_alert::ActiveModel::from(alert.clone()))
        .exec_without_returning(uow.tx())
        .await?;
    uow.emit(
        &row.id,
        &pb::PlanStalled {
            alert: Some(stall_to_proto(&alert)),
        },
    );
    Ok(())
}

/// What a listing of alerts keeps to.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this plan's.
    pub plan_id: Option<String>,
    /// Only this owner's.
    pub owner_csm_id: Option<String>,
    /// Open ones only.
    pub open_only: bool,
    /// Only the accounts of this partner.
    pub partner_id: Option<String>,
}

/// Stall alerts.
#[derive(Debug, Clone)]
pub struct Stalls {
    store: Store,
}

impl Stalls {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Checks every open plan at `at`: raises what holds and is not open,
    /// clears what is open and no longer holds. (raised, cleared).
    pub async fn detect(&self, at: DateTime<Utc>) -> Result<(u64, u64)> {
        let (mut raised, mut cleared) = (0, 0);
        let mut after = String::new();
        loop {
            let mut uow = match self.store.begin::<pb::DetectStallsResponse>(None).await? {
                Begun::Fresh(uow) => uow,
                Begun::Replay(_) => return Ok((raised, cleared)),
            };
            let rows = plan::Entity::find()
                .filter(plan::Column::OpenSlot.is_not_null())
                .filter(plan::Column::Id.gt(after.as_str()))
                .order_by_asc(plan::Column::Id)
                .limit(BATCH)
                .lock_exclusive()
                .all(uow.tx())
                .await?;
            let Some(last) = rows.last() else {
                return Ok((raised, cleared));
            };
            after = last.id.clone();
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let open = stall_alert::Entity::find()
                .filter(stall_alert::Column::PlanId.is_in(ids))
                .filter(stall_alert::Column::OpenSlot.is_not_null())
                .all(uow.tx())
                .await?;
            for row in &rows {
                let found = stalls(
                    row.setup_time_us.is_some(),
                    row.setup_due.as_deref().and_then(|d| d.parse().ok()),
                    time(row.progress_time_us),
                    row.stall_days,
                    at,
                );
                let open_kinds: Vec<StallKind> = open
                    .iter()
                    .filter(|a| a.plan_id == row.id)
                    .filter_map(|a| StallKind::from_name(&a.kind))
                    .collect();
                let gone: Vec<StallKind> = open_kinds
                    .iter()
                    .copied()
                    .filter(|k| !found.iter().any(|(f, _)| f == k))
                    .collect();
                cleared += clear(&mut uow, &row.id, &gone, at).await?;
                for (kind, detail) in found {
                    if !open_kinds.contains(&kind) {
                        raise(&mut uow, row, kind, detail, at).await?;
                        raised += 1;
                    }
                }
            }
            uow.commit(&pb::DetectStallsResponse::default()).await?;
        }
    }

    /// Checks for stalls every hour.
    pub fn schedule(&self, jobs: &JobRunner) {
        let this = self.clone();
        jobs.every(
            STALL_JOB,
            Schedule::every(std::time::Duration::from_secs(3600)),
            move || {
                let this = this.clone();
                async move {
                    let (raised, cleared) = this.detect(now()).await?;
                    Ok(format!("{raised} raised, {cleared} cleared"))
                }
            },
        );
    }

    /// Up to `limit` alerts kept to `filter` raised before alert `before`,
    /// newest first; and whether more follow.
    pub async fn list(
        &self,
        filter: &AlertFilter,
        before: Option<String>,
        limit: u64,
    ) -> Result<(Vec<stall_alert::Model>, bool)> {
        use stall_alert::Column as C;
        let mut query = stall_alert::Entity::find();
        if let Some(plan) = &filter.plan_id {
            query = query.filter(C::PlanId.eq(plan.as_str()));
        }
        if let Some(owner) = &filter.owner_csm_id {
            query = query.filter(C::OwnerCsmId.eq(owner.as_str()));
        }
        if filter.open_only {
            query = query.filter(C::OpenSlot.is_not_null());
        }
        if let Some(partner) = &filter.partner_id {
            let partner_accounts = Query::select()
                .column(accounts::entity::Column::AccountId)
                .from(accounts::entity::Entity)
                .and_where(Expr::col(accounts::entity::Column::PartnerId).eq(partner.as_str()))
                .to_owned();
            query = query.filter(C::AccountId.in_subquery(partner_accounts));
        }
        if let Some(before) = before {
            query = query.filter(C::AlertId.lt(before));
        }
        Ok(page(&self.store.db, query.order_by_desc(C::AlertId), limit).await?)
    }
}
