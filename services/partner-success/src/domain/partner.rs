//! Partners: how each sells with us and who runs customer success for the
//! accounts it brings.

use chrono::{DateTime, Utc};
pub use themodel_proto::partner_success::{ContractForm, CsModel, PartnerStatus};

/// Fields an update may name.
pub const UPDATABLE_FIELDS: &[&str] = &["contract_form", "cs_model", "display_name", "status"];

/// What a caller sets on a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerFields {
    /// Name to show.
    pub display_name: String,
    /// How the partner sells with us.
    pub contract_form: ContractForm,
    /// Who runs customer success for its accounts.
    pub cs_model: CsModel,
    /// Where the partnership stands.
    pub status: PartnerStatus,
}

/// A partner as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The partner key accounts and tokens carry.
    pub id: String,
    /// What callers set.
    pub fields: PartnerFields,
    /// Its tier in the tier program, as the last evaluation placed it; empty
    /// until one does. Set by evaluations only.
    pub tier: String,
    /// Created at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change; the etag is derived from it.
    pub revision: i64,
}

/// The opaque version tag of a revision.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

/// The names of the fields that differ between two versions of a partner.
pub fn changed_fields(before: &PartnerFields, after: &PartnerFields) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.display_name != after.display_name {
        changed.push("display_name");
    }
    if before.contract_form != after.contract_form {
        changed.push("contract_form");
    }
    if before.cs_model != after.cs_model {
        changed.push("cs_model");
    }
    if before.status != after.status {
        changed.push("status");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_whose_value_changed_are_named() {
        let before = PartnerFields {
            display_name: "Acme Resale".into(),
            contract_form: ContractForm::Resale,
            cs_model: CsModel::PartnerLed,
            status: PartnerStatus::Onboarding,
        };
        let after = PartnerFields {
            status: PartnerStatus::Active,
            cs_model: CsModel::Shared,
            ..before.clone()
        };
        assert_eq!(changed_fields(&before, &after), ["cs_model", "status"]);
        assert!(changed_fields(&before, &before).is_empty());
    }
}
