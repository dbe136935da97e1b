//! The account repository: every read and write of the `accounts` table, each
//! write committed with its events and idempotency record in one transaction.

pub mod csms;
pub mod entity;
pub mod migration;
pub mod overrides;
pub mod revenue;
pub mod tiers;
pub mod touchpoints;

use std::collections::{HashMap, HashSet};

use chrono::DateTime;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Func, LikeExpr},
};
use serde::Serialize;
use themodel_platform::{
    ApiError, Violation,
    auth::Principal,
    store::{
        Begun, CopyRow, CopyTable, IdempotencyKey, PointReads, RowWriter, Store, UnitOfWork,
        any_of, is_unique_violation, page,
    },
    validate::Money,
};
use themodel_proto::{common, segmentation as pb};
use tiers::now;

use crate::{
    convert::{account_to_proto, timestamp},
    domain::{
        access,
        account::{Account, AccountFields, CloudLiteracy, LifecycleStatus, MigrationSource, Tier},
        policy::{InForce, PlanError, Retier, TierRule, basis, retier},
    },
    error::{Error, Result},
};

/// Filters of a listing; all set filters must match.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListFilter {
    /// Only this tier.
    pub tier: Option<i32>,
    /// Only this owner.
    pub owner_csm_id: Option<String>,
    /// Only this partner.
    pub partner_id: Option<String>,
    /// Only this status.
    pub lifecycle_status: Option<i32>,
    /// Only this CRM id.
    pub external_id: Option<String>,
    /// Only names containing this, ignoring case.
    pub name_contains: Option<String>,
    /// Only this normalised domain.
    pub domain: Option<String>,
}

/// One validated row of a batch upsert, or why it was rejected.
pub type UpsertRow = std::result::Result<AccountFields, Vec<Violation>>;

/// Accounts in the service's database.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    reads: PointReads<entity::Entity>,
}

impl Accounts {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        let reads = PointReads::new(store.db.clone());
        Self { store, reads }
    }

    /// The account with `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<Account>> {
        self.reads.get(id).await?.map(to_domain).transpose()
    }

    /// Up to `limit` accounts after `after` (an id) in id order, and whether more follow.
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Account>, bool)> {
        let mut condition = Condition::all();
        if let Some(tier) = filter.tier {
            condition = condition.add(entity::Column::Tier.eq(tier_name(tier)));
        }
        if let Some(owner) = &filter.owner_csm_id {
            condition = condition.add(entity::Column::OwnerCsmId.eq(owner.as_str()));
        }
        if let Some(partner) = &filter.partner_id {
            condition = condition.add(entity::Column::PartnerId.eq(partner.as_str()));
        }
        if let Some(status) = filter.lifecycle_status {
            let name = LifecycleStatus::try_from(status)
                .unwrap_or_default()
                .as_str_name();
            condition = condition.add(entity::Column::LifecycleStatus.eq(name));
        }
        if let Some(external_id) = &filter.external_id {
            condition = condition.add(entity::Column::ExternalId.eq(external_id.as_str()));
        }
        if let Some(text) = &filter.name_contains {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            // Named in full: the trait's `max` would shadow `Ord::max` here.
            condition = condition.add(sea_orm::sea_query::ExprTrait::like(
                Expr::expr(Func::lower(Expr::col(entity::Column::Name))),
                LikeExpr::new(pattern).escape('\\'),
            ));
        }
        if let Some(domain) = &filter.domain {
            condition = condition.add(entity::Column::Domain.eq(domain.as_str()));
        }
        if let Some(after) = after {
            condition = condition.add(entity::Column::Id.gt(after));
        }
        let query = entity::Entity::find()
            .filter(condition)
            .order_by_asc(entity::Column::Id);
        let (rows, more) = page(&self.store.db, query, limit).await?;
        let accounts = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((accounts, more))
    }

    /// Creates an account (once per idempotency key of `principal`).
    pub async fn create(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        fields: AccountFields,
    ) -> Result<pb::CreateAccountResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => {
                let response: pb::CreateAccountResponse = response;
                self.ensure_still_visible(principal, response.account.as_ref())
                    .await?;
                return Ok(response);
            }
            Begun::Fresh(uow) => uow,
        };
        if let Some(external_id) = &fields.external_id
            && external_id_owner(uow.tx(), external_id).await?.is_some()
        {
            return Err(Error::ExternalIdTaken(external_id.clone()));
        }
        ensure_csm(uow.tx(), fields.owner_csm_id.as_deref()).await?;
        let policy = tiers::in_force(uow.tx()).await?;
        let decided = retier(policy.as_ref(), &fields, None, false).map_err(tiers::refusal)?;
        let mut account = new_account(fields);
        let change = assign(&mut account, decided, policy.as_ref(), principal);
        insert(&uow, std::slice::from_ref(&account)).await?;
        let response = pb::CreateAccountResponse {
            account: Some(emit_created(&mut uow, &account)),
        };
        tiers::record(&mut uow, change).await?;
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Updates an account `principal` can see: `change` turns the current
    /// account into its new fields (or refuses); `etag`, when given, must be
    /// current.
    pub async fn update(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        id: &str,
        etag: Option<&str>,
        change: impl FnOnce(&Account) -> Result<AccountFields>,
    ) -> Result<pb::UpdateAccountResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => {
                let response: pb::UpdateAccountResponse = response;
                self.ensure_still_visible(principal, response.account.as_ref())
                    .await?;
                return Ok(response);
            }
            Begun::Fresh(uow) => uow,
        };
        let account = change_account(&mut uow, principal, id, etag, change).await?;
        let response = pb::UpdateAccountResponse {
            account: Some(account),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Before a stored response is replayed: the account it shows must still
    /// be visible to the caller (it may have moved to another partner since).
    async fn ensure_still_visible(
        &self,
        principal: &Principal,
        account: Option<&pb::Account>,
    ) -> Result<()> {
        let Some(id) = account.map(|a| a.id.as_str()) else {
            return Ok(());
        };
        let current = self
            .get(id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(id.to_owned()))?;
        Ok(access::ensure_visible(principal, &current)?)
    }

    /// Creates or replaces accounts keyed by external_id. Rejected rows (and
    /// later duplicates of an external_id) write nothing; the rest commit
    /// together with their events.
    pub async fn batch_upsert(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        rows: Vec<(String, UpsertRow)>,
    ) -> Result<pb::BatchUpsertAccountsResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let policy = tiers::in_force(uow.tx()).await?;
        let mut external_ids: Vec<&str> = rows
            .iter()
            .filter(|(_, row)| row.is_ok())
            .map(|(external_id, _)| external_id.as_str())
            .collect();
        // Rows are locked in one global order, so two batches never deadlock.
        external_ids.sort_unstable();
        external_ids.dedup();
        let mut existing: HashMap<String, Account> = HashMap::new();
        if !external_ids.is_empty() {
            let backend = uow.tx().get_database_backend();
            let found = entity::Entity::find()
                .filter(any_of(backend, entity::Column::ExternalId, &external_ids))
                .order_by_asc(entity::Column::ExternalId)
                .lock_exclusive()
                .all(uow.tx())
                .await?;
            for row in found {
                let account = to_domain(row)?;
                if let Some(external_id) = account.fields.external_id.clone() {
                    existing.insert(external_id, account);
                }
            }
        }

        let ids: Vec<&str> = existing.values().map(|a| a.id.as_str()).collect();
        let overridden = overrides::active_among(uow.tx(), &ids).await?;
        let mut owners: Vec<&str> = rows
            .iter()
            .filter_map(|(_, row)| row.as_ref().ok()?.owner_csm_id.as_deref())
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let unknown = csms::unknown_owners(uow.tx(), &owners).await?;
        let mut response = pb::BatchUpsertAccountsResponse::default();
        let mut seen = HashSet::new();
        let mut inserts = Vec::new();
        let mut tier_changes = Vec::new();
        for (index, (external_id, row)) in rows.into_iter().enumerate() {
            let mut result = pb::UpsertResult {
                index: index as i32,
                external_id: external_id.clone(),
                ..Default::default()
            };
            let current = existing.get(&external_id);
            let fields = match row {
                Ok(_) if !seen.insert(external_id.clone()) => Err(vec![Violation::new(
                    "external_id",
                    "appears more than once in this batch; only the first row is applied",
                )]),
                Ok(mut fields) => {
                    // The suite owns assignments: a CRM row without an owner
                    // leaves the stored one alone.
                    if let Some(c) = current
                        && fields.owner_csm_id.is_none()
                    {
                        fields.owner_csm_id.clone_from(&c.fields.owner_csm_id);
                    }
                    let new_owner = fields.owner_csm_id.as_ref().filter(|o| {
                        current.is_none_or(|c| c.fields.owner_csm_id.as_ref() != Some(*o))
                    });
                    let before = current.map(|c| (&c.fields, c.tier));
                    let held = current.is_some_and(|c| overridden.contains(&c.id));
                    match retier(policy.as_ref(), &fields, before, held) {
                        _ if new_owner.is_some_and(|o| unknown.contains(o)) => {
                            Err(vec![Violation::new("owner_csm_id", NO_SUCH_CSM)])
                        }
                        Ok(decided) => Ok((fields, decided)),
                        Err(refused) => Err(vec![currency_violation(refused)]),
                    }
                }
                Err(violations) => Err(violations),
            };
            match fields {
                Err(violations) => {
                    result.outcome = pb::UpsertOutcome::Rejected as i32;
                    result.violations = violations
                        .into_iter()
                        .map(|v| common::FieldViolation {
                            field: v.field,
                            description: v.description,
                        })
                        .collect();
                    response.rejected_count += 1;
                }
                Ok((fields, decided)) => match current {
                    None => {
                        let mut account = new_account(fields);
                        tier_changes.extend(assign(
                            &mut account,
                            decided,
                            policy.as_ref(),
                            principal,
                        ));
                        result.outcome = pb::UpsertOutcome::Created as i32;
                        result.account = Some(emit_created(&mut uow, &account));
                        response.created_count += 1;
                        inserts.push(account);
                    }
                    Some(current) => {
                        let changed = fields.changed_fields(&current.fields);
                        if changed.is_empty() && decided.is_none() {
                            result.outcome = pb::UpsertOutcome::Unchanged as i32;
                            result.account = Some(account_to_proto(current));
                            response.unchanged_count += 1;
                        } else {
                            let (updated, change) =
                                replace(&uow, current, fields, decided, policy.as_ref(), principal)
                                    .await?;
                            result.outcome = pb::UpsertOutcome::Updated as i32;
                            result.account =
                                Some(emit_updated(&mut uow, &updated, &changed, change.is_some()));
                            response.updated_count += 1;
                            tier_changes.extend(change);
                        }
                    }
                },
            }
            response.results.push(result);
        }
        insert(&uow, &inserts).await?;
        tiers::record(&mut uow, tier_changes).await?;
        uow.commit(&response).await?;
        Ok(response)
    }
}

impl Accounts {
    /// Makes CSM `csm_id` the owner of the accounts `ids`, all or nothing.
    pub async fn assign(
        &self,
        key: Option<IdempotencyKey>,
        principal: &Principal,
        csm_id: &str,
        ids: &[String],
    ) -> Result<pb::AssignAccountsResponse> {
        let mut uow = match self.store.begin(key).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if !csms::exists(uow.tx(), csm_id).await? {
            return Err(Error::CsmNotFound(csm_id.to_owned()));
        }
        // Locked in one global order, so two assignments never deadlock.
        let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let backend = uow.tx().get_database_backend();
        let mut accounts: HashMap<String, Account> = entity::Entity::find()
            .filter(any_of(backend, entity::Column::Id, &sorted))
            .order_by_asc(entity::Column::Id)
            .lock_exclusive()
            .all(uow.tx())
            .await?
            .into_iter()
            .map(|row| to_domain(row).map(|a| (a.id.clone(), a)))
            .collect::<Result<_>>()?;
        if let Some(missing) = sorted.iter().find(|id| !accounts.contains_key(**id)) {
            return Err(Error::AccountNotFound((*missing).to_owned()));
        }
        let mut changed_count = 0;
        for id in sorted {
            let Some(current) = accounts.get(id) else {
                continue;
            };
            if current.fields.owner_csm_id.as_deref() == Some(csm_id) {
                continue;
            }
            let fields = AccountFields {
                owner_csm_id: Some(csm_id.to_owned()),
                ..current.fields.clone()
            };
            let (updated, _) = replace(&uow, current, fields, None, None, principal).await?;
            emit_updated(&mut uow, &updated, &["owner_csm_id"], false);
            accounts.insert(updated.id.clone(), updated);
            changed_count += 1;
        }
        let response = pb::AssignAccountsResponse {
            accounts: ids
                .iter()
                .filter_map(|id| accounts.get(id))
                .map(account_to_proto)
                .collect(),
            changed_count,
        };
        uow.commit(&response).await?;
        Ok(response)
    }
}

/// `text` with LIKE's wildcards escaped (escape character `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Why an owner is refused once CSMs are managed.
const NO_SUCH_CSM: &str = "names no CSM; create the CSM first, or leave the account unassigned";

/// INVALID_ARGUMENT when `owner` names no CSM (once CSMs are managed).
async fn ensure_csm(db: &impl ConnectionTrait, owner: Option<&str>) -> Result<()> {
    let Some(owner) = owner else {
        return Ok(());
    };
    if csms::unknown_owners(db, &[owner]).await?.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(vec![Violation::new(
            "account.owner_csm_id",
            NO_SUCH_CSM,
        )]))
    }
}

/// The account with `id`, locked until commit (PostgreSQL; SQLite writers
/// are serialised already), so concurrent writers queue instead of
/// conflicting.
pub(crate) async fn locked(db: &impl ConnectionTrait, id: &str) -> Result<Option<Account>> {
    entity::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Sets the tier of a locked `account` outside an account write (an
/// override, or its expiry); returns the account as stored.
pub(crate) async fn set_tier(
    db: &impl ConnectionTrait,
    account: &Account,
    tier: Tier,
) -> Result<Account> {
    let updated = Account {
        tier,
        update_time: now(),
        revision: account.revision + 1,
        ..account.clone()
    };
    entity::Entity::update_many()
        .col_expr(entity::Column::Tier, tier.as_str_name().into())
        .col_expr(entity::Column::Revision, updated.revision.into())
        .col_expr(
            entity::Column::UpdateTimeUs,
            updated.update_time.timestamp_micros().into(),
        )
        .filter(entity::Column::Id.eq(account.id.as_str()))
        .exec(db)
        .await?;
    Ok(updated)
}

/// Sets the tier an account write decided on `account`; returns the change
/// for the history, with the account's partner.
fn assign(
    account: &mut Account,
    decided: Option<Retier>,
    policy: Option<&InForce>,
    principal: &Principal,
) -> Option<(pb::TierChange, Option<String>)> {
    let (decided, policy) = (decided?, policy?);
    let change = pb::TierChange {
        account_id: account.id.clone(),
        old_tier: account.tier as i32,
        new_tier: decided.tier as i32,
        policy_version: policy.version,
        rule: TierRule::MoneyThreshold as i32,
        change_time: Some(timestamp(account.update_time)),
        actor: principal.subject.clone(),
        reason: decided.why.to_owned(),
    };
    account.tier = decided.tier;
    Some((change, account.fields.partner_id.clone()))
}

/// A batch row whose currency the policy in force cannot compare.
fn currency_violation(refused: PlanError) -> Violation {
    let PlanError::MixedCurrencies(currencies) = refused else {
        return Violation::new("acv", "cannot be tiered");
    };
    Violation::new(
        "acv.currency_code",
        format!(
            "the tier policy in force ranks one currency; this row would mix {}",
            currencies.join(" and ")
        ),
    )
}

/// Records the creation of `account`; returns its contract form.
fn emit_created(uow: &mut UnitOfWork, account: &Account) -> pb::Account {
    let proto = account_to_proto(account);
    uow.emit(
        &account.id,
        &pb::AccountCreated {
            account: Some(proto.clone()),
        },
    );
    proto
}

/// Records a change of `account` (of its `changed` fields and, when
/// `retiered`, its tier); returns its contract form.
fn emit_updated(
    uow: &mut UnitOfWork,
    account: &Account,
    changed: &[&str],
    retiered: bool,
) -> pb::Account {
    let proto = account_to_proto(account);
    let tier = retiered.then_some("tier");
    uow.emit(
        &account.id,
        &pb::AccountUpdated {
            account: Some(proto.clone()),
            changed_fields: changed.iter().chain(&tier).map(|f| f.to_string()).collect(),
        },
    );
    proto
}

/// The id of the account holding `external_id`, if any.
async fn external_id_owner(db: &impl ConnectionTrait, external_id: &str) -> Result<Option<String>> {
    Ok(entity::Entity::find()
        .select_only()
        .column(entity::Column::Id)
        .filter(entity::Column::ExternalId.eq(external_id))
        .into_tuple::<String>()
        .one(db)
        .await?)
}

fn new_account(fields: AccountFields) -> Account {
    let now = now();
    Account {
        id: uuid::Uuid::now_v7().to_string(),
        fields,
        tier: Tier::Unspecified,
        create_time: now,
        update_time: now,
        revision: 1,
    }
}

async fn insert(uow: &UnitOfWork, accounts: &[Account]) -> Result<()> {
    uow.append(&ACCOUNTS, accounts).await.map_err(conflict)?;
    let rows: Vec<LifecycleRow> = accounts.iter().map(LifecycleRow).collect();
    uow.append(&LIFECYCLE_CHANGES, rows).await?;
    let owned: Vec<OwnerRow> = accounts
        .iter()
        .filter(|a| a.fields.owner_csm_id.is_some())
        .map(OwnerRow)
        .collect();
    uow.append(&OWNER_CHANGES, owned).await?;
    Ok(())
}

/// The columns an owner change is written with.
const OWNER_CHANGES: CopyTable = CopyTable {
    name: "owner_changes",
    columns: &["id", "account_id", "owner_csm_id", "change_time_us"],
};

/// An account's owner from its last write on, as a row of [`OWNER_CHANGES`].
struct OwnerRow<'a>(&'a Account);

impl CopyRow for OwnerRow<'_> {
    fn write(&self, row: &mut RowWriter) {
        let mut id = uuid::Uuid::encode_buffer();
        row.text(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id));
        row.text(&self.0.id);
        row.opt(self.0.fields.owner_csm_id.as_deref(), RowWriter::text);
        row.int8(self.0.update_time.timestamp_micros());
    }
}

/// The columns a lifecycle change is written with.
const LIFECYCLE_CHANGES: CopyTable = CopyTable {
    name: "lifecycle_changes",
    columns: &["id", "account_id", "status", "change_time_us"],
};

/// An account's status from its last write on, as a row of
/// [`LIFECYCLE_CHANGES`].
struct LifecycleRow<'a>(&'a Account);

impl CopyRow for LifecycleRow<'_> {
    fn write(&self, row: &mut RowWriter) {
        let mut id = uuid::Uuid::encode_buffer();
        row.text(uuid::Uuid::now_v7().hyphenated().encode_lower(&mut id));
        row.text(&self.0.id);
        row.text(self.0.fields.lifecycle_status.as_str_name());
        row.int8(self.0.update_time.timestamp_micros());
    }
}

/// The columns a new account is written with.
pub const ACCOUNTS: CopyTable = CopyTable {
    name: "accounts",
    columns: &[
        "id",
        "external_id",
        "name",
        "industry",
        "employee_count",
        "currency_code",
        "acv_units",
        "acv_nanos",
        "potential_acv_units",
        "potential_acv_nanos",
        "cloud_literacy",
        "migration_source",
        "contract_start_date",
        "renewal_date",
        "owner_csm_id",
        "partner_id",
        "lifecycle_status",
        "tier",
        "create_time_us",
        "update_time_us",
        "revision",
        "basis_units",
        "basis_nanos",
        "domain",
    ],
};

/// A new account is a row of [`ACCOUNTS`].
impl CopyRow for Account {
    fn write(&self, row: &mut RowWriter) {
        let a = self;
        let f = &a.fields;
        row.text(&a.id);
        row.opt(f.external_id.as_deref(), RowWriter::text);
        row.text(&f.name);
        row.text(&f.industry);
        row.int4(f.employee_count as i32);
        row.text(&f.acv.currency_code);
        row.int8(f.acv.units);
        row.int4(f.acv.nanos);
        row.opt(f.potential_acv.as_ref().map(|m| m.units), RowWriter::int8);
        row.opt(f.potential_acv.as_ref().map(|m| m.nanos), RowWriter::int4);
        row.text(f.cloud_literacy.as_str_name());
        row.text(f.migration_source.as_str_name());
        row.opt(f.contract_start_date, RowWriter::date);
        row.opt(f.renewal_date, RowWriter::date);
        row.opt(f.owner_csm_id.as_deref(), RowWriter::text);
        row.opt(f.partner_id.as_deref(), RowWriter::text);
        row.text(f.lifecycle_status.as_str_name());
        row.text(a.tier.as_str_name());
        row.int8(a.create_time.timestamp_micros());
        row.int8(a.update_time.timestamp_micros());
        row.int8(a.revision);
        let (units, nanos) = basis(f).parts();
        row.int8(units);
        row.int4(nanos);
        row.opt(f.domain.as_deref(), RowWriter::text);
    }
}

/// Writes new fields (and the tier the write decided) over `current` if it
/// has not changed meanwhile; returns the account and its tier change.
async fn replace(
    uow: &UnitOfWork,
    current: &Account,
    fields: AccountFields,
    decided: Option<Retier>,
    policy: Option<&InForce>,
    principal: &Principal,
) -> Result<(Account, Option<(pb::TierChange, Option<String>)>)> {
    let mut updated = Account {
        fields,
        update_time: now(),
        revision: current.revision + 1,
        ..current.clone()
    };
    let change = assign(&mut updated, decided, policy, principal);
    if updated.fields.lifecycle_status != current.fields.lifecycle_status {
        uow.append(&LIFECYCLE_CHANGES, [LifecycleRow(&updated)])
            .await?;
    }
    if updated.fields.owner_csm_id != current.fields.owner_csm_id {
        uow.append(&OWNER_CHANGES, [OwnerRow(&updated)]).await?;
    }
    let mut active = to_active(&updated);
    active.id = sea_orm::ActiveValue::Unchanged(updated.id.clone());
    active.create_time_us = sea_orm::ActiveValue::NotSet;
    let result = entity::Entity::update_many()
        .set(active)
        .filter(entity::Column::Id.eq(updated.id.as_str()))
        .filter(entity::Column::Revision.eq(current.revision))
        .exec(uow.tx())
        .await
        .map_err(conflict)?;
    if result.rows_affected != 1 {
        // The row is locked, so this is a race the caller did not ask to
        // detect (its etag, if any, matched): a retry will succeed.
        return Err(Error::Api(ApiError::Aborted(
            "the account changed concurrently; retry".into(),
        )));
    }
    Ok((updated, change))
}

/// A unique violation while writing is a concurrent writer taking the same
/// external_id: the caller may retry.
fn conflict(err: DbErr) -> Error {
    if is_unique_violation(&err) {
        Error::Api(ApiError::Aborted(
            "a concurrent request took the same external_id; retry".into(),
        ))
    } else {
        err.into()
    }
}

fn tier_name(tier: i32) -> &'static str {
    Tier::try_from(tier).unwrap_or_default().as_str_name()
}

fn to_active(a: &Account) -> entity::ActiveModel {
    let f = &a.fields;
    entity::ActiveModel {
        id: Set(a.id.clone()),
        external_id: Set(f.external_id.clone()),
        name: Set(f.name.clone()),
        industry: Set(f.industry.clone()),
        employee_count: Set(f.employee_count as i32),
        currency_code: Set(f.acv.currency_code.clone()),
        acv_units: Set(f.acv.units),
        acv_nanos: Set(f.acv.nanos),
        potential_acv_units: Set(f.potential_acv.as_ref().map(|m| m.units)),
        potential_acv_nanos: Set(f.potential_acv.as_ref().map(|m| m.nanos)),
        cloud_literacy: Set(f.cloud_literacy.as_str_name().to_owned()),
        migration_source: Set(f.migration_source.as_str_name().to_owned()),
        contract_start_date: Set(f.contract_start_date),
        renewal_date: Set(f.renewal_date),
        owner_csm_id: Set(f.owner_csm_id.clone()),
        partner_id: Set(f.partner_id.clone()),
        lifecycle_status: Set(f.lifecycle_status.as_str_name().to_owned()),
        tier: Set(a.tier.as_str_name().to_owned()),
        create_time_us: Set(a.create_time.timestamp_micros()),
        update_time_us: Set(a.update_time.timestamp_micros()),
        revision: Set(a.revision),
        basis_units: Set(basis(f).parts().0),
        basis_nanos: Set(basis(f).parts().1),
        domain: Set(f.domain.clone()),
    }
}

fn corrupt(column: &str, value: &str) -> Error {
    Error::Api(ApiError::internal(anyhow::anyhow!(
        "accounts.{column} holds unknown value {value:?}"
    )))
}

fn to_domain(m: entity::Model) -> Result<Account> {
    let money = |units, nanos| Money {
        currency_code: m.currency_code.clone(),
        units,
        nanos,
    };
    let fields = AccountFields {
        external_id: m.external_id.clone(),
        name: m.name.clone(),
        industry: m.industry.clone(),
        employee_count: m.employee_count.max(0) as u32,
        acv: money(m.acv_units, m.acv_nanos),
        potential_acv: m
            .potential_acv_units
            .map(|u| money(u, m.potential_acv_nanos.unwrap_or(0))),
        cloud_literacy: CloudLiteracy::from_str_name(&m.cloud_literacy)
            .ok_or_else(|| corrupt("cloud_literacy", &m.cloud_literacy))?,
        migration_source: MigrationSource::from_str_name(&m.migration_source)
            .ok_or_else(|| corrupt("migration_source", &m.migration_source))?,
        contract_start_date: m.contract_start_date,
        renewal_date: m.renewal_date,
        owner_csm_id: m.owner_csm_id.clone(),
        partner_id: m.partner_id.clone(),
        lifecycle_status: LifecycleStatus::from_str_name(&m.lifecycle_status)
            .ok_or_else(|| corrupt("lifecycle_status", &m.lifecycle_status))?,
        domain: m.domain.clone(),
    };
    Ok(Account {
        tier: Tier::from_str_name(&m.tier).ok_or_else(|| corrupt("tier", &m.tier))?,
        create_time: DateTime::from_timestamp_micros(m.create_time_us).unwrap_or_default(),
        update_time: DateTime::from_timestamp_micros(m.update_time_us).unwrap_or_default(),
        revision: m.revision,
        id: m.id,
        fields,
    })
}

/// Changes account `id` in `uow` as `principal`: `change` turns the current
/// account into its new fields (or refuses); `etag`, when given, must be
/// current. The account is re-tiered by the policy in force when what it is
/// tiered on changed, and `AccountUpdated` is emitted when anything did.
/// Returns the account after the change.
pub(crate) async fn change_account(
    uow: &mut UnitOfWork,
    principal: &Principal,
    id: &str,
    etag: Option<&str>,
    change: impl FnOnce(&Account) -> Result<AccountFields>,
) -> Result<pb::Account> {
    let current = locked(uow.tx(), id)
        .await?
        .ok_or_else(|| Error::AccountNotFound(id.to_owned()))?;
    access::ensure_visible(principal, &current)?;
    let fields = change(&current)?;
    if let Some(etag) = etag
        && etag != current.etag()
    {
        return Err(Error::EtagMismatch {
            resource: "account",
            id: id.to_owned(),
            current: current.etag(),
        });
    }
    let policy = tiers::in_force(uow.tx()).await?;
    let overridden = overrides::active_among(uow.tx(), &[id]).await?;
    let before = Some((&current.fields, current.tier));
    let decided =
        retier(policy.as_ref(), &fields, before, !overridden.is_empty()).map_err(tiers::refusal)?;
    let changed = fields.changed_fields(&current.fields);
    if changed.is_empty() && decided.is_none() {
        return Ok(account_to_proto(&current));
    }
    if let Some(external_id) = &fields.external_id
        && changed.contains(&"external_id")
        && external_id_owner(uow.tx(), external_id).await?.is_some()
    {
        return Err(Error::ExternalIdTaken(external_id.clone()));
    }
    if changed.contains(&"owner_csm_id") {
        ensure_csm(uow.tx(), fields.owner_csm_id.as_deref()).await?;
    }
    let (updated, change) =
        replace(uow, &current, fields, decided, policy.as_ref(), principal).await?;
    let account = emit_updated(uow, &updated, &changed, change.is_some());
    tiers::record(uow, change).await?;
    Ok(account)
}
