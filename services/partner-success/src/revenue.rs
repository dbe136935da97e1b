//! What the service learns of its partners' revenue and expansion pipeline,
//! through the expansion service's contract (never its database): one
//! revenue report grouped by partner gives every partner's ARR, NRR, GRR and
//! logo churn in one call, and one CSQL report grouped by partner every
//! partner's CSQLs.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use themodel_platform::{
    client::{CallContext, Clients, Retry},
    registry, validate,
};
use themodel_proto::expansion::{
    CsqlGrouping, CsqlStats, GetCsqlReportRequest, GetRevenueReportRequest, RevenueGroup,
    RevenueGrouping, expansion_service_client::ExpansionServiceClient,
};

use crate::{convert::tier::nanos_of, error::Result};

/// Months in a year: ARR is 12 x month-end MRR.
const MONTHS_A_YEAR: i128 = 12;

/// One partner's revenue figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartnerRevenue {
    /// 12 x the MRR of its accounts at the end of the last month, in nano
    /// units.
    pub arr_nanos: i128,
    /// NRR of its accounts over the months, in basis points; `None` when
    /// they had no MRR at the start.
    pub nrr_basis_points: Option<i64>,
}

/// The expansion service's revenue report grouped by partner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartnerReport {
    /// The currency of every amount; empty when there is no revenue.
    pub currency_code: String,
    /// Each partner's group, by partner id (accounts without a partner are
    /// left out).
    pub partners: BTreeMap<String, RevenueGroup>,
}

/// The expansion service's reports, as this service reads them.
#[derive(Debug, Clone)]
pub struct Revenue {
    clients: Clients,
}

impl Revenue {
    /// Asks the expansion service through `clients`.
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    /// Every partner's revenue report over the months `window` (first and
    /// last, as first days), in `currency` (the one currency there is when
    /// `None`), or partner `only`'s. One call, made in `ctx`.
    pub async fn report(
        &self,
        ctx: &CallContext,
        currency: Option<&str>,
        window: (NaiveDate, NaiveDate),
        only: Option<&str>,
    ) -> Result<PartnerReport> {
        let (first, last) = window;
        let report = self
            .clients
            .call(
                ctx,
                registry::EXPANSION.name,
                "GetRevenueReport",
                Retry::Safe,
                GetRevenueReportRequest {
                    start_month: Some(validate::date_to_proto(first)),
                    end_month: Some(validate::date_to_proto(last)),
                    group_by: RevenueGrouping::Partner as i32,
                    currency_code: currency.unwrap_or_default().to_owned(),
                    partner_id: only.unwrap_or_default().to_owned(),
                },
                |channel, request| async move {
                    ExpansionServiceClient::new(channel)
                        .get_revenue_report(request)
                        .await
                },
            )
            .await
            .map_err(|status| {
                crate::error::Error::from_peer(registry::EXPANSION.name, "revenue", status)
            })?;
        Ok(PartnerReport {
            currency_code: report.currency_code,
            partners: report
                .groups
                .into_iter()
                // Accounts without a partner are grouped under "".
                .filter(|group| !group.group.is_empty())
                .map(|group| (group.group.clone(), group))
                .collect(),
        })
    }

    /// Every partner's revenue in `currency` over the months `window`
    /// (first and last, as first days), or partner `only`'s; partners
    /// without revenue are absent. One call, made in `ctx`.
    pub async fn by_partner(
        &self,
        ctx: &CallContext,
        currency: &str,
        window: (NaiveDate, NaiveDate),
        only: Option<&str>,
    ) -> Result<BTreeMap<String, PartnerRevenue>> {
        let report = self.report(ctx, Some(currency), window, only).await?;
        Ok(report
            .partners
            .into_iter()
            .map(|(partner_id, group)| {
                let ending = group
                    .months
                    .last()
                    .and_then(|m| m.ending_mrr.as_ref())
                    .map_or(0, nanos_of);
                let revenue = PartnerRevenue {
                    arr_nanos: ending * MONTHS_A_YEAR,
                    nrr_basis_points: group.retention.and_then(|r| r.nrr_basis_points),
                };
                (partner_id, revenue)
            })
            .collect())
    }

    /// The KPIs of the CSQLs raised from `start` to `end` (inclusive) on
    /// every partner's accounts, by partner id (the caller's own partner's
    /// alone for a partner user); partners without a CSQL are absent. One
    /// call, made in `ctx`.
    pub async fn csqls_by_partner(
        &self,
        ctx: &CallContext,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<BTreeMap<String, CsqlStats>> {
        let report = self
            .clients
            .call(
                ctx,
                registry::EXPANSION.name,
                "GetCsqlReport",
                Retry::Safe,
                GetCsqlReportRequest {
                    start_date: Some(validate::date_to_proto(start)),
                    end_date: Some(validate::date_to_proto(end)),
                    group_by: CsqlGrouping::Partner as i32,
                },
                |channel, request| async move {
                    ExpansionServiceClient::new(channel)
                        .get_csql_report(request)
                        .await
                },
            )
            .await
            .map_err(|status| {
                crate::error::Error::from_peer(registry::EXPANSION.name, "CSQL", status)
            })?;
        Ok(report
            .groups
            .into_iter()
            // CSQLs on accounts without a partner are grouped under "".
            .filter(|group| !group.group.is_empty())
            .map(|group| (group.group.clone(), group))
            .collect())
    }
}
