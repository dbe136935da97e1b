//! Attribution: which partner sourced or influenced an account, and when.

use chrono::{DateTime, NaiveDate, Utc};
pub use themodel_proto::partner_success::AttributionKind;

/// What a caller records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttribution {
    /// The account.
    pub account_id: String,
    /// The partner.
    pub partner_id: String,
    /// Sourced or influenced.
    pub kind: AttributionKind,
    /// First day it holds.
    pub start: NaiveDate,
    /// First day it no longer holds.
    pub end: Option<NaiveDate>,
}

/// An attribution as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Server-generated id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The partner.
    pub partner_id: String,
    /// Sourced or influenced.
    pub kind: AttributionKind,
    /// First day it holds.
    pub start: NaiveDate,
    /// First day it no longer holds.
    pub end: Option<NaiveDate>,
    /// Created at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

impl Attribution {
    /// Whether it holds on `day`.
    pub fn holds_on(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|end| day < end)
    }

    /// Whether its period and `[start, end)` share a day.
    pub fn overlaps(&self, start: NaiveDate, end: Option<NaiveDate>) -> bool {
        let before_other_ends = end.is_none_or(|end| self.start < end);
        let other_starts_before_end = self.end.is_none_or(|own_end| start < own_end);
        before_other_ends && other_starts_before_end
    }
}

/// Why a sourced attribution may not name `partner_id` for an account of
/// `account_partner`: only the account's own partner sourced it.
pub fn sourced_mismatch(
    kind: AttributionKind,
    partner_id: &str,
    account_partner: Option<&str>,
) -> Option<String> {
    (kind == AttributionKind::Sourced && account_partner != Some(partner_id)).then(|| {
        match account_partner {
            Some(own) => format!(
                "a sourced attribution must name the account's own partner {own:?}, not {partner_id:?}"
            ),
            None => format!(
                "the account has no partner, so {partner_id:?} cannot have sourced it; record an influence instead"
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("date")
    }

    fn last_year() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 12, 31).expect("date")
    }

    fn attribution(start: NaiveDate, end: Option<NaiveDate>) -> Attribution {
        Attribution {
            id: "a".into(),
            account_id: "acc".into(),
            partner_id: "p-1".into(),
            kind: AttributionKind::Influenced,
            start,
            end,
            create_time: DateTime::default(),
            update_time: DateTime::default(),
            revision: 1,
        }
    }

    #[test]
    fn the_end_day_is_exclusive() {
        let a = attribution(day(1, 1), Some(day(2, 1)));
        assert!(!a.holds_on(last_year()));
        assert!(a.holds_on(day(1, 1)));
        assert!(a.holds_on(day(1, 31)));
        assert!(!a.holds_on(day(2, 1)));
        assert!(attribution(day(1, 1), None).holds_on(day(12, 31)));
    }

    #[test]
    fn periods_overlap_when_they_share_a_day() {
        let a = attribution(day(1, 1), Some(day(2, 1)));
        assert!(!a.overlaps(day(2, 1), None));
        assert!(a.overlaps(day(1, 31), None));
        assert!(!a.overlaps(last_year(), Some(day(1, 1))));
        assert!(attribution(day(3, 1), None).overlaps(day(1, 1), None));
    }

    #[test]
    fn only_the_accounts_partner_sourced_it() {
        use AttributionKind::*;
        assert!(sourced_mismatch(Sourced, "p-1", Some("p-1")).is_none());
        assert!(sourced_mismatch(Sourced, "p-2", Some("p-1")).is_some());
        assert!(sourced_mismatch(Sourced, "p-1", None).is_some());
        assert!(sourced_mismatch(Influenced, "p-2", Some("p-1")).is_none());
    }
}
