//! Certifications in the service's database, and the certified headcount.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use themodel_platform::store::{Begun, IdempotencyKey, Store, page};
use themodel_proto::partner_success as pb;

use super::{
    corrupt,
    entity::{certification, staff},
    new_id, now,
    staff::staff_of,
    time,
};
use crate::{
    convert::{certification::certification_to_proto, parse_date},
    domain::{
        certification::{Certification, NewCertification, headcount},
        staff::StaffStatus,
    },
    error::{Error, Result},
};

/// Filters of a certification listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CertificationFilter {
    /// Only this partner's.
    pub partner_id: Option<String>,
    /// Only this staff member's.
    pub staff_id: Option<String>,
}

/// A partner's certified headcount on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headcount {
    /// (level, staff) for levels 1 to 3.
    pub levels: Vec<(i32, usize)>,
    /// Active staff, certified or not.
    pub active_staff: usize,
}

/// Certifications in the service's database.
#[derive(Debug, Clone)]
pub struct Certifications {
    store: Store,
}

impl Certifications {
    /// The repository over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records `new`; NOT_FOUND for an unknown staff member.
    pub async fn record(
        &self,
        idempotency: Option<IdempotencyKey>,
        new: NewCertification,
    ) -> Result<pb::RecordCertificationResponse> {
        let mut uow = match self.store.begin(idempotency).await? {
            Begun::Replay(response) => return Ok(response),
            Begun::Fresh(uow) => uow,
        };
        let staff = staff_of(uow.tx(), &new.staff_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: "staff",
                id: new.staff_id.clone(),
            })?;
        let recorded = Certification {
            id: new_id(),
            staff_id: new.staff_id,
            partner_id: staff.partner_id,
            course_key: new.course_key,
            level: new.level,
            earned_on: new.earned_on,
            expires_on: new.expires_on,
            create_time: now(),
        };
        certification::Entity::insert(certification::ActiveModel {
            id: Set(recorded.id.clone()),
            staff_id: Set(recorded.staff_id.clone()),
            partner_id: Set(recorded.partner_id.clone()),
            course_key: Set(recorded.course_key.clone()),
            level: Set(recorded.level),
            earned_on: Set(recorded.earned_on.to_string()),
            expires_on: Set(recorded.expires_on.map(|d| d.to_string())),
            create_time_us: Set(recorded.create_time.timestamp_micros()),
        })
        .exec_without_returning(uow.tx())
        .await?;
        let proto = certification_to_proto(&recorded);
        uow.emit(
            &recorded.staff_id,
            &pb::CertificationEarned {
                certification: Some(proto.clone()),
            },
        );
        let response = pb::RecordCertificationResponse {
            certification: Some(proto),
        };
        uow.commit(&response).await?;
        Ok(response)
    }

    /// Up to `limit` certifications matching `filter` after id `after`, in id
    /// order, and whether more follow.
    pub async fn list(
        &self,
        filter: &CertificationFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Certification>, bool)> {
        use certification::Column as C;
        let mut query = certification::Entity::find();
        if let Some(partner_id) = &filter.partner_id {
            query = query.filter(C::PartnerId.eq(partner_id.as_str()));
        }
        if let Some(staff_id) = &filter.staff_id {
            query = query.filter(C::StaffId.eq(staff_id.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(C::Id.gt(after));
        }
        let (rows, more) = page(&self.store.db, query.order_by_asc(C::Id), limit).await?;
        let list = rows.into_iter().map(to_domain).collect::<Result<_>>()?;
        Ok((list, more))
    }

    /// The certified headcount of `partner_id` on `day`.
    pub async fn headcount(&self, partner_id: &str, day: NaiveDate) -> Result<Headcount> {
        let db = &self.store.db;
        let active: BTreeSet<String> = staff::Entity::find()
            .select_only()
            .column(staff::Column::Id)
            .filter(staff::Column::PartnerId.eq(partner_id))
            .filter(staff::Column::Status.eq(StaffStatus::Active.as_str_name()))
            .into_tuple::<String>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let day_text = day.to_string();
        use certification::Column as C;
        let valid = certification::Entity::find()
            .filter(C::PartnerId.eq(partner_id))
            .filter(C::EarnedOn.lte(day_text.as_str()))
            .filter(
                Condition::any()
                    .add(C::ExpiresOn.is_null())
                    .add(C::ExpiresOn.gte(day_text.as_str())),
            )
            .all(db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>>>()?;
        Ok(Headcount {
            levels: headcount(&valid, &active, day),
            active_staff: active.len(),
        })
    }
}

fn to_domain(row: certification::Model) -> Result<Certification> {
    let date = |column: &str, text: &str| {
        parse_date(text).ok_or_else(|| corrupt("certifications", column, text))
    };
    Ok(Certification {
        earned_on: date("earned_on", &row.earned_on)?,
        expires_on: match &row.expires_on {
            Some(text) => Some(date("expires_on", text)?),
            None => None,
        },
        create_time: time(row.create_time_us),
        id: row.id,
        staff_id: row.staff_id,
        partner_id: row.partner_id,
        course_key: row.course_key,
        level: row.level,
    })
}
