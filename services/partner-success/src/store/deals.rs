//! Registered deals in the service's database: their transitions, conflict
//! detection on submit, and the job that expires approved deals whose
//! protection ran out.

use std::time::Duration;

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};
use serde::Serialize;
use themodel_platform::{
    ApiError, accounts,
    jobs::{JobRunner, Schedule},
    store::{Begun, IdempotencyKey, PointReads, Store, UnitOfWork, page},
    validate::Money,
};
use themodel_proto::partner_success as pb;

use super::{corrupt, entity::deal, new_id, now, partner_of, time, today};
use crate::{
    convert::{
        deal::{View, deal_to_proto},
        parse_date,
    },
    domain::{
        company::{normalise_company_name, search_token},
        deal::{
            Action, Conflict, ConflictWith, Deal, DealFields, DealOutcome, DealStatus, blocks,
            etag, expires_on, is_expired, transition,
        },
        partner::PartnerStatus,
    },
    error::{Error, Result},
};

/// The job that expires approved deals past their window.
pub const EXPIRE_JOB: &str = "expire-deals";
/// Deals one expiry transaction handles.
const EXPIRE_BATCH: u64 = 200;
/// Most existing accounts whose names are compared with a deal's.
const NAME_CANDIDATES: u64 = 500;

/// Filters of a deal listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DealFilter {
    /// Only this partner's.
    pub partner_id: Option<String>,
    /// Only this status.
    pub status: Option<i32>,
}

/// What an approval decides.
#[derive(Debug, Clone)]
pub struct Approval {
    /// Days of protection.
    pub protection_days: u32,
    /// The reason to approve despite a conflict, when the approver overrides.
    pub override_reason: Option<String>,
}

/// Deals in the service's database.
#[derive(Debug, Clone)]
pub struct Deals {
    store: Store,
    reads: PointReads<deal::Entity>,
}

impl Deals {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        let reads = PointReads::new(store.db.clone());
        Self { store, reads }
    }

    /// Creates a deal in DRAFT for its partner, which must exist and may
    /// register deals.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        fields: DealFields,
        view: View,
    ) -> Result<pb::Deal> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        may_register(uow.tx(), &fields.partner_id).await?;
        let now = now();
        let created = Deal {
            id: new_id(),
            name_key: normalise_company_name(&fields.company_name),
            fields,
            status: DealStatus::Draft,
            protection_days: 0,
            approved_on: None,
            expires_on: None,
            rejection_reason: String::new(),
            conflict: None,
            override_reason: String::new(),
            submit_time: None,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        deal::Entity::insert(row(&created))
            .exec_without_returning(uow.tx())
            .await?;
        let proto = deal_to_proto(&created, view);
        uow.commit(&proto).await?;
        Ok(proto)
    }

    /// Deal `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Deal>> {
        self.reads.get(id).await?.map(to_domain).transpose()
    }

    /// Up to `limit` deals matching `filter` after id `after`, in id order,
    /// and whether more follow.
    pub async fn list(
        &self,
        filter: &DealFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Deal>, bool)> {
        use deal::Column as C;
        let mut query = deal::Entity::find();
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::PartnerId.eq(partner_id.as_str()));
        }
        if let Some(status) = filter.status.and_then(|s| DealStatus::try_from(s).ok()) {
            query = query.filter(C::Status.eq(status.as_str_name()));
        }
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let deals = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((deals, more))
    }

    /// Submits draft `id` and records the conflict it has, if any, with
    /// `DealRegistered` (and `DealConflictDetected`).
    pub async fn submit(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        scope: Option<&str>,
        etag_sent: Option<&str>,
        view: View,
    ) -> Result<pb::Deal> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked(uow.tx(), id, scope, etag_sent).await?;
        let status = moved(&current, Action::Submit)?;
        may_register(uow.tx(), &current.fields.partner_id).await?;
        let conflict = find_conflict(uow.tx(), &current, today()).await?;
        let now = now();
        let submitted = Deal {
            status,
            conflict,
            submit_time: Some(now),
            update_time: now,
            revision: current.revision + 1,
            ..current
        };
        save(uow.tx(), &submitted).await?;
        let full = deal_to_proto(&submitted, View::Full);
        uow.emit(
            id,
            &pb::DealRegistered {
                deal: Some(full.clone()),
            },
        );
        if submitted.conflict.is_some() {
            uow.emit(id, &pb::DealConflictDetected { deal: Some(full) });
        }
        let proto = deal_to_proto(&submitted, view);
        uow.commit(&proto).await?;
        Ok(proto)
    }

    /// Approves submitted deal `id` from `today`: refused for a conflict
    /// without an override.
    pub async fn approve(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        etag_sent: Option<&str>,
        approval: Approval,
        today: NaiveDate,
    ) -> Result<pb::Deal> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked(uow.tx(), id, None, etag_sent).await?;
        let status = moved(&current, Action::Approve)?;
        let override_reason = match (&current.conflict, approval.override_reason) {
            (Some(_), None) => return Err(Error::DealConflict(id.to_owned())),
            (Some(_), Some(reason)) => reason,
            (None, _) => String::new(),
        };
        let approved = Deal {
            status,
            protection_days: approval.protection_days,
            approved_on: Some(today),
            expires_on: Some(expires_on(today, approval.protection_days)),
            override_reason,
            ..current.clone()
        };
        self.finish(uow, &current, approved).await
    }

    /// Rejects submitted deal `id` for `reason`.
    pub async fn reject(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        etag_sent: Option<&str>,
        reason: String,
    ) -> Result<pb::Deal> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked(uow.tx(), id, None, etag_sent).await?;
        let status = moved(&current, Action::Reject)?;
        let rejected = Deal {
            status,
            rejection_reason: reason,
            ..current.clone()
        };
        self.finish(uow, &current, rejected).await
    }

    /// Closes approved deal `id` won or lost.
    pub async fn close(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        etag_sent: Option<&str>,
        outcome: DealOutcome,
    ) -> Result<pb::Deal> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = locked(uow.tx(), id, None, etag_sent).await?;
        let status = moved(&current, Action::Close(outcome))?;
        let closed = Deal {
            status,
            ..current.clone()
        };
        self.finish(uow, &current, closed).await
    }

    /// Saves a staff decision on a deal with its events and commits.
    async fn finish(&self, mut uow: UnitOfWork, before: &Deal, after: Deal) -> Result<pb::Deal> {
        let after = Deal {
            update_time: now(),
            revision: before.revision + 1,
            ..after
        };
        save(uow.tx(), &after).await?;
        let proto = announce(&mut uow, before.status, &after);
        uow.commit(&proto).await?;
        Ok(proto)
    }

    /// Expires, every hour, the approved deals whose window ran out.
    pub fn schedule(&self, jobs: &JobRunner) {
        let this = self.clone();
        jobs.every(
            EXPIRE_JOB,
            Schedule::every(Duration::from_secs(3600)),
            move || {
                let this = this.clone();
                async move {
                    let expired = this.expire_due(today()).await?;
                    Ok(format!("{expired} deals expired"))
                }
            },
        );
    }

    /// Moves every approved deal whose window ended by `day` to EXPIRED;
    /// how many.
    pub async fn expire_due(&self, day: NaiveDate) -> Result<u64, ApiError> {
        let mut expired = 0;
        loop {
            let mut uow = match self.store.begin::<pb::Deal>(None).await? {
                Begun::Fresh(uow) => uow,
                Begun::Replay(_) => return Ok(expired),
            };
            let rows = deal::Entity::find()
                .filter(deal::Column::Status.eq(DealStatus::Approved.as_str_name()))
                .filter(deal::Column::ExpiresOn.lte(day.to_string()))
                .order_by_asc(deal::Column::Id)
                .limit(EXPIRE_BATCH)
                .lock_exclusive()
                .all(uow.tx())
                .await?;
            let count = rows.len() as u64;
            for row in rows {
                let current = to_domain(row).map_err(ApiError::from)?;
                if !is_expired(current.expires_on, day) {
                    continue;
                }
                let status = moved(&current, Action::Expire).map_err(ApiError::from)?;
                let after = Deal {
                    status,
                    update_time: now(),
                    revision: current.revision + 1,
                    ..current.clone()
                };
                save(uow.tx(), &after).await.map_err(ApiError::from)?;
                announce(&mut uow, current.status, &after);
            }
            uow.commit(&pb::Deal::default()).await?;
            expired += count;
            if count < EXPIRE_BATCH {
                return Ok(expired);
            }
        }
    }
}

/// Emits the status change (and `DealWon`); the staff view of the deal.
fn announce(uow: &mut UnitOfWork, previous: DealStatus, after: &Deal) -> pb::Deal {
    let proto = deal_to_proto(after, View::Full);
    uow.emit(
        &after.id,
        &pb::DealStatusChanged {
            deal: Some(proto.clone()),
            previous_status: previous as i32,
        },
    );
    if after.status == DealStatus::Won {
        uow.emit(
            &after.id,
            &pb::DealWon {
                deal: Some(proto.clone()),
            },
        );
    }
    proto
}

/// The status `action` takes `deal` to; INVALID_TRANSITION otherwise.
fn moved(deal: &Deal, action: Action) -> Result<DealStatus> {
    transition(deal.status, action).map_err(|transition| Error::InvalidTransition {
        id: deal.id.clone(),
        transition,
    })
}

/// Deal `id` locked for a change, visible to a caller confined to `scope`
/// and at the etag sent.
async fn locked(
    db: &impl ConnectionTrait,
    id: &str,
    scope: Option<&str>,
    etag_sent: Option<&str>,
) -> Result<Deal> {
    let current = deal::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(db)
        .await?
        .map(to_domain)
        .transpose()?
        .filter(|d| scope.is_none_or(|own| own == d.fields.partner_id))
        .ok_or_else(|| Error::NotFound {
            resource: "deal",
            id: id.to_owned(),
        })?;
    let current_etag = etag(current.revision);
    if let Some(sent) = etag_sent
        && sent != current_etag
    {
        return Err(Error::EtagMismatch {
            resource: "deal",
            id: id.to_owned(),
            current: current_etag,
        });
    }
    Ok(current)
}

/// NOT_FOUND for an unknown partner, PARTNER_INACTIVE for one suspended or
/// terminated.
async fn may_register(db: &impl ConnectionTrait, partner_id: &str) -> Result<()> {
    let partner = partner_of(db, partner_id)
        .await?
        .ok_or_else(|| Error::PartnerNotFound(partner_id.to_owned()))?;
    match partner.fields.status {
        status @ (PartnerStatus::Suspended | PartnerStatus::Terminated) => {
            Err(Error::PartnerInactive {
                partner_id: partner_id.to_owned(),
                status: status.as_str_name(),
            })
        }
        _ => Ok(()),
    }
}

/// What `deal` collides with on `today`: an existing customer with its
/// domain or name first, else another partner's live registration.
async fn find_conflict(
    db: &impl ConnectionTrait,
    deal: &Deal,
    today: NaiveDate,
) -> Result<Option<Conflict>> {
    use accounts::entity::{Column as A, Entity as Accounts};
    let by_domain = Accounts::find()
        .filter(A::Domain.eq(deal.fields.domain.as_str()))
        .order_by_asc(A::AccountId)
        .one(db)
        .await?;
    if let Some(account) = by_domain {
        return Ok(Some(Conflict {
            with: ConflictWith::Customer {
                account_id: account.account_id,
            },
            matched_on: "domain",
        }));
    }
    if let Some(token) = search_token(&deal.fields.company_name) {
        let candidates = Accounts::find()
            .filter(Expr::expr(Func::lower(Expr::col(A::Name))).like(format!("%{token}%")))
            .order_by_asc(A::AccountId)
            .limit(NAME_CANDIDATES)
            .all(db)
            .await?;
        if let Some(account) = candidates
            .into_iter()
            .find(|a| normalise_company_name(&a.name) == deal.name_key)
        {
            return Ok(Some(Conflict {
                with: ConflictWith::Customer {
                    account_id: account.account_id,
                },
                matched_on: "company_name",
            }));
        }
    }
    use deal::Column as C;
    let others = deal::Entity::find()
        .filter(C::PartnerId.ne(deal.fields.partner_id.as_str()))
        .filter(C::Status.is_in([
            DealStatus::Submitted.as_str_name(),
            DealStatus::Approved.as_str_name(),
        ]))
        .filter(
            Condition::any()
                .add(C::Domain.eq(deal.fields.domain.as_str()))
                .add(C::NameKey.eq(deal.name_key.as_str())),
        )
        .order_by_asc(C::Id)
        .all(db)
        .await?;
    for other in others {
        let other = to_domain(other)?;
        if blocks(other.status, other.expires_on, today) {
            let matched_on = if other.fields.domain == deal.fields.domain {
                "domain"
            } else {
                "company_name"
            };
            return Ok(Some(Conflict {
                with: ConflictWith::Deal {
                    deal_id: other.id,
                    partner_id: other.fields.partner_id,
                },
                matched_on,
            }));
        }
    }
    Ok(None)
}

async fn save(db: &impl ConnectionTrait, deal: &Deal) -> Result<()> {
    let mut active = row(deal);
    active.create_time_us = sea_orm::ActiveValue::NotSet;
    deal::Entity::update(active).exec(db).await?;
    Ok(())
}

fn row(d: &Deal) -> deal::ActiveModel {
    let f = &d.fields;
    let (deal_id, partner_id, account_id) = match d.conflict.as_ref().map(|c| &c.with) {
        Some(ConflictWith::Deal {
            deal_id,
            partner_id,
        }) => (Some(deal_id.clone()), Some(partner_id.clone()), None),
        Some(ConflictWith::Customer { account_id }) => (None, None, Some(account_id.clone())),
        None => (None, None, None),
    };
    deal::ActiveModel {
        id: Set(d.id.clone()),
        partner_id: Set(f.partner_id.clone()),
        company_name: Set(f.company_name.clone()),
        name_key: Set(d.name_key.clone()),
        domain: Set(f.domain.clone()),
        contact_name: Set(f.contact_name.clone()),
        contact_email: Set(f.contact_email.clone()),
        currency_code: Set(f.expected_mrr.currency_code.clone()),
        mrr_units: Set(f.expected_mrr.units),
        mrr_nanos: Set(f.expected_mrr.nanos),
        product_key: Set(f.product_key.clone().unwrap_or_default()),
        notes: Set(f.notes.clone()),
        status: Set(d.status.as_str_name().to_owned()),
        protection_days: Set(d.protection_days as i32),
        approved_on: Set(d.approved_on.map(|x| x.to_string())),
        expires_on: Set(d.expires_on.map(|x| x.to_string())),
        rejection_reason: Set(d.rejection_reason.clone()),
        override_reason: Set(d.override_reason.clone()),
        conflict_matched_on: Set(d.conflict.as_ref().map_or("", |c| c.matched_on).to_owned()),
        conflict_deal_id: Set(deal_id),
        conflict_partner_id: Set(partner_id),
        conflict_account_id: Set(account_id),
        submit_time_us: Set(d.submit_time.map(|t| t.timestamp_micros())),
        revision: Set(d.revision),
        create_time_us: Set(d.create_time.timestamp_micros()),
        update_time_us: Set(d.update_time.timestamp_micros()),
    }
}

fn to_domain(row: deal::Model) -> Result<Deal> {
    let date = |column: &str, text: &Option<String>| -> Result<Option<NaiveDate>> {
        match text {
            Some(text) => parse_date(text)
                .map(Some)
                .ok_or_else(|| corrupt("deals", column, text)),
            None => Ok(None),
        }
    };
    let matched_on = match row.conflict_matched_on.as_str() {
        "domain" => "domain",
        _ => "company_name",
    };
    let conflict = match (
        row.conflict_deal_id,
        row.conflict_partner_id,
        row.conflict_account_id,
    ) {
        (Some(deal_id), Some(partner_id), _) => Some(ConflictWith::Deal {
            deal_id,
            partner_id,
        }),
        (_, _, Some(account_id)) => Some(ConflictWith::Customer { account_id }),
        _ => None,
    }
    .map(|with| Conflict { with, matched_on });
    Ok(Deal {
        status: DealStatus::from_str_name(&row.status)
            .ok_or_else(|| corrupt("deals", "status", &row.status))?,
        approved_on: date("approved_on", &row.approved_on)?,
        expires_on: date("expires_on", &row.expires_on)?,
        protection_days: u32::try_from(row.protection_days).unwrap_or(0),
        fields: DealFields {
            partner_id: row.partner_id,
            company_name: row.company_name,
            domain: row.domain,
            contact_name: row.contact_name,
            contact_email: row.contact_email,
            expected_mrr: Money {
                currency_code: row.currency_code,
                units: row.mrr_units,
                nanos: row.mrr_nanos,
            },
            product_key: (!row.product_key.is_empty()).then_some(row.product_key),
            notes: row.notes,
        },
        name_key: row.name_key,
        rejection_reason: row.rejection_reason,
        override_reason: row.override_reason,
        conflict,
        submit_time: row.submit_time_us.map(time),
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        id: row.id,
    })
}
