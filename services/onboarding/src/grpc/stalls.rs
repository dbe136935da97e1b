//! Handlers of stall alerts.

use themodel_platform::{Violations, auth::principal, page_token, validate};
use themodel_proto::onboarding as pb;
use tonic::Request;

use super::Handler;
use crate::{
    domain::access::REPORT_READERS,
    error::Result,
    store::{
        now,
        stalls::{AlertFilter, stall_to_proto},
    },
};

impl Handler {
    pub(super) async fn detect_stalls(
        &self,
        request: Request<pb::DetectStallsRequest>,
    ) -> Result<pb::DetectStallsResponse> {
        principal(&request)?.require(REPORT_READERS)?;
        let (raised, cleared) = self.stalls.detect(now()).await?;
        Ok(pb::DetectStallsResponse {
            raised: i64::try_from(raised).unwrap_or(i64::MAX),
            cleared: i64::try_from(cleared).unwrap_or(i64::MAX),
        })
    }

    pub(super) async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<pb::ListAlertsResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let plan_id = (!req.plan_id.is_empty())
            .then(|| v.check("plan_id", validate::resource_id(&req.plan_id)))
            .flatten();
        let owner_csm_id = (!req.owner_csm_id.is_empty())
            .then(|| v.check("owner_csm_id", validate::person_id(&req.owner_csm_id)))
            .flatten();
        let filters = (&req.plan_id, &req.owner_csm_id, req.include_cleared);
        let before = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = AlertFilter {
            plan_id,
            owner_csm_id,
            open_only: !req.include_cleared,
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let (rows, more) = self.stalls.list(&filter, before, page_size).await?;
        let next_page_token = match rows.last() {
            Some(last) if more => page_token::encode(&last.alert_id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListAlertsResponse {
            alerts: rows.iter().map(stall_to_proto).collect(),
            next_page_token,
        })
    }
}
