//! The onboarding completion rate within the target period, exactly as the
//! domain defines it: among plans whose target date for the stage falls in
//! the period, the plans that reached the stage on or before that date.

use chrono::NaiveDate;

/// One plan as the report sees it for one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Its group.
    pub group: String,
    /// Its anchor.
    pub anchor: NaiveDate,
    /// Its target date for the stage.
    pub target: NaiveDate,
    /// When it reached the stage.
    pub reached: Option<NaiveDate>,
    /// Cancelled.
    pub cancelled: bool,
}

/// The figures of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Plans due.
    pub due: i64,
    /// Reached on or before the target.
    pub on_time: i64,
    /// Reached after it.
    pub late: i64,
    /// Open, not reached.
    pub open: i64,
    /// Cancelled before reaching it.
    pub cancelled: i64,
    days: Vec<i64>,
}

impl Group {
    /// Counts a plan due in the period.
    pub fn add(&mut self, plan: &Due) {
        self.due += 1;
        match plan.reached {
            Some(at) => {
                if at <= plan.target {
                    self.on_time += 1;
                } else {
                    self.late += 1;
                }
                self.days.push((at - plan.anchor).num_days());
            }
            None if plan.cancelled => self.cancelled += 1,
            None => self.open += 1,
        }
    }

    /// on_time / due, basis points, half up.
    pub fn rate(&self) -> Option<i32> {
        (self.due > 0).then(|| {
            i32::try_from((self.on_time * 20_000 + self.due) / (2 * self.due)).unwrap_or(0)
        })
    }

    /// The `p`-th percentile (nearest rank) of days to the stage.
    pub fn percentile(&self, p: i64) -> Option<i32> {
        if self.days.is_empty() {
            return None;
        }
        let mut days = self.days.clone();
        days.sort_unstable();
        let n = days.len() as i64;
        // Nearest rank: ceil(p / 100 * n), from 1.
        let rank = ((p * n + 99) / 100).clamp(1, n);
        i32::try_from(days[usize::try_from(rank - 1).unwrap_or(0)]).ok()
    }
}

/// Whether `target` falls in [`from`, `to`].
pub fn in_period(target: NaiveDate, from: NaiveDate, to: NaiveDate) -> bool {
    from <= target && target <= to
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn plan(target: &str, reached: Option<&str>, cancelled: bool) -> Due {
        Due {
            group: String::new(),
            anchor: day("2026-01-01"),
            target: day(target),
            reached: reached.map(day),
            cancelled,
        }
    }

    #[test]
    fn on_time_late_open_and_cancelled_plans_count_as_defined() {
        let mut g = Group::default();
        for p in [
            plan("2026-03-31", Some("2026-03-31"), false),
            plan("2026-03-31", Some("2026-02-10"), false),
            plan("2026-03-15", Some("2026-04-01"), false),
            plan("2026-03-20", None, false),
            plan("2026-03-25", None, true),
        ] {
            g.add(&p);
        }
        assert_eq!(
            (g.due, g.on_time, g.late, g.open, g.cancelled),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(g.rate(), Some(4_000));
        // Days to the stage: 40, 89, 90.
        assert_eq!(g.percentile(50), Some(89));
        assert_eq!(g.percentile(90), Some(90));
        assert!(Group::default().rate().is_none());
        assert!(in_period(
            day("2026-03-31"),
            day("2026-03-01"),
            day("2026-03-31")
        ));
        assert!(!in_period(
            day("2026-04-01"),
            day("2026-03-01"),
            day("2026-03-31")
        ));
    }
}
