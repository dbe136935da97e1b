//! The service's database: partners here, staff, certifications,
//! attributions, deals and the tier program in their modules.

pub mod attributions;
pub mod certifications;
pub mod deals;
pub mod entity;
pub mod migration;
pub mod scorecards;
pub mod staff;
pub mod tiers;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use themodel_platform::{
    ApiError,
    store::{Begun, IdempotencyKey, PointReads, Store, is_unique_violation, page},
};
use themodel_proto::partner_success as pb;

use crate::{
    convert::partner_to_proto,
    domain::partner::{
        ContractForm, CsModel, Partner, PartnerFields, PartnerStatus, changed_fields, etag,
    },
    error::{Error, Result},
};
use entity::partner;

/// Filters of a partner listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartnerFilter {
    /// Only this partner (a partner user's own).
    pub partner_id: Option<String>,
    /// Only this status.
    pub status: Option<i32>,
    /// Only this contract form.
    pub contract_form: Option<i32>,
}

/// Partners in the service's database.
#[derive(Debug, Clone)]
pub struct Partners {
    store: Store,
    reads: PointReads<partner::Entity>,
}

impl Partners {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        let reads = PointReads::new(store.db.clone());
        Self { store, reads }
    }

    /// Creates partner `id`; ALREADY_EXISTS when the id is taken.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: String,
        fields: PartnerFields,
    ) -> Result<pb::CreatePartnerResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if partner::Entity::find_by_id(id.clone())
            .one(uow.tx())
            .await?
            .is_some()
        {
            return Err(Error::PartnerExists(id));
        }
        let now = now();
        let created = Partner {
            id,
            fields,
            tier: String::new(),
            create_time: now,
            update_time: now,
            revision: 1,
        };
        partner::Entity::insert(row(&created))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    Error::PartnerExists(created.id.clone())
                } else {
                    err.into()
                }
            })?;
        let partner = partner_to_proto(&created);
        uow.emit(
            &created.id,
            &pb::PartnerCreated {
                partner: Some(partner.clone()),
            },
        );
        let response = pb::CreatePartnerResponse {
            partner: Some(partner),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Partner `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Partner>> {
        self.reads.get(id).await?.map(to_domain).transpose()
    }

    /// Up to `limit` partners matching `filter` after id `after`, in id
    /// order, and whether more follow.
    pub async fn list(
        &self,
        filter: &PartnerFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Partner>, bool)> {
        let mut query = partner::Entity::find();
        if let Some(id) = &filter.partner_id {
            query = query.filter(partner::Column::PartnerId.eq(id.as_str()));
        }
        if let Some(status) = filter.status.and_then(|s| PartnerStatus::try_from(s).ok()) {
            query = query.filter(partner::Column::Status.eq(status.as_str_name()));
        }
        if let Some(form) = filter
            .contract_form
            .and_then(|f| ContractForm::try_from(f).ok())
        {
            query = query.filter(partner::Column::ContractForm.eq(form.as_str_name()));
        }
        if let Some(after) = after {
            query = query.filter(partner::Column::PartnerId.gt(after));
        }
        let (rows, more) = page(
            &self.store.db,
            query.order_by_asc(partner::Column::PartnerId),
            limit,
        )
        .await?;
        let partners = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((partners, more))
    }

    /// Updates partner `id`: `change` turns it into its new fields (or
    /// refuses). A stale `etag` is refused; nothing is written then.
    pub async fn update(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        etag_sent: Option<&str>,
        change: impl FnOnce(&Partner) -> Result<PartnerFields>,
    ) -> Result<pb::UpdatePartnerResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let current = partner::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .map(to_domain)
            .transpose()?
            .ok_or_else(|| Error::PartnerNotFound(id.to_owned()))?;
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "partner",
                id: id.to_owned(),
                current: current_etag,
            });
        }
        let fields = change(&current)?;
        let changed = changed_fields(&current.fields, &fields);
        if changed.is_empty() {
            let response = pb::UpdatePartnerResponse {
                partner: Some(partner_to_proto(&current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        let updated = Partner {
            fields,
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = row(&updated);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        partner::Entity::update(active).exec(uow.tx()).await?;
        let partner = partner_to_proto(&updated);
        uow.emit(
            id,
            &pb::PartnerUpdated {
                partner: Some(partner.clone()),
                changed_fields: changed.into_iter().map(str::to_owned).collect(),
            },
        );
        let response = pb::UpdatePartnerResponse {
            partner: Some(partner),
        };
        uow.commit(&response).await?;
        Ok(response)
    }
}

fn row(p: &Partner) -> partner::ActiveModel {
    partner::ActiveModel {
        partner_id: Set(p.id.clone()),
        display_name: Set(p.fields.display_name.clone()),
        contract_form: Set(p.fields.contract_form.as_str_name().to_owned()),
        cs_model: Set(p.fields.cs_model.as_str_name().to_owned()),
        status: Set(p.fields.status.as_str_name().to_owned()),
        tier: Set(p.tier.clone()),
        revision: Set(p.revision),
        create_time_us: Set(p.create_time.timestamp_micros()),
        update_time_us: Set(p.update_time.timestamp_micros()),
    }
}

fn to_domain(row: partner::Model) -> Result<Partner> {
    let corrupt = |column: &str, value: &str| {
        Error::Api(ApiError::internal(anyhow::anyhow!(
            "partners.{column} holds unknown value {value:?}"
        )))
    };
    let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    Ok(Partner {
        fields: PartnerFields {
            contract_form: ContractForm::from_str_name(&row.contract_form)
                .ok_or_else(|| corrupt("contract_form", &row.contract_form))?,
            cs_model: CsModel::from_str_name(&row.cs_model)
                .ok_or_else(|| corrupt("cs_model", &row.cs_model))?,
            status: PartnerStatus::from_str_name(&row.status)
                .ok_or_else(|| corrupt("status", &row.status))?,
            display_name: row.display_name,
        },
        tier: row.tier,
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        id: row.partner_id,
    })
}

/// Partner `id` as seen inside a transaction (or on the pool), if it exists.
pub(crate) async fn partner_of(
    db: &impl sea_orm::ConnectionTrait,
    id: &str,
) -> Result<Option<Partner>> {
    partner::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// An internal error for a column holding a value the code does not know.
pub(crate) fn corrupt(table: &str, column: &str, value: &str) -> Error {
    Error::Api(ApiError::internal(anyhow::anyhow!(
        "{table}.{column} holds unknown value {value:?}"
    )))
}

/// A date column's value; an internal error when it is not a date.
pub(crate) fn parse_date_column(
    table: &str,
    column: &str,
    text: &str,
) -> Result<chrono::NaiveDate> {
    crate::convert::parse_date(text).ok_or_else(|| corrupt(table, column, text))
}

/// A stored time.
pub(crate) fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// A new server-generated id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Today in UTC.
pub fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

pub(crate) use themodel_platform::store::now;
