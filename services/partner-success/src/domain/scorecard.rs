//! Partner scorecards: the period a scorecard covers, the months and day its
//! figures are taken on, and what this service counts itself. The health and
//! revenue figures are the other services' reports, passed through.

use chrono::{Datelike as _, NaiveDate};

/// Most months a scorecard's revenue figures span (the expansion service's
/// revenue report's limit).
pub const MAX_REVENUE_MONTHS: u32 = 120;

/// Longest period, in days after its first, the onboarding service's
/// completion report covers. [`MAX_REVENUE_MONTHS`] months are shorter, so
/// every valid period can be asked for.
pub const MAX_ONBOARDING_REPORT_DAYS: i64 = 3660;

/// Why a period is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// It ends before it starts.
    #[error("{end} is before start_date {start}")]
    Reversed {
        /// The first day.
        start: NaiveDate,
        /// The last day.
        end: NaiveDate,
    },
    /// Its months are too many for the revenue figures.
    #[error(
        "the period touches {months} months; revenue figures cover at most {MAX_REVENUE_MONTHS}"
    )]
    TooLong {
        /// The months from the start's to the end's.
        months: i64,
    },
}

/// The days a scorecard covers: `start` to `end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The first day.
    pub start: NaiveDate,
    /// The last day.
    pub end: NaiveDate,
}

/// A month's index, counting from year 0.
fn month_index(day: NaiveDate) -> i64 {
    i64::from(day.year()) * 12 + i64::from(day.month0())
}

/// The first day of `day`'s month.
fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

impl Period {
    /// The period from `start` to `end`; refused when it ends before it
    /// starts or touches more than [`MAX_REVENUE_MONTHS`] months.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, PeriodError> {
        if end < start {
            return Err(PeriodError::Reversed { start, end });
        }
        let months = months_between(start, end);
        if months > i64::from(MAX_REVENUE_MONTHS) {
            return Err(PeriodError::TooLong { months });
        }
        Ok(Self { start, end })
    }

    /// The first and last month of the revenue figures (as their first
    /// days): the months the period touches. Revenue is measured at month
    /// ends, so a period is widened to whole months for it.
    pub fn revenue_months(&self) -> (NaiveDate, NaiveDate) {
        (first_of_month(self.start), first_of_month(self.end))
    }

    /// The day attributions and certifications are counted on: the last
    /// day, or `today` when the period runs past it (what holds on a day to
    /// come is not known yet).
    pub fn as_of(&self, today: NaiveDate) -> NaiveDate {
        self.end.min(today)
    }
}

/// The months from `first`'s to `last`'s, both counted.
fn months_between(first: NaiveDate, last: NaiveDate) -> i64 {
    month_index(last) - month_index(first) + 1
}

/// What this service counts of one partner for its scorecard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnFigures {
    /// Its accounts that are not churned.
    pub accounts: i64,
    /// Its accounts that are churned.
    pub churned_accounts: i64,
    /// Distinct accounts it sourced, attributions holding on the day.
    pub sourced_accounts: i64,
    /// Distinct accounts it influenced, attributions holding on the day.
    pub influenced_accounts: i64,
    /// Active staff certified at level 1, 2 and 3 or higher on the day.
    pub certified_staff: [i64; 3],
    /// Active staff.
    pub active_staff: i64,
}

/// The CSQLs still open among those a report counts: accepted, with their
/// opportunity neither won nor lost. Each accepted CSQL has one opportunity,
/// open, won or lost, so this is the report's open pipeline.
pub fn open_csqls(accepted: i64, won: i64, lost: i64) -> i64 {
    accepted.saturating_sub(won).saturating_sub(lost).max(0)
}

#[cfg(test)]
mod tests {
    use chrono::Months;

    use super::*;

    fn plus_months(day: NaiveDate, months: u32) -> NaiveDate {
        day.checked_add_months(Months::new(months)).expect("a date")
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    #[test]
    fn a_period_widens_to_the_months_it_touches_for_revenue() {
        let period = Period::new(day(2026, 1, 15), day(2026, 3, 10)).expect("valid");
        assert_eq!(period.revenue_months(), (day(2026, 1, 1), day(2026, 3, 1)));
        let one_day = Period::new(day(2026, 2, 28), day(2026, 2, 28)).expect("valid");
        assert_eq!(one_day.revenue_months(), (day(2026, 2, 1), day(2026, 2, 1)));
    }

    #[test]
    fn a_period_ends_on_or_after_its_start_and_spans_at_most_120_months() {
        assert_eq!(
            Period::new(day(2026, 3, 2), day(2026, 3, 1)),
            Err(PeriodError::Reversed {
                start: day(2026, 3, 2),
                end: day(2026, 3, 1)
            })
        );
        let start = day(2016, 1, 31);
        let last_allowed = plus_months(day(2016, 1, 1), 119);
        assert!(Period::new(start, last_allowed).is_ok());
        assert_eq!(
            months_between(day(2016, 1, 1), plus_months(last_allowed, 1)),
            121
        );
        assert_eq!(
            Period::new(start, plus_months(last_allowed, 1)),
            Err(PeriodError::TooLong { months: 121 })
        );
    }

    #[test]
    fn the_longest_period_fits_the_onboarding_completion_report() {
        // 120 whole months with three leap days.
        let start = day(2016, 1, 1);
        let end = plus_months(start, MAX_REVENUE_MONTHS)
            .pred_opt()
            .expect("a date");
        assert_eq!(end, day(2025, 12, 31));
        assert!(Period::new(start, end).is_ok());
        assert!((end - start).num_days() <= MAX_ONBOARDING_REPORT_DAYS);
    }

    #[test]
    fn counts_are_taken_on_the_last_day_or_today_when_it_is_to_come() {
        let period = Period::new(day(2026, 1, 1), day(2026, 6, 30)).expect("valid");
        assert_eq!(period.as_of(day(2026, 7, 15)), day(2026, 6, 30));
        assert_eq!(period.as_of(day(2026, 3, 15)), day(2026, 3, 15));
    }

    #[test]
    fn open_csqls_are_the_accepted_not_yet_won_or_lost() {
        assert_eq!(open_csqls(5, 2, 1), 2);
        assert_eq!(open_csqls(0, 0, 0), 0);
        // Never negative, whatever a report says.
        assert_eq!(open_csqls(1, 1, 1), 0);
    }
}
