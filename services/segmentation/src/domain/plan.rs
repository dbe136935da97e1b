//! Planning and reporting across the books: the CSM headcount a business
//! plan needs month by month, and the touch-model mix against its target.

use super::account::Tier;
#[cfg(test)]
use super::coverage::Covered;

/// What a business plan says of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// The tier.
    pub tier: Tier,
    /// New accounts each month.
    pub new_accounts_per_month: u64,
    /// CS minutes each account takes a month.
    pub minutes_per_account: u64,
}

/// One tier in one month of a headcount plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierMonth {
    /// The tier.
    pub tier: Tier,
    /// Accounts at the end of the month.
    pub accounts: u64,
    /// CS hours they take, rounded up.
    pub hours: u64,
    /// CSMs those hours need.
    pub csms_needed: u64,
    /// CSMs serving the tier now.
    pub csms_available: u64,
}

impl TierMonth {
    /// True when the tier needs more CSMs than it has.
    pub fn short(&self) -> bool {
        self.csms_needed > self.csms_available
    }
}

/// CSMs needed month by month (month 1 is the first planned month) for tiers
/// starting from `accounts` and growing by `workloads`, each CSM working
/// `hours_per_csm` a month; `available` CSMs serve each tier now.
pub fn headcount(
    workloads: &[Workload],
    accounts: impl Fn(Tier) -> u64,
    available: impl Fn(Tier) -> u64,
    hours_per_csm: u64,
    months: u32,
) -> Vec<Vec<TierMonth>> {
    let minutes_per_csm = hours_per_csm.max(1) * 60;
    (1..=u64::from(months))
        .map(|month| {
            workloads
                .iter()
                .map(|w| {
                    let count = accounts(w.tier) + w.new_accounts_per_month * month;
                    let minutes = count * w.minutes_per_account;
                    TierMonth {
                        tier: w.tier,
                        accounts: count,
                        hours: minutes.div_ceil(60),
                        csms_needed: minutes.div_ceil(minutes_per_csm),
                        csms_available: available(w.tier),
                    }
                })
                .collect()
        })
        .collect()
}

/// A touch-model mix in basis points of the accounts (10000 = 100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mix {
    /// Pure high-touch.
    pub high: u64,
    /// Hybrid: human touches with tech-touch content.
    pub hybrid: u64,
    /// Pure tech-touch.
    pub tech: u64,
}

impl Mix {
    /// 20% pure high-touch, 60% hybrid, 20% pure tech-touch.
    pub const TARGET: Mix = Mix {
        high: 2000,
        hybrid: 6000,
        tech: 2000,
    };

    /// The share of accounts that would have to change model to reach
    /// `other`: half the sum of the differences, in basis points.
    pub fn distance(&self, other: &Mix) -> u64 {
        (self.high.abs_diff(other.high)
            + self.hybrid.abs_diff(other.hybrid)
            + self.tech.abs_diff(other.tech))
            / 2
    }
}

/// Accounts per model, and their mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MixCounts {
    /// High-touch accounts.
    pub high: u64,
    /// Low-touch accounts, and tech-touch accounts touched by a person.
    pub hybrid: u64,
    /// Tech-touch accounts no person touched.
    pub tech: u64,
}

impl MixCounts {
    /// The counts of accounts per tier (high, low, tech) by the rule of
    /// [`mix`], given how many of the tech-touch ones a person touched.
    pub fn of_tiers(tiers: [u64; 3], touched_tech: u64) -> Self {
        let touched_tech = touched_tech.min(tiers[2]);
        Self {
            high: tiers[0],
            hybrid: tiers[1] + touched_tech,
            tech: tiers[2] - touched_tech,
        }
    }

    /// The shares in basis points, rounded down (all zero without accounts).
    pub fn mix(&self) -> Mix {
        let total = self.high + self.hybrid + self.tech;
        let share = |n: u64| (n * 10_000).checked_div(total).unwrap_or(0);
        Mix {
            high: share(self.high),
            hybrid: share(self.hybrid),
            tech: share(self.tech),
        }
    }
}

/// Months before the as-of instant in which a human touchpoint makes a
/// tech-touch account hybrid, unless a report says otherwise.
pub const DEFAULT_MIX_WINDOW_MONTHS: u32 = 3;

/// The mix of accounts given as (tier, touched by a person in the window):
/// pure high-touch = high-touch accounts; hybrid = low-touch accounts and
/// touched tech-touch accounts; pure tech-touch = the other tech-touch
/// accounts. Untiered accounts are left out.
pub fn mix(accounts: impl IntoIterator<Item = (Tier, bool)>) -> MixCounts {
    let mut counts = MixCounts::default();
    for (tier, touched) in accounts {
        match tier {
            Tier::HighTouch => counts.high += 1,
            Tier::LowTouch => counts.hybrid += 1,
            Tier::TechTouch if touched => counts.hybrid += 1,
            Tier::TechTouch => counts.tech += 1,
            _ => {}
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_tier_give_the_mix_the_accounts_give() {
        let accounts = [
            (Tier::HighTouch, false),
            (Tier::LowTouch, true),
            (Tier::LowTouch, false),
            (Tier::TechTouch, true),
            (Tier::TechTouch, false),
            (Tier::TechTouch, false),
        ];
        assert_eq!(MixCounts::of_tiers([1, 2, 3], 1), mix(accounts));
        assert_eq!(
            MixCounts::of_tiers([1, 2, 3], 1),
            MixCounts {
                high: 1,
                hybrid: 3,
                tech: 2
            }
        );
    }

    #[test]
    fn headcount_breaks_in_the_first_month_the_hours_outgrow_the_csms() {
        // 20 high-touch accounts, 5 more a month, 10 h each; CSMs work 140 h.
        let plan = headcount(
            &[Workload {
                tier: Tier::HighTouch,
                new_accounts_per_month: 5,
                minutes_per_account: 600,
            }],
            |_| 20,
            |_| 2,
            140,
            6,
        );
        let months: Vec<_> = plan
            .iter()
            .map(|m| (m[0].accounts, m[0].csms_needed))
            .collect();
        // 25 accounts = 250 h = 2 CSMs; 30 = 300 h = 3 CSMs.
        assert_eq!(
            months,
            [(25, 2), (30, 3), (35, 3), (40, 3), (45, 4), (50, 4)]
        );
        let first_short = plan.iter().position(|m| m[0].short());
        assert_eq!(first_short, Some(1));
    }

    fn account(tier: Tier, touched: bool) -> Covered {
        Covered {
            id: format!("{tier:?}{touched}"),
            tier,
            owner: None,
            team: None,
            last_touch: touched.then(chrono::Utc::now),
        }
    }

    #[test]
    fn the_mix_counts_touched_tech_touch_accounts_as_hybrid() {
        let accounts = [
            account(Tier::HighTouch, false),
            account(Tier::LowTouch, false),
            account(Tier::TechTouch, true),
            account(Tier::TechTouch, false),
            account(Tier::TechTouch, false),
            account(Tier::Unspecified, true),
        ];
        let counts = mix(accounts.iter().map(|a| (a.tier, a.last_touch.is_some())));
        assert_eq!((counts.high, counts.hybrid, counts.tech), (1, 2, 2));
        let shares = counts.mix();
        assert_eq!(
            (shares.high, shares.hybrid, shares.tech),
            (2000, 4000, 4000)
        );
        // 20% of the accounts would have to move from pure tech to hybrid.
        assert_eq!(shares.distance(&Mix::TARGET), 2000);
        // A company all high-touch is 80% from the target.
        let all_high = Mix {
            high: 10_000,
            hybrid: 0,
            tech: 0,
        };
        assert_eq!(all_high.distance(&Mix::TARGET), 8000);
        assert_eq!(MixCounts::default().mix(), Mix::default());
    }
}
