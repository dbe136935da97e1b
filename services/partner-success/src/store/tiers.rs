//! The tier program in the service's database: its versions, the evaluation
//! of partners' tiers (on demand, and daily by a job), its preview, and the
//! tier history.
//!
//! An evaluation measures every active partner (certified staff and sourced
//! accounts from this service's own tables, the revenue of its accounts from
//! one report of the expansion service and their onboarding completion from
//! one report of the onboarding service, each asked before the transaction
//! starts so no write waits on another service), and in one transaction
//! changes the tier of each partner whose tier moved, with its history row
//! and its `PartnerTierChanged`. A partner whose tier stays is not written.

use std::{collections::BTreeMap, time::Duration};

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait as _},
};
use serde::{Deserialize, Serialize};
use themodel_platform::{
    ApiError,
    client::CallContext,
    jobs::{JobRunner, Schedule},
    store::{Begun, IdempotencyKey, Store, any_of, is_unique_violation, page},
    validate,
};
use themodel_proto::{onboarding::Stage, partner_success as pb};

use super::{
    attributions::attributed_accounts,
    corrupt,
    entity::{certification, partner, staff, tier_change, tier_program},
    new_id, now, parse_date_column, partner_of, time, today,
};
use crate::{
    convert::tier::{change_to_proto, program_to_proto, result_to_proto, rules_to_proto},
    domain::{
        attribution::AttributionKind,
        certification::LEVELS,
        partner::PartnerStatus,
        staff::StaffStatus,
        tier::{
            Completion, Criterion, CriterionResult, Evaluation, Measures, NANOS, Program,
            ProgramVersion, Tier, TierChange, TierCriterionKind, Value, etag, evaluate,
            onboarding_window, revenue_window,
        },
    },
    error::{Error, Result},
    onboarding::Onboarding,
    revenue::{PartnerRevenue, Revenue},
};

/// The job that evaluates every active partner's tier.
pub const EVALUATE_JOB: &str = "evaluate-partner-tiers";
/// How often the job runs: daily.
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Who the job's changes are recorded as.
pub const SCHEDULER: &str = "service:partner_success";
/// How long the job waits for the expansion and onboarding services' reports.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);
/// Most changes an evaluation's response lists; the history has them all.
pub const MAX_LISTED_CHANGES: usize = 1000;

/// Filters of a tier history listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryFilter {
    /// Only this partner's changes.
    pub partner_id: Option<String>,
}

/// The tier program, its evaluations and the tier history.
#[derive(Debug, Clone)]
pub struct Tiers {
    store: Store,
    revenue: Revenue,
    onboarding: Onboarding,
}

/// The contexts an evaluation asks the other services in.
#[derive(Debug, Clone, Copy)]
pub struct Peers<'a> {
    /// The expansion service's: the caller's, or the service's own for the
    /// daily evaluation.
    pub revenue: &'a CallContext,
    /// The onboarding service's: the caller's when it may read the
    /// completion report, else the service's own (see
    /// [`crate::onboarding::report_context`]).
    pub onboarding: &'a CallContext,
}

impl<'a> Peers<'a> {
    /// Both services asked in `ctx`.
    pub fn both(ctx: &'a CallContext) -> Self {
        Self {
            revenue: ctx,
            onboarding: ctx,
        }
    }
}

/// What an evaluation learns from the other services, before its
/// transaction.
#[derive(Debug, Default)]
struct Reported {
    /// Revenue figures, per partner.
    revenue: BTreeMap<String, PartnerRevenue>,
    /// Onboarding completion, per partner with plans due.
    onboarding: BTreeMap<String, Completion>,
}

/// What one evaluation measured, and the partners it covers.
struct Measured {
    /// Active partners evaluated, in id order, with their current tier.
    partners: Vec<(String, String)>,
    /// Certified staff per level, per partner.
    certified: BTreeMap<String, [i64; 3]>,
    /// Accounts sourced, per partner.
    sourced: BTreeMap<String, i64>,
    /// What the other services reported.
    reported: Reported,
}

impl Measured {
    fn of(&self, partner_id: &str) -> Measures {
        let revenue = self
            .reported
            .revenue
            .get(partner_id)
            .copied()
            .unwrap_or_default();
        Measures {
            certified: self.certified.get(partner_id).copied().unwrap_or_default(),
            sourced_accounts: self.sourced.get(partner_id).copied().unwrap_or_default(),
            arr_nanos: revenue.arr_nanos,
            nrr_basis_points: revenue.nrr_basis_points,
            // No plan due: no rate.
            onboarding: self
                .reported
                .onboarding
                .get(partner_id)
                .copied()
                .unwrap_or_default(),
        }
    }
}

impl Tiers {
    /// The repository over `store`, asking `revenue` for the revenue of
    /// partners' accounts and `onboarding` for their onboarding completion.
    pub fn new(store: Store, revenue: Revenue, onboarding: Onboarding) -> Self {
        Self {
            store,
            revenue,
            onboarding,
        }
    }

    /// Program version `version`, or the one in force when `None`.
    pub async fn program(&self, version: Option<i64>) -> Result<Option<ProgramVersion>> {
        match version {
            Some(version) => tier_program::Entity::find_by_id(version)
                .one(&self.store.db)
                .await?
                .map(program_of)
                .transpose(),
            None => latest(&self.store.db).await,
        }
    }

    /// Makes the next version from the one in force (`None` before the
    /// first) by `change`; nothing when the rules stay the same. A stale
    /// `etag` is refused.
    pub async fn update_program(
        &self,
        idempotency: Option<IdempotencyKey>,
        etag_sent: Option<&str>,
        change: impl FnOnce(Option<&ProgramVersion>) -> Result<Program>,
        reason: String,
        actor: &str,
    ) -> Result<pb::UpdateTierProgramResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = latest(uow.tx()).await?;
        let current_etag = current
            .as_ref()
            .map(|c| etag(c.version))
            .unwrap_or_default();
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "tier_program",
                id: current.as_ref().map_or(0, |c| c.version).to_string(),
                current: current_etag,
            });
        }
        let program = change(current.as_ref())?;
        if let Some(current) = current.as_ref().filter(|c| c.program == program) {
            let response = pb::UpdateTierProgramResponse {
                program: Some(program_to_proto(current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        let made = ProgramVersion {
            version: current.as_ref().map_or(1, |c| c.version + 1),
            program,
            reason,
            create_time: now(),
            created_by: actor.to_owned(),
        };
        tier_program::Entity::insert(tier_program::ActiveModel {
            version: Set(made.version),
            tiers: Set(encode(&stored_tiers(&made.program.tiers))?),
            currency_code: Set(made.program.currency.clone().unwrap_or_default()),
            reason: Set(made.reason.clone()),
            created_by: Set(made.created_by.clone()),
            create_time_us: Set(made.create_time.timestamp_micros()),
        })
        .exec_without_returning(uow.tx())
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                Error::Api(ApiError::Aborted(
                    "another update of the tier program made this version first; read it and retry"
                        .into(),
                ))
            } else {
                err.into()
            }
        })?;
        let proto = program_to_proto(&made);
        uow.emit(
            &made.version.to_string(),
            &pb::TierProgramUpdated {
                program: Some(proto.clone()),
            },
        );
        let response = pb::UpdateTierProgramResponse {
            program: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Evaluates the program in force on `day` for every active partner, or
    /// for `only`: changes the tier of each partner whose tier moves, with
    /// its history row and event, in one transaction. Peer calls are made in
    /// `peers`; changes are recorded as made by `actor`.
    pub async fn evaluate(
        &self,
        idempotency: Option<IdempotencyKey>,
        peers: Peers<'_>,
        only: Option<&str>,
        day: NaiveDate,
        actor: &str,
    ) -> Result<pb::EvaluatePartnerTiersResponse> {
        let in_force = latest(&self.store.db).await?.ok_or(Error::NoTierProgram)?;
        if let Some(id) = only {
            evaluable(&self.store.db, id).await?;
        }
        let window = in_force
            .program
            .needs_revenue()
            .then(|| revenue_window(day));
        // Asked before the transaction: no write waits on another service.
        let reported = self.reported(peers, &in_force.program, day, only).await?;
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if latest(uow.tx()).await?.map(|p| p.version) != Some(in_force.version) {
            return Err(Error::Api(ApiError::Aborted(
                "the tier program changed during the evaluation; retry".into(),
            )));
        }
        if let Some(id) = only {
            evaluable(uow.tx(), id).await?;
        }
        let measured = measure(uow.tx(), only, day, reported, true).await?;
        let change_time = now();
        let currency = in_force.program.currency.clone();
        let mut changes = Vec::new();
        let mut changed = 0;
        for (partner_id, current_tier) in &measured.partners {
            let Evaluation { tier, results } =
                evaluate(&in_force.program, &measured.of(partner_id));
            if tier == *current_tier {
                continue;
            }
            let change = TierChange {
                id: new_id(),
                partner_id: partner_id.clone(),
                previous_tier: current_tier.clone(),
                new_tier: tier,
                program_version: in_force.version,
                evaluated_on: day,
                revenue_window: window,
                currency: currency.clone(),
                results,
                change_time,
                evaluated_by: actor.to_owned(),
            };
            partner::Entity::update_many()
                .col_expr(partner::Column::Tier, Expr::value(change.new_tier.as_str()))
                .col_expr(
                    partner::Column::Revision,
                    Expr::col(partner::Column::Revision).add(1),
                )
                .col_expr(
                    partner::Column::UpdateTimeUs,
                    Expr::value(change_time.timestamp_micros()),
                )
                .filter(partner::Column::PartnerId.eq(partner_id.as_str()))
                .exec(uow.tx())
                .await?;
            tier_change::Entity::insert(change_row(&change)?)
                .exec_without_returning(uow.tx())
                .await?;
            let proto = change_to_proto(&change);
            uow.emit(
                partner_id,
                &pb::PartnerTierChanged {
                    change: Some(proto.clone()),
                },
            );
            changed += 1;
            if changes.len() < MAX_LISTED_CHANGES {
                changes.push(proto);
            }
        }
        let response = pb::EvaluatePartnerTiersResponse {
            program_version: in_force.version,
            evaluated_on: Some(validate::date_to_proto(day)),
            evaluated_partners: count(measured.partners.len()),
            changes,
            changed_partners: changed,
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// The daily evaluation, on `day`, as the service itself.
    pub async fn evaluate_scheduled(&self, day: NaiveDate) -> Result<String> {
        // No caller: the other services are asked by the service itself
        // (which the onboarding service gives its completion report to).
        let ctx = CallContext::background().with_timeout(REPORT_TIMEOUT);
        match self
            .evaluate(None, Peers::both(&ctx), None, day, SCHEDULER)
            .await
        {
            Ok(done) => Ok(format!(
                "{} partners evaluated with tier program version {}, {} tiers changed",
                done.evaluated_partners, done.program_version, done.changed_partners
            )),
            Err(Error::NoTierProgram) => Ok("no tier program yet".into()),
            Err(err) => Err(err),
        }
    }

    /// Evaluates every active partner's tier each [`EVALUATION_INTERVAL`].
    pub fn schedule(&self, jobs: &JobRunner) {
        let this = self.clone();
        jobs.every(
            EVALUATE_JOB,
            Schedule::every(EVALUATION_INTERVAL),
            move || {
                let this = this.clone();
                async move { Ok(this.evaluate_scheduled(today()).await?) }
            },
        );
    }

    /// What `candidate` (the program in force when `None`) would do on `day`
    /// to every active partner, writing nothing: the summary, and the
    /// partners after id `after`, up to `limit`, with whether more follow.
    pub async fn preview(
        &self,
        peers: Peers<'_>,
        candidate: Option<Program>,
        day: NaiveDate,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(pb::PreviewTierProgramResponse, bool)> {
        let db = &self.store.db;
        let in_force = latest(db).await?;
        let (program, version) = match candidate {
            Some(program) => (program, in_force.map_or(1, |p| p.version + 1)),
            None => {
                let in_force = in_force.ok_or(Error::NoTierProgram)?;
                (in_force.program, in_force.version)
            }
        };
        let window = program.needs_revenue().then(|| revenue_window(day));
        let reported = self.reported(peers, &program, day, None).await?;
        let measured = measure(db, None, day, reported, false).await?;
        let currency = program.currency.clone().unwrap_or_default();
        // Per tier, partners in it now and under the program.
        let mut counts: BTreeMap<String, (i32, i32)> = BTreeMap::new();
        let mut moved = 0;
        let mut partners = Vec::new();
        let mut more = false;
        for (partner_id, current_tier) in &measured.partners {
            let Evaluation { tier, results } = evaluate(&program, &measured.of(partner_id));
            counts.entry(current_tier.clone()).or_default().0 += 1;
            counts.entry(tier.clone()).or_default().1 += 1;
            if tier != *current_tier {
                moved += 1;
            }
            if after.is_some_and(|after| partner_id.as_str() <= after) {
                continue;
            }
            if partners.len() as u64 >= limit {
                more = true;
                continue;
            }
            partners.push(pb::PartnerTierResult {
                partner_id: partner_id.clone(),
                current_tier: current_tier.clone(),
                tier,
                criteria: results
                    .iter()
                    .map(|r| result_to_proto(r, &currency))
                    .collect(),
            });
        }
        // The program's tiers in order, then the others partners have now.
        let mut tiers: Vec<pb::TierPartnerCount> = program
            .tiers
            .iter()
            .map(|t| {
                let (current, previewed) = counts.remove(&t.name).unwrap_or_default();
                pb::TierPartnerCount {
                    tier: t.name.clone(),
                    current_partners: current,
                    previewed_partners: previewed,
                }
            })
            .collect();
        tiers.extend(
            counts
                .into_iter()
                .map(|(tier, (current, previewed))| pb::TierPartnerCount {
                    tier,
                    current_partners: current,
                    previewed_partners: previewed,
                }),
        );
        let response = pb::PreviewTierProgramResponse {
            program: Some(rules_to_proto(&program, version)),
            evaluated_on: Some(validate::date_to_proto(day)),
            revenue_start_month: window.map(|(s, _)| validate::date_to_proto(s)),
            revenue_end_month: window.map(|(_, e)| validate::date_to_proto(e)),
            evaluated_partners: count(measured.partners.len()),
            moved_partners: moved,
            tiers,
            partners,
            next_page_token: String::new(),
        };
        Ok((response, more))
    }

    /// Up to `limit` tier changes matching `filter` before id `after`, newest
    /// first, and whether more follow.
    pub async fn history(
        &self,
        filter: &HistoryFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<TierChange>, bool)> {
        use tier_change::Column as C;
        let mut query = tier_change::Entity::find();
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::PartnerId.eq(partner_id.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(C::Id.lt(after));
        }
        let (rows, more) = page(&self.store.db, query.order_by_desc(C::Id), limit).await?;
        let changes = rows.into_iter().map(change_of).collect::<Result<_>>()?;
        Ok((changes, more))
    }

    /// What `program` needs of the other services to be evaluated on `day`
    /// for every partner (or `only`): the revenue over the revenue window
    /// (one revenue report) when it has a revenue criterion, the onboarding
    /// completion over the onboarding window (one completion report) when
    /// it has an onboarding criterion; both asked at once, in `peers`.
    async fn reported(
        &self,
        peers: Peers<'_>,
        program: &Program,
        day: NaiveDate,
        only: Option<&str>,
    ) -> Result<Reported> {
        let revenue = async {
            match (program.needs_revenue(), &program.currency) {
                (true, Some(currency)) => {
                    self.revenue
                        .by_partner(peers.revenue, currency, revenue_window(day), only)
                        .await
                }
                _ => Ok(BTreeMap::new()),
            }
        };
        let onboarding = async {
            if !program.needs_onboarding() {
                return Ok(BTreeMap::new());
            }
            let groups = self
                .onboarding
                .completion_of_partners(
                    peers.onboarding,
                    Stage::ValueConfirmed,
                    onboarding_window(day),
                    only,
                )
                .await?;
            Ok(groups
                .into_iter()
                .map(|(partner_id, group)| {
                    let completion = Completion {
                        plans_due: group.due,
                        // The report has no rate when nothing is due.
                        rate_basis_points: group
                            .rate_basis_points
                            .filter(|_| group.due > 0)
                            .map(i64::from),
                    };
                    (partner_id, completion)
                })
                .collect())
        };
        let (revenue, onboarding) = tokio::try_join!(revenue, onboarding)?;
        Ok(Reported {
            revenue,
            onboarding,
        })
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The program version in force, if any.
async fn latest(db: &impl ConnectionTrait) -> Result<Option<ProgramVersion>> {
    tier_program::Entity::find()
        .order_by_desc(tier_program::Column::Version)
        .one(db)
        .await?
        .map(program_of)
        .transpose()
}

/// NOT_FOUND for an unknown partner, PARTNER_NOT_ACTIVE for one that is not
/// active.
async fn evaluable(db: &impl ConnectionTrait, partner_id: &str) -> Result<()> {
    let partner = partner_of(db, partner_id)
        .await?
        .ok_or_else(|| Error::PartnerNotFound(partner_id.to_owned()))?;
    match partner.fields.status {
        PartnerStatus::Active => Ok(()),
        status => Err(Error::PartnerNotActive {
            partner_id: partner_id.to_owned(),
            status: status.as_str_name(),
        }),
    }
}

/// The active partners (or `only`, if active) with what is measured of them
/// on `day`; their rows locked for the change when `lock`.
async fn measure(
    db: &impl ConnectionTrait,
    only: Option<&str>,
    day: NaiveDate,
    reported: Reported,
    lock: bool,
) -> Result<Measured> {
    let mut query = partner::Entity::find()
        .select_only()
        .column(partner::Column::PartnerId)
        .column(partner::Column::Tier)
        .filter(partner::Column::Status.eq(PartnerStatus::Active.as_str_name()));
    if let Some(id) = only {
        query = query.filter(partner::Column::PartnerId.eq(id));
    }
    query = query.order_by_asc(partner::Column::PartnerId);
    if lock {
        query = query.lock_exclusive();
    }
    let partners: Vec<(String, String)> = query.into_tuple().all(db).await?;
    let only: Option<Vec<&str>> = only.map(|id| vec![id]);
    Ok(Measured {
        certified: certified_staff(db, only.as_deref(), day).await?,
        sourced: attributed_accounts(db, only.as_deref(), AttributionKind::Sourced, day, None)
            .await?,
        partners,
        reported,
    })
}

/// Per partner (of `only`, when given), the active staff holding a
/// certification of level 1, 2 and 3 or higher valid on `day`, each person
/// counted once per level.
pub(super) async fn certified_staff(
    db: &impl ConnectionTrait,
    only: Option<&[&str]>,
    day: NaiveDate,
) -> Result<BTreeMap<String, [i64; 3]>> {
    let mut active = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .column(staff::Column::PartnerId)
        .filter(staff::Column::Status.eq(StaffStatus::Active.as_str_name()));
    let day = day.to_string();
    use certification::Column as C;
    let mut valid = certification::Entity::find()
        .select_only()
        .column(C::StaffId)
        .column(C::Level)
        .filter(C::EarnedOn.lte(day.as_str()))
        .filter(
            Condition::any()
                .add(C::ExpiresOn.is_null())
                .add(C::ExpiresOn.gte(day.as_str())),
        );
    if let Some(ids) = only {
        let backend = db.get_database_backend();
        active = active.filter(any_of(backend, staff::Column::PartnerId, ids));
        valid = valid.filter(any_of(backend, C::PartnerId, ids));
    }
    let active: BTreeMap<String, String> = active
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    // Each active person's best level valid on the day.
    let mut best: BTreeMap<String, i32> = BTreeMap::new();
    for (staff_id, level) in valid.into_tuple::<(String, i32)>().all(db).await? {
        if active.contains_key(&staff_id) {
            let held = best.entry(staff_id).or_insert(0);
            *held = std::cmp::max(*held, level);
        }
    }
    let mut counts: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for (staff_id, level) in best {
        let Some(partner_id) = active.get(&staff_id) else {
            continue;
        };
        let per_level = counts.entry(partner_id.clone()).or_default();
        for (slot, counted) in LEVELS.zip(per_level.iter_mut()) {
            if level >= slot {
                *counted += 1;
            }
        }
    }
    Ok(counts)
}

/// A criterion as stored: its kind's protobuf name, level, and threshold
/// (a count, basis points, or whole units with `nanos` for an amount), and
/// the fewest plans due of an onboarding completion criterion.
#[derive(Debug, Serialize, Deserialize)]
struct StoredCriterion {
    kind: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    level: i32,
    min: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    nanos: i32,
    #[serde(default, skip_serializing_if = "is_zero_count")]
    min_due: i64,
}

/// A tier as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredTier {
    name: String,
    criteria: Vec<StoredCriterion>,
}

/// An evaluated criterion as stored: the value is a count, basis points or
/// whole units (with `value_nanos`), absent when there is none; `due` the
/// plans due an onboarding completion rate is of.
#[derive(Debug, Serialize, Deserialize)]
struct StoredResult {
    tier: String,
    criterion: StoredCriterion,
    value: Option<i64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    value_nanos: i32,
    #[serde(default, skip_serializing_if = "is_zero_count")]
    due: i64,
    met: bool,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_zero_count(n: &i64) -> bool {
    *n == 0
}

/// Whole units and nanos of an amount, the units capped.
fn split(nanos: i128) -> (i64, i32) {
    let units = i64::try_from(nanos / NANOS).unwrap_or(if nanos > 0 { i64::MAX } else { i64::MIN });
    (units, i32::try_from(nanos % NANOS).unwrap_or(0))
}

fn stored_criterion(c: &Criterion) -> StoredCriterion {
    let kind = c.kind().as_str_name().to_owned();
    match *c {
        Criterion::CertifiedStaff { level, min_count } => StoredCriterion {
            kind,
            level,
            min: min_count,
            nanos: 0,
            min_due: 0,
        },
        Criterion::SourcedAccounts { min_count } => StoredCriterion {
            kind,
            level: 0,
            min: min_count,
            nanos: 0,
            min_due: 0,
        },
        Criterion::PartnerArr { min_nanos } => {
            let (min, nanos) = split(min_nanos);
            StoredCriterion {
                kind,
                level: 0,
                min,
                nanos,
                min_due: 0,
            }
        }
        Criterion::Nrr { min_basis_points } => StoredCriterion {
            kind,
            level: 0,
            min: min_basis_points,
            nanos: 0,
            min_due: 0,
        },
        Criterion::OnboardingCompletion {
            min_basis_points,
            min_plans_due,
        } => StoredCriterion {
            kind,
            level: 0,
            min: min_basis_points,
            nanos: 0,
            min_due: min_plans_due,
        },
    }
}

fn criterion_of(s: &StoredCriterion) -> Result<Criterion> {
    Ok(match TierCriterionKind::from_str_name(&s.kind) {
        Some(TierCriterionKind::CertifiedStaff) => Criterion::CertifiedStaff {
            level: s.level,
            min_count: s.min,
        },
        Some(TierCriterionKind::SourcedAccounts) => Criterion::SourcedAccounts { min_count: s.min },
        Some(TierCriterionKind::PartnerArr) => Criterion::PartnerArr {
            min_nanos: i128::from(s.min) * NANOS + i128::from(s.nanos),
        },
        Some(TierCriterionKind::Nrr) => Criterion::Nrr {
            min_basis_points: s.min,
        },
        Some(TierCriterionKind::OnboardingCompletion) => Criterion::OnboardingCompletion {
            min_basis_points: s.min,
            min_plans_due: s.min_due,
        },
        _ => return Err(corrupt("tier criteria", "kind", &s.kind)),
    })
}

fn stored_tiers(tiers: &[Tier]) -> Vec<StoredTier> {
    tiers
        .iter()
        .map(|t| StoredTier {
            name: t.name.clone(),
            criteria: t.criteria.iter().map(stored_criterion).collect(),
        })
        .collect()
}

fn stored_results(results: &[CriterionResult]) -> Vec<StoredResult> {
    results
        .iter()
        .map(|r| {
            let (value, value_nanos, due) = match r.value {
                Value::Count(n) => (Some(n), 0, 0),
                Value::Nanos(n) => {
                    let (units, nanos) = split(n);
                    (Some(units), nanos, 0)
                }
                Value::BasisPoints(bp) => (bp, 0, 0),
                Value::Completion(c) => (c.rate_basis_points, 0, c.plans_due),
            };
            StoredResult {
                tier: r.tier.clone(),
                criterion: stored_criterion(&r.criterion),
                value,
                value_nanos,
                due,
                met: r.met,
            }
        })
        .collect()
}

fn results_of(stored: Vec<StoredResult>) -> Result<Vec<CriterionResult>> {
    stored
        .into_iter()
        .map(|s| {
            let criterion = criterion_of(&s.criterion)?;
            let value = match criterion {
                Criterion::CertifiedStaff { .. } | Criterion::SourcedAccounts { .. } => {
                    Value::Count(s.value.unwrap_or(0))
                }
                Criterion::PartnerArr { .. } => Value::Nanos(
                    i128::from(s.value.unwrap_or(0)) * NANOS + i128::from(s.value_nanos),
                ),
                Criterion::Nrr { .. } => Value::BasisPoints(s.value),
                Criterion::OnboardingCompletion { .. } => Value::Completion(Completion {
                    plans_due: s.due,
                    rate_basis_points: s.value,
                }),
            };
            Ok(CriterionResult {
                tier: s.tier,
                criterion,
                value,
                met: s.met,
            })
        })
        .collect()
}

fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|err| Error::Api(ApiError::internal(err)))
}

fn decode<T: for<'de> Deserialize<'de>>(table: &str, column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| corrupt(table, column, text))
}

fn program_of(row: tier_program::Model) -> Result<ProgramVersion> {
    let stored: Vec<StoredTier> = decode("tier_programs", "tiers", &row.tiers)?;
    let tiers = stored
        .into_iter()
        .map(|t| {
            Ok(Tier {
                name: t.name,
                criteria: t.criteria.iter().map(criterion_of).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(ProgramVersion {
        version: row.version,
        program: Program {
            tiers,
            currency: (!row.currency_code.is_empty()).then_some(row.currency_code),
        },
        reason: row.reason,
        create_time: time(row.create_time_us),
        created_by: row.created_by,
    })
}

fn change_row(c: &TierChange) -> Result<tier_change::ActiveModel> {
    Ok(tier_change::ActiveModel {
        id: Set(c.id.clone()),
        partner_id: Set(c.partner_id.clone()),
        previous_tier: Set(c.previous_tier.clone()),
        new_tier: Set(c.new_tier.clone()),
        program_version: Set(c.program_version),
        evaluated_on: Set(c.evaluated_on.to_string()),
        revenue_start_month: Set(c.revenue_window.map(|(s, _)| s.to_string())),
        revenue_end_month: Set(c.revenue_window.map(|(_, e)| e.to_string())),
        currency_code: Set(c.currency.clone().unwrap_or_default()),
        criteria: Set(encode(&stored_results(&c.results))?),
        evaluated_by: Set(c.evaluated_by.clone()),
        change_time_us: Set(c.change_time.timestamp_micros()),
    })
}

fn change_of(row: tier_change::Model) -> Result<TierChange> {
    const TABLE: &str = "partner_tier_changes";
    let window = match (&row.revenue_start_month, &row.revenue_end_month) {
        (Some(start), Some(end)) => Some((
            parse_date_column(TABLE, "revenue_start_month", start)?,
            parse_date_column(TABLE, "revenue_end_month", end)?,
        )),
        _ => None,
    };
    let stored: Vec<StoredResult> = decode(TABLE, "criteria", &row.criteria)?;
    Ok(TierChange {
        evaluated_on: parse_date_column(TABLE, "evaluated_on", &row.evaluated_on)?,
        revenue_window: window,
        currency: (!row.currency_code.is_empty()).then_some(row.currency_code),
        results: results_of(stored)?,
        change_time: time(row.change_time_us),
        id: row.id,
        partner_id: row.partner_id,
        previous_tier: row.previous_tier,
        new_tier: row.new_tier,
        program_version: row.program_version,
        evaluated_by: row.evaluated_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_criteria_and_results_read_back_the_same() {
        let criteria = vec![
            Criterion::CertifiedStaff {
                level: 2,
                min_count: 3,
            },
            Criterion::SourcedAccounts { min_count: 4 },
            Criterion::PartnerArr {
                min_nanos: 250_000 * NANOS + 500_000_000,
            },
            Criterion::Nrr {
                min_basis_points: 10_500,
            },
            Criterion::OnboardingCompletion {
                min_basis_points: 7_500,
                min_plans_due: 4,
            },
            Criterion::OnboardingCompletion {
                min_basis_points: 10_000,
                min_plans_due: 1,
            },
        ];
        for c in &criteria {
            assert_eq!(criterion_of(&stored_criterion(c)).ok(), Some(*c));
        }
        let results: Vec<_> = criteria
            .iter()
            .zip([
                Value::Count(5),
                Value::Count(0),
                Value::Nanos(3_000_006 * NANOS + 1),
                Value::BasisPoints(None),
                Value::Completion(Completion {
                    plans_due: 5,
                    rate_basis_points: Some(8_000),
                }),
                Value::Completion(Completion::default()),
            ])
            .map(|(c, value)| CriterionResult {
                tier: "GOLD".into(),
                criterion: *c,
                value,
                met: matches!(value, Value::Count(5)),
            })
            .collect();
        let text = encode(&stored_results(&results)).expect("encode");
        let back: Vec<StoredResult> = decode("t", "c", &text).expect("decode");
        assert_eq!(results_of(back).ok(), Some(results));
    }
}
