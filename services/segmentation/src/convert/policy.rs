//! Conversions of tier policies between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::segmentation as pb;

use super::{
    csm::{capacity_from_proto, capacity_to_proto, verdict_to_proto},
    plan::{mix_from_proto, mix_to_proto},
};
use crate::domain::{
    books::TierCapacity,
    plan::{Mix, MixCounts},
    policy::{
        Amount, Capacity, Cutoffs, Plan, Rules, Shares, Summary, Thresholds, rule_violations,
    },
};

/// Validates policy rules and fills in their defaults. Violation paths start
/// with `rules`.
pub fn rules_from_proto(rules: Option<&pb::TierPolicyRules>) -> Result<Rules, Vec<Violation>> {
    let default = pb::TierPolicyRules::default();
    let r = rules.unwrap_or(&default);
    let mut v = Violations::new();
    let cutoffs = match &r.cutoffs {
        None => Some(Cutoffs::Shares(Shares::DEFAULT)),
        Some(pb::tier_policy_rules::Cutoffs::Shares(s)) => {
            let mut percent = |field: &str, value: i32| {
                let valid = u32::try_from(value).ok().filter(|p| *p <= 100);
                if valid.is_none() {
                    v.add(format!("rules.shares.{field}"), "must be 0 to 100");
                }
                valid.unwrap_or_default()
            };
            Some(Cutoffs::Shares(Shares {
                high: percent("high_touch_percent", s.high_touch_percent),
                low: percent("low_touch_percent", s.low_touch_percent),
                tech: percent("tech_touch_percent", s.tech_touch_percent),
            }))
        }
        Some(pb::tier_policy_rules::Cutoffs::Thresholds(t)) => thresholds_from_proto(t, &mut v),
    };
    let high_capacity = capacity(
        r.high_touch_capacity.as_ref(),
        Rules::HIGH_CAPACITY,
        "rules.high_touch_capacity",
        &mut v,
    );
    let low_capacity = capacity(
        r.low_touch_capacity.as_ref(),
        Rules::LOW_CAPACITY,
        "rules.low_touch_capacity",
        &mut v,
    );
    let target_arr_per_csm = match &r.target_arr_per_csm {
        Some(m) => v
            .check("rules.target_arr_per_csm", validate::Money::non_negative(m))
            .map(Some),
        None => Some(None),
    };
    let rebaseline_months = match u32::try_from(r.rebaseline_months) {
        Ok(0) => Some(Rules::REBASELINE_MONTHS),
        Ok(months) if months <= Rules::MAX_REBASELINE_MONTHS => Some(months),
        _ => {
            v.add(
                "rules.rebaseline_months",
                format!(
                    "must be 1 to {} (0 means {})",
                    Rules::MAX_REBASELINE_MONTHS,
                    Rules::REBASELINE_MONTHS
                ),
            );
            None
        }
    };
    // Rules across fields are checked only on fields that are valid alone.
    let target_mix = match &r.target_mix {
        Some(m) => v.check("rules.target_mix", mix_from_proto(m)),
        None => Some(Mix::TARGET),
    };
    let (Some(cutoffs), Some(target_arr_per_csm), Some(rebaseline_months), Some(target_mix), true) = (
        cutoffs,
        target_arr_per_csm,
        rebaseline_months,
        target_mix,
        v.is_empty(),
    ) else {
        return Err(v.into_vec());
    };
    let rules = Rules {
        cutoffs,
        high_capacity,
        low_capacity,
        target_arr_per_csm,
        rebaseline_months,
        target_mix,
    };
    for (field, description) in rule_violations(&rules) {
        v.add(field, description);
    }
    v.finish(|| rules)
}

fn thresholds_from_proto(t: &pb::TierThresholds, v: &mut Violations) -> Option<Cutoffs> {
    let mut amount = |field: &str, money: Option<&themodel_proto::common::Money>| {
        let path = format!("rules.thresholds.{field}");
        match money {
            Some(m) => v.check(&path, validate::Money::non_negative(m)),
            None => {
                v.add(path, "is required");
                None
            }
        }
    };
    let high = amount("high_touch_above", t.high_touch_above.as_ref());
    let low = amount("low_touch_above", t.low_touch_above.as_ref());
    let (high, low) = (high?, low?);
    if high.currency_code != low.currency_code {
        v.add(
            "rules.thresholds.low_touch_above.currency_code",
            format!(
                "must be the currency of high_touch_above ({}), not {}",
                high.currency_code, low.currency_code
            ),
        );
        return None;
    }
    Some(Cutoffs::Thresholds(Thresholds {
        high_above: Some(Amount::of(&high)),
        low_above: Some(Amount::of(&low)),
        currency: high.currency_code,
    }))
}

fn capacity(
    range: Option<&pb::CapacityRange>,
    default: Capacity,
    field: &str,
    v: &mut Violations,
) -> Capacity {
    range
        .and_then(|r| v.check(field, capacity_from_proto(r)))
        .unwrap_or(default)
}

/// The contract form of validated rules, defaults filled in.
pub fn rules_to_proto(rules: &Rules) -> pb::TierPolicyRules {
    let capacity = capacity_to_proto;
    pb::TierPolicyRules {
        cutoffs: Some(match &rules.cutoffs {
            Cutoffs::Shares(s) => pb::tier_policy_rules::Cutoffs::Shares(pb::TierShares {
                high_touch_percent: s.high as i32,
                low_touch_percent: s.low as i32,
                tech_touch_percent: s.tech as i32,
            }),
            Cutoffs::Thresholds(t) => {
                pb::tier_policy_rules::Cutoffs::Thresholds(thresholds_to_proto(t))
            }
        }),
        high_touch_capacity: Some(capacity(rules.high_capacity)),
        low_touch_capacity: Some(capacity(rules.low_capacity)),
        target_arr_per_csm: rules
            .target_arr_per_csm
            .as_ref()
            .map(validate::Money::to_proto),
        rebaseline_months: rules.rebaseline_months as i32,
        target_mix: Some(mix_to_proto(&rules.target_mix)),
    }
}

/// The contract form of money thresholds.
pub fn thresholds_to_proto(t: &Thresholds) -> pb::TierThresholds {
    let money = |a: Option<Amount>| a.map(|a| a.to_money(&t.currency).to_proto());
    pb::TierThresholds {
        high_touch_above: money(t.high_above),
        low_touch_above: money(t.low_above),
    }
}

fn summary_to_proto(
    s: &Summary,
    currency: &str,
    capacity: Option<Capacity>,
    csms_available: u64,
) -> pb::TierSummary {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let serving = vec![capacity; csms_available as usize];
    let verdict = TierCapacity::judge(s.tier, s.count, &serving, capacity).verdict;
    pb::TierSummary {
        csms_available: clamp(csms_available),
        capacity_verdict: verdict_to_proto(verdict) as i32,
        tier: s.tier as i32,
        account_count: clamp(s.count),
        total_acv: Some(s.total_acv.to_money(currency).to_proto()),
        average_acv: Some(s.average_acv().to_money(currency).to_proto()),
        csms_needed: clamp(s.csms_needed),
        csms_at_min_capacity: clamp(s.csms_at_min_capacity),
        ideal_accounts_per_csm: i64::try_from(s.ideal_accounts_per_csm).unwrap_or(i64::MAX),
    }
}

/// The contract form of a mix of accounts against `target`.
pub fn mix_figures_to_proto(counts: &MixCounts, target: &Mix) -> pb::MixFigures {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let shares = counts.mix();
    pb::MixFigures {
        high_touch_count: clamp(counts.high),
        hybrid_count: clamp(counts.hybrid),
        tech_touch_count: clamp(counts.tech),
        high_touch_basis_points: clamp(shares.high),
        hybrid_basis_points: clamp(shares.hybrid),
        tech_touch_basis_points: clamp(shares.tech),
        target: Some(mix_to_proto(target)),
        distance_to_target_basis_points: clamp(shares.distance(target)),
    }
}

/// The contract form of what `rules` do as version `version`, judged
/// against `csms` serving each tier (high, low, tech) and giving `mix`; the
/// apply fields are left for the caller.
pub fn policy_to_proto(
    version: i32,
    rules: &Rules,
    plan: &Plan,
    csms: [u64; 3],
    mix: &MixCounts,
) -> pb::TierPolicy {
    let currency = &plan.thresholds.currency;
    let capacity = [Some(rules.high_capacity), Some(rules.low_capacity), None];
    pb::TierPolicy {
        version,
        rules: Some(rules_to_proto(rules)),
        thresholds: Some(thresholds_to_proto(&plan.thresholds)),
        ranked_count: i32::try_from(plan.ranked).unwrap_or(i32::MAX),
        tiers: plan
            .summaries
            .iter()
            .zip(capacity.into_iter().zip(csms))
            .map(|(s, (capacity, available))| summary_to_proto(s, currency, capacity, available))
            .collect(),
        moved_count: i32::try_from(plan.moved).unwrap_or(i32::MAX),
        mix: Some(mix_figures_to_proto(mix, &rules.target_mix)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use themodel_proto::common::Money;

    fn violated(rules: pb::TierPolicyRules) -> Vec<String> {
        rules_from_proto(Some(&rules))
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    fn yen(units: i64) -> Option<Money> {
        Some(Money {
            currency_code: "JPY".into(),
            units,
            nanos: 0,
        })
    }

    #[test]
    fn unset_rules_are_the_defaults_and_round_trip() {
        let rules = rules_from_proto(None).expect("defaults");
        assert_eq!(rules.cutoffs, Cutoffs::Shares(Shares::DEFAULT));
        assert_eq!(rules.high_capacity, Rules::HIGH_CAPACITY);
        assert_eq!(rules.low_capacity, Rules::LOW_CAPACITY);
        assert_eq!(rules.rebaseline_months, 6);
        let proto = rules_to_proto(&rules);
        assert_eq!(rules_from_proto(Some(&proto)), Ok(rules));
    }

    #[test]
    fn every_bad_rule_is_named() {
        use pb::tier_policy_rules::Cutoffs as C;
        let bad_shares = pb::TierPolicyRules {
            cutoffs: Some(C::Shares(pb::TierShares {
                high_touch_percent: 10,
                low_touch_percent: 30,
                tech_touch_percent: 50,
            })),
            high_touch_capacity: Some(pb::CapacityRange {
                min_accounts: 10,
                max_accounts: 5,
            }),
            low_touch_capacity: Some(pb::CapacityRange {
                min_accounts: 0,
                max_accounts: 30,
            }),
            rebaseline_months: 25,
            ..Default::default()
        };
        assert_eq!(
            violated(bad_shares),
            [
                "rules.high_touch_capacity.min_accounts",
                "rules.low_touch_capacity.min_accounts",
                "rules.rebaseline_months"
            ]
        );
        let contradictions = pb::TierPolicyRules {
            cutoffs: Some(C::Shares(pb::TierShares {
                high_touch_percent: 10,
                low_touch_percent: 30,
                tech_touch_percent: 50,
            })),
            ..Default::default()
        };
        assert_eq!(violated(contradictions), ["rules.shares"]);
        let negative = pb::TierPolicyRules {
            cutoffs: Some(C::Shares(pb::TierShares {
                high_touch_percent: -10,
                low_touch_percent: 50,
                tech_touch_percent: 60,
            })),
            ..Default::default()
        };
        assert_eq!(violated(negative), ["rules.shares.high_touch_percent"]);
        let overlapping = pb::TierPolicyRules {
            cutoffs: Some(C::Thresholds(pb::TierThresholds {
                high_touch_above: yen(1_000_000),
                low_touch_above: yen(5_000_000),
            })),
            ..Default::default()
        };
        assert_eq!(violated(overlapping), ["rules.thresholds.low_touch_above"]);
        let missing = pb::TierPolicyRules {
            cutoffs: Some(C::Thresholds(pb::TierThresholds {
                high_touch_above: yen(1_000_000),
                low_touch_above: None,
            })),
            ..Default::default()
        };
        assert_eq!(violated(missing), ["rules.thresholds.low_touch_above"]);
        let two_currencies = pb::TierPolicyRules {
            cutoffs: Some(C::Thresholds(pb::TierThresholds {
                high_touch_above: yen(1_000_000),
                low_touch_above: Some(Money {
                    currency_code: "USD".into(),
                    units: 1,
                    nanos: 0,
                }),
            })),
            ..Default::default()
        };
        assert_eq!(
            violated(two_currencies),
            ["rules.thresholds.low_touch_above.currency_code"]
        );
    }
}
