//! Subscriptions: what an account buys of a product, as terms that never
//! overlap, and the monthly recurring revenue each term stands for.

use chrono::{DateTime, NaiveDate, Utc};
use themodel_platform::validate::Money;

use super::catalogue::{BillingPeriod, monthly};
pub use themodel_proto::expansion::SubscriptionStatus;

/// Most terms one subscription holds.
pub const MAX_TERMS: usize = 200;
/// Most units one term buys.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// One term: units at a price from `start` until `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Units bought.
    pub quantity: i64,
    /// Price of one unit per billing period.
    pub unit_price: Money,
    /// How often it is billed.
    pub period: BillingPeriod,
    /// First day in force.
    pub start: NaiveDate,
    /// First day no longer in force; `None` while open-ended.
    pub end: Option<NaiveDate>,
}

impl Term {
    /// Whether the term is in force on `day`.
    pub fn in_force(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|end| day < end)
    }

    /// quantity x unit price as monthly recurring revenue; `None` when the
    /// product does not fit in the money range.
    pub fn mrr(&self) -> Option<Money> {
        let total = nanos(&self.unit_price).checked_mul(i128::from(self.quantity))?;
        let price = Money {
            currency_code: self.unit_price.currency_code.clone(),
            units: i64::try_from(total / NANOS).ok()?,
            nanos: i32::try_from(total % NANOS).ok()?,
        };
        monthly(&price, self.period)
    }
}

/// What a caller sets on a subscription when creating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// Id in the billing system or CRM.
    pub external_id: Option<String>,
    /// The account.
    pub account_id: String,
    /// The product.
    pub product_key: String,
    /// The plan.
    pub plan_key: String,
    /// The terms, in date order.
    pub terms: Vec<Term>,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id.
    pub id: String,
    /// What the caller set, terms included.
    pub fields: NewSubscription,
    /// Created at.
    pub create_time: DateTime<Utc>,
    /// Last changed at.
    pub update_time: DateTime<Utc>,
    /// Increases with every change; the etag is derived from it.
    pub revision: i64,
}

impl Subscription {
    /// Its currency: every term's.
    pub fn currency(&self) -> &str {
        self.fields
            .terms
            .first()
            .map_or("", |t| t.unit_price.currency_code.as_str())
    }

    /// Its MRR on `day`, zero when no term is in force.
    pub fn mrr_on(&self, day: NaiveDate) -> i128 {
        self.fields
            .terms
            .iter()
            .filter(|t| t.in_force(day))
            .filter_map(Term::mrr)
            .map(|m| nanos(&m))
            .sum()
    }

    /// Where it stands on `day`.
    pub fn status_on(&self, day: NaiveDate) -> SubscriptionStatus {
        let terms = &self.fields.terms;
        if terms.iter().any(|t| t.in_force(day)) {
            SubscriptionStatus::Active
        } else if terms.iter().any(|t| t.start > day) {
            SubscriptionStatus::Scheduled
        } else {
            SubscriptionStatus::Ended
        }
    }
}

/// Why a change to a subscription's terms is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The new term would overlap an earlier one.
    Overlap(String),
    /// The subscription ended before the day it would end.
    AlreadyEnded(String),
}

/// Why terms given together are not a valid history: index and message of
/// the first term that overlaps the one before, or ends before it starts.
pub fn terms_problem(terms: &[Term]) -> Option<(usize, String)> {
    for (i, term) in terms.iter().enumerate() {
        if let Some(end) = term.end
            && end <= term.start
        {
            return Some((
                i,
                format!("end_date {end} is not after start_date {}", term.start),
            ));
        }
        if let Some(before) = i.checked_sub(1).and_then(|j| terms.get(j)) {
            match before.end {
                None => {
                    return Some((
                        i,
                        "overlaps the term before it, which has no end_date".into(),
                    ));
                }
                Some(end) if term.start < end => {
                    return Some((
                        i,
                        format!(
                            "starts on {} before the term before it ends on {end}",
                            term.start
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    None
}

/// The terms after adding `new` from its start: the last term ends where the
/// new one starts if it would still be in force then.
pub fn with_term(terms: &[Term], new: Term) -> Result<Vec<Term>, Refusal> {
    let mut terms = terms.to_vec();
    if let Some(last) = terms.last_mut() {
        if new.start <= last.start {
            return Err(Refusal::Overlap(format!(
                "the new term starts on {}, not after the last term's start on {}",
                new.start, last.start
            )));
        }
        if last.end.is_none_or(|end| end > new.start) {
            last.end = Some(new.start);
        }
    }
    terms.push(new);
    Ok(terms)
}

/// The terms after ending the subscription on `day`.
pub fn ended_on(terms: &[Term], day: NaiveDate) -> Result<Vec<Term>, Refusal> {
    let mut terms = terms.to_vec();
    let Some(last) = terms.last_mut() else {
        return Ok(terms);
    };
    if day <= last.start {
        return Err(Refusal::Overlap(format!(
            "end_date {day} is not after the last term's start on {}; change the subscription instead",
            last.start
        )));
    }
    if let Some(end) = last.end
        && end < day
    {
        return Err(Refusal::AlreadyEnded(format!(
            "the subscription already ended on {end}"
        )));
    }
    last.end = Some(day);
    Ok(terms)
}

/// Whether an account pays, as far as its subscriptions tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueState {
    /// No term has been in force yet.
    Pending,
    /// A term is in force (or the account is between terms with one
    /// scheduled).
    Active,
    /// Every term has ended and none is scheduled: the last subscription
    /// ended.
    Churned,
}

impl RevenueState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevenueState::Pending => "PENDING",
            RevenueState::Active => "ACTIVE",
            RevenueState::Churned => "CHURNED",
        }
    }

    /// The state of a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(RevenueState::Pending),
            "ACTIVE" => Some(RevenueState::Active),
            "CHURNED" => Some(RevenueState::Churned),
            _ => None,
        }
    }
}

/// What an account's subscriptions say on a day, against its last known
/// state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The state on the day.
    pub state: RevenueState,
    /// The account's MRR on the day, in nano units.
    pub mrr: i128,
    /// The next day the state may change by the calendar alone.
    pub next_check: Option<NaiveDate>,
    /// The earliest end of a term in force on the day.
    pub next_renewal: Option<NaiveDate>,
    /// The change to announce, if the state changed.
    pub change: Option<Change>,
}

/// A change of an account's revenue state worth an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The last subscription ended on `on`; the account paid `lost_mrr` the
    /// day before.
    Churned {
        /// First day without revenue.
        on: NaiveDate,
        /// MRR the day before, nano units.
        lost_mrr: i128,
    },
    /// A churned account pays again from `on`.
    Reactivated {
        /// First day of revenue again.
        on: NaiveDate,
    },
}

/// The state of the account holding `subscriptions` on `today`, given its
/// `previous` state.
pub fn settle(previous: RevenueState, subscriptions: &[Subscription], today: NaiveDate) -> Settled {
    let terms = || subscriptions.iter().flat_map(|s| s.fields.terms.iter());
    let mrr = subscriptions.iter().map(|s| s.mrr_on(today)).sum();
    let in_force: Vec<&Term> = terms().filter(|t| t.in_force(today)).collect();
    let scheduled = terms().any(|t| t.start > today);
    let started = terms().any(|t| t.start <= today);
    let state = if !in_force.is_empty() {
        RevenueState::Active
    } else if started && !scheduled {
        RevenueState::Churned
    } else {
        previous
    };
    let next_check = terms()
        .flat_map(|t| [Some(t.start), t.end])
        .flatten()
        .filter(|day| *day > today)
        .min();
    let next_renewal = in_force.iter().filter_map(|t| t.end).min();
    let change = match (previous, state) {
        (RevenueState::Churned, RevenueState::Active) => Some(Change::Reactivated {
            on: in_force.iter().map(|t| t.start).min().unwrap_or(today),
        }),
        (RevenueState::Pending | RevenueState::Active, RevenueState::Churned) => {
            let on = terms().filter_map(|t| t.end).max().unwrap_or(today);
            let day_before = on.pred_opt().unwrap_or(on);
            Some(Change::Churned {
                on,
                lost_mrr: subscriptions.iter().map(|s| s.mrr_on(day_before)).sum(),
            })
        }
        _ => None,
    };
    Settled {
        state,
        mrr,
        next_check,
        next_renewal,
        change,
    }
}

/// The opaque version tag of a revision.
pub fn etag(revision: i64) -> String {
    format!("r{revision}")
}

const NANOS: i128 = 1_000_000_000;

/// An amount in nano units.
pub fn nanos(money: &Money) -> i128 {
    i128::from(money.units) * NANOS + i128::from(money.nanos)
}

/// Nano units as money in `currency`, saturating at the range of `Money`.
pub fn money(currency: &str, nanos: i128) -> Money {
    let units = nanos / NANOS;
    Money {
        currency_code: currency.to_owned(),
        units: i64::try_from(units).unwrap_or(if units < 0 { i64::MIN } else { i64::MAX }),
        nanos: (nanos % NANOS) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn term(start: &str, end: Option<&str>, units: i64) -> Term {
        Term {
            quantity: 1,
            unit_price: Money {
                currency_code: "USD".into(),
                units,
                nanos: 0,
            },
            period: BillingPeriod::Monthly,
            start: day(start),
            end: end.map(day),
        }
    }

    #[test]
    fn terms_in_order_without_overlap_pass_and_overlaps_are_named() {
        let ok = [
            term("2026-01-01", Some("2027-01-01"), 10),
            term("2027-01-01", None, 12),
        ];
        assert_eq!(terms_problem(&ok), None);
        let open_then_more = [term("2026-01-01", None, 10), term("2027-01-01", None, 12)];
        assert_eq!(terms_problem(&open_then_more).map(|p| p.0), Some(1));
        let overlapping = [
            term("2026-01-01", Some("2027-02-01"), 10),
            term("2027-01-01", None, 12),
        ];
        assert_eq!(terms_problem(&overlapping).map(|p| p.0), Some(1));
        let backwards = [term("2026-01-01", Some("2026-01-01"), 10)];
        assert_eq!(terms_problem(&backwards).map(|p| p.0), Some(0));
    }

    #[test]
    fn a_change_cuts_the_term_in_force_and_refuses_to_rewrite_the_past() {
        let terms = [term("2026-01-01", None, 10)];
        let changed = with_term(&terms, term("2026-06-01", None, 15)).expect("change");
        assert_eq!(changed[0].end, Some(day("2026-06-01")));
        assert_eq!(changed.len(), 2);
        assert!(matches!(
            with_term(&changed, term("2026-06-01", None, 20)),
            Err(Refusal::Overlap(_))
        ));
        // A renewal after a fixed term leaves the old end alone.
        let fixed = [term("2026-01-01", Some("2027-01-01"), 10)];
        let renewed = with_term(&fixed, term("2027-03-01", None, 10)).expect("renewal");
        assert_eq!(renewed[0].end, Some(day("2027-01-01")));
    }

    #[test]
    fn ending_sets_the_last_term_end_once() {
        let terms = [term("2026-01-01", None, 10)];
        let ended = ended_on(&terms, day("2026-09-01")).expect("end");
        assert_eq!(ended[0].end, Some(day("2026-09-01")));
        assert!(matches!(
            ended_on(&ended, day("2026-10-01")),
            Err(Refusal::AlreadyEnded(_))
        ));
        assert!(matches!(
            ended_on(&terms, day("2026-01-01")),
            Err(Refusal::Overlap(_))
        ));
        // Ending earlier than a fixed end is a cancellation.
        assert!(ended_on(&ended, day("2026-05-01")).is_ok());
    }

    fn subscription(terms: Vec<Term>) -> Subscription {
        Subscription {
            id: "s".into(),
            fields: NewSubscription {
                external_id: None,
                account_id: "a".into(),
                product_key: "p".into(),
                plan_key: "q".into(),
                terms,
            },
            create_time: Utc::now(),
            update_time: Utc::now(),
            revision: 1,
        }
    }

    #[test]
    fn an_account_churns_when_its_last_subscription_ends_and_comes_back_once() {
        let main = subscription(vec![term("2026-01-01", Some("2026-07-01"), 100)]);
        let add_on = subscription(vec![term("2026-01-01", Some("2026-04-01"), 20)]);
        let both = [main.clone(), add_on];
        // The add-on ending while the main plan runs changes nothing.
        let settled = settle(RevenueState::Active, &both, day("2026-05-01"));
        assert_eq!(settled.state, RevenueState::Active);
        assert_eq!(settled.change, None);
        assert_eq!(settled.mrr, 100 * NANOS);
        assert_eq!(settled.next_check, Some(day("2026-07-01")));
        assert_eq!(settled.next_renewal, Some(day("2026-07-01")));
        let settled = settle(RevenueState::Active, &both, day("2026-07-01"));
        assert_eq!(
            settled.change,
            Some(Change::Churned {
                on: day("2026-07-01"),
                lost_mrr: 100 * NANOS
            })
        );
        assert_eq!(settled.next_check, None);
        // Settling again announces nothing more.
        assert_eq!(
            settle(RevenueState::Churned, &both, day("2026-08-01")).change,
            None
        );
        let back = subscription(vec![term("2026-09-01", None, 50)]);
        let all = [main, back];
        let waiting = settle(RevenueState::Churned, &all, day("2026-08-01"));
        assert_eq!(
            (waiting.state, waiting.change),
            (RevenueState::Churned, None)
        );
        assert_eq!(waiting.next_check, Some(day("2026-09-01")));
        let settled = settle(RevenueState::Churned, &all, day("2026-09-01"));
        assert_eq!(
            settled.change,
            Some(Change::Reactivated {
                on: day("2026-09-01")
            })
        );
    }

    #[test]
    fn a_gap_before_a_scheduled_term_is_not_churn() {
        let subs = [subscription(vec![
            term("2026-01-01", Some("2026-03-01"), 10),
            term("2026-04-01", None, 10),
        ])];
        let settled = settle(RevenueState::Active, &subs, day("2026-03-15"));
        assert_eq!(
            (settled.state, settled.change),
            (RevenueState::Active, None)
        );
        // A future start alone leaves a new account pending.
        let future = [subscription(vec![term("2027-01-01", None, 10)])];
        let settled = settle(RevenueState::Pending, &future, day("2026-03-15"));
        assert_eq!(settled.state, RevenueState::Pending);
    }

    #[test]
    fn mrr_multiplies_before_rounding() {
        let mut t = term("2026-01-01", None, 0);
        t.unit_price = Money {
            currency_code: "USD".into(),
            units: 2000,
            nanos: 0,
        };
        t.period = BillingPeriod::Annual;
        t.quantity = 3;
        // 6,000 / 12 = 500.00, where 3 x 166.67 would be 500.01.
        let m = t.mrr().expect("mrr");
        assert_eq!((m.units, m.nanos), (500, 0));
    }
}
