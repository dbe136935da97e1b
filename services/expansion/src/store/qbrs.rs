//! QBRs in the service's database, with the CSQLs that name them.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use themodel_platform::{
    ApiError, accounts,
    store::{Begun, IdempotencyKey, PointReads, Store, page},
    validate,
};
use themodel_proto::expansion as pb;

use super::{
    entity::{csql, qbr},
    now,
    subscriptions::partner_accounts,
};
use crate::{
    convert::timestamp,
    domain::subscription::etag,
    error::{Error, Result},
};

/// A QBR as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qbr {
    /// Its id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// Planned for.
    pub scheduled_date: NaiveDate,
    /// Agenda items.
    pub agenda: Vec<String>,
    /// Held on, once held.
    pub held_date: Option<NaiveDate>,
    /// Who attended.
    pub attendees: Vec<Attendee>,
    /// Proposals made.
    pub proposals: Vec<String>,
    /// What was agreed.
    pub outcomes: Vec<String>,
    /// Scheduled at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

/// Someone who attended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    /// Name.
    pub name: String,
    /// Role or title.
    pub role: String,
    /// On the customer's side.
    pub customer: bool,
    /// From sales.
    pub sales: bool,
}

/// What a QBR records when held.
#[derive(Debug, Clone)]
pub struct Held {
    /// The day.
    pub date: NaiveDate,
    /// Who attended.
    pub attendees: Vec<Attendee>,
    /// Proposals made.
    pub proposals: Vec<String>,
    /// What was agreed.
    pub outcomes: Vec<String>,
}

/// QBRs.
#[derive(Debug, Clone)]
pub struct Qbrs {
    store: Store,
    reads: PointReads<qbr::Entity>,
}

impl Qbrs {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        let reads = PointReads::new(store.db.clone());
        Self { store, reads }
    }

    /// Schedules a QBR with `account` on `date`.
    pub async fn schedule(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        date: NaiveDate,
        agenda: Vec<String>,
    ) -> Result<pb::ScheduleQbrResponse> {
        let uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let time = now();
        let new = Qbr {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            scheduled_date: date,
            agenda,
            held_date: None,
            attendees: Vec::new(),
            proposals: Vec::new(),
            outcomes: Vec::new(),
            create_time: time,
            update_time: time,
            revision: 1,
        };
        qbr::Entity::insert(row(&new)?)
            .exec_without_returning(uow.tx())
            .await?;
        let response = pb::ScheduleQbrResponse {
            qbr: Some(to_proto(&new, Vec::new())),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// QBR `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Qbr>> {
        self.reads.get(id).await?.map(from_row).transpose()
    }

    /// Records QBR `id` of `account` as held.
    pub async fn record(
        &self,
        idempotency: Option<IdempotencyKey>,
        account: &accounts::Account,
        id: &str,
        etag_sent: Option<&str>,
        held: Held,
    ) -> Result<pb::RecordQbrResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let mut current = qbr::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .map(from_row)
            .transpose()?
            .ok_or_else(|| Error::QbrNotFound(id.to_owned()))?;
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "qbr",
                id: id.to_owned(),
                current: current_etag,
            });
        }
        if let Some(day) = current.held_date {
            return Err(Error::QbrHeld(format!(
                "QBR {id} was recorded as held on {day}"
            )));
        }
        current.held_date = Some(held.date);
        current.attendees = held.attendees;
        current.proposals = held.proposals;
        current.outcomes = held.outcomes;
        current.update_time = now();
        current.revision += 1;
        let mut update = row(&current)?;
        update.create_time_us = sea_orm::ActiveValue::NotSet;
        qbr::Entity::update(update).exec(uow.tx()).await?;
        let csqls = csqls_of(uow.tx(), id).await?;
        let proto = to_proto(&current, csqls);
        uow.emit(
            &account.id,
            &pb::QbrHeld {
                qbr: Some(proto.clone()),
                partner_id: account.partner_id.clone().unwrap_or_default(),
            },
        );
        let response = pb::RecordQbrResponse { qbr: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// The contract form of `qbr`, with the CSQLs that name it.
    pub async fn to_proto(&self, qbr: &Qbr) -> Result<pb::Qbr> {
        Ok(to_proto(qbr, csqls_of(&self.store.db, &qbr.id).await?))
    }

    /// Up to `limit` QBRs after id `after`, in creation order; and whether
    /// more follow.
    pub async fn list(
        &self,
        account_id: Option<&str>,
        held: Option<bool>,
        partner_id: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<pb::Qbr>, bool)> {
        use qbr::Column as C;
        let mut query = qbr::Entity::find();
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        if let Some(account_id) = account_id {
            query = query.filter(C::AccountId.eq(account_id));
        }
        if let Some(held) = held {
            query = query.filter(C::Status.eq(status(held).as_str_name()));
        }
        if let Some(partner_id) = partner_id {
            query = query.filter(C::AccountId.in_subquery(partner_accounts(partner_id)));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let mut qbrs = Vec::with_capacity(rows.len());
        for row in rows {
            let qbr = from_row(row)?;
            qbrs.push(self.to_proto(&qbr).await?);
        }
        Ok((qbrs, more))
    }
}

async fn csqls_of(db: &impl sea_orm::ConnectionTrait, qbr_id: &str) -> Result<Vec<String>> {
    Ok(csql::Entity::find()
        .select_only()
        .column(csql::Column::Id)
        .filter(csql::Column::QbrId.eq(qbr_id))
        .order_by_asc(csql::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

fn status(held: bool) -> pb::QbrStatus {
    if held {
        pb::QbrStatus::Held
    } else {
        pb::QbrStatus::Scheduled
    }
}

fn to_proto(q: &Qbr, csql_ids: Vec<String>) -> pb::Qbr {
    pb::Qbr {
        id: q.id.clone(),
        account_id: q.account_id.clone(),
        scheduled_date: Some(validate::date_to_proto(q.scheduled_date)),
        agenda: q.agenda.clone(),
        status: status(q.held_date.is_some()) as i32,
        held_date: q.held_date.map(validate::date_to_proto),
        attendees: q
            .attendees
            .iter()
            .map(|a| pb::QbrAttendee {
                name: a.name.clone(),
                role: a.role.clone(),
                customer: a.customer,
                sales: a.sales,
            })
            .collect(),
        proposals: q.proposals.clone(),
        outcomes: q.outcomes.clone(),
        sales_attended: q.attendees.iter().any(|a| a.sales),
        csql_ids,
        create_time: Some(timestamp(q.create_time)),
        update_time: Some(timestamp(q.update_time)),
        etag: etag(q.revision),
    }
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Api(ApiError::internal(e)))
}

fn row(q: &Qbr) -> Result<qbr::ActiveModel> {
    Ok(qbr::ActiveModel {
        id: Set(q.id.clone()),
        account_id: Set(q.account_id.clone()),
        scheduled_date: Set(q.scheduled_date.to_string()),
        agenda: Set(json(&q.agenda)?),
        status: Set(status(q.held_date.is_some()).as_str_name().to_owned()),
        held_date: Set(q.held_date.map(|d| d.to_string())),
        attendees: Set(json(&q.attendees)?),
        proposals: Set(json(&q.proposals)?),
        outcomes: Set(json(&q.outcomes)?),
        create_time_us: Set(q.create_time.timestamp_micros()),
        update_time_us: Set(q.update_time.timestamp_micros()),
        revision: Set(q.revision),
    })
}

fn from_row(row: qbr::Model) -> Result<Qbr> {
    let corrupt = |column: &str, value: &str| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "qbrs.{column} holds unknown value {value:?}"
        )))
    };
    let list = |column: &str, text: &str| -> Result<Vec<String>> {
        serde_json::from_str(text).map_err(|_| corrupt(column, text))
    };
    let date = |column: &str, text: &str| -> Result<NaiveDate> {
        text.parse().map_err(|_| corrupt(column, text))
    };
    let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    Ok(Qbr {
        scheduled_date: date("scheduled_date", &row.scheduled_date)?,
        agenda: list("agenda", &row.agenda)?,
        held_date: row
            .held_date
            .as_deref()
            .map(|d| date("held_date", d))
            .transpose()?,
        attendees: serde_json::from_str(&row.attendees)
            .map_err(|_| corrupt("attendees", &row.attendees))?,
        proposals: list("proposals", &row.proposals)?,
        outcomes: list("outcomes", &row.outcomes)?,
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        id: row.id,
        account_id: row.account_id,
    })
}
