//! The feature catalogue: the features of each product that usage refers to.

use chrono::{DateTime, Utc};

/// Fields an update may name.
pub const UPDATABLE_FIELDS: &[&str] = &["display_name", "key_feature", "retired"];

/// What a caller sets on a feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureFields {
    /// Name to show.
    pub display_name: String,
    /// One of the product's key features.
    pub key_feature: bool,
    /// Takes no more usage.
    pub retired: bool,
}

/// A feature as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// The product.
    pub product_key: String,
    /// The feature's key within it.
    pub feature_key: String,
    /// What callers set.
    pub fields: FeatureFields,
    /// Added at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

/// The opaque version tag of a revision.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

/// The names of the fields that differ between two versions.
pub fn changed_fields(before: &FeatureFields, after: &FeatureFields) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.display_name != after.display_name {
        changed.push("display_name");
    }
    if before.key_feature != after.key_feature {
        changed.push("key_feature");
    }
    if before.retired != after.retired {
        changed.push("retired");
    }
    changed
}
