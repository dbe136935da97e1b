//! Deal registration: the states a partner's deal goes through, its
//! protection window, and what makes two registrations collide.

use chrono::{DateTime, Days, NaiveDate, Utc};
use themodel_platform::validate::Money;
pub use themodel_proto::partner_success::{DealConflictKind, DealOutcome, DealStatus};

/// Protection days when the approver names none.
pub const DEFAULT_PROTECTION_DAYS: u32 = 90;
/// Most protection days an approver may give.
pub const MAX_PROTECTION_DAYS: u32 = 365;

/// What a partner registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealFields {
    /// The registering partner.
    pub partner_id: String,
    /// The prospect's company name as given.
    pub company_name: String,
    /// The prospect's normalised web domain.
    pub domain: String,
    /// Contact person.
    pub contact_name: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// Expected monthly recurring revenue.
    pub expected_mrr: Money,
    /// Catalogue product key, if any.
    pub product_key: Option<String>,
    /// Free text.
    pub notes: String,
}

/// The record a submitted deal collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictWith {
    /// Another partner's live registration.
    Deal {
        /// Its id.
        deal_id: String,
        /// Its partner.
        partner_id: String,
    },
    /// An account of ours.
    Customer {
        /// Its id.
        account_id: String,
    },
}

/// A conflict found on submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other record.
    pub with: ConflictWith,
    /// `domain` or `company_name`.
    pub matched_on: &'static str,
}

impl Conflict {
    /// Its kind.
    pub fn kind(&self) -> DealConflictKind {
        match self.with {
            ConflictWith::Deal { .. } => DealConflictKind::RegisteredByAnotherPartner,
            ConflictWith::Customer { .. } => DealConflictKind::ExistingCustomer,
        }
    }

    /// What a partner user is told of it.
    pub fn description(&self) -> &'static str {
        match self.with {
            ConflictWith::Deal { .. } => "registered by another partner",
            ConflictWith::Customer { .. } => "already a customer",
        }
    }
}

/// A deal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// Server-generated id.
    pub id: String,
    /// What the partner registered.
    pub fields: DealFields,
    /// The company name's comparison key.
    pub name_key: String,
    /// Where it stands.
    pub status: DealStatus,
    /// Days of protection (0 before approval).
    pub protection_days: u32,
    /// Approval day.
    pub approved_on: Option<NaiveDate>,
    /// First day without protection.
    pub expires_on: Option<NaiveDate>,
    /// Why it was rejected.
    pub rejection_reason: String,
    /// The conflict found on submit.
    pub conflict: Option<Conflict>,
    /// Why an approver overrode the conflict.
    pub override_reason: String,
    /// Submitted at.
    pub submit_time: Option<DateTime<Utc>>,
    /// Created at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change.
    pub revision: i64,
}

/// The opaque version tag of a revision.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

/// A move a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// DRAFT -> SUBMITTED.
    Submit,
    /// SUBMITTED -> APPROVED.
    Approve,
    /// SUBMITTED -> REJECTED.
    Reject,
    /// APPROVED -> WON or LOST.
    Close(DealOutcome),
    /// APPROVED -> EXPIRED (the job).
    Expire,
}

impl Action {
    /// The status the action leads to.
    pub fn target(self) -> DealStatus {
        match self {
            Action::Submit => DealStatus::Submitted,
            Action::Approve => DealStatus::Approved,
            Action::Reject => DealStatus::Rejected,
            Action::Close(DealOutcome::Won) => DealStatus::Won,
            Action::Close(_) => DealStatus::Lost,
            Action::Expire => DealStatus::Expired,
        }
    }

    /// The status a deal must be in for the action.
    fn from(self) -> DealStatus {
        match self {
            Action::Submit => DealStatus::Draft,
            Action::Approve | Action::Reject => DealStatus::Submitted,
            Action::Close(_) | Action::Expire => DealStatus::Approved,
        }
    }
}

/// A move the deal's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    /// Where the deal stands.
    pub current: DealStatus,
    /// Where the caller asked it to go.
    pub requested: DealStatus,
}

/// The status `action` takes a deal in `current` to.
pub fn transition(current: DealStatus, action: Action) -> Result<DealStatus, InvalidTransition> {
    if current == action.from() {
        Ok(action.target())
    } else {
        Err(InvalidTransition {
            current,
            requested: action.target(),
        })
    }
}

/// The first day without protection for a deal approved on `approved_on`
/// for `days` days.
pub fn expires_on(approved_on: NaiveDate, days: u32) -> NaiveDate {
    approved_on
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether another partner's deal in `status`, expiring on `expires`, still
/// blocks a registration of the same company on `today`: submitted (pending)
/// or approved and inside its window.
pub fn blocks(status: DealStatus, expires: Option<NaiveDate>, today: NaiveDate) -> bool {
    match status {
        DealStatus::Submitted => true,
        DealStatus::Approved => expires.is_none_or(|e| today < e),
        _ => false,
    }
}

/// Whether an approved deal's window has run out on `today`.
pub fn is_expired(expires: Option<NaiveDate>, today: NaiveDate) -> bool {
    expires.is_some_and(|e| e <= today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DealStatus::*;

    const ALL: [DealStatus; 7] = [Draft, Submitted, Approved, Rejected, Won, Lost, Expired];

    fn actions() -> [Action; 6] {
        [
            Action::Submit,
            Action::Approve,
            Action::Reject,
            Action::Close(DealOutcome::Won),
            Action::Close(DealOutcome::Lost),
            Action::Expire,
        ]
    }

    #[test]
    fn the_happy_paths() {
        assert_eq!(transition(Draft, Action::Submit), Ok(Submitted));
        assert_eq!(transition(Submitted, Action::Approve), Ok(Approved));
        assert_eq!(transition(Submitted, Action::Reject), Ok(Rejected));
        assert_eq!(
            transition(Approved, Action::Close(DealOutcome::Won)),
            Ok(Won)
        );
        assert_eq!(
            transition(Approved, Action::Close(DealOutcome::Lost)),
            Ok(Lost)
        );
        assert_eq!(transition(Approved, Action::Expire), Ok(Expired));
    }

    #[test]
    fn every_other_move_is_refused_naming_both_states() {
        let allowed = [
            (Draft, Action::Submit),
            (Submitted, Action::Approve),
            (Submitted, Action::Reject),
            (Approved, Action::Close(DealOutcome::Won)),
            (Approved, Action::Close(DealOutcome::Lost)),
            (Approved, Action::Expire),
        ];
        for status in ALL {
            for action in actions() {
                let result = transition(status, action);
                if allowed.contains(&(status, action)) {
                    assert!(result.is_ok(), "{status:?} {action:?}");
                } else {
                    assert_eq!(
                        result,
                        Err(InvalidTransition {
                            current: status,
                            requested: action.target()
                        }),
                        "{status:?} {action:?}"
                    );
                }
            }
        }
        // Won before approval, submitting twice.
        assert!(transition(Submitted, Action::Close(DealOutcome::Won)).is_err());
        assert!(transition(Submitted, Action::Submit).is_err());
    }

    #[test]
    fn the_window_counts_days_from_approval() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).expect("date");
        let ends = expires_on(day(1, 1), DEFAULT_PROTECTION_DAYS);
        assert_eq!(ends, day(4, 1));
        assert!(!is_expired(Some(ends), day(3, 31)));
        assert!(is_expired(Some(ends), day(4, 1)));
        assert!(blocks(Approved, Some(ends), day(3, 31)));
        assert!(!blocks(Approved, Some(ends), day(4, 1)));
        assert!(blocks(Submitted, None, day(4, 1)));
        for status in [Draft, Rejected, Won, Lost, Expired] {
            assert!(!blocks(status, Some(ends), day(1, 2)), "{status:?}");
        }
    }
}
