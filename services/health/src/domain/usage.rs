//! Usage events: what one use of a feature is, and the rules an event must
//! meet to be stored. Each event is judged on its own, so one bad event never
//! refuses the others.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

/// Most events one call or stream message carries.
pub const MAX_EVENTS: usize = 10_000;
/// Most uses one event stands for.
pub const MAX_COUNT: i64 = 1_000_000_000;
/// How far ahead of the server's clock an event may be (clock skew).
pub const MAX_AHEAD: Duration = Duration::minutes(5);
/// Reason: a field is malformed or out of range.
pub const INVALID_FIELD: &str = "INVALID_FIELD";
/// Reason: the account is not one the service knows.
pub const UNKNOWN_ACCOUNT: &str = "UNKNOWN_ACCOUNT";
/// Reason: the product has no such feature.
pub const UNKNOWN_FEATURE: &str = "UNKNOWN_FEATURE";
/// Reason: the feature is retired.
pub const RETIRED_FEATURE: &str = "RETIRED_FEATURE";

/// A usage event that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// The account.
    pub account_id: String,
    /// The user.
    pub user_id: String,
    /// The product.
    pub product_key: String,
    /// The feature.
    pub feature_key: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// How many uses.
    pub count: i64,
    /// The sender's id of the event.
    pub event_id: Option<String>,
}

/// The earliest instant an event may have.
pub fn earliest() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default()
}

/// Why an instant is not acceptable for a usage event at `now`.
pub fn time_problem(at: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    if at > now + MAX_AHEAD {
        Some(format!(
            "{at} is more than {} minutes ahead of the server's clock ({now})",
            MAX_AHEAD.num_minutes()
        ))
    } else if at < earliest() {
        Some(format!("{at} is before 2000-01-01"))
    } else {
        None
    }
}

/// The count an event stands for: 0 means one use.
pub fn count(value: i64) -> Result<i64, String> {
    match value {
        0 => Ok(1),
        1..=MAX_COUNT => Ok(value),
        _ => Err(format!("must be 0 (one use) to {MAX_COUNT}")),
    }
}

/// Event ids seen so far in one call or stream, so that a repeat inside it
/// counts as a duplicate like a repeat of an earlier call.
#[derive(Debug, Default)]
pub struct SeenIds(HashSet<String>);

impl SeenIds {
    /// Whether `id` was seen before; records it.
    pub fn repeat(&mut self, id: &str) -> bool {
        !self.0.insert(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_far_ahead_or_before_2000_are_refused() {
        let now = Utc::now();
        assert!(time_problem(now, now).is_none());
        assert!(time_problem(now + Duration::minutes(4), now).is_none());
        assert!(time_problem(now + Duration::minutes(6), now).is_some());
        assert!(time_problem(earliest() - Duration::seconds(1), now).is_some());
    }

    #[test]
    fn counts_are_positive_with_zero_meaning_one() {
        assert_eq!(count(0), Ok(1));
        assert_eq!(count(7), Ok(7));
        assert!(count(-1).is_err());
        assert!(count(MAX_COUNT + 1).is_err());
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_once_seen() {
        let mut seen = SeenIds::default();
        assert!(!seen.repeat("e-1"));
        assert!(seen.repeat("e-1"));
        assert!(!seen.repeat("e-2"));
    }
}
