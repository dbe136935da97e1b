//! Partner staff in the service's database.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use themodel_platform::store::{Begun, IdempotencyKey, Store, is_unique_violation, page};
use themodel_proto::partner_success as pb;

use super::{corrupt, entity::staff, new_id, now, partner_of, time};
use crate::{
    convert::staff::staff_to_proto,
    domain::{
        partner::etag,
        staff::{Staff, StaffFields, StaffStatus, changed_fields, email_key},
    },
    error::{Error, Result},
};

/// Filters of a staff listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StaffFilter {
    /// Only this partner's.
    pub partner_id: Option<String>,
    /// Only this status.
    pub status: Option<i32>,
}

/// Partner staff in the service's database.
#[derive(Debug, Clone)]
pub struct StaffRepo {
    store: Store,
}

impl StaffRepo {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Adds a staff member to `partner_id`: NOT_FOUND for an unknown
    /// partner, ALREADY_EXISTS for a taken e-mail or external id.
    pub async fn create(
        &self,
        idempotency: Option<IdempotencyKey>,
        partner_id: String,
        fields: StaffFields,
    ) -> Result<pb::CreatePartnerStaffResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        if partner_of(uow.tx(), &partner_id).await?.is_none() {
            return Err(Error::PartnerNotFound(partner_id));
        }
        check_unique(uow.tx(), &partner_id, &fields, None).await?;
        let now = now();
        let created = Staff {
            id: new_id(),
            partner_id,
            fields,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        staff::Entity::insert(row(&created))
            .exec_without_returning(uow.tx())
            .await
            .map_err(|err| taken(err, &created.fields))?;
        let proto = staff_to_proto(&created);
        uow.emit(
            &created.id,
            &pb::PartnerStaffCreated {
                staff: Some(proto.clone()),
            },
        );
        let response = pb::CreatePartnerStaffResponse { staff: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Staff member `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Staff>> {
        staff_of(&self.store.db, id).await
    }

    /// Up to `limit` staff matching `filter` after id `after`, in id order,
    /// and whether more follow.
    pub async fn list(
        &self,
        filter: &StaffFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Staff>, bool)> {
        use staff::Column as C;
        let mut query = staff::Entity::find();
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::PartnerId.eq(partner_id.as_str()));
        }
        if let Some(status) = filter.status.and_then(|s| StaffStatus::try_from(s).ok()) {
            query = query.filter(C::Status.eq(status.as_str_name()));
        }
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let staff = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((staff, more))
    }

    /// Updates staff member `id`, visible to a caller confined to `scope`:
    /// `change` turns it into its new fields (or refuses).
    pub async fn update(
        &self,
        idempotency: Option<IdempotencyKey>,
        id: &str,
        scope: Option<&str>,
        etag_sent: Option<&str>,
        change: impl FnOnce(&Staff) -> Result<StaffFields>,
    ) -> Result<pb::UpdatePartnerStaffResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let not_found = || Error::NotFound {
            resource: "staff",
            id: id.to_owned(),
        };
        let current = staff::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(uow.tx())
            .await?
            .map(to_domain)
            .transpose()?
            .filter(|s| scope.is_none_or(|own| own == s.partner_id))
            .ok_or_else(not_found)?;
        let current_etag = etag(current.revision);
        if let Some(sent) = etag_sent
            && sent != current_etag
        {
            return Err(Error::EtagMismatch {
                resource: "staff",
                id: id.to_owned(),
                current: current_etag,
            });
        }
        let fields = change(&current)?;
        let changed = changed_fields(&current.fields, &fields);
        if changed.is_empty() {
            let response = pb::UpdatePartnerStaffResponse {
                staff: Some(staff_to_proto(&current)),
            };
            uow.commit(&response).await?;
            return Ok(response);
        }
        check_unique(uow.tx(), &current.partner_id, &fields, Some(id)).await?;
        let updated = Staff {
            fields,
            update_time: now(),
            revision: current.revision + 1,
            ..current
        };
        let mut active = row(&updated);
        active.create_time_us = sea_orm::ActiveValue::NotSet;
        staff::Entity::update(active)
            .exec(uow.tx())
            .await
            .map_err(|err| taken(err, &updated.fields))?;
        let proto = staff_to_proto(&updated);
        uow.emit(
            id,
            &pb::PartnerStaffUpdated {
                staff: Some(proto.clone()),
                changed_fields: changed.into_iter().map(str::to_owned).collect(),
            },
        );
        let response = pb::UpdatePartnerStaffResponse { staff: Some(proto) };
        uow.commit(&response).await?;
        Ok(response)
    }
}

/// Staff member `id` on `db`, if it exists.
pub async fn staff_of(db: &impl ConnectionTrait, id: &str) -> Result<Option<Staff>> {
    staff::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// ALREADY_EXISTS when another staff member of the partner has the e-mail,
/// or any has the external id.
async fn check_unique(
    db: &impl ConnectionTrait,
    partner_id: &str,
    fields: &StaffFields,
    except: Option<&str>,
) -> Result<()> {
    use staff::Column as C;
    let other = |query: sea_orm::Select<staff::Entity>| match except {
        Some(id) => query.filter(C::Id.ne(id)),
        None => query,
    };
    let email = other(
        staff::Entity::find()
            .filter(C::PartnerId.eq(partner_id))
            .filter(C::EmailKey.eq(email_key(&fields.email))),
    )
    .one(db)
    .await?;
    if email.is_some() {
        return Err(Error::Taken {
            resource: "staff",
            field: "email",
            value: fields.email.clone(),
        });
    }
    if let Some(external_id) = &fields.external_id
        && other(staff::Entity::find().filter(C::ExternalId.eq(external_id.as_str())))
            .one(db)
            .await?
            .is_some()
    {
        return Err(Error::Taken {
            resource: "staff",
            field: "external_id",
            value: external_id.clone(),
        });
    }
    Ok(())
}

/// A unique violation on write is a concurrent request taking the same
/// e-mail or external id.
fn taken(err: sea_orm::DbErr, fields: &StaffFields) -> Error {
    if is_unique_violation(&err) {
        Error::Api(themodel_platform::ApiError::Aborted(format!(
            "a concurrent request took the e-mail {:?} or the external id; retry",
            fields.email
        )))
    } else {
        err.into()
    }
}

fn row(s: &Staff) -> staff::ActiveModel {
    let f = &s.fields;
    staff::ActiveModel {
        id: Set(s.id.clone()),
        partner_id: Set(s.partner_id.clone()),
        name: Set(f.name.clone()),
        email: Set(f.email.clone()),
        email_key: Set(email_key(&f.email)),
        role: Set(f.role.clone()),
        external_id: Set(f.external_id.clone()),
        status: Set(f.status.as_str_name().to_owned()),
        revision: Set(s.revision),
        create_time_us: Set(s.create_time.timestamp_micros()),
        update_time_us: Set(s.update_time.timestamp_micros()),
    }
}

fn to_domain(row: staff::Model) -> Result<Staff> {
    Ok(Staff {
        fields: StaffFields {
            status: StaffStatus::from_str_name(&row.status)
                .ok_or_else(|| corrupt("partner_staff", "status", &row.status))?,
            name: row.name,
            email: row.email,
            role: row.role,
            external_id: row.external_id,
        },
        create_time: time(row.create_time_us),
        update_time: time(row.update_time_us),
        revision: row.revision,
        partner_id: row.partner_id,
        id: row.id,
    })
}
