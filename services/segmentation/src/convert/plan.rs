//! Conversions of headcount plans and mix reports.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::segmentation as pb;

use crate::domain::{
    account::Tier,
    plan::{Mix, TierMonth, Workload},
};

/// Most new accounts a month and CS minutes per account a plan may state.
const MAX_NEW_ACCOUNTS: i32 = 1_000_000;
const MAX_MINUTES: i32 = 100_000;

/// Validates a mix; paths are relative to it.
pub fn mix_from_proto(m: &pb::TouchMix) -> Result<Mix, Vec<Violation>> {
    let parts = [m.high_touch_percent, m.hybrid_percent, m.tech_touch_percent];
    if parts.iter().any(|p| !(0..=100).contains(p)) || parts.iter().sum::<i32>() != 100 {
        return Err(vec![Violation::new(
            "",
            format!(
                "percentages must be 0 to 100 and sum to 100, not {} + {} + {}",
                parts[0], parts[1], parts[2]
            ),
        )]);
    }
    let bp = |p: i32| p as u64 * 100;
    Ok(Mix {
        high: bp(parts[0]),
        hybrid: bp(parts[1]),
        tech: bp(parts[2]),
    })
}

/// The contract form of a mix given in whole percent.
pub fn mix_to_proto(m: &Mix) -> pb::TouchMix {
    let percent = |bp: u64| (bp / 100) as i32;
    pb::TouchMix {
        high_touch_percent: percent(m.high),
        hybrid_percent: percent(m.hybrid),
        tech_touch_percent: percent(m.tech),
    }
}

/// Validates the tiers of a business plan; paths start with `tiers`.
pub fn workloads_from_proto(tiers: &[pb::TierWorkload]) -> Result<Vec<Workload>, Vec<Violation>> {
    let mut v = Violations::new();
    if tiers.is_empty() || tiers.len() > 3 {
        v.add("tiers", "must plan 1 to 3 tiers");
    }
    let mut workloads: Vec<Workload> = Vec::new();
    for (i, t) in tiers.iter().enumerate() {
        let path = format!("tiers[{i}]");
        let tier = match validate::known_enum::<Tier>(t.tier) {
            Ok(Tier::Unspecified) | Err(_) => {
                v.add(format!("{path}.tier"), "must be a tier");
                None
            }
            Ok(tier) if workloads.iter().any(|w| w.tier == tier) => {
                v.add(format!("{path}.tier"), "is planned twice");
                None
            }
            Ok(tier) => Some(tier),
        };
        let mut bounded = |field: &str, value: i32, max: i32| {
            if (0..=max).contains(&value) {
                Some(value as u64)
            } else {
                v.add(format!("{path}.{field}"), format!("must be 0 to {max}"));
                None
            }
        };
        let new = bounded(
            "new_accounts_per_month",
            t.new_accounts_per_month,
            MAX_NEW_ACCOUNTS,
        );
        let minutes = bounded(
            "cs_minutes_per_account",
            t.cs_minutes_per_account,
            MAX_MINUTES,
        );
        if let (Some(tier), Some(new_accounts_per_month), Some(minutes_per_account)) =
            (tier, new, minutes)
        {
            workloads.push(Workload {
                tier,
                new_accounts_per_month,
                minutes_per_account,
            });
        }
    }
    v.finish(|| workloads)
}

/// The contract form of one tier in one month.
pub fn tier_month_to_proto(m: &TierMonth) -> pb::TierHeadcount {
    pb::TierHeadcount {
        tier: m.tier as i32,
        account_count: i64::try_from(m.accounts).unwrap_or(i64::MAX),
        cs_hours: i64::try_from(m.hours).unwrap_or(i64::MAX),
        csms_needed: i64::try_from(m.csms_needed).unwrap_or(i64::MAX),
        csms_available: i32::try_from(m.csms_available).unwrap_or(i32::MAX),
        short: m.short(),
    }
}
