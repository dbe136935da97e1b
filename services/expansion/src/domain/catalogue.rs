//! The product catalogue: products, the plans they are sold on, and the
//! monthly recurring revenue a plan's price stands for.

use chrono::{DateTime, Utc};
use themodel_platform::validate::Money;
pub use themodel_proto::expansion::BillingPeriod;

/// Most plans one product has.
pub const MAX_PLANS: usize = 50;

/// Fields an update may name.
pub const UPDATABLE_FIELDS: &[&str] = &["description", "display_name", "plans", "retired"];

/// A way a product is sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Key within the product.
    pub key: String,
    /// Name to show.
    pub display_name: String,
    /// Price of one unit per billing period.
    pub list_price: Money,
    /// How often the price is billed.
    pub period: BillingPeriod,
    /// No longer sold.
    pub retired: bool,
}

/// What a caller sets on a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFields {
    /// Name to show.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// The plans, in the caller's order.
    pub plans: Vec<Plan>,
    /// No longer sold.
    pub retired: bool,
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The key the suite refers to it by.
    pub key: String,
    /// What callers set.
    pub fields: ProductFields,
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

/// Months in a billing period; none for an unspecified one.
pub fn months(period: BillingPeriod) -> Option<u32> {
    match period {
        BillingPeriod::Unspecified => None,
        BillingPeriod::Monthly => Some(1),
        BillingPeriod::Quarterly => Some(3),
        BillingPeriod::Semiannual => Some(6),
        BillingPeriod::Annual => Some(12),
        BillingPeriod::Biennial => Some(24),
        BillingPeriod::Triennial => Some(36),
    }
}

/// Decimal digits of a currency's minor unit (ISO 4217): 0 for currencies
/// without one in use (JPY, KRW, ...), 3 for the dinars and rials that have
/// thousandths, 2 for the rest.
pub fn minor_digits(currency: &str) -> u32 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    const THOUSANDTHS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if NONE.contains(&currency) {
        0
    } else if THOUSANDTHS.contains(&currency) {
        3
    } else {
        2
    }
}

const NANOS: i128 = 1_000_000_000;

/// A non-negative price per `period` as monthly recurring revenue: divided
/// by the period's months and rounded half away from zero to the currency's
/// minor unit, so an annual 2,000.00 USD is 166.67 USD. None for an
/// unspecified period.
pub fn monthly(price: &Money, period: BillingPeriod) -> Option<Money> {
    let months = i128::from(months(period)?);
    let total = i128::from(price.units) * NANOS + i128::from(price.nanos);
    let step = 10i128.pow(9 - minor_digits(&price.currency_code));
    // Half away from zero of total / (months * step), for total >= 0.
    let divisor = months * step;
    let rounded = (2 * total + divisor) / (2 * divisor) * step;
    Some(Money {
        currency_code: price.currency_code.clone(),
        units: i64::try_from(rounded / NANOS).ok()?,
        nanos: i32::try_from(rounded % NANOS).ok()?,
    })
}

/// Why a new plan list may not replace the current one: every plan stays
/// (retire it instead), and keeps its billing period (a different period
/// is a different plan).
pub fn plan_change_refusal(current: &[Plan], new: &[Plan]) -> Option<String> {
    for plan in current {
        match new.iter().find(|p| p.key == plan.key) {
            None => {
                return Some(format!(
                    "plan {} is left out: plans are retired, never removed",
                    plan.key
                ));
            }
            Some(p) if p.period != plan.period => {
                return Some(format!(
                    "plan {} cannot change its billing period: add a plan for the new period",
                    plan.key
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// The names of the fields that differ between two versions of a product.
pub fn changed_fields(before: &ProductFields, after: &ProductFields) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.display_name != after.display_name {
        changed.push("display_name");
    }
    if before.description != after.description {
        changed.push("description");
    }
    if before.plans != after.plans {
        changed.push("plans");
    }
    if before.retired != after.retired {
        changed.push("retired");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn money(currency: &str, units: i64, nanos: i32) -> Money {
        Money {
            currency_code: currency.into(),
            units,
            nanos,
        }
    }

    fn mrr(currency: &str, units: i64, nanos: i32, period: BillingPeriod) -> (i64, i32) {
        let m = monthly(&money(currency, units, nanos), period).expect("period");
        (m.units, m.nanos)
    }

    #[test]
    fn an_annual_plan_billed_2000_is_166_67_a_month() {
        assert_eq!(
            mrr("USD", 2000, 0, BillingPeriod::Annual),
            (166, 670_000_000)
        );
        assert_eq!(mrr("USD", 100, 0, BillingPeriod::Monthly), (100, 0));
        // 299.99 / 3 = 99.9966... -> 100.00.
        assert_eq!(
            mrr("EUR", 299, 990_000_000, BillingPeriod::Quarterly),
            (100, 0)
        );
    }

    #[test]
    fn rounding_is_to_the_currency_minor_unit_half_away_from_zero() {
        // 1000 / 12 = 83.33 JPY: no minor unit.
        assert_eq!(mrr("JPY", 1000, 0, BillingPeriod::Annual), (83, 0));
        // 10 / 3 = 3.3333 KWD: thousandths.
        assert_eq!(
            mrr("KWD", 10, 0, BillingPeriod::Quarterly),
            (3, 333_000_000)
        );
        // 0.06 / 12 = 0.005 USD: the half goes up.
        assert_eq!(
            mrr("USD", 0, 60_000_000, BillingPeriod::Annual),
            (0, 10_000_000)
        );
        // 1,800 / 24 = 75 exactly, 1,000 / 36 = 27.777... -> 27.78.
        assert_eq!(mrr("USD", 1800, 0, BillingPeriod::Biennial), (75, 0));
        assert_eq!(
            mrr("USD", 1000, 0, BillingPeriod::Triennial),
            (27, 780_000_000)
        );
        assert_eq!(
            monthly(&money("USD", 1, 0), BillingPeriod::Unspecified),
            None
        );
    }

    fn plan(key: &str, period: BillingPeriod) -> Plan {
        Plan {
            key: key.into(),
            display_name: key.into(),
            list_price: money("USD", 10, 0),
            period,
            retired: false,
        }
    }

    #[test]
    fn plans_are_added_and_retired_but_never_removed_nor_given_another_period() {
        let current = [plan("a", BillingPeriod::Monthly)];
        let added = [
            plan("a", BillingPeriod::Monthly),
            plan("b", BillingPeriod::Annual),
        ];
        assert_eq!(plan_change_refusal(&current, &added), None);
        assert!(plan_change_refusal(&current, &added[1..]).is_some());
        assert!(plan_change_refusal(&current, &[plan("a", BillingPeriod::Annual)]).is_some());
    }

    proptest! {
        /// Twelve months of an annual plan's MRR are within half a minor
        /// unit per month of the price.
        #[test]
        fn monthly_revenue_adds_back_up_to_the_price(units in 0i64..10_000_000, cents in 0i32..100) {
            let price = money("USD", units, cents * 10_000_000);
            let m = monthly(&price, BillingPeriod::Annual).expect("period");
            let total = |m: &Money| i128::from(m.units) * NANOS + i128::from(m.nanos);
            let drift = (total(&m) * 12 - total(&price)).abs();
            prop_assert!(drift <= 12 * 5_000_000);
        }
    }
}
