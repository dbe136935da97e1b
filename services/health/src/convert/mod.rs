//! Conversions between the contract and the domain, with the validation of
//! everything a caller sends. Violation paths are relative to the converted
//! value; handlers prefix them.

pub mod scores;

use chrono::{DateTime, Utc};
use themodel_platform::{Violation, Violations, validate};
use themodel_proto::health as pb;

use crate::domain::feature::{Feature, FeatureFields, UPDATABLE_FIELDS, etag};

/// Longest product or feature key.
pub const MAX_KEY_LEN: usize = 64;

/// Validates a product or feature key: 1 to [`MAX_KEY_LEN`] characters of
/// lower-case letters, digits, `-`, `_` and `.`.
pub fn key(value: &str) -> Result<String, Vec<Violation>> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!(
                "{} must be 1 to {MAX_KEY_LEN} characters of lower-case letters, digits, \"-\", \"_\" and \".\"",
                validate::echo(value)
            ),
        )])
    }
}

/// Validates what a caller sets on a feature; paths relative to it.
pub fn feature_fields(feature: &pb::Feature) -> Result<FeatureFields, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check(
        "display_name",
        validate::text(&feature.display_name, 1, 200),
    );
    let display_name = v.finish(|| display_name.unwrap_or_default())?;
    Ok(FeatureFields {
        display_name,
        key_feature: feature.key_feature,
        retired: feature.retired,
    })
}

/// The contract form of a feature.
pub fn feature_to_proto(f: &Feature) -> pb::Feature {
    pb::Feature {
        product_key: f.product_key.clone(),
        feature_key: f.feature_key.clone(),
        display_name: f.fields.display_name.clone(),
        key_feature: f.fields.key_feature,
        retired: f.fields.retired,
        create_time: Some(timestamp(f.create_time)),
        update_time: Some(timestamp(f.update_time)),
        etag: etag(f.revision),
    }
}

/// Resolves a feature update mask (required).
pub fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    validate::update_mask(mask, UPDATABLE_FIELDS, "Feature")
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_mask(current: &mut pb::Feature, patch: &pb::Feature, paths: &[&str]) {
    for path in paths {
        match *path {
            "display_name" => current.display_name.clone_from(&patch.display_name),
            "key_feature" => current.key_feature = patch.key_feature,
            "retired" => current.retired = patch.retired,
            _ => {}
        }
    }
}

pub use themodel_platform::validate::timestamp;

/// An instant from a protobuf timestamp, if it is one.
pub fn instant(t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Vec<Violation>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| vec![Violation::new("", "is not a valid timestamp")])
}
