//! Conversions between the contract and the domain, with the validation of
//! everything a caller sends. Violation paths are relative to the converted
//! value; handlers prefix them.

pub mod playbook;

use themodel_platform::Violation;
use themodel_proto::segmentation::Tier;

pub use themodel_platform::validate::timestamp;

/// Longest key.
pub const MAX_KEY_LEN: usize = 64;

/// Validates a key: 1 to [`MAX_KEY_LEN`] characters of lower-case letters,
/// digits, `-`, `_`, `.` and any of `extra`.
pub fn key_with(value: &str, extra: &str) -> Result<String, Vec<Violation>> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c) || extra.contains(c)
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!(
                "must be 1 to {MAX_KEY_LEN} characters of lower-case letters, digits and \"-_.{extra}\""
            ),
        )])
    }
}

/// Validates a playbook, phase, step or product key.
pub fn key(value: &str) -> Result<String, Vec<Violation>> {
    key_with(value, "")
}

/// Validates a signal key (which may also hold `:`, e.g. `feature:sso`).
pub fn signal_key(value: &str) -> Result<String, Vec<Violation>> {
    key_with(value, ":")
}

/// The name of a tier value.
pub fn tier(value: i32) -> Result<String, Vec<Violation>> {
    Tier::try_from(value)
        .map(|t| t.as_str_name().to_owned())
        .map_err(|_| vec![Violation::new("", format!("{value} is not a tier"))])
}

/// The contract value of a tier's name.
pub fn tier_to_proto(name: &str) -> i32 {
    Tier::from_str_name(name).unwrap_or(Tier::Unspecified) as i32
}
