//! Certifications between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::partner_success as pb;

use super::{key, optional_date, required_date, timestamp};
use crate::domain::certification::{Certification, NewCertification, problems};

/// Validates a certification to record; paths relative to it.
pub fn new_certification(c: &pb::Certification) -> Result<NewCertification, Vec<Violation>> {
    let mut v = Violations::new();
    let staff_id = v.check("staff_id", validate::resource_id(&c.staff_id));
    let course_key = v.check("course_key", key(&c.course_key));
    let earned_on = required_date(c.earned_on.as_ref(), "earned_on", &mut v);
    let expires_on = optional_date(c.expires_on.as_ref(), "expires_on", &mut v);
    match (earned_on, expires_on) {
        (Some(earned), Some(expires)) => {
            for (field, problem) in problems(c.level, earned, expires) {
                v.add(field, problem);
            }
        }
        _ => {
            for (field, problem) in problems(c.level, chrono::NaiveDate::MIN, None) {
                v.add(field, problem);
            }
        }
    }
    let (Some(staff_id), Some(course_key), Some(earned_on), Some(expires_on), true) =
        (staff_id, course_key, earned_on, expires_on, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(NewCertification {
        staff_id,
        course_key,
        level: c.level,
        earned_on,
        expires_on,
    })
}

/// The contract form of a certification.
pub fn certification_to_proto(c: &Certification) -> pb::Certification {
    pb::Certification {
        id: c.id.clone(),
        staff_id: c.staff_id.clone(),
        partner_id: c.partner_id.clone(),
        course_key: c.course_key.clone(),
        level: c.level,
        earned_on: Some(validate::date_to_proto(c.earned_on)),
        expires_on: c.expires_on.map(validate::date_to_proto),
        create_time: Some(timestamp(c.create_time)),
    }
}
