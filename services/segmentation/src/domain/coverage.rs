//! Coverage rate, the key activity KPI: the share of a segment's accounts
//! that had at least one touchpoint within the segment's window.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};

use super::account::Tier;

/// Window and target of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The tier.
    pub tier: Tier,
    /// Months before the as-of instant that count.
    pub window_months: u32,
    /// Coverage to reach, in percent; 0 for none.
    pub target_percent: u32,
}

/// High-touch 1 month, 80%; low-touch 3 months, 60%; tech-touch 3 months,
/// no target (its touchpoints only tell hybrid from pure tech-touch).
pub const DEFAULT_TARGETS: [Target; 3] = [
    Target {
        tier: Tier::HighTouch,
        window_months: 1,
        target_percent: 80,
    },
    Target {
        tier: Tier::LowTouch,
        window_months: 3,
        target_percent: 60,
    },
    Target {
        tier: Tier::TechTouch,
        window_months: 3,
        target_percent: 0,
    },
];

/// Longest window a caller may ask for.
pub const MAX_WINDOW_MONTHS: u32 = 24;

/// An account as coverage sees it at the as-of instant: a customer then,
/// with its tier then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    /// Account id.
    pub id: String,
    /// Tier at the as-of instant.
    pub tier: Tier,
    /// Owner (CSM id).
    pub owner: Option<String>,
    /// The owner's team at the as-of instant.
    pub team: Option<String>,
    /// Last touchpoint at or before the as-of instant.
    pub last_touch: Option<DateTime<Utc>>,
}

/// Coverage of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// The tier.
    pub tier: Tier,
    /// Accounts.
    pub accounts: u64,
    /// Of those, touched within the window.
    pub covered: u64,
    /// The target applied.
    pub target: Target,
}

impl Figure {
    /// covered / accounts in basis points (8000 = 80%); 0 for no accounts.
    pub fn rate_basis_points(&self) -> u64 {
        (self.covered * 10_000)
            .checked_div(self.accounts)
            .unwrap_or(0)
    }

    /// True when the rate reaches the target (always, without a target).
    pub fn target_met(&self) -> bool {
        self.covered * 100 >= self.accounts * u64::from(self.target.target_percent)
    }
}

/// Figures per tier, per (CSM, tier) and per (team, tier).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Per tier, high-touch first.
    pub tiers: Vec<Figure>,
    /// Per owner and tier, in owner order.
    pub csms: Vec<(String, Figure)>,
    /// Per team and tier, in team order.
    pub teams: Vec<(String, Figure)>,
}

/// The start of the window of `target` ending at `as_of`: touchpoints after
/// it (and not after `as_of`) count.
pub fn window_start(as_of: DateTime<Utc>, target: &Target) -> DateTime<Utc> {
    as_of
        .checked_sub_months(Months::new(target.window_months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// True when `account` was touched within its tier's window.
pub fn is_covered(account: &Covered, as_of: DateTime<Utc>, targets: &[Target; 3]) -> bool {
    let Some(target) = targets.iter().find(|t| t.tier == account.tier) else {
        return false;
    };
    account
        .last_touch
        .is_some_and(|t| t > window_start(as_of, target) && t <= as_of)
}

/// Accounts that count alike in coverage: of one tier, owner and team, and
/// how many of them are covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Their tier.
    pub tier: Tier,
    /// Their CSM.
    pub owner: Option<String>,
    /// The CSM's team.
    pub team: Option<String>,
    /// How many accounts.
    pub accounts: u64,
    /// How many of them are covered.
    pub covered: u64,
}

impl Tally {
    /// One account, covered at `as_of` or not.
    pub fn of(account: &Covered, as_of: DateTime<Utc>, targets: &[Target; 3]) -> Self {
        Self {
            tier: account.tier,
            owner: account.owner.clone(),
            team: account.team.clone(),
            accounts: 1,
            covered: u64::from(is_covered(account, as_of, targets)),
        }
    }
}

/// Coverage from tallies of customers (at some instant, with their tier
/// then); accounts without a tier are not in any segment and are left out.
pub fn summarise(tallies: impl IntoIterator<Item = Tally>, targets: &[Target; 3]) -> Coverage {
    let slot = |tier: Tier| targets.iter().position(|t| t.tier == tier);
    let empty = |i: usize| Figure {
        tier: targets[i].tier,
        accounts: 0,
        covered: 0,
        target: targets[i],
    };
    let mut tiers: Vec<Figure> = (0..3).map(empty).collect();
    let mut csms: BTreeMap<(String, usize), Figure> = BTreeMap::new();
    let mut teams: BTreeMap<(String, usize), Figure> = BTreeMap::new();
    for tally in tallies {
        let Some(i) = slot(tally.tier) else {
            continue;
        };
        let count = |figure: &mut Figure| {
            figure.accounts += tally.accounts;
            figure.covered += tally.covered;
        };
        count(&mut tiers[i]);
        if let Some(owner) = tally.owner {
            count(csms.entry((owner, i)).or_insert_with(|| empty(i)));
        }
        if let Some(team) = tally.team {
            count(teams.entry((team, i)).or_insert_with(|| empty(i)));
        }
    }
    let flatten = |groups: BTreeMap<(String, usize), Figure>| {
        groups
            .into_iter()
            .map(|((key, _), figure)| (key, figure))
            .collect()
    };
    Coverage {
        tiers,
        csms: flatten(csms),
        teams: flatten(teams),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage of single accounts.
    fn coverage(accounts: &[Covered], as_of: DateTime<Utc>, targets: &[Target; 3]) -> Coverage {
        summarise(
            accounts.iter().map(|a| Tally::of(a, as_of, targets)),
            targets,
        )
    }

    #[test]
    fn tallies_of_many_accounts_count_as_the_accounts_do() {
        let as_of = at(30);
        let accounts: Vec<Covered> = (0..20)
            .map(|i| account(i, Tier::HighTouch, (i % 3 == 0).then(|| at(20))))
            .collect();
        let grouped = summarise(
            ["even", "odd"].map(|owner| {
                let mine: Vec<_> = accounts
                    .iter()
                    .filter(|a| a.owner.as_deref() == Some(owner))
                    .collect();
                Tally {
                    tier: Tier::HighTouch,
                    owner: Some(owner.into()),
                    team: Some("enterprise".into()),
                    accounts: mine.len() as u64,
                    covered: mine
                        .iter()
                        .filter(|a| is_covered(a, as_of, &DEFAULT_TARGETS))
                        .count() as u64,
                }
            }),
            &DEFAULT_TARGETS,
        );
        assert_eq!(grouped, coverage(&accounts, as_of, &DEFAULT_TARGETS));
        assert_eq!(grouped.tiers[0].covered, 7);
    }

    fn at(day: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 6, day)
            .expect("date")
            .and_hms_opt(12, 0, 0)
            .expect("time")
            .and_utc()
    }

    fn account(i: usize, tier: Tier, last_touch: Option<DateTime<Utc>>) -> Covered {
        Covered {
            id: format!("a{i}"),
            tier,
            owner: Some(if i.is_multiple_of(2) { "even" } else { "odd" }.into()),
            team: Some("enterprise".into()),
            last_touch,
        }
    }

    #[test]
    fn forty_of_fifty_high_touch_accounts_touched_last_month_is_eighty_percent() {
        let as_of = at(30);
        let accounts: Vec<Covered> = (0..50)
            .map(|i| {
                // 40 touched within the month, 10 touched two months ago.
                let touch = if i < 40 {
                    as_of - chrono::Duration::days(10)
                } else {
                    as_of - chrono::Duration::days(60)
                };
                account(i, Tier::HighTouch, Some(touch))
            })
            .collect();
        let figures = coverage(&accounts, as_of, &DEFAULT_TARGETS);
        let high = &figures.tiers[0];
        assert_eq!((high.accounts, high.covered), (50, 40));
        assert_eq!(high.rate_basis_points(), 8000);
        assert!(high.target_met());
        assert_eq!(figures.teams.len(), 1);
        assert_eq!(figures.teams[0].1.rate_basis_points(), 8000);
        let by_csm: Vec<_> = figures
            .csms
            .iter()
            .map(|(csm, f)| (csm.as_str(), f.accounts, f.covered))
            .collect();
        assert_eq!(by_csm, [("even", 25, 20), ("odd", 25, 20)]);
    }

    #[test]
    fn the_window_is_open_at_its_start_and_closed_at_the_as_of_instant() {
        let as_of = at(30);
        let start = window_start(as_of, &DEFAULT_TARGETS[0]);
        assert_eq!(
            start,
            chrono::NaiveDate::from_ymd_opt(2026, 5, 30)
                .expect("d")
                .and_hms_opt(12, 0, 0)
                .expect("t")
                .and_utc()
        );
        let covered =
            |touch| is_covered(&account(0, Tier::HighTouch, touch), as_of, &DEFAULT_TARGETS);
        assert!(!covered(Some(start)));
        assert!(covered(Some(start + chrono::Duration::seconds(1))));
        assert!(covered(Some(as_of)));
        assert!(!covered(Some(as_of + chrono::Duration::seconds(1))));
        assert!(!covered(None));
        // Untiered accounts belong to no segment.
        let none = coverage(
            &[account(0, Tier::Unspecified, Some(as_of))],
            as_of,
            &DEFAULT_TARGETS,
        );
        assert!(none.tiers.iter().all(|f| f.accounts == 0));
        assert!(none.tiers[2].target_met());
        assert_eq!(none.tiers[0].rate_basis_points(), 0);
    }
}
