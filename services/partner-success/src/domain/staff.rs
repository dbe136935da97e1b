//! A partner's staff: the users of its portal.

use chrono::{DateTime, Utc};
pub use themodel_proto::partner_success::StaffStatus;

/// Fields an update may name.
pub const UPDATABLE_FIELDS: &[&str] = &["email", "external_id", "name", "role", "status"];

/// What a caller sets on a staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffFields {
    /// The person's name.
    pub name: String,
    /// E-mail address as given.
    pub email: String,
    /// Role at the partner, free text.
    pub role: String,
    /// CRM id.
    pub external_id: Option<String>,
    /// Still there or left.
    pub status: StaffStatus,
}

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// Server-generated id.
    pub id: String,
    /// The partner; immutable.
    pub partner_id: String,
    /// What callers set.
    pub fields: StaffFields,
    /// Created at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

/// The key e-mail uniqueness is decided on: the address in lower case.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Whether `value` looks like an e-mail address: one "@" with something
/// before it and a dotted domain after it, no white space.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The names of the fields that differ between two versions.
pub fn changed_fields(before: &StaffFields, after: &StaffFields) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.name != after.name {
        changed.push("name");
    }
    if before.email != after.email {
        changed.push("email");
    }
    if before.role != after.role {
        changed.push("role");
    }
    if before.external_id != after.external_id {
        changed.push("external_id");
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
    fn emails_compare_case_insensitively() {
        assert_eq!(
            email_key("Hanako@Acme.CO.JP"),
            email_key("hanako@acme.co.jp")
        );
    }

    #[test]
    fn email_shapes() {
        assert!(is_email("hanako@acme.co.jp"));
        for bad in [
            "",
            "hanako",
            "@acme.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn only_changed_fields_are_named() {
        let before = StaffFields {
            name: "Hanako".into(),
            email: "h@acme.com".into(),
            role: "CS".into(),
            external_id: None,
            status: StaffStatus::Active,
        };
        let after = StaffFields {
            status: StaffStatus::Left,
            ..before.clone()
        };
        assert_eq!(changed_fields(&before, &after), ["status"]);
    }
}
