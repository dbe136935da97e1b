//! Backtests: how well a scorecard's low grades predicted churn. Each
//! observation is one account scored on one as_of day while a customer; it
//! predicts churn when its grade is the churn grade or worse, and is a churn
//! when the account churned within the horizon after as_of.

use chrono::{Days, NaiveDate};

use super::scorecard::{Grade, ratio};

/// Default days between as_of days.
pub const DEFAULT_STEP_DAYS: i32 = 30;
/// Default horizon.
pub const DEFAULT_HORIZON_DAYS: i32 = 90;
/// Longest span from the first as_of day to the last.
pub const MAX_SPAN_DAYS: i64 = 730;
/// Longest horizon.
pub const MAX_HORIZON_DAYS: i32 = 730;
/// Most missed churns listed.
pub const MAX_MISSED: usize = 1000;

/// An outcome that moves an account in or out of being a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Turn {
    /// Churned on the day (first day without revenue).
    Churned,
    /// Customer again from the day.
    Reactivated,
}

/// The as_of days from `start` to at most `end`, `step` days apart.
pub fn as_of_days(start: NaiveDate, end: NaiveDate, step: i32) -> Vec<NaiveDate> {
    let step = Days::new(u64::try_from(step.max(1)).unwrap_or(1));
    let mut days = Vec::new();
    let mut day = start;
    while day <= end {
        days.push(day);
        match day.checked_add_days(step) {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// Whether an account with `turns` (sorted by day) had churned on `day`:
/// its last turn on or before the day is a churn.
pub fn churned_on(turns: &[(NaiveDate, Turn)], day: NaiveDate) -> bool {
    turns
        .iter()
        .take_while(|(d, _)| *d <= day)
        .last()
        .is_some_and(|(_, t)| *t == Turn::Churned)
}

/// The first churn of `turns` after `day` and at most `horizon` days later.
pub fn churn_within(
    turns: &[(NaiveDate, Turn)],
    day: NaiveDate,
    horizon: i32,
) -> Option<NaiveDate> {
    let until = day.checked_add_days(Days::new(u64::try_from(horizon).unwrap_or(0)))?;
    turns
        .iter()
        .find(|(d, t)| *t == Turn::Churned && *d > day && *d <= until)
        .map(|(d, _)| *d)
}

/// The confusion matrix of a backtest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matrix {
    /// Predicted churn, and churned.
    pub true_positives: i64,
    /// Predicted churn, and stayed.
    pub false_positives: i64,
    /// Looked healthy, and churned.
    pub false_negatives: i64,
    /// Looked healthy, and stayed.
    pub true_negatives: i64,
    /// Customers without a score that day.
    pub unscored: i64,
}

impl Matrix {
    /// Counts one observation: its grade (none when unscored) and whether
    /// it churned within the horizon. Whether it was a missed churn.
    pub fn count(&mut self, grade: Option<Grade>, churn_grade: Grade, churned: bool) -> bool {
        let Some(grade) = grade else {
            self.unscored += 1;
            return false;
        };
        match (grade >= churn_grade, churned) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_positives += 1,
            (false, true) => self.false_negatives += 1,
            (false, false) => self.true_negatives += 1,
        }
        grade < churn_grade && churned
    }

    /// Observations scored.
    pub fn observations(&self) -> i64 {
        self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
    }

    /// Share of predicted churns that churned, in basis points.
    pub fn precision(&self) -> Option<i32> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Share of churns predicted, in basis points.
    pub fn recall(&self) -> Option<i32> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn as_of_days_step_to_the_end_inclusive() {
        let days = as_of_days(day("2026-01-01"), day("2026-03-02"), 30);
        assert_eq!(
            days,
            vec![day("2026-01-01"), day("2026-01-31"), day("2026-03-02")]
        );
        assert!(as_of_days(day("2026-01-02"), day("2026-01-01"), 30).is_empty());
    }

    #[test]
    fn churn_state_follows_the_last_turn() {
        let turns = [
            (day("2026-02-01"), Turn::Churned),
            (day("2026-05-01"), Turn::Reactivated),
            (day("2026-09-01"), Turn::Churned),
        ];
        assert!(!churned_on(&turns, day("2026-01-31")));
        assert!(churned_on(&turns, day("2026-02-01")));
        assert!(!churned_on(&turns, day("2026-05-01")));
        assert_eq!(
            churn_within(&turns, day("2026-01-01"), 31),
            Some(day("2026-02-01"))
        );
        assert_eq!(churn_within(&turns, day("2026-01-01"), 30), None);
        assert_eq!(churn_within(&turns, day("2026-02-01"), 90), None);
        assert_eq!(
            churn_within(&turns, day("2026-06-05"), 90),
            Some(day("2026-09-01"))
        );
    }

    #[test]
    fn precision_and_recall_of_a_known_matrix() {
        let mut m = Matrix::default();
        // Two low grades that churned, one that stayed, one healthy churn,
        // three healthy stays, one unscored.
        for (grade, churned) in [
            (Some(Grade::D), true),
            (Some(Grade::E), true),
            (Some(Grade::D), false),
            (Some(Grade::B), true),
            (Some(Grade::A), false),
            (Some(Grade::C), false),
            (Some(Grade::B), false),
            (None, true),
        ] {
            m.count(grade, Grade::D, churned);
        }
        assert_eq!(
            (
                m.true_positives,
                m.false_positives,
                m.false_negatives,
                m.true_negatives,
                m.unscored
            ),
            (2, 1, 1, 3, 1)
        );
        assert_eq!(m.observations(), 7);
        assert_eq!(m.precision(), Some(6_667));
        assert_eq!(m.recall(), Some(6_667));
        assert!(Matrix::default().precision().is_none());
        assert!(m.count(Some(Grade::C), Grade::D, true), "a missed churn");
    }
}
