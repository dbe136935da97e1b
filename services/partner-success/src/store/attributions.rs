//! Attributions in the service's database. What a partner user sees of
//! them is decided by the account's own partner in the account projection.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use serde::Serialize;
use themodel_platform::{
    accounts,
    store::{Begun, IdempotencyKey, Store, any_of, page},
};
use themodel_proto::partner_success as pb;

use super::{corrupt, entity::attribution, new_id, now, partner_of, time};
use crate::{
    convert::{attribution::attribution_to_proto, parse_date},
    domain::{
        attribution::{Attribution, AttributionKind, NewAttribution, sourced_mismatch},
        partner::etag,
    },
    error::{Error, Result},
};

/// Filters of an attribution listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttributionFilter {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only this partner's.
    pub partner_id: Option<String>,
    /// Only this kind.
    pub kind: Option<i32>,
    /// A partner user's partner: only its own attributions of its own
    /// accounts.
    pub scope: Option<String>,
}

/// Sourced and influenced accounts of a partner on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Distinct accounts sourced.
    pub sourced: u64,
    /// Distinct accounts influenced.
    pub influenced: u64,
}

/// Attributions in the service's database.
#[derive(Debug, Clone)]
pub struct Attributions {
    store: Store,
}

impl Attributions {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records `new` for `account` (as the account directory knows it).
    pub async fn record(
        &self,
        idempotency: Option<IdempotencyKey>,
        new: NewAttribution,
        account: &accounts::Account,
    ) -> Result<pb::RecordAttributionResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if partner_of(uow.tx(), &new.partner_id).await?.is_none() {
            return Err(Error::PartnerNotFound(new.partner_id));
        }
        if let Some(message) =
            sourced_mismatch(new.kind, &new.partner_id, account.partner_id.as_deref())
        {
            return Err(Error::SourcedPartnerMismatch(message));
        }
        let same = attribution::Entity::find()
            .filter(attribution::Column::AccountId.eq(new.account_id.as_str()))
            .filter(attribution::Column::PartnerId.eq(new.partner_id.as_str()))
            .filter(attribution::Column::Kind.eq(new.kind.as_str_name()))
            .order_by_asc(attribution::Column::Id)
            .all(uow.tx())
            .await?;
        for existing in same.into_iter().map(to_domain) {
            let existing = existing?;
            if existing.overlaps(new.start, new.end) {
                return Err(Error::AttributionOverlap(existing.id));
            }
        }
        let now = now();
        let recorded = Attribution {
            id: new_id(),
            account_id: new.account_id,
            partner_id: new.partner_id,
            kind: new.kind,
            start: new.start,
            end: new.end,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        attribution::Entity::insert(row(&recorded))
            .exec_without_returning(uow.tx())
            .await?;
        let proto = attribution_to_proto(&recorded);
        uow.emit(
            &recorded.account_id,
            &pb::AttributionRecorded {
                attribution: Some(proto.clone()),
            },
        );
        let response = pb::RecordAttributionResponse {
            attribution: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Ends attribution `id` on `end` (exclusive).
    pub async fn end(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        end: NaiveDate,
        etag_sent: Option<&str>,
    ) -> Result<pb::EndAttributionResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = attribution::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .map(to_domain)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: "attribution",
                id: id.to_owned(),
            })?;
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "attribution",
                id: id.to_owned(),
                current: current_etag,
            });
        }
        if let Some(ended) = current.end {
            return Err(Error::AlreadyEnded(format!(
                "attribution {id} already ended on {ended}"
            )));
        }
        if end <= current.start {
            return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                "end_date",
                format!("{end} is not after the start_date {}", current.start),
            )]));
        }
        let ended = Attribution {
            end: Some(end),
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = row(&ended);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        attribution::Entity::update(active).exec(uow.tx()).await?;
        let proto = attribution_to_proto(&ended);
        uow.emit(
            &ended.account_id,
            &pb::AttributionEnded {
                attribution: Some(proto.clone()),
            },
        );
        let response = pb::EndAttributionResponse {
            attribution: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` attributions matching `filter` after id `after`, in id
    /// order, and whether more follow.
    pub async fn list(
        &self,
        filter: &AttributionFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Attribution>, bool)> {
        use attribution::Column as C;
        let mut query = attribution::Entity::find();
        if let Some(account_id) = &filter.account_id {
            query = query.filter(C::AccountId.eq(account_id.as_str()));
        }
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::PartnerId.eq(partner_id.as_str()));
        }
        if let Some(kind) = filter.kind.and_then(|k| AttributionKind::try_from(k).ok()) {
            query = query.filter(C::Kind.eq(kind.as_str_name()));
        }
        if let Some(scope) = &filter.scope {
            query = query.filter(scoped(scope));
        }
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let list = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((list, more))
    }

    /// Distinct accounts `partner_id` sourced and influenced on `day`; with a
    /// `scope`, only accounts of that partner count.
    pub async fn summary(
        &self,
        partner_id: &str,
        day: NaiveDate,
        scope: Option<&str>,
    ) -> Result<Summary> {
        let db = &self.store.db;
        Ok(Summary {
            sourced: count(db, partner_id, AttributionKind::Sourced, day, scope).await?,
            influenced: count(db, partner_id, AttributionKind::Influenced, day, scope).await?,
        })
    }
}

/// Only `scope`'s own attributions of accounts whose partner is `scope`.
fn scoped(scope: &str) -> Condition {
    use accounts::entity::{Column, Entity};
    let own_accounts = sea_orm::sea_query::Query::select()
        .column(Column::AccountId)
        .from(Entity)
        .and_where(Column::PartnerId.eq(scope))
        .to_owned();
    Condition::all()
        .add(attribution::Column::PartnerId.eq(scope))
        .add(attribution::Column::AccountId.in_subquery(own_accounts))
}

/// Per partner (of `only`, when given), the distinct accounts with an
/// attribution of `kind` holding on `day`; with a `scope`, only that
/// partner's attributions of its own accounts count.
pub(super) async fn attributed_accounts(
    db: &impl ConnectionTrait,
    only: Option<&[&str]>,
    kind: AttributionKind,
    day: NaiveDate,
    scope: Option<&str>,
) -> Result<BTreeMap<String, i64>> {
    use attribution::Column as C;
    let day = day.to_string();
    let mut query = attribution::Entity::find()
        .select_only()
        .column(C::PartnerId)
        .expr(Expr::cust("COUNT(DISTINCT account_id)"))
        .filter(C::Kind.eq(kind.as_str_name()))
        .filter(C::StartDate.lte(day.as_str()))
        .filter(
            Condition::any()
                .add(C::EndDate.is_null())
                .add(C::EndDate.gt(day.as_str())),
        )
        .group_by(C::PartnerId);
    if let Some(ids) = only {
        query = query.filter(any_of(db.get_database_backend(), C::PartnerId, ids));
    }
    if let Some(scope) = scope {
        query = query.filter(scoped(scope));
    }
    Ok(query
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Distinct accounts with an attribution of `kind` by `partner_id` holding
/// on `day`.
async fn count(
    db: &impl ConnectionTrait,
    partner_id: &str,
    kind: AttributionKind,
    day: NaiveDate,
    scope: Option<&str>,
) -> Result<u64> {
    use attribution::Column as C;
    let day = day.to_string();
    let mut query = attribution::Entity::find()
        .select_only()
        .expr(Expr::cust("COUNT(DISTINCT account_id)"))
        .filter(C::PartnerId.eq(partner_id))
        .filter(C::Kind.eq(kind.as_str_name()))
        .filter(C::StartDate.lte(day.as_str()))
        .filter(
            Condition::any()
                .add(C::EndDate.is_null())
                .add(C::EndDate.gt(day.as_str())),
        );
    if let Some(scope) = scope {
        query = query.filter(scoped(scope));
    }
    let n: Option<i64> = query.into_tuple().one(db).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

fn row(a: &Attribution) -> attribution::ActiveModel {
    attribution::ActiveModel {
        id: Set(a.id.clone()),
        account_id: Set(a.account_id.clone()),
        partner_id: Set(a.partner_id.clone()),
        kind: Set(a.kind.as_str_name().to_owned()),
        start_date: Set(a.start.to_string()),
        end_date: Set(a.end.map(|d| d.to_string())),
        revision: Set(a.revision),
        create_time_us: Set(a.create_time.timestamp_micros()),
        update_time_us: Set(a.update_time.timestamp_micros()),
    }
}

fn to_domain(row: attribution::Model) -> Result<Attribution> {
    let date = |column: &str, text: &str| {
        parse_date(text).ok_or_else(|| corrupt("attributions", column, text))
    };
    Ok(Attribution {
        kind: AttributionKind::from_str_name(&row.kind)
            .ok_or_else(|| corrupt("attributions", "kind", &row.kind))?,
        start: date("start_date", &row.start_date)?,
        end: match &row.end_date {
            Some(text) => Some(date("end_date", text)?),
            None => None,
        },
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        id: row.id,
        account_id: row.account_id,
        partner_id: row.partner_id,
    })
}
