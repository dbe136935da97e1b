//! Renewals: every term end is one. How it ended is recorded by a person, or
//! read from the terms (the next term starting that day is a renewal; none
//! after the day has passed is churn). A closing plan says how it will be
//! won and is reviewed more often for higher tiers.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
pub use themodel_proto::expansion::RenewalOutcome;

use super::subscription::Term;

/// Most steps one closing plan holds.
pub const MAX_STEPS: usize = 50;

/// Days between manager reviews of a closing plan, by the account's tier:
/// weekly for high-touch, fortnightly for low-touch, monthly otherwise.
pub fn review_every_days(tier: &str) -> i32 {
    match tier {
        "TIER_HIGH_TOUCH" => 7,
        "TIER_LOW_TOUCH" => 14,
        _ => 30,
    }
}

/// One step of a closing plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Key within the plan.
    pub key: String,
    /// What is to be done.
    pub description: String,
    /// When it is due.
    pub due: Option<NaiveDate>,
    /// When it was done, and by whom.
    pub done: Option<(DateTime<Utc>, String)>,
}

/// A renewal's plan and outcome as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Who owns winning it.
    pub owner_id: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// Days between reviews.
    pub review_every_days: i32,
    /// The day the plan was first set.
    pub created_on: NaiveDate,
    /// The last review and its note.
    pub last_review: Option<(NaiveDate, String)>,
    /// The outcome a person recorded, with the churn reason.
    pub outcome: Option<(RenewalOutcome, Option<String>)>,
    /// Increases with every change.
    pub revision: i64,
}

impl Plan {
    /// When the next review is due.
    pub fn next_review(&self) -> NaiveDate {
        let from = self.last_review.as_ref().map_or(self.created_on, |r| r.0);
        from + chrono::Days::new(u64::try_from(self.review_every_days).unwrap_or(30))
    }
}

/// The new steps, keeping done the ones whose key was done before.
pub fn merge_steps(old: &[Step], new: Vec<Step>) -> Vec<Step> {
    new.into_iter()
        .map(|mut step| {
            step.done = old
                .iter()
                .find(|o| o.key == step.key)
                .and_then(|o| o.done.clone());
            step
        })
        .collect()
}

/// How the renewal at the end of `terms[i]` ended, as the terms tell it on
/// `today`: `None` while undecided.
pub fn derived_outcome(terms: &[Term], i: usize, today: NaiveDate) -> Option<RenewalOutcome> {
    let end = terms.get(i)?.end?;
    match terms.get(i + 1) {
        Some(next) if next.start == end => Some(if same_deal(&terms[i], next) {
            RenewalOutcome::Renewed
        } else {
            RenewalOutcome::RenewedWithChange
        }),
        // A later term after a gap: the customer left, then came back.
        Some(_) => Some(RenewalOutcome::Churned),
        None if end <= today => Some(RenewalOutcome::Churned),
        None => None,
    }
}

fn same_deal(a: &Term, b: &Term) -> bool {
    a.quantity == b.quantity && a.unit_price == b.unit_price && a.period == b.period
}

/// The term a plain renewal of `last` adds: the same quantity, price and
/// period, from its end for as long again (whole months when it ran whole
/// months). `None` when `last` has no end.
pub fn renewal_term(last: &Term) -> Option<Term> {
    let end = last.end?;
    let months = whole_months(last.start, end);
    let next_end = match months {
        Some(m) => end.checked_add_months(Months::new(m))?,
        None => end + (end - last.start),
    };
    Some(Term {
        start: end,
        end: Some(next_end),
        ..last.clone()
    })
}

/// The number of months from `start` to `end` when it is a whole number.
fn whole_months(start: NaiveDate, end: NaiveDate) -> Option<u32> {
    if start.day() != end.day() {
        return None;
    }
    let months = (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32;
    u32::try_from(months).ok().filter(|m| *m > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::BillingPeriod;
    use themodel_platform::validate::Money;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn term(start: &str, end: Option<&str>, quantity: i64) -> Term {
        Term {
            quantity,
            unit_price: Money {
                currency_code: "USD".into(),
                units: 100,
                nanos: 0,
            },
            period: BillingPeriod::Annual,
            start: day(start),
            end: end.map(day),
        }
    }

    #[test]
    fn outcomes_are_read_from_the_terms_that_follow() {
        let renewed = [
            term("2024-01-01", Some("2025-01-01"), 5),
            term("2025-01-01", Some("2026-01-01"), 5),
            term("2026-01-01", None, 8),
        ];
        let today = day("2026-06-01");
        assert_eq!(
            derived_outcome(&renewed, 0, today),
            Some(RenewalOutcome::Renewed)
        );
        assert_eq!(
            derived_outcome(&renewed, 1, today),
            Some(RenewalOutcome::RenewedWithChange)
        );
        assert_eq!(derived_outcome(&renewed, 2, today), None);
        let ended = [term("2024-01-01", Some("2025-01-01"), 5)];
        assert_eq!(
            derived_outcome(&ended, 0, today),
            Some(RenewalOutcome::Churned)
        );
        assert_eq!(derived_outcome(&ended, 0, day("2024-12-01")), None);
    }

    #[test]
    fn a_plain_renewal_runs_as_long_again() {
        let yearly = renewal_term(&term("2027-01-01", Some("2028-01-01"), 5)).expect("term");
        assert_eq!(
            (yearly.start, yearly.end),
            (day("2028-01-01"), Some(day("2029-01-01")))
        );
        let odd = renewal_term(&term("2027-01-01", Some("2027-01-11"), 5)).expect("term");
        assert_eq!(odd.end, Some(day("2027-01-21")));
        assert_eq!(renewal_term(&term("2027-01-01", None, 5)), None);
    }

    #[test]
    fn reviews_are_more_frequent_for_higher_tiers_and_steps_stay_done() {
        assert!(review_every_days("TIER_HIGH_TOUCH") < review_every_days("TIER_LOW_TOUCH"));
        assert!(review_every_days("TIER_LOW_TOUCH") < review_every_days("TIER_TECH_TOUCH"));
        let step = |key: &str, done: bool| Step {
            key: key.into(),
            description: key.into(),
            due: None,
            done: done.then(|| (Utc::now(), "csm".into())),
        };
        let merged = merge_steps(
            &[step("a", true), step("b", false)],
            vec![step("a", false), step("c", false)],
        );
        assert!(merged[0].done.is_some());
        assert!(merged[1].done.is_none());
    }
}
