//! What the service learns of the health of its partners' accounts, through
//! the health service's contract (never its database): one summary grouped
//! by partner gives the grade mix and the explained mean score of every
//! partner asked for in one call.

use std::collections::BTreeMap;

use themodel_platform::{
    client::{CallContext, Clients, Retry},
    registry,
};
use themodel_proto::health::{
    GetHealthSummaryRequest, HealthGrouping, HealthSummary,
    health_service_client::HealthServiceClient,
};

use crate::error::{Error, Result};

/// Most partners one summary is asked for (the health service's limit).
pub const MAX_PARTNERS: usize = 1000;

/// The health service's summaries, as this service reads them.
#[derive(Debug, Clone)]
pub struct Health {
    clients: Clients,
}

impl Health {
    /// Asks the health service through `clients`.
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    /// The health summary of each of `partner_ids` (at most
    /// [`MAX_PARTNERS`]) over every product, by partner id; partners none
    /// of whose accounts has a score are absent. One call, made in `ctx`.
    pub async fn by_partner(
        &self,
        ctx: &CallContext,
        partner_ids: &[String],
    ) -> Result<BTreeMap<String, HealthSummary>> {
        if partner_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let summary = self
            .clients
            .call(
                ctx,
                registry::HEALTH.name,
                "GetHealthSummary",
                Retry::Safe,
                GetHealthSummaryRequest {
                    product_key: String::new(),
                    group_by: HealthGrouping::Partner as i32,
                    partner_ids: partner_ids.to_vec(),
                },
                |channel, request| async move {
                    HealthServiceClient::new(channel)
                        .get_health_summary(request)
                        .await
                },
            )
            .await
            .map_err(|status| Error::from_peer(registry::HEALTH.name, "health", status))?;
        Ok(summary
            .groups
            .into_iter()
            // Only the partners asked for are summarised; never the
            // accounts without a partner ("").
            .filter(|group| !group.group.is_empty())
            .map(|group| (group.group.clone(), group))
            .collect())
    }
}
