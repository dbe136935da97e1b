//! Self-success: the configurable rule that routes a new plan to its
//! product's tech-touch-only playbook, and its target share.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Routing is on.
    pub enabled: bool,
    /// Tiers' names it applies to; empty for any.
    pub tiers: Vec<String>,
    /// Most products with a plan, this one included; 0 for any.
    pub max_products: i32,
    /// Signals that must have reached their thresholds.
    pub required: Vec<(String, i64)>,
    /// Lowest target share, percent.
    pub target_min: i32,
    /// Highest target share, percent.
    pub target_max: i32,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            enabled: false,
            tiers: Vec::new(),
            max_products: 0,
            required: Vec::new(),
            target_min: 10,
            target_max: 15,
        }
    }
}

impl Rule {
    /// Why it is not acceptable, per field relative to the rule.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(0..=100).contains(&self.max_products) {
            problems.push((
                "max_products".to_owned(),
                "must be 0 (any) to 100".to_owned(),
            ));
        }
        if self.required.len() > 10 {
            problems.push((
                "required_signals".to_owned(),
                "must hold at most 10 signals".to_owned(),
            ));
        }
        for (i, (_, threshold)) in self.required.iter().enumerate() {
            if *threshold < 1 {
                problems.push((
                    format!("required_signals[{i}].threshold"),
                    "must be at least 1".to_owned(),
                ));
            }
        }
        if !(0..=100).contains(&self.target_min) {
            problems.push((
                "target_min_percent".to_owned(),
                "must be 0 to 100".to_owned(),
            ));
        }
        if self.target_max < self.target_min || self.target_max > 100 {
            problems.push((
                "target_max_percent".to_owned(),
                "must be target_min_percent to 100".to_owned(),
            ));
        }
        problems
    }

    /// Whether a new plan of an account of `tier`, which would then have
    /// plans for `products` products, with `signals` of the product, goes
    /// to self-success.
    pub fn routes(&self, tier: &str, products: usize, signals: &HashMap<String, i64>) -> bool {
        self.enabled
            && (self.tiers.is_empty() || self.tiers.iter().any(|t| t == tier))
            && (self.max_products == 0
                || products <= usize::try_from(self.max_products).unwrap_or(0))
            && self
                .required
                .iter()
                .all(|(key, threshold)| signals.get(key).is_some_and(|v| v >= threshold))
    }

    /// Whether `share` (basis points) lies within the target.
    pub fn within(&self, share: i32) -> bool {
        self.target_min * 100 <= share && share <= self.target_max * 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_routed_only_when_every_condition_holds() {
        let rule = Rule {
            enabled: true,
            tiers: vec!["TIER_TECH_TOUCH".into()],
            max_products: 2,
            required: vec![("cloud_literate".into(), 1)],
            ..Rule::default()
        };
        let literate = HashMap::from([("cloud_literate".to_owned(), 1)]);
        assert!(rule.routes("TIER_TECH_TOUCH", 2, &literate));
        assert!(!rule.routes("TIER_LOW_TOUCH", 1, &literate));
        assert!(!rule.routes("TIER_TECH_TOUCH", 3, &literate));
        assert!(!rule.routes("TIER_TECH_TOUCH", 1, &HashMap::new()));
        let off = Rule {
            enabled: false,
            ..rule.clone()
        };
        assert!(!off.routes("TIER_TECH_TOUCH", 1, &literate));
        assert!(rule.within(1_000) && rule.within(1_500));
        assert!(!rule.within(1_501) && !rule.within(999));
        let bad = Rule {
            target_min: 20,
            target_max: 15,
            max_products: -1,
            ..rule
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["max_products", "target_max_percent"]);
    }
}
