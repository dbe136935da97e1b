//! The measures' values of one account and product on one day, from its use
//! rows: the same rules score an account today, in the background and in a
//! backtest replaying a past day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};

use super::{
    adoption::UseRow,
    scorecard::{Inputs, TREND_BASELINE_DAYS, TREND_RECENT_DAYS, WINDOW_DAYS, ratio, user_trend},
};

/// Days of use rows a day's measures read: the trend's 7 + 28.
pub const LOOKBACK_DAYS: i64 = TREND_RECENT_DAYS + TREND_BASELINE_DAYS;

/// What one day's measures saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The measures' values.
    pub inputs: Inputs,
    /// Daily active users of the 7 days to the day, summed.
    pub recent_users: i64,
    /// Daily active users of the 28 days before, summed.
    pub baseline_users: i64,
}

fn days_before(day: NaiveDate, n: i64) -> NaiveDate {
    day.checked_sub_days(Days::new(u64::try_from(n).unwrap_or(0)))
        .unwrap_or(NaiveDate::MIN)
}

/// The measures on `day` from `rows` (sorted by day; any range, only the
/// 35 days to `day` are read), the product's `key_features`, the `seats`
/// licensed that day and the latest `sentiment` (0 to 100) recorded by then.
pub fn observe(
    rows: &[UseRow],
    day: NaiveDate,
    key_features: &BTreeSet<String>,
    seats: i64,
    sentiment: Option<i32>,
) -> Observed {
    let first = days_before(day, LOOKBACK_DAYS - 1);
    let window_from = days_before(day, WINDOW_DAYS - 1);
    let recent_from = days_before(day, TREND_RECENT_DAYS - 1);
    let start = rows.partition_point(|r| r.day < first);
    let end = rows.partition_point(|r| r.day <= day);
    let mut daily: BTreeMap<NaiveDate, BTreeSet<&str>> = BTreeMap::new();
    let mut window_users: BTreeSet<&str> = BTreeSet::new();
    let mut window_keys: BTreeSet<&str> = BTreeSet::new();
    for row in &rows[start..end.max(start)] {
        daily.entry(row.day).or_default().insert(&row.user_id);
        if row.day >= window_from {
            window_users.insert(&row.user_id);
            if key_features.contains(&row.feature_key) {
                window_keys.insert(&row.feature_key);
            }
        }
    }
    let (mut recent, mut baseline) = (0, 0);
    for (d, users) in &daily {
        if *d >= recent_from {
            recent += users.len() as i64;
        } else {
            baseline += users.len() as i64;
        }
    }
    Observed {
        inputs: Inputs {
            breadth: ratio(window_keys.len() as i64, key_features.len() as i64),
            seat_use: ratio(window_users.len() as i64, seats),
            user_trend: user_trend(recent, baseline),
            sentiment: sentiment.map(|s| s * 100),
        },
        recent_users: recent,
        baseline_users: baseline,
    }
}

/// The seats licensed on `day` by `terms` (quantity, start, end exclusive).
pub fn seats_on(terms: &[(i64, NaiveDate, Option<NaiveDate>)], day: NaiveDate) -> i64 {
    terms
        .iter()
        .filter(|(_, start, end)| *start <= day && end.is_none_or(|e| day < e))
        .map(|(quantity, _, _)| quantity)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::adoption::series;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn row(d: NaiveDate, feature: &str, user: &str) -> UseRow {
        UseRow {
            day: d,
            feature_key: feature.into(),
            user_id: user.into(),
            uses: 1,
        }
    }

    #[test]
    fn a_day_observed_agrees_with_the_adoption_series() {
        let today = day("2026-04-30");
        let keys: BTreeSet<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
        let mut rows = Vec::new();
        for back in 0..50u64 {
            let d = today - Days::new(back);
            for u in 0..(back % 5) {
                rows.push(row(
                    d,
                    if back % 7 == 0 { "a" } else { "x" },
                    &format!("u{u}"),
                ));
            }
            if back == 40 {
                rows.push(row(d, "b", "u9"));
            }
        }
        rows.sort_by_key(|r| r.day);
        let seen = observe(&rows, today, &keys, 6, Some(75));
        let from = today - Days::new(34);
        let days = series(from, today, 30, &rows, &keys, |_| 6);
        let recent: i64 = days[28..].iter().map(|d| d.active_users).sum();
        let baseline: i64 = days[..28].iter().map(|d| d.active_users).sum();
        let last = days.last().expect("a day");
        assert_eq!(seen.recent_users, recent);
        assert_eq!(seen.baseline_users, baseline);
        assert_eq!(
            seen.inputs.breadth,
            ratio(i64::from(last.key_features_used), 3)
        );
        assert_eq!(seen.inputs.seat_use, ratio(last.window_users, 6));
        assert_eq!(seen.inputs.user_trend, user_trend(recent, baseline));
        assert_eq!(seen.inputs.sentiment, Some(7_500));
        // Use 40 days back is outside every window.
        assert_eq!(seen.inputs.breadth, Some(3_333));
    }

    #[test]
    fn seats_count_the_terms_in_force() {
        let terms = [
            (10, day("2026-01-01"), Some(day("2026-07-01"))),
            (5, day("2026-03-01"), None),
        ];
        assert_eq!(seats_on(&terms, day("2025-12-31")), 0);
        assert_eq!(seats_on(&terms, day("2026-03-01")), 15);
        assert_eq!(seats_on(&terms, day("2026-07-01")), 5);
    }
}
