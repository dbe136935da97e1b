//! CSMs: who owns the books, the tier they serve, and their teams over time.

use chrono::{DateTime, NaiveDate, Utc};

use super::{account::Tier, policy::Capacity};

/// Field names a caller may update, as they appear in the contract.
pub const UPDATABLE_FIELDS: &[&str] = &["display_name", "team_id", "tier", "capacity"];

/// The fields a caller sets, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsmFields {
    /// Name to show.
    pub display_name: String,
    /// Current team.
    pub team_id: Option<String>,
    /// Tier served.
    pub tier: Tier,
    /// Own capacity; `None` takes the tier's default.
    pub capacity: Option<Capacity>,
}

/// A period in a team: from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The team.
    pub team_id: String,
    /// First day.
    pub start: NaiveDate,
    /// First day after; `None` while current.
    pub end: Option<NaiveDate>,
}

/// A stored CSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csm {
    /// What `owner_csm_id` holds.
    pub id: String,
    /// What callers set.
    pub fields: CsmFields,
    /// Memberships, oldest first.
    pub team_history: Vec<Membership>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Incremented by every change.
    pub revision: i64,
}

/// The tier's default capacity: high-touch 5-10, low-touch 20-30 accounts
/// (or what the policy in force says); tech-touch has none.
pub fn default_capacity(tier: Tier, high: Capacity, low: Capacity) -> Option<Capacity> {
    match tier {
        Tier::HighTouch => Some(high),
        Tier::LowTouch => Some(low),
        _ => None,
    }
}

/// The history after moving to `team` (or to none) on `on`. A move on the
/// day the current membership started corrects it in place; a move before
/// that day is refused with the day it may not precede.
pub fn move_team(
    history: &[Membership],
    team: Option<&str>,
    on: NaiveDate,
) -> Result<Vec<Membership>, NaiveDate> {
    let mut history = history.to_vec();
    let current = history.last_mut().filter(|m| m.end.is_none());
    if current.as_ref().map(|m| m.team_id.as_str()) == team {
        return Ok(history);
    }
    match current {
        Some(m) if on < m.start => return Err(m.start),
        Some(m) if on == m.start => {
            history.pop();
        }
        Some(m) => m.end = Some(on),
        None => {}
    }
    if let Some(team) = team {
        history.push(Membership {
            team_id: team.to_owned(),
            start: on,
            end: None,
        });
    }
    Ok(history)
}

/// The team the history puts the CSM in on `day`.
pub fn team_on(history: &[Membership], day: NaiveDate) -> Option<&str> {
    history
        .iter()
        .find(|m| m.start <= day && m.end.is_none_or(|end| day < end))
        .map(|m| m.team_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, d).expect("date")
    }

    #[test]
    fn team_moves_are_kept_with_their_dates() {
        let joined = move_team(&[], Some("enterprise"), day(1)).expect("join");
        let moved = move_team(&joined, Some("smb"), day(10)).expect("move");
        assert_eq!(
            moved,
            [
                Membership {
                    team_id: "enterprise".into(),
                    start: day(1),
                    end: Some(day(10)),
                },
                Membership {
                    team_id: "smb".into(),
                    start: day(10),
                    end: None,
                },
            ]
        );
        assert_eq!(team_on(&moved, day(9)), Some("enterprise"));
        assert_eq!(team_on(&moved, day(10)), Some("smb"));
        assert_eq!(
            team_on(&moved, NaiveDate::from_ymd_opt(2026, 3, 31).expect("d")),
            None
        );
        // The same team again is no change; a day before the current start is refused.
        assert_eq!(move_team(&moved, Some("smb"), day(20)), Ok(moved.clone()));
        assert_eq!(move_team(&moved, Some("mid"), day(9)), Err(day(10)));
        // A move on the start day corrects the current membership.
        let corrected = move_team(&moved, Some("mid"), day(10)).expect("correct");
        assert_eq!(corrected.last().map(|m| m.team_id.as_str()), Some("mid"));
        assert_eq!(corrected.len(), 2);
        // Leaving every team ends the membership.
        let left = move_team(&moved, None, day(15)).expect("leave");
        assert_eq!(left.last().and_then(|m| m.end), Some(day(15)));
        assert_eq!(team_on(&left, day(15)), None);
    }
}
