//! Certifications of partner staff and the certified headcount.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

/// Levels a course certifies, lowest first.
pub const LEVELS: std::ops::RangeInclusive<i32> = 1..=3;

/// What a caller records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertification {
    /// The certified staff member.
    pub staff_id: String,
    /// The course.
    pub course_key: String,
    /// 1 to 3.
    pub level: i32,
    /// Earned on.
    pub earned_on: NaiveDate,
    /// Last valid day, if it expires.
    pub expires_on: Option<NaiveDate>,
}

/// A certification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    /// Server-generated id.
    pub id: String,
    /// The certified staff member.
    pub staff_id: String,
    /// Its partner.
    pub partner_id: String,
    /// The course.
    pub course_key: String,
    /// 1 to 3.
    pub level: i32,
    /// Earned on.
    pub earned_on: NaiveDate,
    /// Last valid day, if it expires.
    pub expires_on: Option<NaiveDate>,
    /// Recorded at.
    pub create_time: DateTime<Utc>,
}

impl Certification {
    /// Whether it is valid on `day`: earned by then and not expired.
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        self.earned_on <= day && self.expires_on.is_none_or(|last| day <= last)
    }
}

/// Why a certification's dates or level are refused: (field, problem).
pub fn problems(
    level: i32,
    earned_on: NaiveDate,
    expires_on: Option<NaiveDate>,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !LEVELS.contains(&level) {
        problems.push((
            "level",
            format!("must be {} to {}", LEVELS.start(), LEVELS.end()),
        ));
    }
    if let Some(expires) = expires_on
        && expires < earned_on
    {
        problems.push((
            "expires_on",
            format!("{expires} is before earned_on {earned_on}"),
        ));
    }
    problems
}

/// Per level (1 to 3, in order), how many of the `active` staff hold a
/// certification of that level or higher valid on `day`; each counted once.
pub fn headcount(
    certifications: &[Certification],
    active: &BTreeSet<String>,
    day: NaiveDate,
) -> Vec<(i32, usize)> {
    // Each active staff member's best level valid on the day.
    let mut best: BTreeMap<&str, i32> = BTreeMap::new();
    for c in certifications
        .iter()
        .filter(|c| active.contains(&c.staff_id) && c.valid_on(day))
    {
        let level = best.entry(&c.staff_id).or_insert(0);
        *level = (*level).max(c.level);
    }
    LEVELS
        .map(|level| (level, best.values().filter(|b| **b >= level).count()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("date")
    }

    fn cert(
        staff: &str,
        level: i32,
        earned: NaiveDate,
        expires: Option<NaiveDate>,
    ) -> Certification {
        Certification {
            id: format!("{staff}-{level}"),
            staff_id: staff.into(),
            partner_id: "p-1".into(),
            course_key: "admin".into(),
            level,
            earned_on: earned,
            expires_on: expires,
            create_time: DateTime::default(),
        }
    }

    #[test]
    fn levels_and_dates_are_checked() {
        assert!(problems(1, day(1, 1), None).is_empty());
        assert!(problems(3, day(1, 1), Some(day(1, 1))).is_empty());
        let fields =
            |p: Vec<(&'static str, String)>| p.into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(fields(problems(0, day(1, 1), None)), ["level"]);
        assert_eq!(fields(problems(4, day(1, 1), None)), ["level"]);
        assert_eq!(
            fields(problems(4, day(2, 1), Some(day(1, 31)))),
            ["level", "expires_on"]
        );
    }

    #[test]
    fn a_certification_counts_at_its_level_and_below_once_per_person() {
        let active: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        let certs = vec![
            cert("a", 3, day(1, 1), None),
            cert("a", 1, day(1, 1), None),
            cert("b", 2, day(1, 1), Some(day(6, 30))),
            // Expired before the day.
            cert("c", 3, day(1, 1), Some(day(2, 28))),
            // Earned after the day.
            cert("d", 1, day(7, 1), None),
            // Not active (left).
            cert("e", 3, day(1, 1), None),
        ];
        assert_eq!(
            headcount(&certs, &active, day(3, 1)),
            [(1, 2), (2, 2), (3, 1)]
        );
        // The last valid day still counts; the next does not.
        assert_eq!(headcount(&certs, &active, day(6, 30))[1], (2, 2));
        assert_eq!(
            headcount(&certs, &active, day(7, 1)),
            [(1, 2), (2, 1), (3, 1)]
        );
    }
}
