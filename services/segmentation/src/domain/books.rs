//! Books of business: how many accounts each CSM carries against capacity,
//! whether each tier has the CSMs it needs, and which moves would even the
//! books out.

use std::collections::{BTreeMap, HashMap};

use super::{
    account::{TIERS, Tier},
    policy::{Amount, Capacity},
};

/// A CSM as the books see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    /// CSM id (what `owner_csm_id` holds).
    pub id: String,
    /// The tier the CSM serves.
    pub tier: Tier,
    /// The CSM's team now.
    pub team_id: Option<String>,
    /// Accounts the CSM should carry; `None` for no limit (tech-touch by
    /// default: served 1:N).
    pub capacity: Option<Capacity>,
}

/// An account as the books see it: every account that is not churned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Account id.
    pub id: String,
    /// Its tier.
    pub tier: Tier,
    /// Its owner, if any (it may name no CSM).
    pub owner: Option<String>,
    /// ACV + potential ACV: bigger accounts stay, smaller ones move first.
    pub basis: Amount,
}

/// Where a CSM's load stands against capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Fewer accounts than the minimum.
    Under,
    /// Within capacity (or no capacity set).
    Within,
    /// More accounts than the maximum.
    Over,
}

/// One CSM's book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    /// The CSM.
    pub carrier: Carrier,
    /// Accounts owned.
    pub accounts: u64,
    /// Of those, accounts of another tier than the CSM's.
    pub off_tier: u64,
    /// Against capacity.
    pub load: Load,
}

/// Whether a tier has the CSMs its accounts need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No capacity applies (tech-touch without CSM capacity).
    NotApplicable,
    /// Enough CSMs to carry every account at most at maximum load, and
    /// not so many that some must fall below the minimum.
    Within,
    /// Too few CSMs: some would carry more than the maximum.
    Short,
    /// More CSMs than the accounts keep at minimum load.
    Idle,
}

/// Capacity of one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierCapacity {
    /// The tier.
    pub tier: Tier,
    /// Accounts of the tier.
    pub accounts: u64,
    /// Of those, with no owner that is a CSM of the tier.
    pub unplaced: u64,
    /// CSMs serving the tier.
    pub csms_available: u64,
    /// Fewest CSMs that carry the tier at maximum load.
    pub csms_needed: u64,
    /// The verdict.
    pub verdict: Verdict,
}

impl TierCapacity {
    /// The verdict for `accounts` against the CSMs serving the tier, each
    /// with its capacity (`None`: no limit). `default` is the tier's
    /// capacity, by which `csms_needed` is counted.
    pub fn judge(
        tier: Tier,
        accounts: u64,
        serving: &[Option<Capacity>],
        default: Option<Capacity>,
    ) -> Self {
        let csms_needed = default.map_or(0, |c| accounts.div_ceil(u64::from(c.max.max(1))));
        let limited: Vec<Capacity> = serving.iter().flatten().copied().collect();
        let verdict = if default.is_none() && limited.is_empty() {
            Verdict::NotApplicable
        } else {
            let most: u64 = limited.iter().map(|c| u64::from(c.max)).sum();
            let least: u64 = limited.iter().map(|c| u64::from(c.min)).sum();
            let unlimited = limited.len() < serving.len();
            if accounts > most && !unlimited {
                Verdict::Short
            } else if accounts < least {
                Verdict::Idle
            } else {
                Verdict::Within
            }
        };
        TierCapacity {
            tier,
            accounts,
            unplaced: 0,
            csms_available: serving.len() as u64,
            csms_needed,
            verdict,
        }
    }
}

/// A suggested reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The account.
    pub account_id: String,
    /// Its owner now (`None`: unassigned).
    pub from: Option<String>,
    /// The CSM to give it to.
    pub to: String,
}

/// The books of every CSM, the capacity of every tier and the moves that
/// would even them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One per CSM, in id order.
    pub books: Vec<Book>,
    /// High-touch, low-touch, tech-touch.
    pub tiers: Vec<TierCapacity>,
    /// Suggested moves, biggest accounts first within each tier.
    pub moves: Vec<Move>,
}

/// Reports the books. `tier_capacity` is the capacity a tier's CSMs have by
/// default, used for the tier's verdict (the carriers come with their own
/// capacity resolved).
///
/// Moves: in each tier, accounts without an owner that is a CSM of their
/// tier, and the smallest accounts of CSMs over their maximum, go to CSMs of
/// the tier that have room, always to the least loaded one (by share of its
/// maximum), biggest accounts first. Accounts for which no CSM has room stay
/// where they are.
pub fn report(
    carriers: &[Carrier],
    holdings: &[Holding],
    tier_capacity: impl Fn(Tier) -> Option<Capacity>,
) -> Report {
    let by_id: HashMap<&str, &Carrier> = carriers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut owned: HashMap<&str, Vec<&Holding>> = HashMap::new();
    let mut unplaced: BTreeMap<Tier, Vec<&Holding>> = BTreeMap::new();
    for h in holdings {
        let owner = h.owner.as_deref().and_then(|o| by_id.get(o));
        if let Some(carrier) = owner {
            owned.entry(carrier.id.as_str()).or_default().push(h);
        }
        if owner.is_none_or(|c| c.tier != h.tier) {
            unplaced.entry(h.tier).or_default().push(h);
        }
    }

    let mut books: Vec<Book> = carriers
        .iter()
        .map(|c| {
            let accounts = owned.get(c.id.as_str()).map_or(&[][..], Vec::as_slice);
            let count = accounts.len() as u64;
            Book {
                carrier: c.clone(),
                accounts: count,
                off_tier: accounts.iter().filter(|h| h.tier != c.tier).count() as u64,
                load: load(count, c.capacity),
            }
        })
        .collect();
    books.sort_by(|a, b| a.carrier.id.cmp(&b.carrier.id));

    let mut tiers = Vec::new();
    let mut moves = Vec::new();
    for tier in TIERS {
        let serving: Vec<&Book> = books.iter().filter(|b| b.carrier.tier == tier).collect();
        let accounts = holdings.iter().filter(|h| h.tier == tier).count() as u64;
        let capacities: Vec<Option<Capacity>> =
            serving.iter().map(|b| b.carrier.capacity).collect();
        let mut capacity_of_tier =
            TierCapacity::judge(tier, accounts, &capacities, tier_capacity(tier));
        let mut candidates: Vec<&Holding> = unplaced.remove(&tier).unwrap_or_default();
        capacity_of_tier.unplaced = candidates.len() as u64;
        tiers.push(capacity_of_tier);

        // Overflow of CSMs over their maximum: their smallest accounts.
        let mut load: Vec<(String, u64, u64)> = Vec::new();
        for book in &serving {
            let Some(max) = book.carrier.capacity.map(|c| u64::from(c.max)) else {
                continue;
            };
            let mine: Vec<&Holding> = owned
                .get(book.carrier.id.as_str())
                .map(|v| v.iter().copied().filter(|h| h.tier == tier).collect())
                .unwrap_or_default();
            let kept = mine.len() as u64;
            if kept > max {
                let mut by_size = mine;
                by_size.sort_by(|a, b| b.basis.cmp(&a.basis).then(a.id.cmp(&b.id)));
                candidates.extend(by_size.into_iter().skip(max as usize));
            }
            load.push((book.carrier.id.clone(), kept.min(max), max));
        }
        candidates.sort_by(|a, b| b.basis.cmp(&a.basis).then(a.id.cmp(&b.id)));
        for account in candidates {
            // The least loaded CSM with room, by share of its maximum.
            let target = load
                .iter_mut()
                .filter(|(_, count, max)| count < max)
                .min_by(|a, b| (a.1 * b.2).cmp(&(b.1 * a.2)).then(a.0.cmp(&b.0)));
            let Some((to, count, _)) = target else {
                break;
            };
            *count += 1;
            moves.push(Move {
                account_id: account.id.clone(),
                from: account.owner.clone(),
                to: to.clone(),
            });
        }
    }
    Report {
        books,
        tiers,
        moves,
    }
}

fn load(count: u64, capacity: Option<Capacity>) -> Load {
    match capacity {
        Some(c) if count > u64::from(c.max) => Load::Over,
        Some(c) if count < u64::from(c.min) => Load::Under,
        _ => Load::Within,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csm(id: &str, tier: Tier, min: u32, max: u32) -> Carrier {
        Carrier {
            id: id.into(),
            tier,
            team_id: None,
            capacity: Some(Capacity { min, max }),
        }
    }

    fn defaults(tier: Tier) -> Option<Capacity> {
        match tier {
            Tier::HighTouch => Some(Capacity { min: 1, max: 3 }),
            Tier::LowTouch => Some(Capacity { min: 1, max: 10 }),
            _ => None,
        }
    }

    fn holding(id: &str, tier: Tier, owner: Option<&str>, units: i64) -> Holding {
        Holding {
            id: id.into(),
            tier,
            owner: owner.map(str::to_owned),
            basis: Amount::from_parts(units, 0),
        }
    }

    #[test]
    fn an_overloaded_book_gives_its_smallest_accounts_to_the_least_loaded_csm() {
        let carriers = [
            csm("a", Tier::HighTouch, 1, 3),
            csm("b", Tier::HighTouch, 1, 3),
            csm("c", Tier::HighTouch, 1, 3),
        ];
        let mut holdings: Vec<Holding> = (0..5)
            .map(|i| holding(&format!("h{i}"), Tier::HighTouch, Some("a"), 100 - i))
            .collect();
        holdings.push(holding("h9", Tier::HighTouch, Some("b"), 1));
        let report = report(&carriers, &holdings, defaults);
        let loads: Vec<_> = report.books.iter().map(|b| (b.accounts, b.load)).collect();
        assert_eq!(
            loads,
            [(5, Load::Over), (1, Load::Within), (0, Load::Under)]
        );
        // a keeps its three biggest; h3 goes to c (empty), h4 then to c or b
        // (both at 1/3): the tie goes to the lower id.
        let moves: Vec<_> = report
            .moves
            .iter()
            .map(|m| (m.account_id.as_str(), m.to.as_str()))
            .collect();
        assert_eq!(moves, [("h3", "c"), ("h4", "b")]);
        let high = &report.tiers[0];
        assert_eq!(
            (high.accounts, high.csms_available, high.csms_needed),
            (6, 3, 2)
        );
        assert_eq!(high.verdict, Verdict::Within);
    }

    #[test]
    fn unassigned_and_misplaced_accounts_go_to_a_csm_of_their_tier() {
        let carriers = [
            csm("hi", Tier::HighTouch, 1, 10),
            csm("lo", Tier::LowTouch, 1, 10),
        ];
        let holdings = [
            holding("x", Tier::HighTouch, None, 5),
            holding("y", Tier::HighTouch, Some("lo"), 9),
            holding("z", Tier::LowTouch, Some("nobody@example.com"), 1),
        ];
        let report = report(&carriers, &holdings, defaults);
        let moves: Vec<_> = report
            .moves
            .iter()
            .map(|m| (m.account_id.as_str(), m.from.as_deref(), m.to.as_str()))
            .collect();
        assert_eq!(
            moves,
            [
                ("y", Some("lo"), "hi"),
                ("x", None, "hi"),
                ("z", Some("nobody@example.com"), "lo")
            ]
        );
        assert_eq!(report.books[1].off_tier, 1);
        assert_eq!(report.tiers[0].unplaced, 2);
    }

    #[test]
    fn verdicts_say_short_within_idle_or_not_applicable() {
        let c = Some(Capacity { min: 5, max: 10 });
        let judge = |accounts, csms: usize| {
            TierCapacity::judge(Tier::HighTouch, accounts, &vec![c; csms], c).verdict
        };
        assert_eq!(judge(50, 4), Verdict::Short);
        assert_eq!(judge(50, 5), Verdict::Within);
        assert_eq!(judge(50, 10), Verdict::Within);
        assert_eq!(judge(50, 11), Verdict::Idle);
        assert_eq!(judge(1, 0), Verdict::Short);
        assert_eq!(
            TierCapacity::judge(Tier::TechTouch, 5000, &[None], None).verdict,
            Verdict::NotApplicable
        );
        assert_eq!(
            TierCapacity::judge(Tier::TechTouch, 5000, &[], None).verdict,
            Verdict::NotApplicable
        );
        // A CSM's own capacity counts: two CSMs of 1-2 cannot carry 5 accounts.
        let small = Some(Capacity { min: 1, max: 2 });
        assert_eq!(
            TierCapacity::judge(Tier::HighTouch, 5, &[small, small], c).verdict,
            Verdict::Short
        );
        // With no room anywhere, nothing moves.
        let full = report(
            &[csm("a", Tier::HighTouch, 1, 1)],
            &[
                holding("p", Tier::HighTouch, Some("a"), 2),
                holding("q", Tier::HighTouch, None, 1),
            ],
            |_| Some(Capacity { min: 1, max: 1 }),
        );
        assert!(full.moves.is_empty());
        assert_eq!(full.tiers[0].verdict, Verdict::Short);
    }
}
