//! Tier policies: rank accounts by ACV + potential ACV, cut the ranking into
//! touch models, and size the books of business that result.
//!
//! Amounts are exact (nanos in an `i128`); the tier of an account depends on
//! its amount alone, so ranking at a re-baseline and tiering one account
//! between re-baselines by the stored thresholds always agree.

use std::collections::BTreeSet;

use themodel_platform::validate::Money;

use super::account::{AccountFields, LifecycleStatus, Tier, tier_slot};

pub use themodel_proto::segmentation::TierRule;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// An exact, non-negative amount of one currency, in nanos. Capped at the
/// largest amount a row stores (`i64::MAX` units), so an amount computed
/// here equals the one read back from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i128);

impl Amount {
    /// The largest storable amount.
    pub const MAX: Amount = Amount(i64::MAX as i128 * NANOS_PER_UNIT + 999_999_999);

    /// The amount of `money` (its currency is the caller's concern).
    pub fn of(money: &Money) -> Self {
        Self::from_parts(money.units, money.nanos)
    }

    /// The amount of whole `units` and `nanos`, as stored.
    pub fn from_parts(units: i64, nanos: i32) -> Self {
        Self(units as i128 * NANOS_PER_UNIT + nanos as i128).capped()
    }

    fn capped(self) -> Self {
        Self(self.0.clamp(0, Self::MAX.0))
    }

    /// Whole units and nanos, as stored.
    pub fn parts(self) -> (i64, i32) {
        (
            (self.0 / NANOS_PER_UNIT) as i64,
            (self.0 % NANOS_PER_UNIT) as i32,
        )
    }

    /// As money in `currency`.
    pub fn to_money(self, currency: &str) -> Money {
        let (units, nanos) = self.parts();
        Money {
            currency_code: currency.to_owned(),
            units,
            nanos,
        }
    }

    fn plus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0)).capped()
    }
}

/// The ranking basis of an account: ACV + potential ACV.
pub fn basis(fields: &AccountFields) -> Amount {
    let potential = fields
        .potential_acv
        .as_ref()
        .map(Amount::of)
        .unwrap_or_default();
    Amount::of(&fields.acv).plus(potential)
}

/// Shares of the ranking, in percent; they sum to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    /// Top share: high-touch.
    pub high: u32,
    /// Next share: low-touch.
    pub low: u32,
    /// The rest: tech-touch.
    pub tech: u32,
}

impl Shares {
    /// Top 10% high-touch, next 30% low-touch, remaining 60% tech-touch.
    pub const DEFAULT: Shares = Shares {
        high: 10,
        low: 30,
        tech: 60,
    };
}

/// Money cut-offs: above `high_above` is high-touch, else above `low_above`
/// low-touch, else tech-touch. `None` lets every amount in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Currency of the amounts.
    pub currency: String,
    /// High-touch floor (exclusive).
    pub high_above: Option<Amount>,
    /// Low-touch floor (exclusive).
    pub low_above: Option<Amount>,
}

impl Thresholds {
    /// The tier of an account whose basis is `amount`.
    pub fn tier_of(&self, amount: Amount) -> Tier {
        let above = |floor: Option<Amount>| floor.is_none_or(|f| amount > f);
        if above(self.high_above) {
            Tier::HighTouch
        } else if above(self.low_above) {
            Tier::LowTouch
        } else {
            Tier::TechTouch
        }
    }
}

/// How a policy sets its cut-offs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cutoffs {
    /// By rank share, resolved to thresholds on the data at hand.
    Shares(Shares),
    /// As given.
    Thresholds(Thresholds),
}

/// Accounts one CSM carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Fewest.
    pub min: u32,
    /// Most.
    pub max: u32,
}

/// The rules of a policy version, validated and with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Cut-offs.
    pub cutoffs: Cutoffs,
    /// Accounts per high-touch CSM.
    pub high_capacity: Capacity,
    /// Accounts per low-touch CSM.
    pub low_capacity: Capacity,
    /// ARR one CSM should carry.
    pub target_arr_per_csm: Option<Money>,
    /// Months to the next re-baseline.
    pub rebaseline_months: u32,
    /// The mix to report against.
    pub target_mix: super::plan::Mix,
}

impl Rules {
    /// High-touch CSMs carry 5-10 accounts.
    pub const HIGH_CAPACITY: Capacity = Capacity { min: 5, max: 10 };
    /// Low-touch CSMs carry 20-30 accounts.
    pub const LOW_CAPACITY: Capacity = Capacity { min: 20, max: 30 };
    /// Re-baseline every half year.
    pub const REBASELINE_MONTHS: u32 = 6;
    /// Longest re-baseline cadence.
    pub const MAX_REBASELINE_MONTHS: u32 = 24;

    /// The rule that decides tiers when this policy is applied.
    pub fn rule(&self) -> TierRule {
        match self.cutoffs {
            Cutoffs::Shares(_) => TierRule::RankShare,
            Cutoffs::Thresholds(_) => TierRule::MoneyThreshold,
        }
    }
}

/// Rules that involve more than one field, as (field, description) pairs.
pub fn rule_violations(rules: &Rules) -> Vec<(&'static str, String)> {
    let mut violations = Vec::new();
    match &rules.cutoffs {
        Cutoffs::Shares(s) => {
            let sum = s.high + s.low + s.tech;
            if sum != 100 {
                violations.push((
                    "rules.shares",
                    format!(
                        "must sum to 100 percent, not {sum} ({} + {} + {})",
                        s.high, s.low, s.tech
                    ),
                ));
            }
        }
        Cutoffs::Thresholds(t) => {
            if let (Some(high), Some(low)) = (t.high_above, t.low_above)
                && high < low
            {
                violations.push((
                    "rules.thresholds.low_touch_above",
                    "must not be above high_touch_above: the tiers would overlap".into(),
                ));
            }
        }
    }
    for (field, capacity) in [
        ("rules.high_touch_capacity", rules.high_capacity),
        ("rules.low_touch_capacity", rules.low_capacity),
    ] {
        if capacity.min > capacity.max {
            violations.push((
                field,
                format!(
                    "min_accounts ({}) must not exceed max_accounts ({})",
                    capacity.min, capacity.max
                ),
            ));
        }
    }
    violations
}

/// An account as the ranking sees it: its amounts and tier, not its id, so a
/// million of them fit in a few tens of MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// ACV + potential ACV.
    pub basis: Amount,
    /// ACV alone, for the books' sizes.
    pub acv: Amount,
    /// Tier now.
    pub tier: Tier,
}

/// Why a policy cannot be applied to the data at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Amounts in these currencies would have to be compared.
    MixedCurrencies(Vec<String>),
    /// Shares need accounts to rank, and there are none.
    NothingToRank,
}

/// The effect of a policy on one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The tier.
    pub tier: Tier,
    /// Accounts in it.
    pub count: u64,
    /// Their ACV.
    pub total_acv: Amount,
    /// Fewest CSMs at maximum capacity.
    pub csms_needed: u64,
    /// Most CSMs that each still carry the minimum.
    pub csms_at_min_capacity: u64,
    /// Target ARR per CSM / average ACV.
    pub ideal_accounts_per_csm: u64,
}

impl Summary {
    /// Average ACV, rounded down; zero for an empty tier.
    pub fn average_acv(&self) -> Amount {
        if self.count == 0 {
            Amount::default()
        } else {
            Amount(self.total_acv.0 / self.count as i128)
        }
    }
}

/// What applying a policy does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The money cut-offs.
    pub thresholds: Thresholds,
    /// Accounts ranked.
    pub ranked: u64,
    /// High-touch, low-touch, tech-touch.
    pub summaries: [Summary; 3],
    /// Accounts whose tier changes.
    pub moved: u64,
}

/// What `rules` do to `population` (every account that is not churned),
/// whose amounts are in `currencies`.
pub fn plan(
    rules: &Rules,
    population: &[Member],
    currencies: &BTreeSet<String>,
) -> Result<Plan, PlanError> {
    let mut involved = currencies.clone();
    match &rules.cutoffs {
        Cutoffs::Thresholds(t) => {
            involved.insert(t.currency.clone());
        }
        Cutoffs::Shares(_) if population.is_empty() => return Err(PlanError::NothingToRank),
        Cutoffs::Shares(_) => {}
    }
    if let Some(target) = &rules.target_arr_per_csm {
        involved.insert(target.currency_code.clone());
    }
    if involved.len() > 1 {
        return Err(PlanError::MixedCurrencies(involved.into_iter().collect()));
    }
    let currency = involved.into_iter().next().unwrap_or_default();
    let thresholds = match &rules.cutoffs {
        Cutoffs::Thresholds(t) => t.clone(),
        Cutoffs::Shares(shares) => resolve_shares(*shares, population, currency.clone()),
    };

    let mut counts = [0u64; 3];
    let mut acv = [Amount::default(); 3];
    let mut moved = 0;
    for member in population {
        let tier = thresholds.tier_of(member.basis);
        // `tier_of` always gives one of the three.
        let slot = tier_slot(tier).unwrap_or(2);
        counts[slot] += 1;
        acv[slot] = acv[slot].plus(member.acv);
        if tier != member.tier {
            moved += 1;
        }
    }
    let target = rules.target_arr_per_csm.as_ref().map(Amount::of);
    let summary = |slot: usize, tier: Tier, capacity: Option<Capacity>| {
        let count = counts[slot];
        let (csms_needed, csms_at_min_capacity) = match capacity {
            Some(c) => {
                let needed = count.div_ceil(u64::from(c.max.max(1)));
                (needed, needed.max(count / u64::from(c.min.max(1))))
            }
            None => (0, 0),
        };
        let mut summary = Summary {
            tier,
            count,
            total_acv: acv[slot],
            csms_needed,
            csms_at_min_capacity,
            ideal_accounts_per_csm: 0,
        };
        let average = summary.average_acv();
        if let Some(target) = target
            && average.0 > 0
        {
            summary.ideal_accounts_per_csm =
                u64::try_from(target.0 / average.0).unwrap_or(u64::MAX);
        }
        summary
    };
    Ok(Plan {
        thresholds,
        ranked: population.len() as u64,
        summaries: [
            summary(0, Tier::HighTouch, Some(rules.high_capacity)),
            summary(1, Tier::LowTouch, Some(rules.low_capacity)),
            summary(2, Tier::TechTouch, None),
        ],
        moved,
    })
}

/// Turns shares into money floors. A slot holds the cumulative share of the
/// accounts rounded half up; its floor is the amount of the first account
/// ranked outside it, and only accounts strictly above the floor are in, so
/// accounts tied at a cut-off go to the lower tier.
fn resolve_shares(shares: Shares, population: &[Member], currency: String) -> Thresholds {
    let mut amounts: Vec<Amount> = population.iter().map(|m| m.basis).collect();
    amounts.sort_unstable_by(|a, b| b.cmp(a));
    let n = amounts.len() as u64;
    let floor = |percent: u32| {
        let slot = (n * u64::from(percent) * 2 + 100) / 200;
        amounts.get(slot as usize).copied()
    };
    Thresholds {
        currency,
        high_above: floor(shares.high),
        low_above: floor(shares.high + shares.low),
    }
}

/// The policy version in force, as account writes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    /// Its version.
    pub version: i32,
    /// Its money cut-offs.
    pub thresholds: Thresholds,
}

/// A tier an account write decides, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retier {
    /// The new tier.
    pub tier: Tier,
    /// What about the account made it due.
    pub why: &'static str,
}

/// The tier an account gets when it is written between re-baselines: a new
/// account, one whose ACV or potential ACV changed, one that was never tiered
/// or is no longer churned is tiered at once by the thresholds in force.
/// `None` when the tier stays (churned accounts and accounts under an
/// override keep theirs). Refused when the account's currency is not the
/// policy's.
pub fn retier(
    policy: Option<&InForce>,
    fields: &AccountFields,
    before: Option<(&AccountFields, Tier)>,
    overridden: bool,
) -> Result<Option<Retier>, PlanError> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    if overridden || fields.lifecycle_status == LifecycleStatus::Churned {
        return Ok(None);
    }
    let why = match before {
        None => "account created",
        Some((_, Tier::Unspecified)) => "account not tiered yet",
        Some((old, _)) if old.lifecycle_status == LifecycleStatus::Churned => {
            "account no longer churned"
        }
        Some((old, _)) if basis(old) != basis(fields) => "ACV or potential ACV changed",
        Some(_) => return Ok(None),
    };
    let currency = &fields.acv.currency_code;
    if *currency != policy.thresholds.currency {
        let mut both = vec![policy.thresholds.currency.clone(), currency.clone()];
        both.sort();
        return Err(PlanError::MixedCurrencies(both));
    }
    let tier = policy.thresholds.tier_of(basis(fields));
    Ok(match before {
        Some((_, current)) if current == tier => None,
        _ => Some(Retier { tier, why }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::tests::fields;
    use proptest::prelude::*;

    fn yen(units: i64) -> Amount {
        Amount::from_parts(units, 0)
    }

    fn members(amounts: &[i64]) -> Vec<Member> {
        amounts
            .iter()
            .map(|&units| Member {
                basis: yen(units),
                acv: yen(units),
                tier: Tier::Unspecified,
            })
            .collect()
    }

    fn rules(cutoffs: Cutoffs) -> Rules {
        Rules {
            cutoffs,
            high_capacity: Rules::HIGH_CAPACITY,
            low_capacity: Rules::LOW_CAPACITY,
            target_arr_per_csm: None,
            rebaseline_months: Rules::REBASELINE_MONTHS,
            target_mix: super::super::plan::Mix::TARGET,
        }
    }

    fn jpy() -> BTreeSet<String> {
        BTreeSet::from(["JPY".to_owned()])
    }

    fn counts(plan: &Plan) -> [u64; 3] {
        plan.summaries.clone().map(|s| s.count)
    }

    fn share_plan(amounts: &[i64]) -> Plan {
        plan(
            &rules(Cutoffs::Shares(Shares::DEFAULT)),
            &members(amounts),
            &jpy(),
        )
        .expect("plan")
    }

    #[test]
    fn default_shares_split_a_hundred_accounts_ten_thirty_sixty() {
        let amounts: Vec<i64> = (1..=100).map(|i| i * 1_000_000).collect();
        let plan = share_plan(&amounts);
        assert_eq!(counts(&plan), [10, 30, 60]);
        // The floors are the first accounts outside each slot: rank 11 and 41.
        assert_eq!(plan.thresholds.high_above, Some(yen(90_000_000)));
        assert_eq!(plan.thresholds.low_above, Some(yen(60_000_000)));
        assert_eq!(plan.moved, 100);
        // The top ten by amount are the high-touch ones.
        let high: Vec<usize> = (0..amounts.len())
            .filter(|&i| plan.thresholds.tier_of(yen(amounts[i])) == Tier::HighTouch)
            .collect();
        assert_eq!(high, (90..100).collect::<Vec<_>>());
    }

    #[test]
    fn ties_at_a_cut_off_go_to_the_lower_tier() {
        // Ranks 10 and 11 tie: neither is high-touch, so high-touch holds 9.
        let mut amounts: Vec<i64> = (1..=100).collect();
        amounts[89] = 91; // the account ranked 11th now equals the 10th
        let plan = share_plan(&amounts);
        assert_eq!(counts(&plan), [9, 31, 60]);
        assert_eq!(plan.thresholds.high_above, Some(yen(91)));
    }

    #[test]
    fn equal_and_zero_amounts_are_all_tech_touch() {
        assert_eq!(counts(&share_plan(&[5_000_000; 10])), [0, 0, 10]);
        assert_eq!(counts(&share_plan(&[0; 25])), [0, 0, 25]);
        // A zero amount is never above a floor, whatever the others hold.
        let plan = share_plan(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 100]);
        assert_eq!(counts(&plan), [1, 0, 9]);
    }

    #[test]
    fn small_populations_round_the_slots_half_up() {
        assert_eq!(counts(&share_plan(&[1])), [0, 0, 1]);
        assert_eq!(counts(&share_plan(&[1, 2, 3])), [0, 1, 2]);
        assert_eq!(counts(&share_plan(&[1, 2, 3, 4, 5])), [1, 1, 3]);
        assert_eq!(counts(&share_plan(&[1, 2, 3, 4, 5, 6, 7, 8, 9])), [1, 3, 5]);
        assert_eq!(
            plan(&rules(Cutoffs::Shares(Shares::DEFAULT)), &[], &jpy()),
            Err(PlanError::NothingToRank)
        );
    }

    #[test]
    fn a_full_share_lets_everyone_in() {
        let all_high = Shares {
            high: 100,
            low: 0,
            tech: 0,
        };
        let plan = plan(
            &rules(Cutoffs::Shares(all_high)),
            &members(&[0, 1, 2]),
            &jpy(),
        )
        .expect("plan");
        assert_eq!(plan.thresholds.high_above, None);
        assert_eq!(counts(&plan), [3, 0, 0]);
    }

    #[test]
    fn money_thresholds_apply_as_given_and_currencies_never_mix() {
        let thresholds = Thresholds {
            currency: "JPY".into(),
            high_above: Some(yen(10_000_000)),
            low_above: Some(yen(1_000_000)),
        };
        let by_money = rules(Cutoffs::Thresholds(thresholds.clone()));
        let plan = plan(
            &by_money,
            &members(&[10_000_000, 10_000_001, 1_000_000, 0]),
            &jpy(),
        )
        .expect("plan");
        assert_eq!(counts(&plan), [1, 1, 2]);
        assert_eq!(plan.thresholds, thresholds);

        let two = BTreeSet::from(["JPY".to_owned(), "USD".to_owned()]);
        let mixed = super::plan(&by_money, &members(&[1]), &two);
        assert_eq!(
            mixed,
            Err(PlanError::MixedCurrencies(vec!["JPY".into(), "USD".into()]))
        );
        let usd = BTreeSet::from(["USD".to_owned()]);
        assert!(matches!(
            super::plan(&by_money, &members(&[1]), &usd),
            Err(PlanError::MixedCurrencies(_))
        ));
    }

    #[test]
    fn books_are_sized_by_capacity_and_target_arr() {
        // 20 high-touch accounts of 5M each: 2 to 4 CSMs; 100M / 5M = 20 per CSM.
        let mut r = rules(Cutoffs::Thresholds(Thresholds {
            currency: "JPY".into(),
            high_above: Some(yen(1_000_000)),
            low_above: Some(yen(1_000_000)),
        }));
        r.target_arr_per_csm = Some(yen(100_000_000).to_money("JPY"));
        let plan = plan(&r, &members(&[5_000_000; 20]), &jpy()).expect("plan");
        let high = &plan.summaries[0];
        assert_eq!(
            (high.count, high.csms_needed, high.csms_at_min_capacity),
            (20, 2, 4)
        );
        assert_eq!(high.average_acv(), yen(5_000_000));
        assert_eq!(high.ideal_accounts_per_csm, 20);
        let low = &plan.summaries[1];
        assert_eq!(
            (low.count, low.csms_needed, low.ideal_accounts_per_csm),
            (0, 0, 0)
        );
        // 21 accounts at 5-10: 3 CSMs at most load, and still 4 at least load.
        let plan = super::plan(&r, &members(&[5_000_000; 21]), &jpy()).expect("plan");
        assert_eq!(
            (
                plan.summaries[0].csms_needed,
                plan.summaries[0].csms_at_min_capacity
            ),
            (3, 4)
        );
    }

    #[test]
    fn unchanged_tiers_are_not_moves() {
        let mut population = members(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let first = plan(
            &rules(Cutoffs::Shares(Shares::DEFAULT)),
            &population,
            &jpy(),
        )
        .expect("plan");
        for member in &mut population {
            member.tier = first.thresholds.tier_of(member.basis);
        }
        let again = plan(
            &rules(Cutoffs::Shares(Shares::DEFAULT)),
            &population,
            &jpy(),
        )
        .expect("plan");
        assert_eq!(first.moved, 10);
        assert_eq!(again.moved, 0);
    }

    #[test]
    fn rules_that_contradict_themselves_are_violations() {
        let mut r = rules(Cutoffs::Shares(Shares {
            high: 10,
            low: 30,
            tech: 50,
        }));
        r.high_capacity = Capacity { min: 11, max: 10 };
        let fields: Vec<_> = rule_violations(&r).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["rules.shares", "rules.high_touch_capacity"]);
        let overlapping = rules(Cutoffs::Thresholds(Thresholds {
            currency: "JPY".into(),
            high_above: Some(yen(1)),
            low_above: Some(yen(2)),
        }));
        assert_eq!(rule_violations(&overlapping).len(), 1);
        assert!(rule_violations(&rules(Cutoffs::Shares(Shares::DEFAULT))).is_empty());
    }

    #[test]
    fn writes_between_re_baselines_are_tiered_by_the_thresholds() {
        let policy = InForce {
            version: 1,
            thresholds: Thresholds {
                currency: "JPY".into(),
                high_above: Some(yen(10_000_000)),
                low_above: Some(yen(1_000_000)),
            },
        };
        let account = fields(); // 1,200,000 JPY
        let tiered = retier(Some(&policy), &account, None, false).expect("same currency");
        assert_eq!(tiered.map(|r| r.tier), Some(Tier::LowTouch));
        assert_eq!(retier(None, &account, None, false), Ok(None));
        // Unchanged amount: the tier stays, whatever it is (an override, say).
        assert_eq!(
            retier(
                Some(&policy),
                &account,
                Some((&account, Tier::HighTouch)),
                false
            ),
            Ok(None)
        );
        let mut bigger = account.clone();
        bigger.acv.units = 20_000_000;
        let moved = retier(
            Some(&policy),
            &bigger,
            Some((&account, Tier::LowTouch)),
            false,
        );
        assert_eq!(moved.ok().flatten().map(|r| r.tier), Some(Tier::HighTouch));
        // Churned accounts keep their tier; coming back re-tiers them.
        let mut churned = account.clone();
        churned.lifecycle_status = LifecycleStatus::Churned;
        assert_eq!(retier(Some(&policy), &churned, None, false), Ok(None));
        let back = retier(
            Some(&policy),
            &account,
            Some((&churned, Tier::TechTouch)),
            false,
        );
        assert_eq!(back.ok().flatten().map(|r| r.tier), Some(Tier::LowTouch));
        // An override holds whatever the amount does.
        assert_eq!(
            retier(
                Some(&policy),
                &bigger,
                Some((&account, Tier::LowTouch)),
                true
            ),
            Ok(None)
        );
        // Another currency cannot be compared with the thresholds.
        let mut usd = account.clone();
        usd.acv.currency_code = "USD".into();
        assert_eq!(
            retier(Some(&policy), &usd, None, false),
            Err(PlanError::MixedCurrencies(vec!["JPY".into(), "USD".into()]))
        );
    }

    proptest! {
        #[test]
        fn shares_never_overfill_a_tier_and_rank_by_amount(
            amounts in proptest::collection::vec(0i64..50, 1..300),
        ) {
            let plan = share_plan(&amounts);
            let n = amounts.len() as u64;
            let [high, low, tech] = counts(&plan);
            prop_assert_eq!(high + low + tech, n);
            prop_assert!(high <= (n * 20 + 100) / 200);
            prop_assert!(high + low <= (n * 80 + 100) / 200);
            // A larger amount never gets a lower tier.
            let tier = |a: i64| plan.thresholds.tier_of(yen(a)) as i32;
            for &a in &amounts {
                for &b in &amounts {
                    if a > b {
                        // Tier numbers grow from high-touch (1) to tech-touch (3).
                        prop_assert!(tier(a) <= tier(b));
                    }
                }
            }
        }

        #[test]
        fn amounts_round_trip_through_their_stored_parts(units in 0i64.., nanos in 0i32..1_000_000_000) {
            let amount = Amount::from_parts(units, nanos);
            prop_assert_eq!(amount.parts(), (units, nanos));
        }
    }
}
