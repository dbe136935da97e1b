//! Handler of the completion report.

use themodel_platform::{Violations, auth::principal, validate};
use themodel_proto::onboarding as pb;
use tonic::Request;

use super::Handler;
use crate::{
    domain::access::COMPLETION_READERS,
    error::{Error, Result},
    store::report::{Grouping, Stage, completion},
};

/// Longest period, in days.
const MAX_PERIOD_DAYS: i64 = 3660;

impl Handler {
    pub(super) async fn get_completion_report(
        &self,
        request: Request<pb::GetCompletionReportRequest>,
    ) -> Result<pb::GetCompletionReportResponse> {
        let principal = principal(&request)?;
        principal.require(COMPLETION_READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut day = |field: &str, d: &Option<themodel_proto::common::Date>| match d {
            Some(d) => v.check(field, validate::date(d)),
            None => {
                v.add(field, "is required");
                None
            }
        };
        let from = day("start_date", &req.start_date);
        let to = day("end_date", &req.end_date);
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                v.add("end_date", "must not be before start_date");
            } else if (to - from).num_days() > MAX_PERIOD_DAYS {
                v.add(
                    "end_date",
                    format!("must be at most {MAX_PERIOD_DAYS} days after start_date"),
                );
            }
        }
        let stage = match v.check("stage", validate::known_enum::<pb::Stage>(req.stage)) {
            Some(pb::Stage::SetupComplete) => Stage::Setup,
            _ => Stage::Value,
        };
        let grouping = match v.check(
            "group_by",
            validate::known_enum::<pb::CompletionGrouping>(req.group_by),
        ) {
            Some(pb::CompletionGrouping::Tier) => Grouping::Tier,
            Some(pb::CompletionGrouping::Product) => Grouping::Product,
            Some(pb::CompletionGrouping::Csm) => Grouping::Csm,
            Some(pb::CompletionGrouping::Partner) => Grouping::Partner,
            Some(pb::CompletionGrouping::StartMonth) => Grouping::StartMonth,
            _ => Grouping::Whole,
        };
        let (Some(from), Some(to), true) = (from, to, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (groups, undated) = completion(&self.store.db, from, to, stage, grouping).await?;
        Ok(pb::GetCompletionReportResponse {
            groups: groups
                .into_iter()
                .map(|(group, g)| pb::CompletionGroup {
                    group,
                    due: g.due,
                    completed_on_time: g.on_time,
                    completed_late: g.late,
                    open: g.open,
                    cancelled: g.cancelled,
                    rate_basis_points: g.rate(),
                    median_days: g.percentile(50),
                    p90_days: g.percentile(90),
                })
                .collect(),
            undated_open_plans: undated,
        })
    }
}
