//! Touchpoints, and the coverage they give as of any instant.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, TryGetable,
    sea_query::{Expr, ExprTrait, Func, JoinType, Query, SelectStatement, UnionType},
};
use serde::Serialize;
use themodel_platform::{
    ApiError, Violation,
    auth::Principal,
    store::{
        Begun, CopyRow, CopyTable, IdempotencyKey, RowWriter, Store, any_of, is_unique_violation,
        page,
    },
};
use themodel_proto::{common, segmentation as pb};

use super::{
    csms,
    entity::{self, lifecycle_change, owner_change, team_membership, tier_change, touchpoint},
    tiers::now,
};
use crate::{
    convert::{
        timestamp,
        touchpoint::{TouchpointFields, TouchpointKind, touchpoint_to_proto},
    },
    domain::{
        access,
        account::{LifecycleStatus, Tier},
        coverage::{Covered, Tally, Target, is_covered, window_start},
        csm::{Membership, team_on},
    },
    error::{Error, Result},
};

/// Filters of a touchpoint listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TouchpointFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this CSM.
    pub csm_id: Option<String>,
    /// Only accounts of this partner (a partner user's own).
    pub partner_id: Option<String>,
}

/// An account as coverage sees it, with what the uncovered list shows.
#[derive(Debug, Clone)]
pub struct Customer {
    /// For the coverage figures.
    pub covered: Covered,
    /// The account's name.
    pub name: String,
}

/// Touchpoints in the service's database.
#[derive(Debug, Clone)]
pub struct Touchpoints {
    store: Store,
}

/// Why a touchpoint's account is refused; the same whether it does not exist
/// or is another partner's, so nothing leaks.
const NO_SUCH_ACCOUNT: &str = "names no account you can see";

impl Touchpoints {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records one touchpoint.
    pub async fn record(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        fields: TouchpointFields,
    ) -> Result<pb::RecordTouchpointResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let partners = partners(uow.tx(), &[fields.account_id.as_str()]).await?;
        let partner = match partners.get(&fields.account_id) {
            Some(partner) if access::can_see_partner(principal, partner.as_deref()) => {
                partner.clone()
            }
            _ => return Err(Error::AccountNotFound(fields.account_id.clone())),
        };
        if let Some(csm) = &fields.csm_id
            && !csms::unknown_owners(uow.tx(), &[csm.as_str()])
                .await?
                .is_empty()
        {
            return Err(Error::Invalid(vec![Violation::new(
                "touchpoint.csm_id",
                "names no CSM",
            )]));
        }
        let row = Row::new(fields, now());
        let recorded = row.to_proto();
        uow.append(&TOUCHPOINTS, [&row]).await.map_err(|err| {
            if is_unique_violation(&err) {
                Error::TouchpointExists(row.fields.external_id.clone().unwrap_or_default())
            } else {
                err.into()
            }
        })?;
        uow.emit(
            &recorded.account_id,
            &pb::TouchpointRecorded {
                touchpoint: Some(recorded.clone()),
                partner_id: partner.unwrap_or_default(),
            },
        );
        let response = pb::RecordTouchpointResponse {
            touchpoint: Some(recorded),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Records a batch; each row is recorded, a duplicate, or rejected.
    pub async fn record_batch(
        &self,
        key: Option<IdempotencyKey>,
        rows: Vec<std::result::Result<TouchpointFields, Vec<Violation>>>,
    ) -> Result<pb::BatchRecordTouchpointsResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let valid = || rows.iter().filter_map(|r| r.as_ref().ok());
        let accounts: Vec<&str> = valid().map(|t| t.account_id.as_str()).collect();
        let partners = partners(uow.tx(), &accounts).await?;
        let csm_ids: Vec<&str> = valid().filter_map(|t| t.csm_id.as_deref()).collect();
        let unknown_csms = csms::unknown_owners(uow.tx(), &csm_ids).await?;
        let external: Vec<&str> = valid().filter_map(|t| t.external_id.as_deref()).collect();
        let mut known_external = known_external_ids(uow.tx(), &external).await?;

        let time = now();
        let mut response = pb::BatchRecordTouchpointsResponse::default();
        let mut recorded = Vec::new();
        for (index, row) in rows.into_iter().enumerate() {
            let mut result = pb::TouchpointResult {
                index: index as i32,
                ..Default::default()
            };
            let checked = row.and_then(|t| {
                if !partners.contains_key(&t.account_id) {
                    Err(vec![Violation::new("account_id", NO_SUCH_ACCOUNT)])
                } else if t.csm_id.as_ref().is_some_and(|c| unknown_csms.contains(c)) {
                    Err(vec![Violation::new("csm_id", "names no CSM")])
                } else {
                    Ok(t)
                }
            });
            match checked {
                Err(violations) => {
                    result.outcome = pb::TouchpointOutcome::Rejected as i32;
                    result.violations = violations
                        .into_iter()
                        .map(|v| common::FieldViolation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect();
                    response.rejected_count += 1;
                }
                Ok(t)
                    if t.external_id
                        .as_ref()
                        .is_some_and(|e| !known_external.insert(e.clone())) =>
                {
                    result.outcome = pb::TouchpointOutcome::Duplicate as i32;
                    response.duplicate_count += 1;
                }
                Ok(t) => {
                    let row = Row::new(t, time);
                    let proto = row.to_proto();
                    let partner = partners.get(&proto.account_id).cloned().flatten();
                    uow.emit(
                        &proto.account_id,
                        &pb::TouchpointRecorded {
                            touchpoint: Some(proto.clone()),
                            partner_id: partner.unwrap_or_default(),
                        },
                    );
                    result.outcome = pb::TouchpointOutcome::Recorded as i32;
                    result.touchpoint = Some(proto);
                    response.recorded_count += 1;
                    recorded.push(row);
                }
            }
            response.results.push(result);
        }
        uow.append(&TOUCHPOINTS, &recorded).await.map_err(|err| {
            if is_unique_violation(&err) {
                Error::Api(ApiError::Aborted(
                    "a concurrent import recorded the same external_id; retry".into(),
                ))
            } else {
                err.into()
            }
        })?;
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` touchpoints matching `filter` before `before` (occur
    /// time in microseconds and id), newest first, and whether more follow.
    pub async fn list(
        &self,
        filter: &TouchpointFilter,
        before: Option<&(i64, String)>,
        limit: u64,
    ) -> Result<(Vec<(i64, pb::Touchpoint)>, bool)> {
        use touchpoint::Column as C;
        let mut condition = Condition::all();
        if let Some(account) = &filter.account_id {
            condition = condition.add(C::AccountId.eq(account.as_str()));
        }
        if let Some(csm) = &filter.csm_id {
            condition = condition.add(C::CsmId.eq(csm.as_str()));
        }
        if let Some(partner) = &filter.partner_id {
            let own = entity::Entity::find()
                .select_only()
                .column(entity::Column::Id)
                .filter(entity::Column::PartnerId.eq(partner.as_str()))
                .into_query();
            condition = condition.add(C::AccountId.in_subquery(own));
        }
        if let Some((time, id)) = before {
            condition = condition.add(
                Condition::any().add(C::OccurTimeUs.lt(*time)).add(
                    Condition::all()
                        .add(C::OccurTimeUs.eq(*time))
                        .add(C::Id.lt(id.as_str())),
                ),
            );
        }
        let query = touchpoint::Entity::find()
            .filter(condition)
            .order_by_desc(C::OccurTimeUs)
            .order_by_desc(C::Id);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        let touchpoints = rows
            .into_iter()
            .map(|r| Ok((r.occur_time_us, from_model(r)?)))
            .collect::<Result<_>>()?;
        Ok((touchpoints, more))
    }

    /// Every account that was a customer at `as_of` (created by then and not
    /// churned then), of `partner` when given, with its tier, owner and
    /// owner's team then and its last touchpoint by then.
    pub async fn customers(
        &self,
        as_of: DateTime<Utc>,
        partner: Option<&str>,
    ) -> Result<Vec<Customer>> {
        customers(&self.store.db, as_of, partner, None).await
    }

    /// Coverage tallies of every customer at `as_of`, of `partner` when
    /// given. Accounts whose tier, status and owner have not changed since `as_of`
    /// are as they are now and are counted in the database, grouped by tier
    /// and owner; the others are rebuilt from their history one by one.
    pub async fn tallies(
        &self,
        as_of: DateTime<Utc>,
        partner: Option<&str>,
        targets: &[Target; 3],
    ) -> Result<Vec<Tally>> {
        use entity::Column as A;
        let db = &self.store.db;
        let at = as_of.timestamp_micros();
        let later = changed_after(at);
        // As of now nothing has changed since: skip the history reads.
        let any_later = db.query_one(&later.clone().limit(1).to_owned()).await?;
        let mut tallies: Vec<Tally> = if any_later.is_some() {
            customers(db, as_of, partner, Some(later.clone()))
                .await?
                .iter()
                .map(|c| Tally::of(&c.covered, as_of, targets))
                .collect()
        } else {
            Vec::new()
        };

        let last_touch = Query::select()
            .column(touchpoint::Column::AccountId)
            .expr_as(
                Func::max(Expr::col(touchpoint::Column::OccurTimeUs)),
                "last",
            )
            .from(touchpoint::Entity)
            .and_where(touchpoint::Column::OccurTimeUs.lte(at))
            .group_by_col(touchpoint::Column::AccountId)
            .to_owned();
        let account = |column: A| Expr::col((entity::Entity, column));
        // Covered: touched within the tier's window (and by `as_of`, which
        // the last-touch query already ensures).
        let covers = |target: &Target| {
            account(A::Tier)
                .eq(target.tier.as_str_name())
                .and(Expr::col(("t", "last")).gt(window_start(as_of, target).timestamp_micros()))
        };
        let covered = targets[1..]
            .iter()
            .fold(Expr::case(covers(&targets[0]), 1), |case, target| {
                case.case(covers(target), 1)
            })
            .finally(0);
        let mut query = Query::select();
        query
            .expr(account(A::Tier))
            .expr(account(A::OwnerCsmId))
            .expr_as(Expr::col(A::Id).count(), "n")
            .expr_as(Func::sum(covered), "covered")
            .from(entity::Entity)
            .join_subquery(
                JoinType::LeftJoin,
                last_touch,
                "t",
                Expr::col(("t", touchpoint::Column::AccountId)).equals((entity::Entity, A::Id)),
            )
            .join_subquery(
                JoinType::LeftJoin,
                later,
                "l",
                Expr::col(("l", tier_change::Column::AccountId)).equals((entity::Entity, A::Id)),
            )
            .and_where(account(A::CreateTimeUs).lte(at))
            .and_where(account(A::LifecycleStatus).ne(LifecycleStatus::Churned.as_str_name()))
            .and_where(Expr::col(("l", tier_change::Column::AccountId)).is_null())
            .group_by_columns([(entity::Entity, A::Tier), (entity::Entity, A::OwnerCsmId)]);
        if let Some(partner) = partner {
            query.and_where(account(A::PartnerId).eq(partner));
        }
        let groups: Vec<(String, Option<String>, i64, i64)> = db
            .query_all(&query)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get_by_index(0)?,
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                    row.try_get_by_index(3)?,
                ))
            })
            .collect::<std::result::Result<_, DbErr>>()?;
        let teams = memberships(db).await?;
        let day = as_of.date_naive();
        for (tier, owner, accounts, covered) in groups {
            let team = owner
                .as_ref()
                .and_then(|o| teams.get(o))
                .and_then(|history| team_on(history, day))
                .map(str::to_owned);
            tallies.push(Tally {
                tier: Tier::from_str_name(&tier).unwrap_or_default(),
                owner,
                team,
                accounts: u64::try_from(accounts).unwrap_or(0),
                covered: u64::try_from(covered).unwrap_or(0),
            });
        }
        Ok(tallies)
    }
}

/// The accounts whose tier, lifecycle status or owner changed after `at`.
fn changed_after(at: i64) -> SelectStatement {
    Query::select()
        .column(tier_change::Column::AccountId)
        .from(tier_change::Entity)
        .and_where(tier_change::Column::ChangeTimeUs.gt(at))
        .union(
            UnionType::Distinct,
            Query::select()
                .column(lifecycle_change::Column::AccountId)
                .from(lifecycle_change::Entity)
                .and_where(lifecycle_change::Column::ChangeTimeUs.gt(at))
                .to_owned(),
        )
        .union(
            UnionType::Distinct,
            Query::select()
                .column(owner_change::Column::AccountId)
                .from(owner_change::Entity)
                .and_where(owner_change::Column::ChangeTimeUs.gt(at))
                .to_owned(),
        )
        .to_owned()
}

/// Every account that was a customer at `as_of`, of `partner` when given,
/// and among `only` when given, with its tier, owner and owner's team then
/// and its last touchpoint by then, from the histories.
async fn customers(
    db: &impl ConnectionTrait,
    as_of: DateTime<Utc>,
    partner: Option<&str>,
    only: Option<SelectStatement>,
) -> Result<Vec<Customer>> {
    let at = as_of.timestamp_micros();
    use entity::Column as A;
    let mut query = entity::Entity::find()
        .select_only()
        .columns([A::Id, A::Name])
        .filter(A::CreateTimeUs.lte(at));
    if let Some(partner) = partner {
        query = query.filter(A::PartnerId.eq(partner));
    }
    let mut statuses = lifecycle_change::Entity::find()
        .select_only()
        .columns([
            lifecycle_change::Column::AccountId,
            lifecycle_change::Column::ChangeTimeUs,
            lifecycle_change::Column::Status,
        ])
        .filter(lifecycle_change::Column::ChangeTimeUs.lte(at));
    let mut owners = owner_change::Entity::find()
        .select_only()
        .columns([
            owner_change::Column::AccountId,
            owner_change::Column::ChangeTimeUs,
            owner_change::Column::OwnerCsmId,
        ])
        .filter(owner_change::Column::ChangeTimeUs.lte(at));
    let mut tiers = tier_change::Entity::find()
        .select_only()
        .columns([
            tier_change::Column::AccountId,
            tier_change::Column::ChangeTimeUs,
            tier_change::Column::NewTier,
        ])
        .filter(tier_change::Column::ChangeTimeUs.lte(at));
    let mut touches = touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::AccountId)
        .column_as(
            Expr::from(Func::max(Expr::col(touchpoint::Column::OccurTimeUs))),
            "last",
        )
        .filter(touchpoint::Column::OccurTimeUs.lte(at))
        .group_by(touchpoint::Column::AccountId);
    if let Some(only) = only {
        query = query.filter(A::Id.in_subquery(only.clone()));
        statuses = statuses.filter(lifecycle_change::Column::AccountId.in_subquery(only.clone()));
        owners = owners.filter(owner_change::Column::AccountId.in_subquery(only.clone()));
        tiers = tiers.filter(tier_change::Column::AccountId.in_subquery(only.clone()));
        touches = touches.filter(touchpoint::Column::AccountId.in_subquery(only));
    }
    let accounts: Vec<(String, String)> = query.into_tuple().all(db).await?;
    let statuses: HashMap<String, String> = latest(db, statuses).await?;
    let mut owners: HashMap<String, Option<String>> = latest(db, owners).await?;
    let tiers: HashMap<String, String> = latest(db, tiers).await?;
    let last_touch: HashMap<String, i64> = touches
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let teams = memberships(db).await?;
    let day = as_of.date_naive();

    let churned = LifecycleStatus::Churned.as_str_name();
    Ok(accounts
        .into_iter()
        .filter(|(id, _)| statuses.get(id).is_some_and(|s| s != churned))
        .map(|(id, name)| {
            let owner = owners.remove(&id).flatten();
            let tier = tiers
                .get(&id)
                .and_then(|t| Tier::from_str_name(t))
                .unwrap_or_default();
            let team = owner
                .as_ref()
                .and_then(|o| teams.get(o))
                .and_then(|history| team_on(history, day))
                .map(str::to_owned);
            let last_touch = last_touch
                .get(&id)
                .and_then(|us| DateTime::from_timestamp_micros(*us));
            Customer {
                covered: Covered {
                    id,
                    tier,
                    owner,
                    team,
                    last_touch,
                },
                name,
            }
        })
        .collect())
}

/// The customers not covered at `as_of`, never touched first, then longest
/// untouched, then by id.
pub fn uncovered(
    customers: Vec<Customer>,
    as_of: DateTime<Utc>,
    targets: &[Target; 3],
) -> Vec<Customer> {
    let mut uncovered: Vec<Customer> = customers
        .into_iter()
        .filter(|c| c.covered.tier != Tier::Unspecified)
        .filter(|c| !is_covered(&c.covered, as_of, targets))
        .collect();
    uncovered.sort_by(|a, b| {
        sort_key(a)
            .cmp(&sort_key(b))
            .then_with(|| a.covered.id.cmp(&b.covered.id))
    });
    uncovered
}

/// Where an uncovered account sorts: never touched (`i64::MIN`), then by
/// last touch, oldest first.
pub fn sort_key(c: &Customer) -> i64 {
    c.covered
        .last_touch
        .map_or(i64::MIN, |t| t.timestamp_micros())
}

/// The contract form of an uncovered account.
pub fn uncovered_to_proto(c: &Customer, as_of: DateTime<Utc>) -> pb::UncoveredAccount {
    pb::UncoveredAccount {
        account_id: c.covered.id.clone(),
        name: c.name.clone(),
        tier: c.covered.tier as i32,
        owner_csm_id: c.covered.owner.clone().unwrap_or_default(),
        last_touch_time: c.covered.last_touch.map(timestamp),
        days_since_last_touch: c.covered.last_touch.map_or(-1, |t| {
            i32::try_from((as_of - t).num_days()).unwrap_or(i32::MAX)
        }),
    }
}

/// The partner of each account among `ids` that exists.
async fn partners(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashMap<String, Option<String>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    Ok(entity::Entity::find()
        .select_only()
        .columns([entity::Column::Id, entity::Column::PartnerId])
        .filter(any_of(backend, entity::Column::Id, ids))
        .into_tuple::<(String, Option<String>)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

async fn known_external_ids(db: &impl ConnectionTrait, ids: &[&str]) -> Result<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let backend = db.get_database_backend();
    Ok(touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::ExternalId)
        .filter(any_of(backend, touchpoint::Column::ExternalId, ids))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The latest value per account of a history query selecting (account id,
/// time, value).
async fn latest<E: EntityTrait, V: TryGetable>(
    db: &impl ConnectionTrait,
    query: sea_orm::Select<E>,
) -> Result<HashMap<String, V>> {
    let rows: Vec<(String, i64, V)> = query.into_tuple().all(db).await?;
    let mut latest: HashMap<String, (i64, V)> = HashMap::new();
    for (account, time, value) in rows {
        match latest.get(&account) {
            Some((seen, _)) if *seen > time => {}
            _ => {
                latest.insert(account, (time, value));
            }
        }
    }
    Ok(latest.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// Every CSM's team memberships.
async fn memberships(db: &impl ConnectionTrait) -> Result<HashMap<String, Vec<Membership>>> {
    let rows = team_membership::Entity::find()
        .order_by_asc(team_membership::Column::StartDate)
        .all(db)
        .await?;
    let mut by_csm: HashMap<String, Vec<Membership>> = HashMap::new();
    for row in rows {
        by_csm.entry(row.csm_id).or_default().push(Membership {
            team_id: row.team_id,
            start: row.start_date,
            end: row.end_date,
        });
    }
    Ok(by_csm)
}

fn from_model(r: touchpoint::Model) -> Result<pb::Touchpoint> {
    let kind = TouchpointKind::from_str_name(&r.kind).ok_or_else(|| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "touchpoints.kind holds unknown value {:?}",
            r.kind
        )))
    })?;
    let time = |us: i64| DateTime::from_timestamp_micros(us).map(timestamp);
    Ok(pb::Touchpoint {
        kind: kind as i32,
        occur_time: time(r.occur_time_us),
        create_time: time(r.create_time_us),
        id: r.id,
        account_id: r.account_id,
        csm_id: r.csm_id.unwrap_or_default(),
        note: r.note,
        external_id: r.external_id.unwrap_or_default(),
    })
}

/// The columns a touchpoint is written with.
const TOUCHPOINTS: CopyTable = CopyTable {
    name: "touchpoints",
    columns: &[
        "id",
        "account_id",
        "csm_id",
        "kind",
        "occur_time_us",
        "note",
        "external_id",
        "create_time_us",
    ],
};

/// A new touchpoint as a row of [`TOUCHPOINTS`].
struct Row {
    id: String,
    fields: TouchpointFields,
    create_time: DateTime<Utc>,
}

impl Row {
    fn new(fields: TouchpointFields, create_time: DateTime<Utc>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            fields,
            create_time,
        }
    }

    fn to_proto(&self) -> pb::Touchpoint {
        touchpoint_to_proto(&self.id, &self.fields, self.create_time)
    }
}

impl CopyRow for &Row {
    fn write(&self, row: &mut RowWriter) {
        let f = &self.fields;
        row.text(&self.id);
        row.text(&f.account_id);
        row.opt(f.csm_id.as_deref(), RowWriter::text);
        row.text(f.kind.as_str_name());
        row.int8(f.occur_time.timestamp_micros());
        row.text(&f.note);
        row.opt(f.external_id.as_deref(), RowWriter::text);
        row.int8(self.create_time.timestamp_micros());
    }
}
