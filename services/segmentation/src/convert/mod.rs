//! Conversions between the contract and the domain. Input conversions validate
//! every field and report each bad one with its path.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::segmentation as pb;

pub mod csm;
pub mod plan;
pub mod policy;
pub mod touchpoint;

use crate::domain::account::{
    Account, AccountFields, CloudLiteracy, LifecycleStatus, MigrationSource, OUTPUT_ONLY_FIELDS,
    UPDATABLE_FIELDS, cross_field_violations, normalise_domain,
};

/// Characters allowed in a CRM external id besides letters and digits.
pub(crate) use themodel_platform::validate::EXTERNAL_ID_CHARS;
/// Most paths an update mask may name (each field once, and `*`, leave room).
const MAX_MASK_PATHS: usize = 32;
/// Characters allowed in CSM, team and partner ids besides letters and digits.
pub(crate) use themodel_platform::validate::REFERENCE_CHARS;

/// An optional reference: empty is `None`, anything else must be a valid
/// reference with `extra` characters allowed besides letters and digits.
pub(crate) fn optional_reference(
    value: &str,
    extra: &str,
) -> Result<Option<String>, Vec<Violation>> {
    if value.is_empty() {
        Ok(None)
    } else {
        validate::reference(value, extra).map(Some)
    }
}

/// Validates the caller-set fields of an account. Violation paths are relative
/// to the account (e.g. `acv.currency_code`).
pub fn fields_from_proto(account: &pb::Account) -> Result<AccountFields, Vec<Violation>> {
    let mut v = Violations::new();
    let external_id = v.check(
        "external_id",
        optional_reference(&account.external_id, EXTERNAL_ID_CHARS),
    );
    let name = v.check("name", validate::text(&account.name, 1, 200));
    let industry = v.check("industry", validate::text(&account.industry, 0, 100));
    let employee_count = u32::try_from(account.employee_count).ok();
    if employee_count.is_none() {
        v.add("employee_count", "must not be negative");
    }
    let acv = match &account.acv {
        Some(acv) => v.check("acv", validate::Money::non_negative(acv)),
        None => {
            v.add("acv", "is required");
            None
        }
    };
    let potential_acv = match &account.potential_acv {
        Some(p) => v
            .check("potential_acv", validate::Money::non_negative(p))
            .map(Some),
        None => Some(None),
    };
    let cloud_literacy = v.check(
        "cloud_literacy",
        validate::known_enum::<CloudLiteracy>(account.cloud_literacy),
    );
    let migration_source = v.check(
        "migration_source",
        validate::known_enum::<MigrationSource>(account.migration_source),
    );
    let contract_start_date = match &account.contract_start_date {
        Some(d) => v.check("contract_start_date", validate::date(d)).map(Some),
        None => Some(None),
    };
    let renewal_date = match &account.renewal_date {
        Some(d) => v.check("renewal_date", validate::date(d)).map(Some),
        None => Some(None),
    };
    let owner_csm_id = v.check(
        "owner_csm_id",
        optional_reference(&account.owner_csm_id, REFERENCE_CHARS),
    );
    let partner_id = v.check(
        "partner_id",
        optional_reference(&account.partner_id, REFERENCE_CHARS),
    );
    let lifecycle_status = v
        .check(
            "lifecycle_status",
            validate::known_enum::<LifecycleStatus>(account.lifecycle_status),
        )
        .map(|s| match s {
            LifecycleStatus::Unspecified => LifecycleStatus::Onboarding,
            s => s,
        });
    let domain = if account.domain.is_empty() {
        Some(None)
    } else if account.domain.len() > 300 {
        v.add("domain", "must be at most 300 characters");
        None
    } else {
        let normalised = normalise_domain(&account.domain);
        if normalised.is_none() {
            v.add(
                "domain",
                format!(
                    "{} is not a web domain such as acme.co.jp",
                    validate::echo(&account.domain)
                ),
            );
        }
        normalised.map(Some)
    };
    let (
        Some(external_id),
        Some(name),
        Some(industry),
        Some(employee_count),
        Some(acv),
        Some(potential_acv),
        Some(cloud_literacy),
        Some(migration_source),
        Some(contract_start_date),
        Some(renewal_date),
        Some(owner_csm_id),
        Some(partner_id),
        Some(lifecycle_status),
        Some(domain),
    ) = (
        external_id,
        name,
        industry,
        employee_count,
        acv,
        potential_acv,
        cloud_literacy,
        migration_source,
        contract_start_date,
        renewal_date,
        owner_csm_id,
        partner_id,
        lifecycle_status,
        domain,
    )
    else {
        return Err(v.into_vec());
    };
    let fields = AccountFields {
        external_id,
        name,
        industry,
        employee_count,
        acv,
        potential_acv,
        cloud_literacy,
        migration_source,
        contract_start_date,
        renewal_date,
        owner_csm_id,
        partner_id,
        lifecycle_status,
        domain,
    };
    for (field, description) in cross_field_violations(&fields) {
        v.add(field, description);
    }
    v.finish(|| fields)
}

pub use themodel_platform::validate::timestamp;

/// The contract form of an account.
pub fn account_to_proto(account: &Account) -> pb::Account {
    let f = &account.fields;
    pb::Account {
        id: account.id.clone(),
        external_id: f.external_id.clone().unwrap_or_default(),
        name: f.name.clone(),
        industry: f.industry.clone(),
        employee_count: f.employee_count as i32,
        acv: Some(f.acv.to_proto()),
        potential_acv: f.potential_acv.as_ref().map(validate::Money::to_proto),
        cloud_literacy: f.cloud_literacy as i32,
        migration_source: f.migration_source as i32,
        contract_start_date: f.contract_start_date.map(validate::date_to_proto),
        renewal_date: f.renewal_date.map(validate::date_to_proto),
        owner_csm_id: f.owner_csm_id.clone().unwrap_or_default(),
        partner_id: f.partner_id.clone().unwrap_or_default(),
        lifecycle_status: f.lifecycle_status as i32,
        tier: account.tier as i32,
        domain: f.domain.clone().unwrap_or_default(),
        create_time: Some(timestamp(account.create_time)),
        update_time: Some(timestamp(account.update_time)),
        etag: account.etag(),
    }
}

/// Resolves an update mask (AIP-134) to the updatable fields it names: `*` is
/// all of them, an empty mask is the fields `patch` sets to a non-default value.
pub fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    patch: &pb::Account,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        let default = pb::Account::default();
        let set = |name: &str| match name {
            "external_id" => patch.external_id != default.external_id,
            "name" => patch.name != default.name,
            "industry" => patch.industry != default.industry,
            "employee_count" => patch.employee_count != default.employee_count,
            "acv" => patch.acv.is_some(),
            "potential_acv" => patch.potential_acv.is_some(),
            "cloud_literacy" => patch.cloud_literacy != default.cloud_literacy,
            "migration_source" => patch.migration_source != default.migration_source,
            "contract_start_date" => patch.contract_start_date.is_some(),
            "renewal_date" => patch.renewal_date.is_some(),
            "owner_csm_id" => patch.owner_csm_id != default.owner_csm_id,
            "partner_id" => patch.partner_id != default.partner_id,
            "lifecycle_status" => patch.lifecycle_status != default.lifecycle_status,
            "domain" => patch.domain != default.domain,
            _ => false,
        };
        return Ok(UPDATABLE_FIELDS
            .iter()
            .copied()
            .filter(|f| set(f))
            .collect());
    }
    if paths.len() > MAX_MASK_PATHS {
        return Err(vec![Violation::new(
            "update_mask.paths",
            format!("must name at most {MAX_MASK_PATHS} fields"),
        )]);
    }
    let mut v = Violations::new();
    let mut fields = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let field = format!("update_mask.paths[{i}]");
        if path == "*" {
            fields.extend_from_slice(UPDATABLE_FIELDS);
        } else if let Some(name) = UPDATABLE_FIELDS.iter().find(|f| **f == path) {
            fields.push(*name);
        } else if OUTPUT_ONLY_FIELDS.contains(&path.as_str()) {
            v.add(
                field,
                format!(
                    "{} is output only and cannot be updated",
                    validate::echo(path)
                ),
            );
        } else {
            v.add(
                field,
                format!("{} is not a field of Account", validate::echo(path)),
            );
        }
    }
    fields.sort_unstable();
    fields.dedup();
    v.finish(|| fields)
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_mask(current: &mut pb::Account, patch: &pb::Account, fields: &[&str]) {
    for field in fields {
        match *field {
            "external_id" => current.external_id.clone_from(&patch.external_id),
            "name" => current.name.clone_from(&patch.name),
            "industry" => current.industry.clone_from(&patch.industry),
            "employee_count" => current.employee_count = patch.employee_count,
            "acv" => current.acv.clone_from(&patch.acv),
            "potential_acv" => current.potential_acv.clone_from(&patch.potential_acv),
            "cloud_literacy" => current.cloud_literacy = patch.cloud_literacy,
            "migration_source" => current.migration_source = patch.migration_source,
            "contract_start_date" => current.contract_start_date = patch.contract_start_date,
            "renewal_date" => current.renewal_date = patch.renewal_date,
            "owner_csm_id" => current.owner_csm_id.clone_from(&patch.owner_csm_id),
            "partner_id" => current.partner_id.clone_from(&patch.partner_id),
            "lifecycle_status" => current.lifecycle_status = patch.lifecycle_status,
            "domain" => current.domain.clone_from(&patch.domain),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use themodel_proto::common;

    fn valid() -> pb::Account {
        pb::Account {
            name: "Acme".into(),
            acv: Some(common::Money {
                currency_code: "JPY".into(),
                units: 1_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn violated(account: pb::Account) -> Vec<String> {
        fields_from_proto(&account)
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn minimal_account_is_valid_and_defaults_to_onboarding() {
        let fields = fields_from_proto(&valid()).expect("valid");
        assert_eq!(fields.lifecycle_status, LifecycleStatus::Onboarding);
        assert_eq!(fields.external_id, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = pb::Account {
            name: String::new(),
            employee_count: -1,
            acv: None,
            cloud_literacy: 42,
            migration_source: -3,
            lifecycle_status: 9,
            external_id: "has space".into(),
            owner_csm_id: "x".repeat(200),
            renewal_date: Some(common::Date {
                year: 2026,
                month: 2,
                day: 30,
            }),
            ..Default::default()
        };
        assert_eq!(
            violated(bad),
            [
                "external_id",
                "name",
                "employee_count",
                "acv",
                "cloud_literacy",
                "migration_source",
                "renewal_date",
                "owner_csm_id",
                "lifecycle_status"
            ]
        );
    }

    #[test]
    fn money_violations_have_nested_paths() {
        let mut a = valid();
        a.acv = Some(common::Money {
            currency_code: "ZZZ".into(),
            units: -5,
            nanos: 0,
        });
        a.potential_acv = Some(common::Money {
            currency_code: "USD".into(),
            units: 5,
            nanos: 0,
        });
        assert_eq!(violated(a), ["acv.currency_code", "acv.units"]);
        let mut b = valid();
        b.potential_acv = Some(common::Money {
            currency_code: "USD".into(),
            units: 5,
            nanos: 0,
        });
        assert_eq!(violated(b), ["potential_acv.currency_code"]);
    }

    #[test]
    fn masks_reject_unknown_and_output_only_paths() {
        let patch = valid();
        let mask = |paths: &[&str]| prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        };
        assert_eq!(
            mask_paths(Some(&mask(&["name", "acv"])), &patch),
            Ok(vec!["acv", "name"])
        );
        assert_eq!(
            mask_paths(Some(&mask(&["*"])), &patch).map(|f| f.len()),
            Ok(UPDATABLE_FIELDS.len())
        );
        assert_eq!(mask_paths(None, &patch), Ok(vec!["name", "acv"]));
        let err = mask_paths(Some(&mask(&["name", "tier", "nope"])), &patch).expect_err("bad mask");
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask.paths[1]", "update_mask.paths[2]"]);
    }
}
