//! The tier program, its evaluations and the tier history between the
//! contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::{common, partner_success as pb};

use super::timestamp;
use crate::domain::tier::{
    Criterion, CriterionResult, LEVELS, MAX_BASIS_POINTS, MAX_COUNT, MAX_CRITERIA,
    MAX_RATE_BASIS_POINTS, MAX_TIER_NAME, MAX_TIERS, NANOS, Program, ProgramVersion, Tier,
    TierChange, TierCriterionKind, Value, etag,
};

/// Fields an update of the program may name.
pub const UPDATABLE_FIELDS: &[&str] = &["currency_code", "tiers"];

/// Validates a tier name: 1 to [`MAX_TIER_NAME`] upper-case letters, digits
/// and `_`, starting with a letter.
pub fn tier_name(value: &str) -> Result<String, Vec<Violation>> {
    let mut chars = value.chars();
    let ok = value.len() <= MAX_TIER_NAME
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!(
                "{} must be 1 to {MAX_TIER_NAME} upper-case letters, digits and \"_\", starting with a letter",
                validate::echo(value)
            ),
        )])
    }
}

/// A count threshold at `field`: 1 to [`MAX_COUNT`].
fn min_count(value: i64, field: &str, v: &mut Violations) -> Option<i64> {
    if value < 0 {
        v.add(field, "must not be negative");
    } else if value == 0 {
        v.add(
            field,
            "must be at least 1: a criterion every partner meets tells no tier apart",
        );
    } else if value > MAX_COUNT {
        v.add(field, format!("must be at most {MAX_COUNT}"));
    } else {
        return Some(value);
    }
    None
}

/// The thresholds of an onboarding completion criterion: a rate of 1 to
/// [`MAX_RATE_BASIS_POINTS`] over at least 1 to [`MAX_COUNT`] plans due.
fn onboarding_completion(c: &pb::TierCriterion, v: &mut Violations) -> Option<Criterion> {
    let rate = if c.min_basis_points < 0 {
        v.add("min_basis_points", "must not be negative");
        None
    } else if c.min_basis_points == 0 {
        v.add(
            "min_basis_points",
            "must be at least 1: ask for a completion rate (in basis points, 10,000 = 100%)",
        );
        None
    } else if c.min_basis_points > MAX_RATE_BASIS_POINTS {
        v.add(
            "min_basis_points",
            format!("must be at most {MAX_RATE_BASIS_POINTS} (100%) for ONBOARDING_COMPLETION"),
        );
        None
    } else {
        Some(c.min_basis_points)
    };
    let plans_due = if c.min_plans_due == 0 {
        v.add(
            "min_plans_due",
            "is required for ONBOARDING_COMPLETION: at least 1 plan due, more so that a rate over \
             a plan or two does not reach a tier by luck",
        );
        None
    } else {
        min_count(c.min_plans_due, "min_plans_due", v)
    };
    Some(Criterion::OnboardingCompletion {
        min_basis_points: rate?,
        min_plans_due: plans_due?,
    })
}

/// Nano units of an amount (units and nanos have the same sign once valid).
pub fn nanos_of(money: &common::Money) -> i128 {
    i128::from(money.units) * NANOS + i128::from(money.nanos)
}

/// An amount of nano units in `currency`, its units capped to what the
/// contract carries.
pub fn money(currency: &str, nanos: i128) -> common::Money {
    let units = nanos / NANOS;
    let (units, nanos) = match i64::try_from(units) {
        Ok(units) => (units, i32::try_from(nanos % NANOS).unwrap_or(0)),
        Err(_) if units > 0 => (i64::MAX, 0),
        Err(_) => (i64::MIN, 0),
    };
    common::Money {
        currency_code: currency.to_owned(),
        units,
        nanos,
    }
}

/// Validates one criterion in a program of `currency`; paths relative to it.
fn criterion(c: &pb::TierCriterion, currency: Option<&str>) -> Result<Criterion, Vec<Violation>> {
    let mut v = Violations::new();
    let kind = match validate::known_enum::<TierCriterionKind>(c.kind) {
        Ok(TierCriterionKind::Unspecified) => {
            v.add(
                "kind",
                "is required: CERTIFIED_STAFF, SOURCED_ACCOUNTS, PARTNER_ARR, NRR or \
                 ONBOARDING_COMPLETION",
            );
            None
        }
        result => v.check("kind", result),
    };
    let Some(kind) = kind else {
        return Err(v.into_vec());
    };
    let name = kind.as_str_name();
    // Thresholds of other kinds must stay unset, so a criterion means one thing.
    if kind != TierCriterionKind::CertifiedStaff && c.level != 0 {
        v.add("level", format!("is only for CERTIFIED_STAFF, not {name}"));
    }
    let counted = matches!(
        kind,
        TierCriterionKind::CertifiedStaff | TierCriterionKind::SourcedAccounts
    );
    if !counted && c.min_count != 0 {
        v.add(
            "min_count",
            format!("is only for CERTIFIED_STAFF and SOURCED_ACCOUNTS, not {name}"),
        );
    }
    if kind != TierCriterionKind::PartnerArr && c.min_arr.is_some() {
        v.add("min_arr", format!("is only for PARTNER_ARR, not {name}"));
    }
    let rated = matches!(
        kind,
        TierCriterionKind::Nrr | TierCriterionKind::OnboardingCompletion
    );
    if !rated && c.min_basis_points != 0 {
        v.add(
            "min_basis_points",
            format!("is only for NRR and ONBOARDING_COMPLETION, not {name}"),
        );
    }
    if kind != TierCriterionKind::OnboardingCompletion && c.min_plans_due != 0 {
        v.add(
            "min_plans_due",
            format!("is only for ONBOARDING_COMPLETION, not {name}"),
        );
    }
    let criterion = match kind {
        TierCriterionKind::CertifiedStaff => {
            if !LEVELS.contains(&c.level) {
                v.add(
                    "level",
                    format!("must be {} to {}", LEVELS.start(), LEVELS.end()),
                );
            }
            min_count(c.min_count, "min_count", &mut v).map(|min_count| {
                Criterion::CertifiedStaff {
                    level: c.level,
                    min_count,
                }
            })
        }
        TierCriterionKind::SourcedAccounts => min_count(c.min_count, "min_count", &mut v)
            .map(|min_count| Criterion::SourcedAccounts { min_count }),
        TierCriterionKind::PartnerArr => match &c.min_arr {
            None => {
                v.add("min_arr", "is required for PARTNER_ARR");
                None
            }
            Some(amount) => v
                .check("min_arr", validate::Money::non_negative(amount))
                .map(|amount| {
                    if let Some(currency) = currency
                        && amount.currency_code != currency
                    {
                        v.add(
                            "min_arr.currency_code",
                            format!("must be the program's currency_code {currency}"),
                        );
                    }
                    let min_nanos = nanos_of(&amount.to_proto());
                    if min_nanos == 0 {
                        v.add(
                            "min_arr",
                            "must be more than zero: a criterion every partner meets tells no tier apart",
                        );
                    }
                    Criterion::PartnerArr { min_nanos }
                }),
        },
        TierCriterionKind::Nrr => {
            if c.min_basis_points < 0 {
                v.add("min_basis_points", "must not be negative");
                None
            } else if c.min_basis_points > MAX_BASIS_POINTS {
                v.add(
                    "min_basis_points",
                    format!("must be at most {MAX_BASIS_POINTS}"),
                );
                None
            } else {
                Some(Criterion::Nrr {
                    min_basis_points: c.min_basis_points,
                })
            }
        }
        TierCriterionKind::OnboardingCompletion => onboarding_completion(c, &mut v),
        TierCriterionKind::Unspecified => None,
    };
    match (criterion, v.is_empty()) {
        (Some(criterion), true) => Ok(criterion),
        _ => Err(v.into_vec()),
    }
}

/// Validates a program's tiers and currency; paths relative to the program.
/// Every bad field is reported; the rules between tiers (order of
/// strictness, the lowest tier) are checked once every field is valid.
pub fn program_from_proto(p: &pb::TierProgram) -> Result<Program, Vec<Violation>> {
    let mut v = Violations::new();
    let currency = if p.currency_code.is_empty() {
        Some(None)
    } else {
        v.check("currency_code", validate::currency(&p.currency_code))
            .map(Some)
    };
    if p.tiers.is_empty() || p.tiers.len() > MAX_TIERS {
        v.add("tiers", format!("must hold 1 to {MAX_TIERS} tiers"));
    }
    let expected = currency.clone().flatten();
    let mut tiers = Vec::new();
    for (i, t) in p.tiers.iter().enumerate().take(MAX_TIERS) {
        let at = format!("tiers[{i}]");
        let name = v.check(&format!("{at}.name"), tier_name(&t.name));
        if let Some(j) = p.tiers[..i].iter().position(|other| other.name == t.name) {
            v.add(
                format!("{at}.name"),
                format!("duplicates tiers[{j}].name: tier names are unique"),
            );
        }
        if t.criteria.len() > MAX_CRITERIA {
            v.add(
                format!("{at}.criteria"),
                format!("must hold at most {MAX_CRITERIA} criteria"),
            );
        }
        let criteria: Vec<_> = t
            .criteria
            .iter()
            .enumerate()
            .take(MAX_CRITERIA)
            .filter_map(|(k, c)| {
                v.check(
                    &format!("{at}.criteria[{k}]"),
                    criterion(c, expected.as_deref()),
                )
            })
            .collect();
        if let Some(name) = name {
            tiers.push(Tier { name, criteria });
        }
    }
    let (Some(currency), true) = (currency, v.is_empty()) else {
        return Err(v.into_vec());
    };
    let program = Program { tiers, currency };
    let problems = program.problems();
    if problems.is_empty() {
        Ok(program)
    } else {
        Err(problems
            .into_iter()
            .map(|(field, problem)| Violation::new(field, problem))
            .collect())
    }
}

/// The contract form of a criterion of a program in `currency`.
pub fn criterion_to_proto(c: &Criterion, currency: &str) -> pb::TierCriterion {
    let mut out = pb::TierCriterion {
        kind: c.kind() as i32,
        ..Default::default()
    };
    match *c {
        Criterion::CertifiedStaff { level, min_count } => {
            out.level = level;
            out.min_count = min_count;
        }
        Criterion::SourcedAccounts { min_count } => out.min_count = min_count,
        Criterion::PartnerArr { min_nanos } => out.min_arr = Some(money(currency, min_nanos)),
        Criterion::Nrr { min_basis_points } => out.min_basis_points = min_basis_points,
        Criterion::OnboardingCompletion {
            min_basis_points,
            min_plans_due,
        } => {
            out.min_basis_points = min_basis_points;
            out.min_plans_due = min_plans_due;
        }
    }
    out
}

/// The contract form of a program's rules at `version`, without the
/// version's own details.
pub fn rules_to_proto(program: &Program, version: i64) -> pb::TierProgram {
    let currency = program.currency.clone().unwrap_or_default();
    pb::TierProgram {
        version,
        tiers: program
            .tiers
            .iter()
            .map(|t| pb::TierDefinition {
                name: t.name.clone(),
                criteria: t
                    .criteria
                    .iter()
                    .map(|c| criterion_to_proto(c, &currency))
                    .collect(),
            })
            .collect(),
        currency_code: currency,
        ..Default::default()
    }
}

/// The contract form of a program version.
pub fn program_to_proto(v: &ProgramVersion) -> pb::TierProgram {
    pb::TierProgram {
        reason: v.reason.clone(),
        create_time: Some(timestamp(v.create_time)),
        created_by: v.created_by.clone(),
        etag: etag(v.version),
        ..rules_to_proto(&v.program, v.version)
    }
}

/// The contract form of an evaluated criterion, amounts in `currency`.
pub fn result_to_proto(r: &CriterionResult, currency: &str) -> pb::TierCriterionResult {
    use pb::tier_criterion_result::Value as V;
    pb::TierCriterionResult {
        tier: r.tier.clone(),
        criterion: Some(criterion_to_proto(&r.criterion, currency)),
        value: match r.value {
            Value::Count(n) => Some(V::Count(n)),
            Value::Nanos(n) => Some(V::Amount(money(currency, n))),
            Value::BasisPoints(bp) => bp.map(V::BasisPoints),
            Value::Completion(c) => c.rate_basis_points.map(V::BasisPoints),
        },
        met: r.met,
        plans_due: match r.value {
            Value::Completion(c) => c.plans_due,
            _ => 0,
        },
    }
}

/// The contract form of a tier change.
pub fn change_to_proto(c: &TierChange) -> pb::PartnerTierChange {
    let currency = c.currency.clone().unwrap_or_default();
    pb::PartnerTierChange {
        id: c.id.clone(),
        partner_id: c.partner_id.clone(),
        previous_tier: c.previous_tier.clone(),
        new_tier: c.new_tier.clone(),
        program_version: c.program_version,
        evaluated_on: Some(validate::date_to_proto(c.evaluated_on)),
        revenue_start_month: c.revenue_window.map(|(s, _)| validate::date_to_proto(s)),
        revenue_end_month: c.revenue_window.map(|(_, e)| validate::date_to_proto(e)),
        criteria: c
            .results
            .iter()
            .map(|r| result_to_proto(r, &currency))
            .collect(),
        change_time: Some(timestamp(c.change_time)),
        evaluated_by: c.evaluated_by.clone(),
    }
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_mask(current: &mut pb::TierProgram, patch: &pb::TierProgram, fields: &[&str]) {
    for field in fields {
        match *field {
            "tiers" => current.tiers.clone_from(&patch.tiers),
            "currency_code" => current.currency_code.clone_from(&patch.currency_code),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criterion(kind: TierCriterionKind) -> pb::TierCriterion {
        pb::TierCriterion {
            kind: kind as i32,
            ..Default::default()
        }
    }

    fn usd(units: i64) -> Option<common::Money> {
        Some(common::Money {
            currency_code: "USD".into(),
            units,
            nanos: 0,
        })
    }

    fn fields(result: Result<Program, Vec<Violation>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn a_program_round_trips() {
        let proto = pb::TierProgram {
            tiers: vec![
                pb::TierDefinition {
                    name: "GOLD".into(),
                    criteria: vec![
                        pb::TierCriterion {
                            level: 2,
                            min_count: 3,
                            ..criterion(TierCriterionKind::CertifiedStaff)
                        },
                        pb::TierCriterion {
                            min_arr: Some(common::Money {
                                currency_code: "USD".into(),
                                units: 250_000,
                                nanos: 500_000_000,
                            }),
                            ..criterion(TierCriterionKind::PartnerArr)
                        },
                        pb::TierCriterion {
                            min_basis_points: 10_500,
                            ..criterion(TierCriterionKind::Nrr)
                        },
                        pb::TierCriterion {
                            min_basis_points: 8_000,
                            min_plans_due: 5,
                            ..criterion(TierCriterionKind::OnboardingCompletion)
                        },
                    ],
                },
                pb::TierDefinition {
                    name: "REGISTERED".into(),
                    criteria: vec![],
                },
            ],
            currency_code: "USD".into(),
            ..Default::default()
        };
        let program = program_from_proto(&proto).expect("valid");
        assert_eq!(rules_to_proto(&program, 0), proto);
    }

    #[test]
    fn every_bad_field_is_named() {
        let proto = pb::TierProgram {
            tiers: vec![
                pb::TierDefinition {
                    name: "gold".into(),
                    criteria: vec![
                        pb::TierCriterion {
                            kind: 99,
                            ..Default::default()
                        },
                        pb::TierCriterion {
                            level: 4,
                            min_count: -1,
                            ..criterion(TierCriterionKind::CertifiedStaff)
                        },
                        pb::TierCriterion {
                            min_count: 2,
                            min_arr: usd(-5),
                            ..criterion(TierCriterionKind::SourcedAccounts)
                        },
                        pb::TierCriterion {
                            min_arr: Some(common::Money {
                                currency_code: "JPY".into(),
                                units: 1,
                                nanos: 0,
                            }),
                            ..criterion(TierCriterionKind::PartnerArr)
                        },
                        pb::TierCriterion {
                            min_basis_points: -10,
                            ..criterion(TierCriterionKind::Nrr)
                        },
                    ],
                },
                pb::TierDefinition {
                    name: "BASE".into(),
                    criteria: vec![],
                },
                pb::TierDefinition {
                    name: "BASE".into(),
                    criteria: vec![],
                },
            ],
            currency_code: "USD".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(program_from_proto(&proto)),
            [
                "tiers[0].name",
                "tiers[0].criteria[0].kind",
                "tiers[0].criteria[1].level",
                "tiers[0].criteria[1].min_count",
                "tiers[0].criteria[2].min_arr",
                "tiers[0].criteria[3].min_arr.currency_code",
                "tiers[0].criteria[4].min_basis_points",
                "tiers[2].name",
            ]
        );
        assert_eq!(
            fields(program_from_proto(&pb::TierProgram::default())),
            ["tiers"]
        );
    }

    #[test]
    fn onboarding_completion_needs_a_rate_and_plans_due_and_nothing_else() {
        let tiers = |criteria| pb::TierProgram {
            tiers: vec![
                pb::TierDefinition {
                    name: "GOLD".into(),
                    criteria,
                },
                pb::TierDefinition {
                    name: "BASE".into(),
                    criteria: vec![],
                },
            ],
            ..Default::default()
        };
        let onboarding = |min_basis_points, min_plans_due| pb::TierCriterion {
            min_basis_points,
            min_plans_due,
            ..criterion(TierCriterionKind::OnboardingCompletion)
        };
        // No currency needed; 100% and one plan are the bounds.
        let program = program_from_proto(&tiers(vec![onboarding(10_000, 1)])).expect("valid");
        assert_eq!(
            program.tiers[0].criteria,
            [Criterion::OnboardingCompletion {
                min_basis_points: 10_000,
                min_plans_due: 1,
            }]
        );
        for (bad, field) in [
            (onboarding(0, 3), "min_basis_points"),
            (onboarding(-1, 3), "min_basis_points"),
            (onboarding(10_001, 3), "min_basis_points"),
            (onboarding(8_000, 0), "min_plans_due"),
            (onboarding(8_000, -2), "min_plans_due"),
            (onboarding(8_000, MAX_COUNT + 1), "min_plans_due"),
            (
                pb::TierCriterion {
                    min_count: 3,
                    ..onboarding(8_000, 3)
                },
                "min_count",
            ),
            (
                pb::TierCriterion {
                    min_plans_due: 3,
                    min_count: 1,
                    ..criterion(TierCriterionKind::SourcedAccounts)
                },
                "min_plans_due",
            ),
        ] {
            assert_eq!(
                fields(program_from_proto(&tiers(vec![bad.clone()]))),
                [format!("tiers[0].criteria[0].{field}")],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn amounts_keep_their_nanos_and_cap_their_units() {
        let m = money("USD", 12 * (250_000 * NANOS + 500_000_000));
        assert_eq!((m.units, m.nanos), (3_000_006, 0));
        assert_eq!(money("USD", -1_500_000_000).nanos, -500_000_000);
        assert_eq!(money("USD", i128::MAX).units, i64::MAX);
    }
}
