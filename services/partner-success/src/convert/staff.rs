//! Partner staff between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::partner_success as pb;

use super::timestamp;
use crate::domain::{
    partner::etag,
    staff::{Staff, StaffFields, StaffStatus, UPDATABLE_FIELDS, is_email},
};

/// Validates the caller-set fields of a staff member; paths relative to it.
/// An unset status is refused: the create handler defaults it first.
pub fn staff_fields_from_proto(staff: &pb::PartnerStaff) -> Result<StaffFields, Vec<Violation>> {
    let mut v = Violations::new();
    let name = v.check("name", validate::text(&staff.name, 1, 200));
    let email = v.check("email", validate::text(&staff.email, 3, 254));
    if email.is_some() && !is_email(&staff.email) {
        v.add(
            "email",
            format!("{} is not an e-mail address", validate::echo(&staff.email)),
        );
    }
    let role = v.check("role", validate::text(&staff.role, 0, 100));
    let external_id = (!staff.external_id.is_empty())
        .then(|| v.check("external_id", validate::external_id(&staff.external_id)))
        .flatten();
    let status = match validate::known_enum::<StaffStatus>(staff.status) {
        Ok(StaffStatus::Unspecified) => {
            v.add("status", "is required");
            None
        }
        result => v.check("status", result),
    };
    let (Some(name), Some(email), Some(role), Some(status), true) =
        (name, email, role, status, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(StaffFields {
        name,
        email,
        role,
        external_id,
        status,
    })
}

/// The contract form of a staff member.
pub fn staff_to_proto(staff: &Staff) -> pb::PartnerStaff {
    let f = &staff.fields;
    pb::PartnerStaff {
        id: staff.id.clone(),
        partner_id: staff.partner_id.clone(),
        name: f.name.clone(),
        email: f.email.clone(),
        role: f.role.clone(),
        external_id: f.external_id.clone().unwrap_or_default(),
        status: f.status as i32,
        create_time: Some(timestamp(staff.create_time)),
        update_time: Some(timestamp(staff.update_time)),
        etag: etag(staff.revision),
    }
}

/// Resolves a staff update mask (required).
pub fn staff_mask_paths(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    validate::update_mask(mask, UPDATABLE_FIELDS, "PartnerStaff")
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_staff_mask(current: &mut pb::PartnerStaff, patch: &pb::PartnerStaff, fields: &[&str]) {
    for field in fields {
        match *field {
            "name" => current.name.clone_from(&patch.name),
            "email" => current.email.clone_from(&patch.email),
            "role" => current.role.clone_from(&patch.role),
            "external_id" => current.external_id.clone_from(&patch.external_id),
            "status" => current.status = patch.status,
            _ => {}
        }
    }
}
