//! Conversions between the contract and the domain, with the validation of
//! everything a caller sends. Violation paths are relative to the converted
//! value; handlers prefix them.

pub mod attribution;
pub mod certification;
pub mod deal;
pub mod scorecard;
pub mod staff;
pub mod tier;

use chrono::NaiveDate;
use themodel_platform::{Violation, Violations, validate};
use themodel_proto::partner_success as pb;

use crate::domain::partner::{
    ContractForm, CsModel, Partner, PartnerFields, PartnerStatus, UPDATABLE_FIELDS, etag,
};

/// Validates a partner id.
pub fn partner_id(value: &str) -> Result<String, Vec<Violation>> {
    validate::partner_id(value)
}

/// A known enum value other than the zero one.
fn required<E: TryFrom<i32> + PartialEq + Default>(
    value: i32,
    field: &str,
    v: &mut Violations,
) -> Option<E> {
    match validate::known_enum::<E>(value) {
        Ok(e) if e == E::default() => {
            v.add(field, "is required");
            None
        }
        result => v.check(field, result),
    }
}

/// Validates the caller-set fields of a partner; paths are relative to it.
pub fn partner_fields_from_proto(partner: &pb::Partner) -> Result<PartnerFields, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check(
        "display_name",
        validate::text(&partner.display_name, 1, 200),
    );
    let contract_form = required::<ContractForm>(partner.contract_form, "contract_form", &mut v);
    let cs_model = required::<CsModel>(partner.cs_model, "cs_model", &mut v);
    let status = required::<PartnerStatus>(partner.status, "status", &mut v);
    let (Some(display_name), Some(contract_form), Some(cs_model), Some(status), true) =
        (display_name, contract_form, cs_model, status, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(PartnerFields {
        display_name,
        contract_form,
        cs_model,
        status,
    })
}

/// The contract form of a partner.
pub fn partner_to_proto(partner: &Partner) -> pb::Partner {
    let f = &partner.fields;
    pb::Partner {
        partner_id: partner.id.clone(),
        display_name: f.display_name.clone(),
        contract_form: f.contract_form as i32,
        cs_model: f.cs_model as i32,
        status: f.status as i32,
        create_time: Some(timestamp(partner.create_time)),
        update_time: Some(timestamp(partner.update_time)),
        etag: etag(partner.revision),
        tier: partner.tier.clone(),
    }
}

/// Resolves a partner update mask (required).
pub fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    validate::update_mask(mask, UPDATABLE_FIELDS, "Partner")
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_mask(current: &mut pb::Partner, patch: &pb::Partner, fields: &[&str]) {
    for field in fields {
        match *field {
            "display_name" => current.display_name.clone_from(&patch.display_name),
            "contract_form" => current.contract_form = patch.contract_form,
            "cs_model" => current.cs_model = patch.cs_model,
            "status" => current.status = patch.status,
            _ => {}
        }
    }
}

pub use themodel_platform::validate::timestamp;

/// Longest course or product key.
pub const MAX_KEY_LEN: usize = 64;

/// Validates a course or product key: 1 to [`MAX_KEY_LEN`] characters of
/// lower-case letters, digits, `-` and `_`.
pub fn key(value: &str) -> Result<String, Vec<Violation>> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!(
                "{} must be 1 to {MAX_KEY_LEN} characters of lower-case letters, digits, \"-\" and \"_\"",
                validate::echo(value)
            ),
        )])
    }
}

/// A required date at `field`.
pub fn required_date(
    date: Option<&themodel_proto::common::Date>,
    field: &str,
    v: &mut Violations,
) -> Option<NaiveDate> {
    match date {
        Some(date) => v.check(field, validate::date(date)),
        None => {
            v.add(field, "is required");
            None
        }
    }
}

/// An optional date at `field`; `Some(None)` when absent.
pub fn optional_date(
    date: Option<&themodel_proto::common::Date>,
    field: &str,
    v: &mut Violations,
) -> Option<Option<NaiveDate>> {
    match date {
        Some(date) => v.check(field, validate::date(date)).map(Some),
        None => Some(None),
    }
}

/// A date as stored: `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    text.parse().ok()
}

/// Validates multi-line free text: at most `max` characters, no control
/// characters but line breaks and tabs.
pub fn notes(value: &str, max: usize) -> Result<String, Vec<Violation>> {
    if value.len() > max * 4 || value.chars().count() > max {
        return Err(vec![Violation::new(
            "",
            format!("must be at most {max} characters"),
        )]);
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(vec![Violation::new(
            "",
            "must not contain control characters other than line breaks and tabs",
        )]);
    }
    Ok(value.to_owned())
}
