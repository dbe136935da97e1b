//! Revenue of existing customers: ChartMogul-style monthly MRR movements
//! (new, expansion, contraction, churn, reactivation) and cohort retention
//! (NRR, GRR, logo churn), per group.
//!
//! Amounts are exact `i128` nanos of one currency. Accounts are fed one at a
//! time to a [`Report`], which keeps only per-group, per-month sums, so memory
//! does not grow with the number of accounts.
//!
//! A span is active on a month's last day exactly when
//! `Month::of(start) <= month < Month::of(end)`, so month-end MRR is computed
//! on month numbers, never by walking days.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Longest range, in months, a [`Report`] covers; longer ranges are refused.
pub const MAX_MONTHS: u32 = 120;

/// Basis points in one whole (100%).
const BP: u32 = 10_000;

/// A calendar month: the unit movements are reported in.
///
/// Always holds a month 1..=12 of a year chrono can represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month, or `None` if `month` is not 1..=12 or the year is outside
    /// chrono's dates.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        if !(1..=12).contains(&month) {
            return None;
        }
        NaiveDate::from_ymd_opt(year, month, 1)?;
        NaiveDate::from_ymd_opt(year, month, days_in_month(year, month))?;
        Some(Self { year, month })
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month of the year, 1..=12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The month's first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The month's last day: the day its month-end MRR is taken on.
    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, days_in_month(self.year, self.month))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The following month; the last representable month is its own next.
    pub fn next(self) -> Self {
        Self::from_index(self.index().saturating_add(1)).unwrap_or(self)
    }

    /// The preceding month; the first representable month is its own prev.
    pub fn prev(self) -> Self {
        Self::from_index(self.index().saturating_sub(1)).unwrap_or(self)
    }

    /// Months since year 0 (January 0000 is 0): makes month arithmetic plain.
    fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    /// Inverse of [`Month::index`].
    fn from_index(index: i64) -> Option<Self> {
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = u32::try_from(index.rem_euclid(12) + 1).ok()?;
        Self::new(year, month)
    }
}

impl fmt::Display for Month {
    /// `YYYY-MM`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year.rem_euclid(4) == 0
            && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) =>
        {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One subscription's revenue over a period: what an account's MRR is the
/// sum of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Product key: the group in [`Grouping::ByProduct`].
    pub product: String,
    /// Monthly recurring revenue in nanos; zero or negative counts as zero.
    pub mrr: i128,
    /// First day it counts (inclusive).
    pub start: NaiveDate,
    /// First day it no longer counts (exclusive); `None` is open-ended. An
    /// end on or before `start` makes the span count nowhere.
    pub end: Option<NaiveDate>,
}

/// One account's whole revenue history: the unit fed to [`Report::add`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSpans {
    /// The caller's label for the account (tier, partner, CSM, ...): its
    /// group in [`Grouping::ByAccount`], ignored otherwise.
    pub group: String,
    /// Its spans, in any order; they may overlap.
    pub spans: Vec<Span>,
}

/// How results are split into groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One group, labelled `""`, always present.
    Total,
    /// One group per [`AccountSpans::group`] label seen; an account's whole
    /// MRR counts in its label's group.
    ByAccount,
    /// One group per product key seen; an account's MRR in a group is that
    /// of its spans of the product, classified by the account-total rule.
    ByProduct,
}

/// Why a month range is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The last month is before the first.
    #[error("the month range ends before it starts")]
    Reversed,
    /// The range has more than [`MAX_MONTHS`] months.
    #[error("the month range has more than {MAX_MONTHS} months")]
    TooLong,
}

/// One group's MRR movements in one month: from the end of the previous
/// month to the end of this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthMovement {
    /// The month.
    pub month: Month,
    /// MRR at the end of the previous month.
    pub starting: i128,
    /// MRR of accounts that had none at any earlier month end.
    pub new: i128,
    /// Increases of accounts that had MRR at both ends.
    pub expansion: i128,
    /// Decreases of accounts that still have MRR (cancelled add-ons too).
    pub contraction: i128,
    /// MRR lost by accounts whose total went to zero.
    pub churn: i128,
    /// MRR of accounts coming back after an earlier month end with MRR.
    pub reactivation: i128,
    /// MRR at the end of the month:
    /// `starting + new + expansion + reactivation - contraction - churn`.
    pub ending: i128,
    /// Accounts with MRR at the end of the previous month.
    pub accounts_start: u64,
    /// Accounts with MRR at the end of the month.
    pub accounts_end: u64,
    /// Accounts counted in `new`.
    pub new_accounts: u64,
    /// Accounts counted in `churn`.
    pub churned_accounts: u64,
    /// Accounts counted in `reactivation`.
    pub reactivated_accounts: u64,
}

impl MonthMovement {
    fn zero(month: Month) -> Self {
        Self {
            month,
            starting: 0,
            new: 0,
            expansion: 0,
            contraction: 0,
            churn: 0,
            reactivation: 0,
            ending: 0,
            accounts_start: 0,
            accounts_end: 0,
            new_accounts: 0,
            churned_accounts: 0,
            reactivated_accounts: 0,
        }
    }
}

/// Retention of the accounts that had MRR just before the range (the
/// cohort; new logos excluded), from then to the end of the range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Accounts in the cohort.
    pub cohort_accounts: u64,
    /// Cohort accounts whose total MRR is zero at the end.
    pub churned_accounts: u64,
    /// The cohort's MRR at the start.
    pub starting: i128,
    /// Increases of cohort accounts still paying.
    pub expansion: i128,
    /// Decreases of cohort accounts still paying.
    pub contraction: i128,
    /// Starting MRR of churned cohort accounts.
    pub churn: i128,
    /// The cohort's MRR at the end:
    /// `starting + expansion - contraction - churn`.
    pub ending: i128,
    /// Net revenue retention in basis points; `None` for an empty cohort.
    pub nrr_bp: Option<i64>,
    /// Gross revenue retention in basis points (at most 10000); `None` for
    /// an empty cohort.
    pub grr_bp: Option<i64>,
    /// Share of cohort accounts churned in basis points; `None` for an empty
    /// cohort.
    pub logo_churn_bp: Option<i64>,
}

/// One group's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    /// The group's label (`""` for [`Grouping::Total`]).
    pub group: String,
    /// Movements of each month of the range, in order.
    pub months: Vec<MonthMovement>,
    /// Retention over the whole range.
    pub retention: Retention,
}

/// `numerator / denominator` in basis points, rounded half away from zero,
/// exactly; `None` when `denominator` is 0. Saturates at `±i64::MAX`.
pub fn ratio_bp(numerator: i128, denominator: i128) -> Option<i64> {
    if denominator == 0 {
        return None;
    }
    let negative = (numerator < 0) != (denominator < 0);
    let (n, d) = (numerator.unsigned_abs(), denominator.unsigned_abs());
    let (fraction, rest) = scaled(n % d, BP, d);
    let round_up = u128::from(rest >= d - rest);
    let magnitude = (n / d)
        .checked_mul(u128::from(BP))
        .and_then(|whole| whole.checked_add(fraction + round_up))
        .and_then(|m| i64::try_from(m).ok())
        .unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// `(r * m / d, r * m % d)` for `r < d`, without overflowing: long
/// multiplication over the bits of `m`, keeping the remainder below `d`.
fn scaled(r: u128, m: u32, d: u128) -> (u128, u128) {
    let (mut quotient, mut rest) = (0u128, 0u128);
    for bit in (0..u32::BITS).rev() {
        quotient *= 2;
        if rest >= d - rest {
            rest -= d - rest;
            quotient += 1;
        } else {
            rest += rest;
        }
        if (m >> bit) & 1 == 1 {
            if rest >= d - r {
                rest -= d - r;
                quotient += 1;
            } else {
                rest += r;
            }
        }
    }
    (quotient, rest)
}

/// How an account's total MRR moved in one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// None at either end.
    Idle,
    /// First MRR at any month end.
    New,
    /// MRR again after an earlier month end with MRR.
    Reactivation,
    /// Total went to zero.
    Churn,
    /// MRR at both ends.
    Change,
}

/// One group's running sums.
#[derive(Debug)]
struct Sums {
    months: Vec<MonthMovement>,
    retention: Retention,
}

/// Accumulates MRR movements and retention over a month range, one account
/// at a time.
#[derive(Debug)]
pub struct Report {
    first: Month,
    last: Month,
    grouping: Grouping,
    groups: BTreeMap<String, Sums>,
    /// Scratch, reused across accounts: month-end MRR over the window (the
    /// month before `first`, then each month of the range).
    totals: Vec<i128>,
    /// Scratch: one group's share of `totals`.
    values: Vec<i128>,
    /// Scratch: the account's movement in each month of the range.
    kinds: Vec<Kind>,
}

impl Report {
    /// An empty report over `first..=last`.
    pub fn new(first: Month, last: Month, grouping: Grouping) -> Result<Self, RangeError> {
        let count = last.index() - first.index() + 1;
        if count < 1 {
            return Err(RangeError::Reversed);
        }
        if count > i64::from(MAX_MONTHS) {
            return Err(RangeError::TooLong);
        }
        let mut report = Self {
            first,
            last,
            grouping,
            groups: BTreeMap::new(),
            totals: Vec::new(),
            values: Vec::new(),
            kinds: Vec::new(),
        };
        if grouping == Grouping::Total {
            report.groups.insert(String::new(), empty_sums(first, last));
        }
        Ok(report)
    }

    /// The first month of the range.
    pub fn first(&self) -> Month {
        self.first
    }

    /// The last month of the range.
    pub fn last(&self) -> Month {
        self.last
    }

    /// How results are grouped.
    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    /// Adds one account's whole history; nothing of it is kept but sums.
    pub fn add(&mut self, account: &AccountSpans) {
        let first = self.first.index();
        let window_start = first - 1;
        let width = usize::try_from(self.last.index() - window_start + 1).unwrap_or(0);

        self.totals.clear();
        self.totals.resize(width, 0);
        let mut ever = false;
        for span in &account.spans {
            if let Some((from, to)) = active_months(span) {
                // It covered the end of month `from`: MRR before the range.
                ever |= from < first;
                add_over(&mut self.totals, window_start, from, to, span.mrr);
            }
        }

        self.kinds.clear();
        for pair in self.totals.windows(2) {
            let &[prev, cur] = pair else { continue };
            self.kinds.push(match (prev > 0, cur > 0) {
                (false, false) => Kind::Idle,
                (false, true) if ever => Kind::Reactivation,
                (false, true) => Kind::New,
                (true, false) => Kind::Churn,
                (true, true) => Kind::Change,
            });
            ever |= cur > 0;
        }

        let (first, last, grouping) = (self.first, self.last, self.grouping);
        let Self {
            groups,
            totals,
            values,
            kinds,
            ..
        } = self;
        match grouping {
            Grouping::Total | Grouping::ByAccount => {
                let label = match grouping {
                    Grouping::Total => "",
                    _ => account.group.as_str(),
                };
                if let Some(sums) = sums_of(groups, label, first, last) {
                    record(sums, kinds, totals, totals);
                }
            }
            Grouping::ByProduct => {
                let mut spans: Vec<&Span> = account.spans.iter().collect();
                spans.sort_by(|a, b| a.product.cmp(&b.product));
                for product in spans.chunk_by(|a, b| a.product == b.product) {
                    let Some(label) = product.first().map(|s| s.product.as_str()) else {
                        continue;
                    };
                    values.clear();
                    values.resize(width, 0);
                    for span in product {
                        if let Some((from, to)) = active_months(span) {
                            add_over(values, window_start, from, to, span.mrr);
                        }
                    }
                    if let Some(sums) = sums_of(groups, label, first, last) {
                        record(sums, kinds, values, totals);
                    }
                }
            }
        }
    }

    /// The results, groups sorted by label.
    pub fn finish(self) -> Vec<GroupReport> {
        self.groups
            .into_iter()
            .map(|(group, sums)| {
                let mut retention = sums.retention;
                let (s, x, c, ch) = (
                    retention.starting,
                    retention.expansion,
                    retention.contraction,
                    retention.churn,
                );
                let gross = s.saturating_sub(c).saturating_sub(ch);
                retention.nrr_bp = ratio_bp(gross.saturating_add(x), s);
                retention.grr_bp = ratio_bp(gross, s).map(|bp| bp.min(i64::from(BP)));
                retention.logo_churn_bp = ratio_bp(
                    i128::from(retention.churned_accounts),
                    i128::from(retention.cohort_accounts),
                );
                GroupReport {
                    group,
                    months: sums.months,
                    retention,
                }
            })
            .collect()
    }
}

/// A group's sums, created on first use.
fn sums_of<'a>(
    groups: &'a mut BTreeMap<String, Sums>,
    label: &str,
    first: Month,
    last: Month,
) -> Option<&'a mut Sums> {
    if !groups.contains_key(label) {
        groups.insert(label.to_owned(), empty_sums(first, last));
    }
    groups.get_mut(label)
}

/// Zero sums for each month of `first..=last`.
fn empty_sums(first: Month, last: Month) -> Sums {
    let mut months = Vec::new();
    let mut month = first;
    loop {
        months.push(MonthMovement::zero(month));
        if month >= last || month.next() == month {
            break;
        }
        month = month.next();
    }
    Sums {
        months,
        retention: Retention::default(),
    }
}

/// The month numbers `[from, to)` at whose ends a span counts, if any.
fn active_months(span: &Span) -> Option<(i64, i64)> {
    if span.mrr <= 0 {
        return None;
    }
    let from = Month::of(span.start).index();
    let to = span.end.map_or(i64::MAX, |end| Month::of(end).index());
    (from < to).then_some((from, to))
}

/// Adds `mrr` to the window slots of months `[from, to)`; slot 0 is month
/// `window_start`.
fn add_over(values: &mut [i128], window_start: i64, from: i64, to: i64, mrr: i128) {
    let slot = |month: i64| usize::try_from(month.saturating_sub(window_start)).unwrap_or(0);
    let (lo, hi) = (slot(from), slot(to).min(values.len()));
    if let Some(range) = values.get_mut(lo..hi) {
        for value in range {
            *value = value.saturating_add(mrr);
        }
    }
}

/// Adds one account's share in one group: `values` are its month-end MRRs
/// in the group over the window, `totals` its whole month-end MRRs, `kinds`
/// its total's movement in each month.
fn record(sums: &mut Sums, kinds: &[Kind], values: &[i128], totals: &[i128]) {
    for ((m, &kind), pair) in sums.months.iter_mut().zip(kinds).zip(values.windows(2)) {
        let &[prev, cur] = pair else { continue };
        m.starting = m.starting.saturating_add(prev);
        m.ending = m.ending.saturating_add(cur);
        m.accounts_start += u64::from(prev > 0);
        m.accounts_end += u64::from(cur > 0);
        match kind {
            Kind::Idle => {}
            Kind::New => {
                m.new = m.new.saturating_add(cur);
                m.new_accounts += u64::from(cur > 0);
            }
            Kind::Reactivation => {
                m.reactivation = m.reactivation.saturating_add(cur);
                m.reactivated_accounts += u64::from(cur > 0);
            }
            Kind::Churn => {
                m.churn = m.churn.saturating_add(prev);
                m.churned_accounts += u64::from(prev > 0);
            }
            Kind::Change if cur > prev => {
                m.expansion = m.expansion.saturating_add(cur.saturating_sub(prev));
            }
            Kind::Change => {
                m.contraction = m.contraction.saturating_add(prev.saturating_sub(cur));
            }
        }
    }

    let (Some(&s), Some(&e), Some(&total_end)) = (values.first(), values.last(), totals.last())
    else {
        return;
    };
    if s <= 0 {
        return;
    }
    let r = &mut sums.retention;
    r.cohort_accounts += 1;
    r.starting = r.starting.saturating_add(s);
    r.ending = r.ending.saturating_add(e);
    if total_end <= 0 {
        r.churned_accounts += 1;
        r.churn = r.churn.saturating_add(s);
    } else if e > s {
        r.expansion = r.expansion.saturating_add(e - s);
    } else {
        r.contraction = r.contraction.saturating_add(s - e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One currency unit in nanos.
    const U: i128 = 1_000_000_000;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn month(y: i32, m: u32) -> Month {
        Month::new(y, m).expect("month")
    }

    fn span(product: &str, units: i128, start: NaiveDate, end: Option<NaiveDate>) -> Span {
        Span {
            product: product.into(),
            mrr: units * U,
            start,
            end,
        }
    }

    fn account(group: &str, spans: Vec<Span>) -> AccountSpans {
        AccountSpans {
            group: group.into(),
            spans,
        }
    }

    fn run(
        first: Month,
        last: Month,
        grouping: Grouping,
        accounts: &[AccountSpans],
    ) -> Vec<GroupReport> {
        let mut report = Report::new(first, last, grouping).expect("range");
        for a in accounts {
            report.add(a);
        }
        report.finish()
    }

    fn total(first: Month, last: Month, accounts: &[AccountSpans]) -> GroupReport {
        run(first, last, Grouping::Total, accounts)
            .into_iter()
            .next()
            .expect("total group")
    }

    fn group<'a>(groups: &'a [GroupReport], label: &str) -> &'a GroupReport {
        groups.iter().find(|g| g.group == label).expect("group")
    }

    #[test]
    fn months_know_their_days_and_neighbours() {
        assert_eq!(month(2024, 2).last_day(), day(2024, 2, 29));
        assert_eq!(month(2023, 2).last_day(), day(2023, 2, 28));
        assert_eq!(month(2100, 2).last_day(), day(2100, 2, 28));
        assert_eq!(month(2024, 4).first_day(), day(2024, 4, 1));
        assert_eq!(month(2024, 12).next(), month(2025, 1));
        assert_eq!(month(2024, 1).prev(), month(2023, 12));
        assert_eq!(Month::of(day(2024, 7, 19)), month(2024, 7));
        assert_eq!(month(2024, 3).to_string(), "2024-03");
        assert_eq!(Month::new(2024, 13), None);
        assert_eq!(Month::new(2024, 0), None);
        assert!(month(2024, 1) < month(2024, 2) && month(2023, 12) < month(2024, 1));
        let max = Month::of(NaiveDate::MAX);
        assert_eq!(max.next(), max);
        assert_eq!(max.last_day(), NaiveDate::MAX);
        let min = Month::of(NaiveDate::MIN);
        assert_eq!(min.prev(), min);
        assert_eq!(min.first_day(), NaiveDate::MIN);
    }

    #[test]
    fn ranges_are_validated() {
        let g = Grouping::Total;
        assert_eq!(
            Report::new(month(2024, 2), month(2024, 1), g).err(),
            Some(RangeError::Reversed)
        );
        assert!(Report::new(month(2024, 1), month(2033, 12), g).is_ok());
        assert_eq!(
            Report::new(month(2024, 1), month(2034, 1), g).err(),
            Some(RangeError::TooLong)
        );
        let (min, max) = (Month::of(NaiveDate::MIN), Month::of(NaiveDate::MAX));
        assert_eq!(Report::new(min, max, g).err(), Some(RangeError::TooLong));
        assert!(Report::new(min, min, g).is_ok());
        assert!(Report::new(max, max, g).is_ok());
    }

    #[test]
    fn ratios_round_half_away_from_zero() {
        assert_eq!(ratio_bp(1, 0), None);
        assert_eq!(ratio_bp(0, 5), Some(0));
        assert_eq!(ratio_bp(525, 500), Some(10_500));
        assert_eq!(ratio_bp(1, 3), Some(3_333));
        assert_eq!(ratio_bp(2, 3), Some(6_667));
        assert_eq!(ratio_bp(1, 20_000), Some(1));
        assert_eq!(ratio_bp(-1, 20_000), Some(-1));
        assert_eq!(ratio_bp(1, -20_000), Some(-1));
        assert_eq!(ratio_bp(1, 20_001), Some(0));
        assert_eq!(ratio_bp(i128::MAX, i128::MAX), Some(10_000));
        assert_eq!(ratio_bp(i128::MIN, i128::MIN), Some(10_000));
        assert_eq!(ratio_bp(i128::MAX / 3, i128::MAX), Some(3_333));
        assert_eq!(ratio_bp(i128::MAX, 1), Some(i64::MAX));
        assert_eq!(ratio_bp(i128::MIN, 1), Some(-i64::MAX));
    }

    /// The published example: 500,000 starting, +75,000 expansion,
    /// -20,000 contraction, -30,000 churn -> NRR 105%, GRR 90%.
    #[test]
    fn retention_matches_the_first_worked_example() {
        let open = None;
        let accounts = [
            // 200,000 -> 275,000: an add-on.
            account(
                "",
                vec![
                    span("core", 200_000, day(2023, 6, 1), open),
                    span("addon", 75_000, day(2024, 2, 10), open),
                ],
            ),
            // 150,000 -> 130,000: an add-on cancelled.
            account(
                "",
                vec![
                    span("core", 130_000, day(2023, 1, 1), open),
                    span("addon", 20_000, day(2023, 1, 1), Some(day(2024, 2, 15))),
                ],
            ),
            // 30,000 -> 0.
            account(
                "",
                vec![span(
                    "core",
                    30_000,
                    day(2023, 3, 1),
                    Some(day(2024, 2, 20)),
                )],
            ),
            // 120,000 flat.
            account("", vec![span("core", 120_000, day(2022, 1, 1), open)]),
            // A new logo: not in the cohort.
            account("", vec![span("core", 999, day(2024, 2, 5), open)]),
        ];
        let feb = month(2024, 2);
        let report = total(feb, feb, &accounts);
        let r = &report.retention;
        assert_eq!(
            (r.starting, r.expansion, r.contraction, r.churn, r.ending),
            (500_000 * U, 75_000 * U, 20_000 * U, 30_000 * U, 525_000 * U)
        );
        assert_eq!((r.nrr_bp, r.grr_bp), (Some(10_500), Some(9_000)));
        assert_eq!((r.cohort_accounts, r.churned_accounts), (4, 1));
        assert_eq!(r.logo_churn_bp, Some(2_500));

        let m = &report.months[0];
        assert_eq!(m.month, feb);
        assert_eq!(
            (
                m.starting,
                m.new,
                m.expansion,
                m.contraction,
                m.churn,
                m.reactivation
            ),
            (500_000 * U, 999 * U, 75_000 * U, 20_000 * U, 30_000 * U, 0)
        );
        assert_eq!(m.ending, 525_999 * U);
        assert_eq!(
            (
                m.accounts_start,
                m.accounts_end,
                m.new_accounts,
                m.churned_accounts
            ),
            (4, 4, 1, 1)
        );
    }

    /// The published example: 1,000,000 starting, +300,000 expansion,
    /// -200,000 churn -> NRR 110%, GRR 80%.
    #[test]
    fn retention_matches_the_second_worked_example() {
        let accounts = [
            account(
                "",
                vec![
                    span("core", 600_000, day(2023, 1, 1), None),
                    span("seats", 300_000, day(2024, 2, 1), None),
                ],
            ),
            account(
                "",
                vec![span(
                    "core",
                    200_000,
                    day(2023, 1, 1),
                    Some(day(2024, 2, 1)),
                )],
            ),
            account("", vec![span("core", 200_000, day(2023, 1, 1), None)]),
        ];
        let feb = month(2024, 2);
        let r = total(feb, feb, &accounts).retention;
        assert_eq!(
            (r.starting, r.expansion, r.contraction, r.churn),
            (1_000_000 * U, 300_000 * U, 0, 200_000 * U)
        );
        assert_eq!((r.nrr_bp, r.grr_bp), (Some(11_000), Some(8_000)));
    }

    /// Core from January; an add-on January to mid-March; core ends in May
    /// and comes back in August.
    fn addon_history() -> AccountSpans {
        account(
            "smb",
            vec![
                span("core", 100, day(2024, 1, 1), Some(day(2024, 5, 5))),
                span("addon", 20, day(2024, 1, 1), Some(day(2024, 3, 10))),
                span("core", 110, day(2024, 8, 1), None),
            ],
        )
    }

    #[test]
    fn a_cancelled_addon_is_contraction_ending_everything_is_churn_and_coming_back_is_reactivation()
    {
        let report = total(month(2024, 1), month(2024, 9), &[addon_history()]);
        let m = &report.months;
        // January: brand new.
        assert_eq!(
            (m[0].new, m[0].new_accounts, m[0].ending),
            (120 * U, 1, 120 * U)
        );
        // March: the add-on goes, the plan runs.
        assert_eq!(
            (m[2].contraction, m[2].churn, m[2].churned_accounts),
            (20 * U, 0, 0)
        );
        // May: the last subscription ends.
        assert_eq!(
            (m[4].churn, m[4].churned_accounts, m[4].ending),
            (100 * U, 1, 0)
        );
        // August: back, which is not new.
        assert_eq!(
            (
                m[7].reactivation,
                m[7].reactivated_accounts,
                m[7].new,
                m[7].new_accounts
            ),
            (110 * U, 1, 0, 0)
        );
        assert_eq!(m[8].ending, 110 * U);
    }

    #[test]
    fn the_product_view_classifies_by_the_account_total() {
        let groups = run(
            month(2024, 1),
            month(2024, 9),
            Grouping::ByProduct,
            &[addon_history()],
        );
        assert_eq!(
            groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["addon", "core"]
        );
        let addon = &group(&groups, "addon").months;
        assert_eq!((addon[0].new, addon[0].new_accounts), (20 * U, 1));
        assert_eq!(
            (
                addon[2].contraction,
                addon[2].churn,
                addon[2].churned_accounts
            ),
            (20 * U, 0, 0)
        );
        assert_eq!((addon[2].accounts_start, addon[2].accounts_end), (1, 0));
        // The add-on had no MRR when the account churned or came back.
        assert_eq!(
            (addon[4].churned_accounts, addon[7].reactivated_accounts),
            (0, 0)
        );
        let core = &group(&groups, "core").months;
        assert_eq!((core[0].new, core[2].contraction), (100 * U, 0));
        assert_eq!((core[4].churn, core[4].churned_accounts), (100 * U, 1));
        assert_eq!(
            (core[7].reactivation, core[7].reactivated_accounts),
            (110 * U, 1)
        );
    }

    #[test]
    fn product_retention_counts_a_cancelled_addon_as_contraction() {
        let accounts = [
            account(
                "",
                vec![
                    span("core", 100, day(2023, 1, 1), None),
                    span("addon", 20, day(2023, 1, 1), Some(day(2024, 2, 1))),
                ],
            ),
            account(
                "",
                vec![
                    span("core", 50, day(2023, 1, 1), Some(day(2024, 3, 1))),
                    span("addon", 10, day(2023, 1, 1), Some(day(2024, 3, 1))),
                ],
            ),
        ];
        let groups = run(
            month(2024, 1),
            month(2024, 3),
            Grouping::ByProduct,
            &accounts,
        );
        let addon = &group(&groups, "addon").retention;
        assert_eq!(
            (
                addon.cohort_accounts,
                addon.churned_accounts,
                addon.contraction,
                addon.churn
            ),
            (2, 1, 20 * U, 10 * U)
        );
        assert_eq!(
            (addon.ending, addon.grr_bp, addon.nrr_bp),
            (0, Some(0), Some(0))
        );
        let core = &group(&groups, "core").retention;
        assert_eq!(
            (core.contraction, core.churn, core.churned_accounts),
            (0, 50 * U, 1)
        );
        assert_eq!(core.logo_churn_bp, Some(5_000));
    }

    #[test]
    fn history_before_the_range_decides_new_or_reactivation() {
        let accounts = [
            // Paid at the end of months in 2022, gone all of 2023.
            account(
                "",
                vec![
                    span("core", 10, day(2022, 3, 1), Some(day(2022, 6, 1))),
                    span("core", 10, day(2024, 2, 1), None),
                ],
            ),
            // A span that never covered a month end does not count.
            account(
                "",
                vec![
                    span("core", 10, day(2022, 3, 5), Some(day(2022, 3, 20))),
                    span("core", 7, day(2024, 2, 1), None),
                ],
            ),
        ];
        let m = &total(month(2024, 1), month(2024, 3), &accounts).months;
        assert_eq!((m[1].reactivation, m[1].reactivated_accounts), (10 * U, 1));
        assert_eq!((m[1].new, m[1].new_accounts), (7 * U, 1));
    }

    #[test]
    fn grr_stays_at_most_100_percent_and_new_logos_are_not_in_the_cohort() {
        let accounts = [
            account(
                "",
                vec![
                    span("core", 100, day(2023, 1, 1), None),
                    span("seats", 50, day(2024, 1, 15), None),
                ],
            ),
            account("", vec![span("core", 1_000, day(2024, 1, 2), None)]),
        ];
        let r = total(month(2024, 1), month(2024, 6), &accounts).retention;
        assert_eq!(
            (r.cohort_accounts, r.starting, r.ending),
            (1, 100 * U, 150 * U)
        );
        assert_eq!(
            (r.nrr_bp, r.grr_bp, r.logo_churn_bp),
            (Some(15_000), Some(10_000), Some(0))
        );
        let empty = total(month(2024, 1), month(2024, 6), &[]).retention;
        assert_eq!(
            (empty.nrr_bp, empty.grr_bp, empty.logo_churn_bp),
            (None, None, None)
        );
    }

    #[test]
    fn account_labels_split_the_totals() {
        let accounts = [
            account("smb", vec![span("core", 10, day(2023, 1, 1), None)]),
            account("ent", vec![span("core", 1_000, day(2023, 1, 1), None)]),
            account(
                "smb",
                vec![span("core", 20, day(2023, 1, 1), Some(day(2024, 1, 10)))],
            ),
            account("ent", vec![span("core", 500, day(2024, 1, 3), None)]),
        ];
        let jan = month(2024, 1);
        let groups = run(jan, jan, Grouping::ByAccount, &accounts);
        assert_eq!(
            groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["ent", "smb"]
        );
        let ent = &group(&groups, "ent").months[0];
        assert_eq!(
            (ent.starting, ent.new, ent.ending),
            (1_000 * U, 500 * U, 1_500 * U)
        );
        let smb = &group(&groups, "smb").months[0];
        assert_eq!(
            (smb.starting, smb.churn, smb.ending),
            (30 * U, 20 * U, 10 * U)
        );
        assert_eq!(group(&groups, "smb").retention.logo_churn_bp, Some(5_000));
    }

    #[test]
    fn odd_spans_count_nowhere_and_never_panic() {
        let accounts = [account(
            "",
            vec![
                span("core", 10, day(2024, 5, 1), Some(day(2024, 5, 1))),
                span("core", 10, day(2024, 5, 1), Some(day(2023, 5, 1))),
                span("core", -10, day(2023, 1, 1), None),
                span("core", 0, day(2023, 1, 1), None),
                Span {
                    product: "huge".into(),
                    mrr: i128::MAX,
                    start: NaiveDate::MIN,
                    end: Some(NaiveDate::MAX),
                },
                Span {
                    product: "huge".into(),
                    mrr: i128::MAX,
                    start: NaiveDate::MAX,
                    end: None,
                },
            ],
        )];
        for grouping in [Grouping::Total, Grouping::ByAccount, Grouping::ByProduct] {
            for (first, last) in [
                (month(2024, 1), month(2024, 12)),
                (Month::of(NaiveDate::MIN), Month::of(NaiveDate::MIN)),
                (Month::of(NaiveDate::MAX).prev(), Month::of(NaiveDate::MAX)),
            ] {
                let groups = run(first, last, grouping, &accounts);
                assert!(!groups.is_empty());
            }
        }
        let m = &total(month(2024, 1), month(2024, 12), &accounts).months;
        assert!(
            m.iter()
                .all(|m| m.starting == i128::MAX && m.ending == i128::MAX)
        );
    }

    /// MRR on a day, straight from the definition.
    fn mrr_on(spans: &[Span], on: NaiveDate) -> i128 {
        spans
            .iter()
            .filter(|s| s.mrr > 0 && s.start <= on && s.end.is_none_or(|e| on < e))
            .map(|s| s.mrr)
            .sum()
    }

    /// The total view computed day by day from the definitions.
    fn oracle(first: Month, last: Month, accounts: &[AccountSpans]) -> Vec<MonthMovement> {
        let mut months = Vec::new();
        let mut m = first;
        while m <= last {
            let mut row = MonthMovement::zero(m);
            for a in accounts {
                let prev = mrr_on(&a.spans, m.prev().last_day());
                let cur = mrr_on(&a.spans, m.last_day());
                let mut ever = false;
                let mut earlier = month(2019, 1);
                while earlier < m {
                    ever |= mrr_on(&a.spans, earlier.last_day()) > 0;
                    earlier = earlier.next();
                }
                row.starting += prev;
                row.ending += cur;
                row.accounts_start += u64::from(prev > 0);
                row.accounts_end += u64::from(cur > 0);
                if prev == 0 && cur > 0 && !ever {
                    row.new += cur;
                    row.new_accounts += 1;
                } else if prev == 0 && cur > 0 {
                    row.reactivation += cur;
                    row.reactivated_accounts += 1;
                } else if prev > 0 && cur == 0 {
                    row.churn += prev;
                    row.churned_accounts += 1;
                } else if cur > prev {
                    row.expansion += cur - prev;
                } else {
                    row.contraction += prev - cur;
                }
            }
            months.push(row);
            m = m.next();
        }
        months
    }

    fn histories() -> impl Strategy<Value = Vec<AccountSpans>> {
        let base = day(2020, 1, 1);
        let span = (
            0usize..3,
            0i128..1_000,
            0i64..1_500,
            prop::option::of(0i64..1_600),
        )
            .prop_map(move |(product, units, start, end)| Span {
                product: ["core", "seats", "addon"][product].into(),
                mrr: units * U + 1_234,
                start: base + chrono::Days::new(start.unsigned_abs()),
                end: end.map(|e| base + chrono::Days::new(e.unsigned_abs())),
            });
        let account =
            (0usize..3, prop::collection::vec(span, 0..6)).prop_map(|(g, spans)| AccountSpans {
                group: ["a", "b", "c"][g].into(),
                spans,
            });
        prop::collection::vec(account, 0..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Every month of every group adds up, months chain, products and
        /// labels partition the total, and the total matches the day-by-day
        /// definition.
        #[test]
        fn movements_add_up(accounts in histories(), start in 0i64..48, len in 1i64..24) {
            let first = Month::from_index(month(2020, 1).index() + start).expect("first");
            let last = Month::from_index(first.index() + len - 1).expect("last");
            let total_view = run(first, last, Grouping::Total, &accounts);
            let by_product = run(first, last, Grouping::ByProduct, &accounts);
            let by_account = run(first, last, Grouping::ByAccount, &accounts);
            prop_assert_eq!(total_view.len(), 1);
            prop_assert_eq!(&total_view[0].months, &oracle(first, last, &accounts));

            for g in total_view.iter().chain(&by_product).chain(&by_account) {
                prop_assert_eq!(g.months.len(), usize::try_from(len).expect("len"));
                for m in &g.months {
                    prop_assert_eq!(
                        m.starting + m.new + m.expansion + m.reactivation - m.contraction - m.churn,
                        m.ending
                    );
                    prop_assert!(m.new >= 0 && m.expansion >= 0 && m.contraction >= 0);
                    prop_assert!(m.churn >= 0 && m.reactivation >= 0);
                }
                for pair in g.months.windows(2) {
                    prop_assert_eq!(pair[0].ending, pair[1].starting);
                    prop_assert_eq!(pair[0].month.next(), pair[1].month);
                }
                let r = &g.retention;
                prop_assert_eq!(r.starting + r.expansion - r.contraction - r.churn, r.ending);
                prop_assert!(r.grr_bp.is_none_or(|bp| (0..=10_000).contains(&bp)));
                prop_assert!(r.churned_accounts <= r.cohort_accounts);
            }
            for views in [&by_product, &by_account] {
                for (i, m) in total_view[0].months.iter().enumerate() {
                    let sum = |f: fn(&MonthMovement) -> i128| views.iter().map(|g| f(&g.months[i])).sum::<i128>();
                    prop_assert_eq!(sum(|m| m.ending), m.ending);
                    prop_assert_eq!(sum(|m| m.starting), m.starting);
                    prop_assert_eq!(sum(|m| m.churn), m.churn);
                    prop_assert_eq!(sum(|m| m.new), m.new);
                    prop_assert_eq!(sum(|m| m.reactivation), m.reactivation);
                    prop_assert_eq!(sum(|m| m.expansion - m.contraction), m.expansion - m.contraction);
                }
            }
            let r = &total_view[0].retention;
            let sum = |f: fn(&Retention) -> i128| by_account.iter().map(|g| f(&g.retention)).sum::<i128>();
            prop_assert_eq!(sum(|r| r.starting), r.starting);
            prop_assert_eq!(sum(|r| r.ending), r.ending);
            // A product's cohort is the accounts that had it at the start.
            prop_assert_eq!(by_product.iter().map(|g| g.retention.starting).sum::<i128>(), r.starting);
        }

        /// Exact rounding agrees with plain arithmetic where that cannot
        /// overflow.
        #[test]
        fn ratios_agree_with_plain_arithmetic(n in -1_000_000_000_000i128..1_000_000_000_000, d in -1_000_000i128..1_000_000) {
            prop_assume!(d != 0);
            let x = n * 10_000;
            let mut q = x / d;
            if 2 * (x % d).abs() >= d.abs() {
                q += x.signum() * d.signum();
            }
            prop_assert_eq!(ratio_bp(n, d), Some(i64::try_from(q).expect("fits")));
        }
    }
}
