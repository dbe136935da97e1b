//! Health alerts: when each kind holds, and what scoring an account does to
//! the alerts open on it. An alert is raised once, when its condition starts
//! to hold, and cleared when it stops; a later recurrence is a new alert.

use chrono::{Days, NaiveDate};

use super::scorecard::{Grade, TREND_BASELINE_DAYS, TREND_RECENT_DAYS};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Daily active users fell against the account's own baseline.
    UsageDrop,
    /// The grade fell.
    GradeDrop,
    /// No use since the product's first term started.
    NoUsage,
}

impl Kind {
    /// Every kind, in the order they are evaluated.
    pub const ALL: [Kind; 3] = [Kind::UsageDrop, Kind::GradeDrop, Kind::NoUsage];

    /// Its stored name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::UsageDrop => "USAGE_DROP",
            Kind::GradeDrop => "GRADE_DROP",
            Kind::NoUsage => "NO_USAGE",
        }
    }

    /// The kind stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// When alerts are raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// USAGE_DROP at a fall of at least this percentage; 0 is off.
    pub usage_drop_percent: i32,
    /// NO_USAGE this many days after the first term started; 0 is off.
    pub no_usage_grace_days: i32,
    /// GRADE_DROP on.
    pub grade_drop: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            usage_drop_percent: 50,
            no_usage_grace_days: 14,
            grade_drop: true,
        }
    }
}

impl Policy {
    /// Why these values are not acceptable, per field.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if !(0..=100).contains(&self.usage_drop_percent) {
            problems.push(("usage_drop_percent", "must be 0 (off) to 100"));
        }
        if !(0..=365).contains(&self.no_usage_grace_days) {
            problems.push(("no_usage_grace_days", "must be 0 (off) to 365"));
        }
        problems
    }
}

/// What scoring saw of an account's use of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The day scored.
    pub today: NaiveDate,
    /// Daily active users of the last 7 days, summed.
    pub recent_users: i64,
    /// Daily active users of the 28 days before, summed.
    pub baseline_users: i64,
    /// The previous score's grade.
    pub grade_before: Option<Grade>,
    /// This score's grade.
    pub grade_after: Option<Grade>,
    /// The day the product's first term started, when it has one.
    pub first_start: Option<NaiveDate>,
    /// The day of the last use of the product.
    pub last_use: Option<NaiveDate>,
}

/// An alert open on an account and product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// GRADE_DROP: the grade it fell from.
    pub grade_before: Option<Grade>,
}

/// An alert to raise, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// Its kind.
    pub kind: Kind,
    /// What was seen, in words.
    pub detail: String,
    /// USAGE_DROP: the recent sum.
    pub recent_users: i64,
    /// USAGE_DROP: the baseline sum.
    pub baseline_users: i64,
    /// GRADE_DROP: from.
    pub grade_before: Option<Grade>,
    /// GRADE_DROP: to.
    pub grade_after: Option<Grade>,
    /// NO_USAGE: the first term's start.
    pub since: Option<NaiveDate>,
}

/// What scoring does to the alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Raise a new alert.
    Raise(Raise),
    /// Clear the open alert with this id.
    Clear(String),
}

/// Whether daily active users fell by at least `percent` against the
/// baseline: (recent / 7) <= (baseline / 28) * (100 - percent) / 100, in
/// integers.
pub fn usage_dropped(recent: i64, baseline: i64, percent: i32) -> bool {
    percent > 0
        && baseline > 0
        && recent * TREND_BASELINE_DAYS * 100
            <= baseline * TREND_RECENT_DAYS * i64::from(100 - percent)
}

fn raise(kind: Kind, policy: &Policy, f: &Facts) -> Option<Raise> {
    let blank = Raise {
        kind,
        detail: String::new(),
        recent_users: 0,
        baseline_users: 0,
        grade_before: None,
        grade_after: None,
        since: None,
    };
    match kind {
        Kind::UsageDrop => usage_dropped(f.recent_users, f.baseline_users, policy.usage_drop_percent)
            .then(|| Raise {
                detail: format!(
                    "daily active users fell by {}% or more: {} user-days in the last {} days against {} in the {} days before",
                    policy.usage_drop_percent,
                    f.recent_users,
                    TREND_RECENT_DAYS,
                    f.baseline_users,
                    TREND_BASELINE_DAYS
                ),
                recent_users: f.recent_users,
                baseline_users: f.baseline_users,
                ..blank
            }),
        Kind::GradeDrop => match (f.grade_before, f.grade_after) {
            (Some(before), Some(after)) if policy.grade_drop && after > before => Some(Raise {
                detail: format!("grade fell from {} to {}", before.name(), after.name()),
                grade_before: Some(before),
                grade_after: Some(after),
                ..blank
            }),
            _ => None,
        },
        Kind::NoUsage => {
            let start = f.first_start?;
            let grace = u64::try_from(policy.no_usage_grace_days).ok()?;
            let due = start.checked_add_days(Days::new(grace))?;
            let unused = f.last_use.is_none_or(|last| last < start);
            (grace > 0 && due <= f.today && unused).then(|| Raise {
                detail: format!(
                    "no use of the product since its first term started on {start}, {} days ago",
                    (f.today - start).num_days()
                ),
                since: Some(start),
                ..blank
            })
        }
    }
}

/// Whether the open alert `open` still holds.
fn holds(open: &Open, policy: &Policy, f: &Facts) -> bool {
    match open.kind {
        Kind::UsageDrop => {
            usage_dropped(f.recent_users, f.baseline_users, policy.usage_drop_percent)
        }
        // Open until the grade is back where it fell from (an unscored
        // account has not recovered).
        Kind::GradeDrop => {
            policy.grade_drop
                && match (open.grade_before, f.grade_after) {
                    (Some(from), Some(now)) => now > from,
                    _ => true,
                }
        }
        Kind::NoUsage => raise(Kind::NoUsage, policy, f).is_some(),
    }
}

/// What scoring with `facts` does to the alerts `open` on the account and
/// product, under `policy`.
pub fn evaluate(policy: &Policy, facts: &Facts, open: &[Open]) -> Vec<Action> {
    let mut actions = Vec::new();
    for kind in Kind::ALL {
        match open.iter().find(|o| o.kind == kind) {
            Some(o) if !holds(o, policy, facts) => actions.push(Action::Clear(o.id.clone())),
            Some(_) => {}
            None => actions.extend(raise(kind, policy, facts).map(Action::Raise)),
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn facts() -> Facts {
        Facts {
            today: day("2026-06-30"),
            recent_users: 70,
            baseline_users: 280,
            grade_before: Some(Grade::B),
            grade_after: Some(Grade::B),
            first_start: Some(day("2026-01-01")),
            last_use: Some(day("2026-06-30")),
        }
    }

    fn open(kind: Kind, grade_before: Option<Grade>) -> Open {
        Open {
            id: format!("{}-1", kind.name()),
            kind,
            grade_before,
        }
    }

    #[test]
    fn usage_drop_holds_from_the_stated_percentage_down() {
        // Baseline 10 a day; 50% off: 5 a day (35 in 7 days) is a drop, 36 is not.
        assert!(usage_dropped(35, 280, 50));
        assert!(!usage_dropped(36, 280, 50));
        assert!(usage_dropped(0, 280, 100));
        assert!(!usage_dropped(1, 280, 100));
        assert!(!usage_dropped(0, 0, 50), "no baseline, no drop");
        assert!(!usage_dropped(0, 280, 0), "0 is off");
    }

    #[test]
    fn each_alert_is_raised_once_and_cleared_when_it_stops_holding() {
        let policy = Policy::default();
        let steady = facts();
        assert!(evaluate(&policy, &steady, &[]).is_empty());

        let dropped = Facts {
            recent_users: 35,
            ..steady
        };
        let actions = evaluate(&policy, &dropped, &[]);
        assert!(
            matches!(&actions[..], [Action::Raise(r)] if r.kind == Kind::UsageDrop && r.recent_users == 35 && r.baseline_users == 280)
        );
        // Still dropped with the alert open: nothing more.
        let usage_open = open(Kind::UsageDrop, None);
        assert!(evaluate(&policy, &dropped, std::slice::from_ref(&usage_open)).is_empty());
        // Recovered: cleared.
        assert_eq!(
            evaluate(&policy, &steady, &[usage_open]),
            vec![Action::Clear("USAGE_DROP-1".into())]
        );
    }

    #[test]
    fn a_grade_drop_clears_only_when_the_grade_is_back_where_it_fell_from() {
        let policy = Policy::default();
        let fell = Facts {
            grade_before: Some(Grade::B),
            grade_after: Some(Grade::D),
            ..facts()
        };
        let actions = evaluate(&policy, &fell, &[]);
        assert!(
            matches!(&actions[..], [Action::Raise(r)] if r.grade_before == Some(Grade::B) && r.grade_after == Some(Grade::D))
        );
        let drop = open(Kind::GradeDrop, Some(Grade::B));
        // D to C: better, but not back to B.
        let partly = Facts {
            grade_before: Some(Grade::D),
            grade_after: Some(Grade::C),
            ..facts()
        };
        assert!(evaluate(&policy, &partly, std::slice::from_ref(&drop)).is_empty());
        // Fell further while open: still one alert.
        let further = Facts {
            grade_before: Some(Grade::C),
            grade_after: Some(Grade::E),
            ..facts()
        };
        assert!(evaluate(&policy, &further, std::slice::from_ref(&drop)).is_empty());
        let back = Facts {
            grade_before: Some(Grade::C),
            grade_after: Some(Grade::B),
            ..facts()
        };
        assert_eq!(
            evaluate(&policy, &back, &[drop]),
            vec![Action::Clear("GRADE_DROP-1".into())]
        );
        // Turned off: nothing raised.
        let off = Policy {
            grade_drop: false,
            ..policy
        };
        assert!(evaluate(&off, &fell, &[]).is_empty());
    }

    #[test]
    fn no_usage_waits_for_the_grace_days_and_clears_on_first_use() {
        let policy = Policy::default();
        let fresh = Facts {
            today: day("2026-06-14"),
            first_start: Some(day("2026-06-01")),
            last_use: None,
            ..facts()
        };
        // 13 days after the start: within the 14 days' grace.
        assert!(evaluate(&policy, &fresh, &[]).is_empty());
        let due = Facts {
            today: day("2026-06-15"),
            ..fresh
        };
        let actions = evaluate(&policy, &due, &[]);
        assert!(
            matches!(&actions[..], [Action::Raise(r)] if r.kind == Kind::NoUsage && r.since == Some(day("2026-06-01")))
        );
        // Use before the term started (a trial) does not count.
        let trial_only = Facts {
            last_use: Some(day("2026-05-20")),
            ..due
        };
        assert_eq!(evaluate(&policy, &trial_only, &[]).len(), 1);
        let used = Facts {
            last_use: Some(day("2026-06-15")),
            ..due
        };
        assert_eq!(
            evaluate(&policy, &used, &[open(Kind::NoUsage, None)]),
            vec![Action::Clear("NO_USAGE-1".into())]
        );
        // Without a subscription there is no onboarding to measure from.
        let no_term = Facts {
            first_start: None,
            ..due
        };
        assert!(evaluate(&policy, &no_term, &[]).is_empty());
    }

    #[test]
    fn policy_bounds() {
        assert!(Policy::default().problems().is_empty());
        let bad = Policy {
            usage_drop_percent: 101,
            no_usage_grace_days: -1,
            grade_drop: true,
        };
        let fields: Vec<&str> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["usage_drop_percent", "no_usage_grace_days"]);
    }
}
