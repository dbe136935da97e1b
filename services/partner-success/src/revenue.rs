//! What the service learns of its partners' revenue, through the expansion
//! service's contract (never its database): one revenue report grouped by
//! partner gives every partner's ARR and NRR in one call.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use themodel_platform::{
    ApiError,
    client::{CallContext, Clients, Retry},
    registry, validate,
};
use themodel_proto::expansion::{
    GetRevenueReportRequest, RevenueGrouping, expansion_service_client::ExpansionServiceClient,
};

use crate::convert::tier::nanos_of;

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

/// The expansion service's revenue report, as this service reads it.
#[derive(Debug, Clone)]
pub struct Revenue {
    clients: Clients,
}

impl Revenue {
    /// Asks the expansion service through `clients`.
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    /// Every partner's revenue in `currency` over the months `window` (first
    /// and last, as first days), or partner `only`'s; partners without
    /// revenue are absent. One call, made in `ctx`.
    pub async fn by_partner(
        &self,
        ctx: &CallContext,
        currency: &str,
        window: (NaiveDate, NaiveDate),
        only: Option<&str>,
    ) -> Result<BTreeMap<String, PartnerRevenue>, ApiError> {
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
                    currency_code: currency.to_owned(),
                    partner_id: only.unwrap_or_default().to_owned(),
                },
                |channel, request| async move {
                    ExpansionServiceClient::new(channel)
                        .get_revenue_report(request)
                        .await
                },
            )
            .await
            .map_err(|status| ApiError::from_peer(registry::EXPANSION.name, status))?;
        Ok(report
            .groups
            .into_iter()
            // Accounts without a partner are grouped under "".
            .filter(|group| !group.group.is_empty())
            .map(|group| {
                let ending = group
                    .months
                    .last()
                    .and_then(|m| m.ending_mrr.as_ref())
                    .map_or(0, nanos_of);
                let revenue = PartnerRevenue {
                    arr_nanos: ending * MONTHS_A_YEAR,
                    nrr_basis_points: group.retention.and_then(|r| r.nrr_basis_points),
                };
                (group.group, revenue)
            })
            .collect())
    }
}
