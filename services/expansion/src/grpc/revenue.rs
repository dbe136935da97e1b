//! Handler of the revenue report: movements, NRR, GRR and logo churn.

use themodel_platform::{
    ApiError, Violations, accounts::entity::Column, auth::principal, validate,
};
use themodel_proto::{common, expansion as pb};
use tonic::Request;

use super::Handler;
use crate::{
    domain::{
        revenue::{GroupReport, Grouping, Month, MonthMovement, Report, Retention},
        subscription::money,
    },
    error::{Error, Result},
    store::revenue::Scope,
};

/// A month given as a date with day 0 or 1.
fn month(date: &common::Date) -> Result<Month, String> {
    if !(0..=1).contains(&date.day) {
        return Err("day must be 0 or 1: a month is its year and month".into());
    }
    u32::try_from(date.month)
        .ok()
        .filter(|_| (1..=9999).contains(&date.year))
        .and_then(|m| Month::new(date.year, m))
        .ok_or_else(|| format!("{}-{} is not a month", date.year, date.month))
}

impl Handler {
    pub(super) async fn get_revenue_report(
        &self,
        request: Request<pb::GetRevenueReportRequest>,
    ) -> Result<pb::GetRevenueReportResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut month_field = |field: &str, date: Option<&common::Date>| match date {
            Some(date) => month(date).map_err(|e| v.add(field, e)).ok(),
            None => {
                v.add(field, "is required");
                None
            }
        };
        let first = month_field("start_month", req.start_month.as_ref());
        let last = month_field("end_month", req.end_month.as_ref());
        let group_by = v.check(
            "group_by",
            validate::known_enum::<pb::RevenueGrouping>(req.group_by),
        );
        let currency = (!req.currency_code.is_empty())
            .then(|| v.check("currency_code", validate::currency(&req.currency_code)))
            .flatten();
        let partner_id = (!req.partner_id.is_empty())
            .then(|| v.check("partner_id", validate::partner_id(&req.partner_id)))
            .flatten();
        let report = match (first, last, group_by) {
            (Some(first), Some(last), Some(group_by)) => {
                let grouping = match group_by {
                    pb::RevenueGrouping::Unspecified => Grouping::Total,
                    pb::RevenueGrouping::Product => Grouping::ByProduct,
                    _ => Grouping::ByAccount,
                };
                Report::new(first, last, grouping)
                    .map_err(|e| v.add("end_month", e.to_string()))
                    .ok()
                    .map(|r| (r, group_by))
            }
            _ => None,
        };
        let (Some((report, group_by)), true) = (report, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let partner_id = match (principal.partner_scope(), partner_id) {
            (Some(own), Some(named)) if named != own => {
                return Err(ApiError::PermissionDenied(
                    "a partner user may report on its own partner's accounts only".into(),
                )
                .into());
            }
            (Some(own), _) => Some(own.to_owned()),
            (None, named) => named,
        };
        let scope = Scope {
            currency,
            partner_id,
            label: match group_by {
                pb::RevenueGrouping::Tier => Some(Column::Tier),
                pb::RevenueGrouping::Partner => Some(Column::PartnerId),
                pb::RevenueGrouping::Csm => Some(Column::OwnerCsmId),
                pb::RevenueGrouping::Unspecified | pb::RevenueGrouping::Product => None,
            },
        };
        let (groups, currency) = self.revenue.report(report, &scope).await?;
        let currency = currency.unwrap_or_default();
        Ok(pb::GetRevenueReportResponse {
            groups: groups
                .iter()
                .map(|g| group_to_proto(g, &currency))
                .collect(),
            currency_code: currency,
        })
    }
}

fn group_to_proto(group: &GroupReport, currency: &str) -> pb::RevenueGroup {
    pb::RevenueGroup {
        group: group.group.clone(),
        months: group
            .months
            .iter()
            .map(|m| month_to_proto(m, currency))
            .collect(),
        retention: Some(retention_to_proto(&group.retention, currency)),
    }
}

fn amount(currency: &str, nanos: i128) -> Option<common::Money> {
    Some(money(currency, nanos).to_proto())
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn month_to_proto(m: &MonthMovement, currency: &str) -> pb::MonthlyMovement {
    pb::MonthlyMovement {
        month: Some(validate::date_to_proto(m.month.first_day())),
        starting_mrr: amount(currency, m.starting),
        new_mrr: amount(currency, m.new),
        expansion_mrr: amount(currency, m.expansion),
        contraction_mrr: amount(currency, m.contraction),
        churn_mrr: amount(currency, m.churn),
        reactivation_mrr: amount(currency, m.reactivation),
        ending_mrr: amount(currency, m.ending),
        starting_accounts: count(m.accounts_start),
        ending_accounts: count(m.accounts_end),
        new_accounts: count(m.new_accounts),
        churned_accounts: count(m.churned_accounts),
        reactivated_accounts: count(m.reactivated_accounts),
    }
}

fn retention_to_proto(r: &Retention, currency: &str) -> pb::Retention {
    pb::Retention {
        cohort_accounts: count(r.cohort_accounts),
        churned_accounts: count(r.churned_accounts),
        starting_mrr: amount(currency, r.starting),
        expansion_mrr: amount(currency, r.expansion),
        contraction_mrr: amount(currency, r.contraction),
        churn_mrr: amount(currency, r.churn),
        ending_mrr: amount(currency, r.ending),
        nrr_basis_points: r.nrr_bp,
        grr_basis_points: r.grr_bp,
        logo_churn_basis_points: r.logo_churn_bp,
    }
}
