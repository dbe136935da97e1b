//! The onboarding completion rate within the target period, exactly as the
//! domain defines it: among plans whose target date for the stage falls in
//! the period, the plans that reached the stage on or before that date. The
//! store counts them in the database; this is what a group's figures mean.

use std::collections::BTreeMap;

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
    /// How many reached the stage how many days after the anchor.
    days: BTreeMap<i64, i64>,
}

impl Group {
    /// Counts `n` plans that reached the stage `days` after their anchor.
    pub fn add_days(&mut self, days: i64, n: i64) {
        *self.days.entry(days).or_default() += n;
    }

    /// on_time / due, basis points, half up.
    pub fn rate(&self) -> Option<i32> {
        (self.due > 0).then(|| {
            i32::try_from((self.on_time * 20_000 + self.due) / (2 * self.due)).unwrap_or(0)
        })
    }

    /// The `p`-th percentile (nearest rank) of days to the stage.
    pub fn percentile(&self, p: i64) -> Option<i32> {
        let n: i64 = self.days.values().sum();
        if n == 0 {
            return None;
        }
        // Nearest rank: ceil(p / 100 * n), from 1.
        let rank = ((p * n + 99) / 100).clamp(1, n);
        let mut seen = 0;
        for (days, count) in &self.days {
            seen += count;
            if seen >= rank {
                return i32::try_from(*days).ok();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_on_time_over_due_and_percentiles_are_nearest_rank() {
        let g = Group {
            due: 5,
            on_time: 2,
            late: 1,
            open: 1,
            cancelled: 1,
            ..Group::default()
        };
        assert_eq!(g.rate(), Some(4_000));
        assert!(Group::default().rate().is_none());
        assert!(Group::default().percentile(50).is_none());
        let mut counted = Group::default();
        counted.add_days(40, 1);
        counted.add_days(89, 1);
        counted.add_days(90, 1);
        assert_eq!(
            (counted.percentile(50), counted.percentile(90)),
            (Some(89), Some(90))
        );
        counted.add_days(10, 3);
        assert_eq!(counted.percentile(50), Some(10));
    }
}
