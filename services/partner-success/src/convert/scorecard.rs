//! Conversions of partner scorecards: the period asked for, and the
//! scorecard answered.

use chrono::NaiveDate;
use themodel_platform::{Violations, validate};
use themodel_proto::{
    common::Date,
    expansion::{CsqlStats, Retention},
    health::HealthSummary,
    onboarding::CompletionGroup,
    partner_success as pb,
};

use super::required_date;
use crate::domain::{
    certification::LEVELS,
    partner::Partner,
    scorecard::{OwnFigures, Period, open_csqls},
};

/// The period of a request: `start_date` and `end_date`, both required.
pub fn period(start: Option<&Date>, end: Option<&Date>, v: &mut Violations) -> Option<Period> {
    let start = required_date(start, "start_date", v);
    let end = required_date(end, "end_date", v);
    Period::new(start?, end?)
        .map_err(|err| v.add("end_date", err.to_string()))
        .ok()
}

/// An optional currency code at `field`: `Some(None)` when empty.
pub fn optional_currency(code: &str, field: &str, v: &mut Violations) -> Option<Option<String>> {
    if code.is_empty() {
        Some(None)
    } else {
        v.check(field, validate::currency(code)).map(Some)
    }
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// What the other services report on one partner; `None` where they have
/// nothing on it.
#[derive(Debug, Clone, Default)]
pub struct Reported<'a> {
    /// The health service's summary of its accounts.
    pub health: Option<HealthSummary>,
    /// The currency of the revenue report.
    pub currency_code: &'a str,
    /// The revenue report's retention of its accounts.
    pub retention: Option<Retention>,
    /// The CSQL report's KPIs of its accounts.
    pub csqls: Option<CsqlStats>,
    /// The completion report's group of its plans for SETUP_COMPLETE.
    pub setup_completion: Option<CompletionGroup>,
    /// The completion report's group of its plans for VALUE_CONFIRMED.
    pub value_completion: Option<CompletionGroup>,
}

/// A partner's completion group as reported, or, when the report has none
/// (no plan was due), an empty one: nothing due and no rate.
fn completion(partner_id: &str, reported: Option<CompletionGroup>) -> CompletionGroup {
    reported.unwrap_or_else(|| CompletionGroup {
        group: partner_id.to_owned(),
        ..Default::default()
    })
}

/// The scorecard of `partner` over `period`: what this service counted on
/// `as_of`, and what the other services reported.
pub fn scorecard_to_proto(
    partner: &Partner,
    period: &Period,
    as_of: NaiveDate,
    own: OwnFigures,
    reported: Reported<'_>,
) -> pb::PartnerScorecard {
    let Reported {
        health,
        currency_code,
        retention,
        csqls,
        setup_completion,
        value_completion,
    } = reported;
    let (first_month, last_month) = period.revenue_months();
    let date = |day| Some(validate::date_to_proto(day));
    pb::PartnerScorecard {
        partner_id: partner.id.clone(),
        display_name: partner.fields.display_name.clone(),
        status: partner.fields.status as i32,
        tier: partner.tier.clone(),
        start_date: date(period.start),
        end_date: date(period.end),
        as_of: date(as_of),
        accounts: own.accounts,
        churned_accounts: own.churned_accounts,
        sourced_accounts: own.sourced_accounts,
        influenced_accounts: own.influenced_accounts,
        health,
        currency_code: currency_code.to_owned(),
        revenue_start_month: date(first_month),
        revenue_end_month: date(last_month),
        retention,
        open_csqls: csqls
            .as_ref()
            .map_or(0, |c| open_csqls(c.accepted, c.won, c.lost)),
        csqls,
        certified_staff: LEVELS
            .zip(own.certified_staff)
            .map(|(level, staff)| pb::LevelHeadcount {
                level,
                staff_count: count(staff),
            })
            .collect(),
        active_staff: count(own.active_staff),
        setup_completion: Some(completion(&partner.id, setup_completion)),
        value_completion: Some(completion(&partner.id, value_completion)),
    }
}
