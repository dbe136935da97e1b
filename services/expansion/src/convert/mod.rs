//! Conversions between the contract and the domain, with the validation of
//! everything a caller sends. Violation paths are relative to the converted
//! value; handlers prefix them.

pub mod pipeline;
pub mod subscription;

use std::collections::HashSet;

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::expansion as pb;

use crate::domain::catalogue::{
    BillingPeriod, MAX_PLANS, Plan, Product, ProductFields, UPDATABLE_FIELDS, etag, monthly,
};

/// Longest product or plan key.
pub const MAX_KEY_LEN: usize = 64;

/// Validates a product or plan key: 1 to [`MAX_KEY_LEN`] characters of
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

/// Validates a plan; paths are relative to it.
fn plan_from_proto(plan: &pb::Plan) -> Result<Plan, Vec<Violation>> {
    let mut v = Violations::new();
    let key = v.check("plan_key", key(&plan.plan_key));
    let display_name = v.check("display_name", validate::text(&plan.display_name, 1, 200));
    let list_price = match &plan.list_price {
        Some(price) => v.check("list_price", validate::Money::non_negative(price)),
        None => {
            v.add("list_price", "is required");
            None
        }
    };
    let period = match validate::known_enum::<BillingPeriod>(plan.billing_period) {
        Ok(BillingPeriod::Unspecified) => {
            v.add("billing_period", "is required");
            None
        }
        result => v.check("billing_period", result),
    };
    let (Some(key), Some(display_name), Some(list_price), Some(period), true) =
        (key, display_name, list_price, period, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(Plan {
        key,
        display_name,
        list_price,
        period,
        retired: plan.retired,
    })
}

/// Validates the caller-set fields of a product; paths are relative to it.
pub fn product_fields_from_proto(product: &pb::Product) -> Result<ProductFields, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check(
        "display_name",
        validate::text(&product.display_name, 1, 200),
    );
    let description = v.check("description", validate::text(&product.description, 0, 2000));
    if product.plans.is_empty() {
        v.add("plans", "must hold at least one plan");
    } else if product.plans.len() > MAX_PLANS {
        v.add("plans", format!("must hold at most {MAX_PLANS} plans"));
    }
    let mut plans = Vec::with_capacity(product.plans.len());
    let mut keys = HashSet::new();
    for (i, plan) in product.plans.iter().take(MAX_PLANS).enumerate() {
        if let Some(plan) = v.check(&format!("plans[{i}]"), plan_from_proto(plan)) {
            if !keys.insert(plan.key.clone()) {
                v.add(
                    format!("plans[{i}].plan_key"),
                    format!(
                        "{} is the key of an earlier plan",
                        validate::echo(&plan.key)
                    ),
                );
            }
            plans.push(plan);
        }
    }
    let (Some(display_name), Some(description), true) = (display_name, description, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(ProductFields {
        display_name,
        description,
        plans,
        retired: product.retired,
    })
}

/// The contract form of a plan.
fn plan_to_proto(plan: &Plan) -> pb::Plan {
    pb::Plan {
        plan_key: plan.key.clone(),
        display_name: plan.display_name.clone(),
        list_price: Some(plan.list_price.to_proto()),
        billing_period: plan.period as i32,
        list_mrr: monthly(&plan.list_price, plan.period).map(|m| m.to_proto()),
        retired: plan.retired,
    }
}

/// The contract form of a product.
pub fn product_to_proto(product: &Product) -> pb::Product {
    let f = &product.fields;
    pb::Product {
        product_key: product.key.clone(),
        display_name: f.display_name.clone(),
        description: f.description.clone(),
        plans: f.plans.iter().map(plan_to_proto).collect(),
        retired: f.retired,
        create_time: Some(timestamp(product.create_time)),
        update_time: Some(timestamp(product.update_time)),
        etag: etag(product.revision),
    }
}

/// Resolves a product update mask (required).
pub fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    validate::update_mask(mask, UPDATABLE_FIELDS, "Product")
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_mask(current: &mut pb::Product, patch: &pb::Product, fields: &[&str]) {
    for field in fields {
        match *field {
            "display_name" => current.display_name.clone_from(&patch.display_name),
            "description" => current.description.clone_from(&patch.description),
            "plans" => current.plans.clone_from(&patch.plans),
            "retired" => current.retired = patch.retired,
            _ => {}
        }
    }
}

pub use themodel_platform::validate::timestamp;
