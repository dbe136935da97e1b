//! The partner tier program: tiers reached by rules on what a partner does
//! (certified staff, sourced accounts, the revenue of its accounts, the
//! onboarding completion rate of its accounts), the rules a program must
//! follow, and the evaluation of one partner.
//!
//! A program lists its tiers highest first. A partner is placed in the first
//! tier whose criteria it all meets; the lowest tier has none, so every
//! evaluated partner reaches at least that one. Each tier must be strictly
//! stricter than the one after it (every criterion of the lower tier implied
//! by one of the higher tier's, and not the other way round), so the tiers
//! nest: a partner meeting a tier meets every tier below it, and moving a
//! threshold never makes a higher tier easier to reach than a lower one.

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
pub use themodel_proto::partner_success::TierCriterionKind;

/// Most tiers in a program.
pub const MAX_TIERS: usize = 10;
/// Most criteria of one tier.
pub const MAX_CRITERIA: usize = 10;
/// Longest tier name.
pub const MAX_TIER_NAME: usize = 32;
/// Highest count threshold.
pub const MAX_COUNT: i64 = 1_000_000;
/// Highest NRR threshold, in basis points (100 times).
pub const MAX_BASIS_POINTS: i64 = 1_000_000;
/// Highest onboarding completion rate threshold, in basis points: 100%.
pub const MAX_RATE_BASIS_POINTS: i64 = 10_000;
/// Lowest and highest certification level a criterion may name.
pub const LEVELS: std::ops::RangeInclusive<i32> = crate::domain::certification::LEVELS;
/// Months of revenue an evaluation looks at, and of onboarding plans due.
pub const REVENUE_MONTHS: u32 = 12;
/// Nano units in one unit of money.
pub const NANOS: i128 = 1_000_000_000;

/// One condition of a tier, with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// At least `min_count` active staff certified at `level` or higher.
    CertifiedStaff {
        /// Lowest level that counts, 1 to 3.
        level: i32,
        /// Threshold.
        min_count: i64,
    },
    /// At least `min_count` accounts sourced.
    SourcedAccounts {
        /// Threshold.
        min_count: i64,
    },
    /// At least this ARR of the partner's accounts, in nano units of the
    /// program's currency.
    PartnerArr {
        /// Threshold, nano units.
        min_nanos: i128,
    },
    /// At least this NRR of the partner's accounts.
    Nrr {
        /// Threshold, basis points.
        min_basis_points: i64,
    },
    /// At least this on-time VALUE_CONFIRMED rate of the onboarding plans
    /// of the partner's accounts due in the window, over at least this many
    /// plans due.
    OnboardingCompletion {
        /// Threshold of the rate, basis points, 1 to 10,000.
        min_basis_points: i64,
        /// Fewest plans due, at least 1.
        min_plans_due: i64,
    },
}

impl Criterion {
    /// Its kind.
    pub fn kind(&self) -> TierCriterionKind {
        match self {
            Criterion::CertifiedStaff { .. } => TierCriterionKind::CertifiedStaff,
            Criterion::SourcedAccounts { .. } => TierCriterionKind::SourcedAccounts,
            Criterion::PartnerArr { .. } => TierCriterionKind::PartnerArr,
            Criterion::Nrr { .. } => TierCriterionKind::Nrr,
            Criterion::OnboardingCompletion { .. } => TierCriterionKind::OnboardingCompletion,
        }
    }

    /// Whether it needs the revenue of the partner's accounts.
    pub fn is_revenue(&self) -> bool {
        matches!(self, Criterion::PartnerArr { .. } | Criterion::Nrr { .. })
    }

    /// Whether it needs the onboarding completion of the partner's accounts.
    pub fn is_onboarding(&self) -> bool {
        matches!(self, Criterion::OnboardingCompletion { .. })
    }

    /// What it measures, apart from the threshold: its kind, and its level
    /// for certified staff. A tier asks each at most once.
    fn slot(&self) -> (TierCriterionKind, i32) {
        match self {
            Criterion::CertifiedStaff { level, .. } => (self.kind(), *level),
            _ => (self.kind(), 0),
        }
    }

    /// Whether every partner meeting `self` also meets `other`.
    pub fn implies(&self, other: &Criterion) -> bool {
        use Criterion::*;
        match (self, other) {
            (
                CertifiedStaff { level, min_count },
                CertifiedStaff {
                    level: other_level,
                    min_count: other_count,
                },
            ) => level >= other_level && min_count >= other_count,
            (SourcedAccounts { min_count }, SourcedAccounts { min_count: other }) => {
                min_count >= other
            }
            (PartnerArr { min_nanos }, PartnerArr { min_nanos: other }) => min_nanos >= other,
            (
                Nrr { min_basis_points },
                Nrr {
                    min_basis_points: other,
                },
            ) => min_basis_points >= other,
            (
                OnboardingCompletion {
                    min_basis_points,
                    min_plans_due,
                },
                OnboardingCompletion {
                    min_basis_points: other_rate,
                    min_plans_due: other_due,
                },
            ) => min_basis_points >= other_rate && min_plans_due >= other_due,
            _ => false,
        }
    }

    /// The partner's value for this criterion.
    pub fn measure(&self, m: &Measures) -> Value {
        match self {
            Criterion::CertifiedStaff { level, .. } => Value::Count(m.certified_at(*level)),
            Criterion::SourcedAccounts { .. } => Value::Count(m.sourced_accounts),
            Criterion::PartnerArr { .. } => Value::Nanos(m.arr_nanos),
            Criterion::Nrr { .. } => Value::BasisPoints(m.nrr_basis_points),
            Criterion::OnboardingCompletion { .. } => Value::Completion(m.onboarding),
        }
    }

    /// Whether `value` meets the threshold.
    pub fn met_by(&self, value: Value) -> bool {
        match (self, value) {
            (
                Criterion::CertifiedStaff { min_count, .. }
                | Criterion::SourcedAccounts { min_count },
                Value::Count(n),
            ) => n >= *min_count,
            (Criterion::PartnerArr { min_nanos }, Value::Nanos(n)) => n >= *min_nanos,
            (Criterion::Nrr { min_basis_points }, Value::BasisPoints(Some(bp))) => {
                bp >= *min_basis_points
            }
            // No plan due, no rate: not met, whatever the threshold.
            (
                Criterion::OnboardingCompletion {
                    min_basis_points,
                    min_plans_due,
                },
                Value::Completion(Completion {
                    plans_due,
                    rate_basis_points: Some(rate),
                }),
            ) => plans_due >= *min_plans_due && rate >= *min_basis_points,
            _ => false,
        }
    }
}

/// One tier of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Its name, unique in the program.
    pub name: String,
    /// What a partner must meet to reach it, all of them.
    pub criteria: Vec<Criterion>,
}

impl Tier {
    /// Whether every partner reaching `self` also reaches `other`.
    fn at_least_as_strict_as(&self, other: &Tier) -> bool {
        other
            .criteria
            .iter()
            .all(|theirs| self.criteria.iter().any(|ours| ours.implies(theirs)))
    }

    /// Whether `self` is strictly stricter than `other`: at least as strict,
    /// and asking for more.
    pub fn stricter_than(&self, other: &Tier) -> bool {
        self.at_least_as_strict_as(other) && !other.at_least_as_strict_as(self)
    }
}

/// A tier program's rules: its tiers, highest first, and the currency of
/// its revenue criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The tiers, highest first.
    pub tiers: Vec<Tier>,
    /// The currency revenue is counted in; set when a criterion needs it.
    pub currency: Option<String>,
}

impl Program {
    /// Whether evaluating it needs the revenue of partners' accounts.
    pub fn needs_revenue(&self) -> bool {
        self.tiers
            .iter()
            .flat_map(|t| &t.criteria)
            .any(Criterion::is_revenue)
    }

    /// Whether evaluating it needs the onboarding completion of partners'
    /// accounts.
    pub fn needs_onboarding(&self) -> bool {
        self.tiers
            .iter()
            .flat_map(|t| &t.criteria)
            .any(Criterion::is_onboarding)
    }

    /// Why the tiers, whose criteria are each valid, do not make a program:
    /// (path relative to the program, problem). Empty when they do.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            for (k, criterion) in tier.criteria.iter().enumerate() {
                if let Some(j) = tier.criteria[..k]
                    .iter()
                    .position(|c| c.slot() == criterion.slot())
                {
                    problems.push((
                        format!("tiers[{i}].criteria[{k}]"),
                        format!(
                            "repeats the {} of criteria[{j}]: a tier asks each kind once (certified staff once per level)",
                            kind_and_level(criterion)
                        ),
                    ));
                }
            }
        }
        let Some(lowest) = self.tiers.len().checked_sub(1) else {
            return problems;
        };
        if !self.tiers[lowest].criteria.is_empty() {
            problems.push((
                format!("tiers[{lowest}].criteria"),
                "must be empty: the lowest tier is the one every evaluated partner reaches".into(),
            ));
        }
        for i in 0..lowest {
            let (higher, lower) = (&self.tiers[i], &self.tiers[i + 1]);
            if higher.criteria.is_empty() {
                problems.push((
                    format!("tiers[{i}].criteria"),
                    "is required: only the lowest tier has no criteria".into(),
                ));
            } else if !higher.stricter_than(lower) {
                problems.push((
                    format!("tiers[{i}]"),
                    format!(
                        "{:?} must be stricter than the tier after it, {:?}: every criterion of \
                         {:?} must be implied by one of {:?} (same kind, a threshold and level at \
                         least as high), and {:?} must ask for more",
                        higher.name, lower.name, lower.name, higher.name, higher.name
                    ),
                ));
            }
        }
        if self.needs_revenue() && self.currency.is_none() {
            problems.push((
                "currency_code".into(),
                "is required with a PARTNER_ARR or NRR criterion".into(),
            ));
        }
        problems
    }
}

fn kind_and_level(criterion: &Criterion) -> String {
    match criterion {
        Criterion::CertifiedStaff { level, .. } => {
            format!("{} level {level}", criterion.kind().as_str_name())
        }
        _ => criterion.kind().as_str_name().to_owned(),
    }
}

/// A version of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramVersion {
    /// From 1.
    pub version: i64,
    /// Its rules.
    pub program: Program,
    /// Why it was made.
    pub reason: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// By whom (token subject).
    pub created_by: String,
}

/// The opaque version tag of a program version.
pub fn etag(version: i64) -> String {
    format!("v{version}")
}

/// What is measured of one partner on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measures {
    /// Active staff certified at levels 1, 2 and 3 or higher.
    pub certified: [i64; 3],
    /// Distinct accounts sourced.
    pub sourced_accounts: i64,
    /// ARR of its accounts, nano units of the program's currency.
    pub arr_nanos: i128,
    /// NRR of its accounts; `None` without a cohort.
    pub nrr_basis_points: Option<i64>,
    /// Onboarding completion of its accounts' plans due in the window.
    pub onboarding: Completion,
}

/// The onboarding completion of a partner's accounts over a window: the
/// plans whose VALUE_CONFIRMED target date falls in it, and the share of
/// them that reached VALUE_CONFIRMED by that date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Completion {
    /// Plans due.
    pub plans_due: i64,
    /// Of them, reached on time, in basis points (as the onboarding service
    /// rounds it); `None` when none is due.
    pub rate_basis_points: Option<i64>,
}

impl Measures {
    /// Staff certified at `level` or higher.
    pub fn certified_at(&self, level: i32) -> i64 {
        usize::try_from(level - 1)
            .ok()
            .and_then(|i| self.certified.get(i).copied())
            .unwrap_or(0)
    }
}

/// A partner's value for a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A count.
    Count(i64),
    /// An amount, nano units.
    Nanos(i128),
    /// Basis points; `None` when there is no value.
    BasisPoints(Option<i64>),
    /// An onboarding completion rate and the plans due it is of.
    Completion(Completion),
}

/// One criterion as evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriterionResult {
    /// The tier it belongs to.
    pub tier: String,
    /// The criterion.
    pub criterion: Criterion,
    /// The partner's value.
    pub value: Value,
    /// Whether the value meets the threshold.
    pub met: bool,
}

/// A partner's tier under a program, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The first tier whose criteria it all meets.
    pub tier: String,
    /// Every criterion of every tier, in program order.
    pub results: Vec<CriterionResult>,
}

/// The tier `program` gives a partner measured `measures`.
pub fn evaluate(program: &Program, measures: &Measures) -> Evaluation {
    let mut reached = None;
    let mut results = Vec::new();
    for tier in &program.tiers {
        let mut all_met = true;
        for criterion in &tier.criteria {
            let value = criterion.measure(measures);
            let met = criterion.met_by(value);
            all_met &= met;
            results.push(CriterionResult {
                tier: tier.name.clone(),
                criterion: *criterion,
                value,
                met,
            });
        }
        if all_met && reached.is_none() {
            reached = Some(tier.name.clone());
        }
    }
    // A valid program's lowest tier has no criteria, so one is always reached.
    let tier = reached
        .or_else(|| program.tiers.last().map(|t| t.name.clone()))
        .unwrap_or_default();
    Evaluation { tier, results }
}

/// The first and last month (as their first days) of the revenue an
/// evaluation on `day` looks at: the [`REVENUE_MONTHS`] complete months
/// before the day's month.
pub fn revenue_window(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let this_month = day.with_day0(0).unwrap_or(day);
    let last = this_month
        .checked_sub_months(Months::new(1))
        .unwrap_or(this_month);
    let first = last
        .checked_sub_months(Months::new(REVENUE_MONTHS - 1))
        .unwrap_or(last);
    (first, last)
}

/// The first and last day of the onboarding plans an evaluation on `day`
/// looks at (by their VALUE_CONFIRMED target date): the [`REVENUE_MONTHS`]
/// complete months before the day's month, the revenue's months.
pub fn onboarding_window(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let (first, last_month) = revenue_window(day);
    let last = last_month
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(last_month);
    (first, last)
}

/// A change of a partner's tier, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    /// Server-generated id.
    pub id: String,
    /// The partner.
    pub partner_id: String,
    /// Its tier before; empty when none.
    pub previous_tier: String,
    /// Its tier after.
    pub new_tier: String,
    /// The program version evaluated.
    pub program_version: i64,
    /// The day measured.
    pub evaluated_on: NaiveDate,
    /// The revenue months, when the program needs revenue.
    pub revenue_window: Option<(NaiveDate, NaiveDate)>,
    /// The program's currency, for the amounts.
    pub currency: Option<String>,
    /// Every criterion as evaluated.
    pub results: Vec<CriterionResult>,
    /// When.
    pub change_time: DateTime<Utc>,
    /// Who evaluated.
    pub evaluated_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(level: i32, min_count: i64) -> Criterion {
        Criterion::CertifiedStaff { level, min_count }
    }

    fn sourced(min_count: i64) -> Criterion {
        Criterion::SourcedAccounts { min_count }
    }

    fn arr(units: i64) -> Criterion {
        Criterion::PartnerArr {
            min_nanos: i128::from(units) * NANOS,
        }
    }

    fn nrr(min_basis_points: i64) -> Criterion {
        Criterion::Nrr { min_basis_points }
    }

    fn onboarding(min_basis_points: i64, min_plans_due: i64) -> Criterion {
        Criterion::OnboardingCompletion {
            min_basis_points,
            min_plans_due,
        }
    }

    fn completed(plans_due: i64, rate_basis_points: Option<i64>) -> Completion {
        Completion {
            plans_due,
            rate_basis_points,
        }
    }

    fn tier(name: &str, criteria: Vec<Criterion>) -> Tier {
        Tier {
            name: name.into(),
            criteria,
        }
    }

    fn program(tiers: Vec<Tier>) -> Program {
        Program {
            tiers,
            currency: Some("USD".into()),
        }
    }

    fn standard() -> Program {
        program(vec![
            tier("PLATINUM", vec![staff(2, 5), arr(1_000_000), nrr(11_000)]),
            tier("GOLD", vec![staff(2, 2), arr(250_000)]),
            tier("SILVER", vec![staff(1, 1)]),
            tier("REGISTERED", vec![]),
        ])
    }

    fn paths(program: &Program) -> Vec<String> {
        program.problems().into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_nested_program_is_valid() {
        assert!(
            standard().problems().is_empty(),
            "{:?}",
            standard().problems()
        );
        // A higher level with the same count is stricter; so is one more criterion.
        let p = program(vec![
            tier("A", vec![staff(3, 2), sourced(1)]),
            tier("B", vec![staff(3, 2)]),
            tier("C", vec![staff(2, 2)]),
            tier("D", vec![]),
        ]);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        // One tier alone is a program where everyone is in it.
        assert!(program(vec![tier("ONLY", vec![])]).problems().is_empty());
    }

    #[test]
    fn tiers_out_of_order_or_equally_strict_are_refused() {
        // SILVER listed above GOLD.
        let p = program(vec![
            tier("SILVER", vec![staff(1, 1)]),
            tier("GOLD", vec![staff(2, 2), arr(250_000)]),
            tier("REGISTERED", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0]"]);
        // The same criteria twice: not strictly stricter.
        let p = program(vec![
            tier("GOLD", vec![sourced(3)]),
            tier("SILVER", vec![sourced(3)]),
            tier("REGISTERED", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0]"]);
        // Level 2 implies level 1 at the same count, so these two are equal.
        let p = program(vec![
            tier("GOLD", vec![staff(2, 2), staff(1, 2)]),
            tier("SILVER", vec![staff(2, 2)]),
            tier("REGISTERED", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0]"]);
        // Different kinds do not nest.
        let p = program(vec![
            tier("GOLD", vec![sourced(10)]),
            tier("SILVER", vec![staff(1, 1)]),
            tier("REGISTERED", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0]"]);
    }

    #[test]
    fn the_lowest_tier_alone_has_no_criteria_and_kinds_are_asked_once() {
        let p = program(vec![
            tier("GOLD", vec![]),
            tier(
                "SILVER",
                vec![sourced(1), sourced(2), staff(1, 1), staff(2, 1)],
            ),
        ]);
        assert_eq!(
            paths(&p),
            [
                "tiers[1].criteria[1]",
                "tiers[1].criteria",
                "tiers[0].criteria"
            ]
        );
        let p = Program {
            currency: None,
            ..program(vec![tier("GOLD", vec![nrr(0)]), tier("BASE", vec![])])
        };
        assert_eq!(paths(&p), ["currency_code"]);
    }

    #[test]
    fn a_partner_reaches_the_first_tier_whose_criteria_it_all_meets() {
        let p = standard();
        let gold = Measures {
            certified: [4, 3, 1],
            sourced_accounts: 2,
            arr_nanos: 300_000 * NANOS,
            nrr_basis_points: Some(12_000),
            onboarding: Completion::default(),
        };
        let evaluated = evaluate(&p, &gold);
        assert_eq!(evaluated.tier, "GOLD");
        // Every criterion of every tier, in order, with its value.
        let met: Vec<_> = evaluated
            .results
            .iter()
            .map(|r| (r.tier.as_str(), r.value, r.met))
            .collect();
        assert_eq!(
            met,
            [
                ("PLATINUM", Value::Count(3), false),
                ("PLATINUM", Value::Nanos(300_000 * NANOS), false),
                ("PLATINUM", Value::BasisPoints(Some(12_000)), true),
                ("GOLD", Value::Count(3), true),
                ("GOLD", Value::Nanos(300_000 * NANOS), true),
                ("SILVER", Value::Count(4), true),
            ]
        );
        // Thresholds are inclusive; no NRR never meets an NRR criterion.
        let edge = Measures {
            certified: [5, 5, 0],
            arr_nanos: 1_000_000 * NANOS,
            nrr_basis_points: Some(11_000),
            ..gold
        };
        assert_eq!(evaluate(&p, &edge).tier, "PLATINUM");
        let no_nrr = Measures {
            nrr_basis_points: None,
            ..edge
        };
        assert_eq!(evaluate(&p, &no_nrr).tier, "GOLD");
        assert_eq!(evaluate(&p, &Measures::default()).tier, "REGISTERED");
    }

    /// A valid program built from the lowest tier up: each tier the one
    /// below with every threshold raised by its step and, when `extra` is
    /// set, one more criterion of a kind the tier below does not ask.
    fn nested(steps: &[(i64, i32, bool)]) -> Program {
        let mut tiers = vec![tier("T0", vec![])];
        for (i, &(raise, level_up, extra)) in steps.iter().enumerate() {
            let below = &tiers[0].criteria;
            let mut criteria: Vec<Criterion> = below
                .iter()
                .map(|c| match *c {
                    Criterion::CertifiedStaff { level, min_count } => Criterion::CertifiedStaff {
                        level: (level + level_up).min(3),
                        min_count: min_count + raise,
                    },
                    Criterion::SourcedAccounts { min_count } => Criterion::SourcedAccounts {
                        min_count: min_count + raise,
                    },
                    Criterion::PartnerArr { min_nanos } => Criterion::PartnerArr {
                        min_nanos: min_nanos + i128::from(raise) * NANOS,
                    },
                    Criterion::Nrr { min_basis_points } => Criterion::Nrr {
                        min_basis_points: min_basis_points + raise * 100,
                    },
                    Criterion::OnboardingCompletion {
                        min_basis_points,
                        min_plans_due,
                    } => Criterion::OnboardingCompletion {
                        min_basis_points: (min_basis_points + raise * 1_000).min(10_000),
                        min_plans_due: min_plans_due + i64::from(level_up),
                    },
                })
                .collect();
            let kinds = [
                staff(1, 1),
                sourced(1),
                arr(1),
                nrr(9_000),
                onboarding(5_000, 1),
            ];
            let missing = kinds
                .iter()
                .find(|k| !criteria.iter().any(|c| c.kind() == k.kind()));
            match missing {
                Some(k) if extra || criteria.is_empty() => criteria.push(*k),
                // Nothing to add: raise the first threshold so the tier asks more.
                _ if raise == 0 && level_up == 0 => {
                    if let Some(
                        Criterion::SourcedAccounts { min_count }
                        | Criterion::CertifiedStaff { min_count, .. },
                    ) = criteria.iter_mut().find(|c| {
                        matches!(
                            c,
                            Criterion::SourcedAccounts { .. } | Criterion::CertifiedStaff { .. }
                        )
                    }) {
                        *min_count += 1;
                    } else if let Some(k) = missing {
                        criteria.push(*k);
                    }
                }
                _ => {}
            }
            tiers.insert(0, tier(&format!("T{}", i + 1), criteria));
        }
        program(tiers)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// In a valid program, a partner meets every tier below the one it
        /// reaches: the tiers nest, whatever its measures.
        #[test]
        fn the_tiers_of_a_valid_program_nest(
            steps in proptest::collection::vec((0i64..3, 0i32..2, proptest::bool::ANY), 0..6),
            certified in proptest::array::uniform3(0i64..8),
            sourced_accounts in 0i64..8,
            arr_units in 0i64..8,
            nrr in proptest::option::of(8_000i64..11_000),
            plans_due in 0i64..4,
            on_time in 0i64..4,
        ) {
            let p = nested(&steps);
            proptest::prop_assume!(p.problems().is_empty());
            // Staff certified at a level also count at the levels below it.
            let mut certified = certified;
            certified.sort_unstable_by(|a, b| b.cmp(a));
            let measures = Measures {
                certified,
                sourced_accounts,
                arr_nanos: i128::from(arr_units) * NANOS,
                nrr_basis_points: nrr,
                onboarding: completed(
                    plans_due,
                    (plans_due > 0).then(|| on_time.min(plans_due) * 10_000 / plans_due),
                ),
            };
            let evaluated = evaluate(&p, &measures);
            let reached = p.tiers.iter().position(|t| t.name == evaluated.tier).expect("a tier");
            for lower in &p.tiers[reached..] {
                let met = evaluated
                    .results
                    .iter()
                    .filter(|r| r.tier == lower.name)
                    .all(|r| r.met);
                proptest::prop_assert!(met, "{} reached but {} not met", evaluated.tier, lower.name);
            }
            for higher in &p.tiers[..reached] {
                let met = evaluated
                    .results
                    .iter()
                    .filter(|r| r.tier == higher.name)
                    .all(|r| r.met);
                proptest::prop_assert!(!met, "{} met but only {} reached", higher.name, evaluated.tier);
            }
        }
    }

    #[test]
    fn onboarding_completion_needs_plans_due_and_nests_on_both_thresholds() {
        // A higher rate over more plans implies a lower rate over fewer.
        assert!(onboarding(8_000, 5).implies(&onboarding(7_000, 3)));
        assert!(onboarding(8_000, 5).implies(&onboarding(8_000, 5)));
        assert!(!onboarding(8_000, 2).implies(&onboarding(7_000, 3)));
        assert!(!onboarding(6_000, 5).implies(&onboarding(7_000, 3)));
        assert!(!onboarding(10_000, 100).implies(&nrr(1)));
        let p = Program {
            currency: None,
            ..program(vec![
                tier("GOLD", vec![onboarding(8_000, 5)]),
                tier("SILVER", vec![onboarding(7_000, 3)]),
                tier("BASE", vec![]),
            ])
        };
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        assert!(p.needs_onboarding() && !p.needs_revenue());
        assert!(!standard().needs_onboarding());
        // A higher rate over fewer plans is not stricter: refused.
        let p = program(vec![
            tier("GOLD", vec![onboarding(9_000, 2)]),
            tier("SILVER", vec![onboarding(7_000, 3)]),
            tier("BASE", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0]"]);
        // Asked once per tier.
        let p = program(vec![
            tier("GOLD", vec![onboarding(9_000, 2), onboarding(8_000, 3)]),
            tier("BASE", vec![]),
        ]);
        assert_eq!(paths(&p), ["tiers[0].criteria[1]"]);

        let p = Program {
            currency: None,
            ..program(vec![
                tier("GOLD", vec![onboarding(8_000, 5)]),
                tier("SILVER", vec![onboarding(7_000, 3)]),
                tier("BASE", vec![]),
            ])
        };
        let at = |plans_due, rate| {
            evaluate(
                &p,
                &Measures {
                    onboarding: completed(plans_due, rate),
                    ..Measures::default()
                },
            )
        };
        // Thresholds are inclusive.
        assert_eq!(at(5, Some(8_000)).tier, "GOLD");
        assert_eq!(at(4, Some(10_000)).tier, "SILVER");
        assert_eq!(at(3, Some(7_000)).tier, "SILVER");
        // One plan on time is 100%, but too few plans: no luck.
        assert_eq!(at(1, Some(10_000)).tier, "BASE");
        assert_eq!(at(9, Some(6_999)).tier, "BASE");
        // Nothing due: no rate, not met.
        let none = at(0, None);
        assert_eq!(none.tier, "BASE");
        assert_eq!(
            none.results
                .iter()
                .map(|r| (r.value, r.met))
                .collect::<Vec<_>>(),
            [
                (Value::Completion(completed(0, None)), false),
                (Value::Completion(completed(0, None)), false),
            ]
        );
    }

    #[test]
    fn onboarding_plans_are_due_in_the_twelve_complete_months_before_the_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(
            onboarding_window(day(2026, 12, 15)),
            (day(2025, 12, 1), day(2026, 11, 30))
        );
        assert_eq!(
            onboarding_window(day(2024, 3, 1)),
            (day(2023, 3, 1), day(2024, 2, 29))
        );
        assert_eq!(
            onboarding_window(day(2026, 1, 31)),
            (day(2025, 1, 1), day(2025, 12, 31))
        );
    }

    #[test]
    fn revenue_is_the_twelve_complete_months_before_the_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(
            revenue_window(day(2026, 12, 15)),
            (day(2025, 12, 1), day(2026, 11, 1))
        );
        assert_eq!(
            revenue_window(day(2026, 1, 1)),
            (day(2025, 1, 1), day(2025, 12, 1))
        );
    }
}
