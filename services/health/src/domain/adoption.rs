//! Adoption: how broadly and deeply an account uses a product, day by day.
//! Breadth is the share of the product's key features used in a trailing
//! window; depth is uses per used feature and the users active in the window
//! against the seats licensed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

/// Default trailing window, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
/// Longest trailing window, in days.
pub const MAX_WINDOW_DAYS: u32 = 90;
/// Longest series, in days.
pub const MAX_SERIES_DAYS: i64 = 366;

/// Uses of one feature by one user on one day (summed counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRow {
    /// The day.
    pub day: NaiveDate,
    /// The feature.
    pub feature_key: String,
    /// The user.
    pub user_id: String,
    /// Uses.
    pub uses: i64,
}

/// One feature's use on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureDay {
    /// The feature.
    pub feature_key: String,
    /// Uses.
    pub uses: i64,
    /// Distinct users.
    pub users: i64,
}

/// Adoption on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// The day.
    pub day: NaiveDate,
    /// Distinct users that day.
    pub active_users: i64,
    /// Features used that day, in key order.
    pub features: Vec<FeatureDay>,
    /// Key features used in the window ending that day.
    pub key_features_used: i32,
    /// Distinct users in the window.
    pub window_users: i64,
    /// Seats licensed that day.
    pub seats: i64,
}

/// The series from `first` to `last` from `rows` (which may start up to a
/// window before `first`), with `key_features` the product's key features and
/// `seats` the seats licensed on a day.
pub fn series(
    first: NaiveDate,
    last: NaiveDate,
    window_days: u32,
    rows: &[UseRow],
    key_features: &BTreeSet<String>,
    seats: impl Fn(NaiveDate) -> i64,
) -> Vec<Day> {
    let mut by_day: BTreeMap<NaiveDate, Vec<&UseRow>> = BTreeMap::new();
    for row in rows {
        by_day.entry(row.day).or_default().push(row);
    }
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        let today = by_day.get(&day).map(Vec::as_slice).unwrap_or_default();
        let mut features: BTreeMap<&str, (i64, BTreeSet<&str>)> = BTreeMap::new();
        let mut users: BTreeSet<&str> = BTreeSet::new();
        for row in today {
            let entry = features.entry(&row.feature_key).or_default();
            entry.0 += row.uses;
            entry.1.insert(&row.user_id);
            users.insert(&row.user_id);
        }
        let window_start = day - chrono::Days::new(u64::from(window_days.max(1) - 1));
        let mut window_users: BTreeSet<&str> = BTreeSet::new();
        let mut window_keys: BTreeSet<&str> = BTreeSet::new();
        for (_, rows) in by_day.range(window_start..=day) {
            for row in rows {
                window_users.insert(&row.user_id);
                if key_features.contains(&row.feature_key) {
                    window_keys.insert(&row.feature_key);
                }
            }
        }
        days.push(Day {
            day,
            active_users: users.len() as i64,
            features: features
                .into_iter()
                .map(|(key, (uses, users))| FeatureDay {
                    feature_key: key.to_owned(),
                    uses,
                    users: users.len() as i64,
                })
                .collect(),
            key_features_used: window_keys.len() as i32,
            window_users: window_users.len() as i64,
            seats: seats(day),
        });
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    days
}

/// `part / whole` in basis points, rounded half up; none when `whole` is 0.
pub fn basis_points(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (part * 20_000 + whole) / (2 * whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn row(d: &str, feature: &str, user: &str, uses: i64) -> UseRow {
        UseRow {
            day: day(d),
            feature_key: feature.into(),
            user_id: user.into(),
            uses,
        }
    }

    #[test]
    fn breadth_counts_key_features_in_the_window_and_depth_uses_per_feature() {
        let rows = [
            row("2026-03-01", "dashboards", "u1", 5),
            row("2026-03-01", "exports", "u2", 1),
            row("2026-03-02", "dashboards", "u1", 2),
            row("2026-03-02", "dashboards", "u2", 3),
            row("2026-03-05", "alerts", "u3", 1),
        ];
        let keys: BTreeSet<String> = ["dashboards", "alerts", "reports"]
            .into_iter()
            .map(String::from)
            .collect();
        let days = series(day("2026-03-01"), day("2026-03-05"), 3, &rows, &keys, |_| 4);
        assert_eq!(days.len(), 5);
        assert_eq!(days[0].active_users, 2);
        assert_eq!(days[1].features[0].uses, 5);
        assert_eq!(days[1].features[0].users, 2);
        // 2026-03-03: window 03-01..03-03 holds dashboards only.
        assert_eq!(days[2].key_features_used, 1);
        assert_eq!(days[2].window_users, 2);
        // 2026-03-05: window 03-03..03-05 holds alerts only.
        assert_eq!(days[4].key_features_used, 1);
        assert_eq!(days[4].window_users, 1);
        assert_eq!(basis_points(1, 3), Some(3333));
        assert_eq!(basis_points(2, 3), Some(6667));
        assert_eq!(basis_points(1, 0), None);
    }
}
