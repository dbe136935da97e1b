//! Plans, their completed steps and the usage signals that meet their
//! quantitative criteria. Every change reaches the stages whose criteria
//! now hold in the same unit of work, and announces it.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Value,
    sea_query::{Alias, Condition, Expr, ExprTrait, OnConflict, Query},
};
use themodel_platform::{
    accounts::{self, Account},
    store::{Begun, IdempotencyKey, Store, UnitOfWork, is_unique_violation, page},
    validate::date_to_proto,
};
use themodel_proto::onboarding as pb;

use super::{
    entity::{plan, plan_step, signal, stall_alert},
    now, playbook_at,
    routing::Choice,
    stalls::{self, clear},
};
use crate::{
    convert::{
        playbook::{anchor_to_proto, confirmation_to_proto, step_kind_to_proto},
        tier_to_proto, timestamp,
    },
    domain::{
        plan::{StallKind, Status, anchor_date, due, next_step, stages, status},
        playbook::{Confirmation, Playbook},
    },
    error::{Error, Result},
};

/// A plan with its completed steps and the playbook version it runs.
#[derive(Debug, Clone)]
pub struct PlanData {
    /// The row.
    pub row: plan::Model,
    /// Its completed steps.
    pub steps: Vec<plan_step::Model>,
    /// The playbook version it runs.
    pub playbook: Playbook,
    /// Whether a stall alert is open on it.
    pub stalled: bool,
}

fn date(text: &Option<String>) -> Option<NaiveDate> {
    text.as_deref().and_then(|d| d.parse().ok())
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The plan's etag.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

impl PlanData {
    fn done(&self) -> BTreeSet<String> {
        self.steps.iter().map(|s| s.step_key.clone()).collect()
    }

    fn anchor(&self) -> Option<NaiveDate> {
        anchor_date(
            self.playbook.definition.anchor,
            date(&self.row.contract_start),
            date(&self.row.kickoff),
        )
    }

    /// Where it stands on `today`.
    pub fn status(&self, today: NaiveDate) -> Status {
        status(
            self.row.cancel_time_us.is_some(),
            (
                self.row.setup_time_us.is_some(),
                self.row.value_time_us.is_some(),
            ),
            (date(&self.row.setup_due), date(&self.row.value_due)),
            self.stalled,
            today,
        )
    }

    /// Its contract form on `today`.
    pub fn to_proto(&self, today: NaiveDate) -> pb::Plan {
        let r = &self.row;
        let anchor = self.anchor();
        let done: HashMap<&str, &plan_step::Model> = self
            .steps
            .iter()
            .map(|s| (s.step_key.as_str(), s))
            .collect();
        let def = &self.playbook.definition;
        let steps = def
            .steps()
            .map(|(phase, s)| {
                let d = done.get(s.key.as_str());
                pb::PlanStep {
                    phase_key: phase.to_owned(),
                    step_key: s.key.clone(),
                    display_name: s.name.clone(),
                    kind: step_kind_to_proto(s.kind) as i32,
                    confirmation: confirmation_to_proto(s.confirmation) as i32,
                    due_date: due(anchor, s.due_day).map(date_to_proto),
                    done_time: d.map(|d| timestamp(time(d.done_time_us))),
                    done_by: d.map(|d| d.done_by.clone()).unwrap_or_default(),
                    note: d.map(|d| d.note.clone()).unwrap_or_default(),
                    signed_by: d.and_then(|d| d.signed_by.clone()).unwrap_or_default(),
                    signed_time: d
                        .and_then(|d| date(&d.signed_date))
                        .and_then(|day| day.and_hms_opt(0, 0, 0))
                        .map(|t| timestamp(t.and_utc())),
                }
            })
            .collect();
        let status = match self.status(today) {
            Status::OnTrack => pb::PlanStatus::OnTrack,
            Status::AtRisk => pb::PlanStatus::AtRisk,
            Status::Completed => pb::PlanStatus::Completed,
            Status::Cancelled => pb::PlanStatus::Cancelled,
            Status::Stalled => pb::PlanStatus::Stalled,
        };
        pb::Plan {
            id: r.id.clone(),
            account_id: r.account_id.clone(),
            product_key: r.product_key.clone(),
            playbook_key: r.playbook_key.clone(),
            playbook_version: r.playbook_version,
            tier: tier_to_proto(&r.tier),
            owner_csm_id: r.owner_csm_id.clone().unwrap_or_default(),
            partner_id: r.partner_id.clone().unwrap_or_default(),
            contract_start_date: date(&r.contract_start).map(date_to_proto),
            kickoff_date: date(&r.kickoff).map(date_to_proto),
            anchor: anchor_to_proto(def.anchor) as i32,
            anchor_known: anchor.is_some(),
            setup_due_date: date(&r.setup_due).map(date_to_proto),
            value_due_date: date(&r.value_due).map(date_to_proto),
            setup_complete_time: r.setup_time_us.map(|us| timestamp(time(us))),
            value_confirmed_time: r.value_time_us.map(|us| timestamp(time(us))),
            status: status as i32,
            steps,
            next_step_key: if r.cancel_time_us.is_some() {
                String::new()
            } else {
                next_step(def, &self.done()).unwrap_or_default().to_owned()
            },
            create_time: Some(timestamp(time(r.create_time_us))),
            progress_time: Some(timestamp(time(r.progress_time_us))),
            cancel_reason: r.cancel_reason.clone(),
            etag: etag(r.revision),
            self_success: r.self_success,
            self_success_rule_version: r.rule_version,
        }
    }
}

/// Plan `id` with its steps and playbook version, read on `db`.
pub async fn load(db: &impl ConnectionTrait, id: &str, lock: bool) -> Result<Option<PlanData>> {
    let mut query = plan::Entity::find_by_id(id.to_owned());
    if lock {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(db).await? else {
        return Ok(None);
    };
    let steps = plan_step::Entity::find()
        .filter(plan_step::Column::PlanId.eq(id))
        .all(db)
        .await?;
    let playbook = playbook_at(db, &row.playbook_key, Some(row.playbook_version))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("plan {id} runs a missing playbook version")))?;
    let stalled = !stalls::open_on(db, id).await?.is_empty();
    Ok(Some(PlanData {
        row,
        steps,
        playbook,
        stalled,
    }))
}

/// The highest value of each signal of `account_id` with `product_key`.
async fn signals_of(
    db: &impl ConnectionTrait,
    account_id: &str,
    product_key: &str,
) -> Result<HashMap<String, i64>> {
    Ok(signal::Entity::find()
        .filter(signal::Column::AccountId.eq(account_id))
        .filter(signal::Column::ProductKey.eq(product_key))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.signal_key, s.value))
        .collect())
}

/// Writes every changeable column of `row`.
async fn save(db: &impl ConnectionTrait, row: &plan::Model) -> Result<()> {
    plan::Entity::update(plan::ActiveModel::from(row.clone()).reset_all())
        .exec(db)
        .await?;
    Ok(())
}

/// Reaches the stages of `data` whose criteria now hold at `at`, saves the
/// plan and announces each stage; how many were reached.
async fn advance(
    uow: &mut UnitOfWork,
    data: &mut PlanData,
    signals: &HashMap<String, i64>,
    at: DateTime<Utc>,
) -> Result<u64> {
    let before = (
        data.row.setup_time_us.is_some(),
        data.row.value_time_us.is_some(),
    );
    if data.row.cancel_time_us.is_some() || before.1 {
        save(uow.tx(), &data.row).await?;
        return Ok(0);
    }
    let now_reached = stages(&data.playbook.definition, before, &data.done(), signals);
    let at_us = at.timestamp_micros();
    let mut reached = Vec::new();
    if now_reached.0 && !before.0 {
        data.row.setup_time_us = Some(at_us);
        reached.push((pb::Stage::SetupComplete, date(&data.row.setup_due)));
    }
    if now_reached.1 && !before.1 {
        data.row.value_time_us = Some(at_us);
        data.row.open_slot = None;
        reached.push((pb::Stage::ValueConfirmed, date(&data.row.value_due)));
    }
    if !reached.is_empty() {
        data.row.progress_time_us = at_us;
        data.row.revision += 1;
        // A stage is progress, and set-up reached is no longer overdue.
        let kinds: &[StallKind] = if now_reached.1 {
            &StallKind::ALL
        } else {
            &[StallKind::NoProgress, StallKind::SetupOverdue]
        };
        clear(uow, &data.row.id, kinds, at).await?;
        data.stalled = !stalls::open_on(uow.tx(), &data.row.id).await?.is_empty();
    }
    save(uow.tx(), &data.row).await?;
    let today = at.date_naive();
    let proto = data.to_proto(today);
    for (stage, due) in &reached {
        uow.emit(
            &data.row.id,
            &pb::StageReached {
                plan: Some(proto.clone()),
                stage: *stage as i32,
                on_time: due.is_some_and(|d| today <= d),
            },
        );
    }
    if now_reached.1 && !before.1 {
        uow.emit(
            &data.row.id,
            &pb::PlanCompleted {
                plan: Some(proto.clone()),
            },
        );
    }
    Ok(reached.len() as u64)
}

/// Sets the due dates of `data` from its anchor, once known.
fn date_plan(data: &mut PlanData) {
    let Some(targets) = data
        .playbook
        .definition
        .targets_for(&data.row.tier)
        .cloned()
    else {
        return;
    };
    data.row.stall_days = targets.stall_days;
    let anchor = data.anchor();
    let (setup_due, value_due) = (
        due(anchor, targets.setup_days),
        due(anchor, targets.value_days),
    );
    data.row.anchor_date = anchor.map(|d| d.to_string());
    data.row.setup_due = setup_due.map(|d| d.to_string());
    data.row.value_due = value_due.map(|d| d.to_string());
    data.row.anchor_day = anchor.map(|d| i64::from(d.to_epoch_days()));
    data.row.setup_due_day = setup_due.map(|d| i64::from(d.to_epoch_days()));
    data.row.value_due_day = value_due.map(|d| i64::from(d.to_epoch_days()));
}

/// What a step's completion carries.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// The note.
    pub note: String,
    /// Who signed off.
    pub signed_by: Option<String>,
    /// When.
    pub signed_date: Option<NaiveDate>,
}

/// What a listing of plans keeps to.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only this CSM's.
    pub owner_csm_id: Option<String>,
    /// Only this product's.
    pub product_key: Option<String>,
    /// Only the accounts of this partner (a partner user's scope).
    pub partner_id: Option<String>,
    /// Only plans standing so on `today`.
    pub status: Option<(Status, NaiveDate)>,
}

/// One usage signal to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// The account.
    pub account_id: String,
    /// The product.
    pub product_key: String,
    /// The signal.
    pub signal_key: String,
    /// Its value.
    pub value: i64,
}

/// Plans.
#[derive(Debug, Clone)]
pub struct Plans {
    store: Store,
}

fn locked_closed(data: &PlanData) -> Result<()> {
    if data.row.cancel_time_us.is_some() || data.row.value_time_us.is_some() {
        return Err(Error::PlanClosed(data.row.id.clone()));
    }
    Ok(())
}

fn check_etag(data: &PlanData, sent: Option<&str>) -> Result<()> {
    let current = etag(data.row.revision);
    match sent {
        Some(sent) if sent != current => Err(Error::PlanEtagMismatch {
            id: data.row.id.clone(),
            current,
        }),
        _ => Ok(()),
    }
}

impl Plans {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Plan `id`.
    pub async fn get(&self, id: &str) -> Result<Option<PlanData>> {
        load(&self.store.db, id, false).await
    }

    /// Opens a plan of `account` for `product_key` on `playbook`, reaching
    /// at once the stages its signals already meet.
    pub async fn open(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &Account,
        product_key: &str,
        contract_start: Option<NaiveDate>,
        choice: Choice,
    ) -> Result<pb::OpenPlanResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let at = now();
        let data = open_in(&mut uow, account, product_key, contract_start, choice, at).await?;
        let response = pb::OpenPlanResponse {
            plan: Some(data.to_proto(at.date_naive())),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Completes `step_key` of plan `id` by `author`, then reaches the
    /// stages that now hold. `visible` says whether the caller may see the
    /// plan's account.
    pub async fn complete_step(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        step_key: &str,
        completion: Completion,
        etag_sent: Option<&str>,
        author: &str,
    ) -> Result<pb::CompleteStepResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut data = load(uow.tx(), id, true)
            .await?
            .ok_or_else(|| Error::PlanNotFound(id.to_owned()))?;
        check_etag(&data, etag_sent)?;
        locked_closed(&data)?;
        let step = data
            .playbook
            .definition
            .step(step_key)
            .cloned()
            .ok_or_else(|| Error::StepNotFound(format!("{id}/{step_key}")))?;
        if data.steps.iter().any(|s| s.step_key == step_key) {
            return Err(Error::StepAlreadyDone(step_key.to_owned()));
        }
        let mut v = themodel_platform::Violations::new();
        match step.confirmation {
            Confirmation::CsmCheck if completion.note.is_empty() => {
                v.add(
                    "note",
                    "is required: the step needs a CSM's check with a note",
                );
            }
            Confirmation::CustomerSignOff => {
                if completion.signed_by.is_none() {
                    v.add(
                        "signed_by",
                        "is required: the step needs the customer's sign-off",
                    );
                }
                if completion.signed_date.is_none() {
                    v.add(
                        "signed_date",
                        "is required: the step needs the customer's sign-off",
                    );
                }
            }
            _ => {}
        }
        v.finish(|| ())?;
        let at = now();
        let row = plan_step::Model {
            plan_id: id.to_owned(),
            step_key: step_key.to_owned(),
            done_time_us: at.timestamp_micros(),
            done_by: author.to_owned(),
            note: completion.note,
            signed_by: completion.signed_by,
            signed_date: completion.signed_date.map(|d| d.to_string()),
        };
        plan_step::Entity::insert(plan_step::ActiveModel::from(row.clone()))
            .exec_without_returning(uow.tx())
            .await?;
        data.steps.push(row);
        data.row.revision += 1;
        data.row.progress_time_us = at.timestamp_micros();
        clear(&mut uow, id, &[StallKind::NoProgress], at).await?;
        data.stalled = !stalls::open_on(uow.tx(), id).await?.is_empty();
        uow.emit(
            id,
            &pb::StepCompleted {
                plan: Some(data.to_proto(at.date_naive())),
                step_key: step_key.to_owned(),
            },
        );
        let signals = signals_of(uow.tx(), &data.row.account_id, &data.row.product_key).await?;
        advance(&mut uow, &mut data, &signals, at).await?;
        let response = pb::CompleteStepResponse {
            plan: Some(data.to_proto(at.date_naive())),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Records plan `id`'s kick-off on `day`, dating it when the playbook
    /// counts from the kick-off.
    pub async fn record_kickoff(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        day: NaiveDate,
        etag_sent: Option<&str>,
    ) -> Result<pb::RecordKickoffResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut data = load(uow.tx(), id, true)
            .await?
            .ok_or_else(|| Error::PlanNotFound(id.to_owned()))?;
        check_etag(&data, etag_sent)?;
        locked_closed(&data)?;
        let at = now();
        data.row.kickoff = Some(day.to_string());
        data.row.revision += 1;
        data.row.progress_time_us = at.timestamp_micros();
        date_plan(&mut data);
        save(uow.tx(), &data.row).await?;
        clear(&mut uow, id, &[StallKind::NoProgress], at).await?;
        data.stalled = !stalls::open_on(uow.tx(), id).await?.is_empty();
        let proto = data.to_proto(at.date_naive());
        uow.emit(
            id,
            &pb::KickoffRecorded {
                plan: Some(proto.clone()),
            },
        );
        let response = pb::RecordKickoffResponse { plan: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Cancels plan `id` for `reason`.
    pub async fn cancel(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        reason: String,
        etag_sent: Option<&str>,
    ) -> Result<pb::CancelPlanResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut data = load(uow.tx(), id, true)
            .await?
            .ok_or_else(|| Error::PlanNotFound(id.to_owned()))?;
        check_etag(&data, etag_sent)?;
        locked_closed(&data)?;
        let at = now();
        data.row.cancel_time_us = Some(at.timestamp_micros());
        data.row.cancel_reason = reason;
        data.row.open_slot = None;
        data.row.revision += 1;
        save(uow.tx(), &data.row).await?;
        clear(&mut uow, id, &StallKind::ALL, at).await?;
        data.stalled = false;
        let proto = data.to_proto(at.date_naive());
        uow.emit(
            id,
            &pb::PlanCancelled {
                plan: Some(proto.clone()),
            },
        );
        let response = pb::CancelPlanResponse { plan: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Records `signals` (each keeping its highest value), then reaches the
    /// stages of the open plans of their accounts and products that now
    /// hold.
    pub async fn record_signals(
        &self,
        idempotency: Option<IdempotencyKey>,
        signals: Vec<NewSignal>,
        rejections: Vec<pb::RejectedSignal>,
    ) -> Result<pb::RecordSignalsResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let reached = signals_in(&mut uow, &signals, now()).await?;
        let response = pb::RecordSignalsResponse {
            accepted: signals.len() as i64,
            rejections,
            stages_reached: i64::try_from(reached).unwrap_or(i64::MAX),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` plans kept to `filter` opened after plan `after`, in
    /// opening order; and whether more follow.
    pub async fn list(
        &self,
        filter: &PlanFilter,
        after: Option<String>,
        limit: u64,
    ) -> Result<(Vec<PlanData>, bool)> {
        use plan::Column as C;
        let db = &self.store.db;
        let mut query = plan::Entity::find();
        if let Some(account) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account.as_str()));
        }
        if let Some(csm) = &filter.owner_csm_id {
            query = query.filter(C::OwnerCsmId.eq(csm.as_str()));
        }
        if let Some(product) = &filter.product_key {
            query = query.filter(C::ProductKey.eq(product.as_str()));
        }
        if let Some(partner) = &filter.partner_id {
            let partner_accounts = Query::select()
                .column(accounts::entity::Column::AccountId)
                .from(accounts::entity::Entity)
                .and_where(Expr::col(accounts::entity::Column::PartnerId).eq(partner.as_str()))
                .to_owned();
            query = query.filter(C::AccountId.in_subquery(partner_accounts));
        }
        if let Some((status, today)) = filter.status {
            let today = today.to_string();
            // ISO dates compare as text.
            // Never NULL: an undated plan is not late.
            let late = Condition::any()
                .add(
                    C::SetupTimeUs
                        .is_null()
                        .and(C::SetupDue.is_not_null())
                        .and(C::SetupDue.lt(today.as_str())),
                )
                .add(
                    C::ValueDue
                        .is_not_null()
                        .and(C::ValueDue.lt(today.as_str())),
                );
            let stalled = || {
                Query::select()
                    .column(stall_alert::Column::PlanId)
                    .from(stall_alert::Entity)
                    .and_where(Expr::col(stall_alert::Column::OpenSlot).is_not_null())
                    .to_owned()
            };
            query = match status {
                Status::Cancelled => query.filter(C::CancelTimeUs.is_not_null()),
                Status::Completed => query.filter(C::ValueTimeUs.is_not_null()),
                Status::Stalled => query
                    .filter(C::OpenSlot.is_not_null())
                    .filter(C::Id.in_subquery(stalled())),
                Status::AtRisk => query
                    .filter(C::OpenSlot.is_not_null())
                    .filter(C::Id.not_in_subquery(stalled()))
                    .filter(late),
                Status::OnTrack => query
                    .filter(C::OpenSlot.is_not_null())
                    .filter(C::Id.not_in_subquery(stalled()))
                    .filter(late.not()),
            };
        }
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        let (rows, more) = page(db, query.order_by_asc(C::Id), limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(data) = load(db, &row.id, false).await? {
                out.push(data);
            }
        }
        Ok((out, more))
    }
}

/// Opens a plan of `account` for `product_key` on `playbook` at `at` in
/// `uow`, reaching at once the stages its signals already meet.
pub async fn open_in(
    uow: &mut UnitOfWork,
    account: &Account,
    product_key: &str,
    contract_start: Option<NaiveDate>,
    choice: Choice,
    at: DateTime<Utc>,
) -> Result<PlanData> {
    let Choice {
        playbook,
        self_success,
        rule_version,
    } = choice;
    let slot = format!("{}/{product_key}", account.id);
    let exists = || Error::PlanExists(format!("{}/{product_key}", account.id));
    if plan::Entity::find()
        .filter(plan::Column::OpenSlot.eq(slot.as_str()))
        .one(uow.tx())
        .await?
        .is_some()
    {
        return Err(exists());
    }
    let at_us = at.timestamp_micros();
    let mut data = PlanData {
        row: plan::Model {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            product_key: product_key.to_owned(),
            playbook_key: playbook.key.clone(),
            playbook_version: playbook.version,
            tier: account.tier.as_str_name().to_owned(),
            owner_csm_id: account.owner_csm_id.clone(),
            partner_id: account.partner_id.clone(),
            contract_start: contract_start.map(|d| d.to_string()),
            kickoff: None,
            anchor_date: None,
            setup_due: None,
            value_due: None,
            anchor_day: None,
            setup_due_day: None,
            value_due_day: None,
            setup_time_us: None,
            value_time_us: None,
            cancel_time_us: None,
            cancel_reason: String::new(),
            create_time_us: at_us,
            progress_time_us: at_us,
            revision: 1,
            open_slot: Some(slot),
            stall_days: crate::domain::playbook::DEFAULT_STALL_DAYS,
            self_success,
            rule_version,
        },
        steps: Vec::new(),
        playbook,
        stalled: false,
    };
    date_plan(&mut data);
    plan::Entity::insert(plan::ActiveModel::from(data.row.clone()))
        .exec_without_returning(uow.tx())
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                exists()
            } else {
                err.into()
            }
        })?;
    uow.emit(
        &data.row.id,
        &pb::PlanOpened {
            plan: Some(data.to_proto(at.date_naive())),
        },
    );
    let signals = signals_of(uow.tx(), &account.id, product_key).await?;
    advance(uow, &mut data, &signals, at).await?;
    Ok(data)
}

/// Records `signals` in `uow` at `at` (each keeping its highest value),
/// then reaches the stages of the open plans of their accounts and products
/// that now hold; how many.
pub async fn signals_in(
    uow: &mut UnitOfWork,
    signals: &[NewSignal],
    at: DateTime<Utc>,
) -> Result<u64> {
    let at_us = at.timestamp_micros();
    // Highest value per signal in this call, then kept against the
    // stored one by the database, so concurrent senders never lower it.
    let mut highest: HashMap<(&str, &str, &str), i64> = HashMap::new();
    for s in signals {
        let entry = highest
            .entry((&s.account_id, &s.product_key, &s.signal_key))
            .or_insert(s.value);
        *entry = Ord::max(*entry, s.value);
    }
    let rows: Vec<_> = highest.iter().collect();
    for chunk in rows.chunks(1000) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("signals")).columns([
            Alias::new("account_id"),
            Alias::new("product_key"),
            Alias::new("signal_key"),
            Alias::new("value"),
            Alias::new("update_time_us"),
        ]);
        for ((account, product, key), value) in chunk {
            insert
                .values([
                    Value::from(*account).into(),
                    Value::from(*product).into(),
                    Value::from(*key).into(),
                    Value::from(**value).into(),
                    at_us.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert.on_conflict(
            OnConflict::columns([
                Alias::new("account_id"),
                Alias::new("product_key"),
                Alias::new("signal_key"),
            ])
            .value(
                Alias::new("value"),
                Expr::cust(
                    "CASE WHEN excluded.value > signals.value THEN excluded.value ELSE signals.value END",
                ),
            )
            .update_column(Alias::new("update_time_us"))
            .to_owned(),
        );
        uow.tx().execute(&insert).await?;
    }
    let slots: BTreeSet<String> = highest
        .keys()
        .map(|(account, product, _)| format!("{account}/{product}"))
        .collect();
    let mut reached = 0;
    let open: Vec<String> = plan::Entity::find()
        .select_only()
        .column(plan::Column::Id)
        .filter(plan::Column::OpenSlot.is_in(slots.iter().map(String::as_str)))
        .order_by_asc(plan::Column::Id)
        .into_tuple()
        .all(uow.tx())
        .await?;
    for id in open {
        let Some(mut data) = load(uow.tx(), &id, true).await? else {
            continue;
        };
        let values = signals_of(uow.tx(), &data.row.account_id, &data.row.product_key).await?;
        reached += advance(uow, &mut data, &values, at).await?;
    }
    Ok(reached)
}
