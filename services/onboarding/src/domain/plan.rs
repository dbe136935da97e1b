//! Plans: when a stage is reached, when things are due, where a plan stands
//! and what comes next.

use std::collections::{BTreeSet, HashMap};

use chrono::{Days, NaiveDate};

use super::playbook::{Anchor, Criterion, Definition};

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Open, nothing past due.
    OnTrack,
    /// Open, a stage past due.
    AtRisk,
    /// VALUE_CONFIRMED reached.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Open, with a stall alert open.
    Stalled,
}

/// Why a plan is stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StallKind {
    /// No progress for the stall days.
    NoProgress,
    /// Set-up past due.
    SetupOverdue,
}

impl StallKind {
    /// Every kind.
    pub const ALL: [StallKind; 2] = [StallKind::NoProgress, StallKind::SetupOverdue];

    /// Its stored name.
    pub fn name(self) -> &'static str {
        match self {
            StallKind::NoProgress => "NO_PROGRESS",
            StallKind::SetupOverdue => "SETUP_OVERDUE",
        }
    }

    /// The kind stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The stalls of an open plan at `now`, with what was seen: no progress
/// since `progress` for `stall_days` or more, or set-up not reached by
/// `setup_due`.
pub fn stalls(
    setup_reached: bool,
    setup_due: Option<NaiveDate>,
    progress: chrono::DateTime<chrono::Utc>,
    stall_days: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(StallKind, String)> {
    let mut found = Vec::new();
    let idle = (now - progress).num_days();
    if idle >= i64::from(stall_days) {
        found.push((
            StallKind::NoProgress,
            format!("no progress for {idle} days (stalled after {stall_days})"),
        ));
    }
    if let Some(due) = setup_due
        && !setup_reached
        && now.date_naive() > due
    {
        found.push((
            StallKind::SetupOverdue,
            format!("set-up was due on {due} and is not complete"),
        ));
    }
    found
}

/// The date target days count from: the contract's start or the kick-off,
/// as the playbook says; none while not known.
pub fn anchor_date(
    anchor: Anchor,
    contract_start: Option<NaiveDate>,
    kickoff: Option<NaiveDate>,
) -> Option<NaiveDate> {
    match anchor {
        Anchor::ContractStart => contract_start,
        Anchor::Kickoff => kickoff,
    }
}

/// `days` after `anchor`.
pub fn due(anchor: Option<NaiveDate>, days: i32) -> Option<NaiveDate> {
    anchor?.checked_add_days(Days::new(u64::try_from(days).ok()?))
}

/// Whether every criterion holds with the steps `done` and the `signals`'
/// highest values.
pub fn holds(
    criteria: &[Criterion],
    done: &BTreeSet<String>,
    signals: &HashMap<String, i64>,
) -> bool {
    criteria.iter().all(|c| match c {
        Criterion::Step(key) => done.contains(key),
        Criterion::Signal { key, threshold } => signals.get(key).is_some_and(|v| v >= threshold),
    })
}

/// The stages reached now, given those reached before: (setup, value).
/// VALUE_CONFIRMED comes only with or after SETUP_COMPLETE.
pub fn stages(
    def: &Definition,
    reached: (bool, bool),
    done: &BTreeSet<String>,
    signals: &HashMap<String, i64>,
) -> (bool, bool) {
    let setup = reached.0 || holds(&def.setup, done, signals);
    let value = reached.1 || (setup && holds(&def.value, done, signals));
    (setup, value)
}

/// The first step not done, in playbook order.
pub fn next_step<'a>(def: &'a Definition, done: &BTreeSet<String>) -> Option<&'a str> {
    def.steps()
        .map(|(_, s)| s.key.as_str())
        .find(|key| !done.contains(*key))
}

/// Where a plan stands on `today`.
pub fn status(
    cancelled: bool,
    reached: (bool, bool),
    due_dates: (Option<NaiveDate>, Option<NaiveDate>),
    stalled: bool,
    today: NaiveDate,
) -> Status {
    if cancelled {
        return Status::Cancelled;
    }
    if reached.1 {
        return Status::Completed;
    }
    if stalled {
        return Status::Stalled;
    }
    let late = |reached: bool, due: Option<NaiveDate>| !reached && due.is_some_and(|d| today > d);
    if late(reached.0, due_dates.0) || late(reached.1, due_dates.1) {
        Status::AtRisk
    } else {
        Status::OnTrack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::playbook::{
        Confirmation, DEFAULT_TIER, PhaseDef, StepDef, StepKind, Targets,
    };

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn definition() -> Definition {
        let step = |key: &str| StepDef {
            key: key.into(),
            name: key.into(),
            kind: StepKind::Setting,
            confirmation: Confirmation::None,
            due_day: 7,
        };
        Definition {
            display_name: "Analytics".into(),
            phases: vec![PhaseDef {
                key: "setup".into(),
                name: "Setup".into(),
                steps: vec![step("sso"), step("import"), step("sign-off")],
            }],
            setup: vec![
                Criterion::Step("sso".into()),
                Criterion::Signal {
                    key: "users".into(),
                    threshold: 5,
                },
            ],
            value: vec![Criterion::Step("sign-off".into())],
            anchor: Anchor::ContractStart,
            targets: vec![Targets {
                tier: DEFAULT_TIER.into(),
                setup_days: 30,
                value_days: 90,
                stall_days: 14,
            }],
        }
    }

    #[test]
    fn stages_come_in_order_when_their_criteria_hold() {
        let def = definition();
        let mut done = BTreeSet::from(["sso".to_owned(), "sign-off".to_owned()]);
        let mut signals = HashMap::from([("users".to_owned(), 4)]);
        // Signed off, but setup needs five users first: nothing reached.
        assert_eq!(
            stages(&def, (false, false), &done, &signals),
            (false, false)
        );
        signals.insert("users".into(), 5);
        assert_eq!(stages(&def, (false, false), &done, &signals), (true, true));
        done.remove("sign-off");
        assert_eq!(stages(&def, (false, false), &done, &signals), (true, false));
        // A stage once reached stays reached.
        assert_eq!(
            stages(&def, (true, false), &BTreeSet::new(), &HashMap::new()),
            (true, false)
        );
        assert_eq!(next_step(&def, &done), Some("import"));
    }

    #[test]
    fn a_plan_is_at_risk_the_day_after_a_stage_is_due() {
        let anchor = anchor_date(Anchor::ContractStart, Some(day("2026-01-01")), None);
        let setup = due(anchor, 30);
        let value = due(anchor, 90);
        assert_eq!(setup, Some(day("2026-01-31")));
        let at = |d: &str, reached| status(false, reached, (setup, value), false, day(d));
        assert_eq!(at("2026-01-31", (false, false)), Status::OnTrack);
        assert_eq!(at("2026-02-01", (false, false)), Status::AtRisk);
        assert_eq!(at("2026-02-01", (true, false)), Status::OnTrack);
        assert_eq!(at("2026-04-02", (true, false)), Status::AtRisk);
        assert_eq!(at("2027-01-01", (true, true)), Status::Completed);
        assert_eq!(
            status(true, (true, false), (setup, value), true, day("2026-01-02")),
            Status::Cancelled
        );
        assert_eq!(
            status(
                false,
                (false, false),
                (setup, value),
                true,
                day("2026-01-02")
            ),
            Status::Stalled
        );
        // Not dated until the kick-off: never at risk.
        let undated = anchor_date(Anchor::Kickoff, Some(day("2026-01-01")), None);
        assert_eq!(undated, None);
        assert_eq!(
            status(
                false,
                (false, false),
                (due(undated, 30), None),
                false,
                day("2030-01-01")
            ),
            Status::OnTrack
        );
    }
}

#[cfg(test)]
mod stall_tests {
    use super::*;

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        format!("{text}T12:00:00Z").parse().expect("a time")
    }

    #[test]
    fn a_plan_stalls_after_its_idle_days_or_when_set_up_is_overdue() {
        let due: NaiveDate = "2026-03-10".parse().expect("a date");
        let kinds = |setup, now| -> Vec<StallKind> {
            stalls(setup, Some(due), at("2026-03-01"), 14, at(now))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert!(kinds(false, "2026-03-10").is_empty());
        assert_eq!(kinds(false, "2026-03-11"), vec![StallKind::SetupOverdue]);
        assert_eq!(kinds(true, "2026-03-11"), Vec::<StallKind>::new());
        assert_eq!(
            kinds(false, "2026-03-15"),
            vec![StallKind::NoProgress, StallKind::SetupOverdue]
        );
        assert_eq!(kinds(true, "2026-03-14"), Vec::<StallKind>::new());
        assert_eq!(
            StallKind::from_name("NO_PROGRESS"),
            Some(StallKind::NoProgress)
        );
    }
}
