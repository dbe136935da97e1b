//! Handler of health summaries across accounts.

use themodel_platform::{Violations, auth::principal, validate};
use themodel_proto::health as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        key,
        scores::{grade_to_proto, measure_to_proto},
    },
    error::Result,
    store::summary::{Grouping, Scope, summarize},
};

/// Most partners a summary may name.
const MAX_PARTNERS: usize = 1000;

impl Handler {
    pub(super) async fn get_health_summary(
        &self,
        request: Request<pb::GetHealthSummaryRequest>,
    ) -> Result<pb::GetHealthSummaryResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let grouping = match v.check(
            "group_by",
            validate::known_enum::<pb::HealthGrouping>(req.group_by),
        ) {
            Some(pb::HealthGrouping::Partner) => Grouping::Partner,
            Some(pb::HealthGrouping::Tier) => Grouping::Tier,
            _ => Grouping::Whole,
        };
        if req.partner_ids.len() > MAX_PARTNERS {
            v.add(
                "partner_ids",
                format!("must name at most {MAX_PARTNERS} partners"),
            );
        }
        let mut partners = Vec::with_capacity(req.partner_ids.len());
        for (i, id) in req.partner_ids.iter().enumerate() {
            partners.extend(v.check(&format!("partner_ids[{i}]"), validate::partner_id(id)));
        }
        v.finish(|| ())?;
        // A partner user counts its own partner's accounts, whatever it asks.
        let partners = match principal.partner_scope() {
            Some(own) => Some(vec![own.to_owned()]),
            None => (!partners.is_empty()).then_some(partners),
        };
        let scope = Scope {
            product_key,
            partners,
        };
        let groups = summarize(&self.scores.store().db, &scope, grouping).await?;
        Ok(pb::GetHealthSummaryResponse {
            groups: groups
                .into_iter()
                .map(|(group, tally)| pb::HealthSummary {
                    group,
                    accounts: tally.accounts(),
                    scores: tally.scores,
                    // A to E first, then the scores without data.
                    grades: tally
                        .grades
                        .iter()
                        .filter(|(g, _)| g.is_some())
                        .chain(tally.grades.iter().filter(|(g, _)| g.is_none()))
                        .map(|(g, n)| pb::GradeCount {
                            grade: grade_to_proto(*g) as i32,
                            count: *n,
                        })
                        .collect(),
                    mean_score: tally.mean_score(),
                    measures: tally
                        .measures()
                        .into_iter()
                        .map(|m| pb::MeasureSummary {
                            measure: measure_to_proto(m.measure.name()) as i32,
                            contribution: m.contribution,
                            mean_value: m.mean_value,
                            scores_with_data: m.with_data,
                        })
                        .collect(),
                    open_alerts: tally.open_alerts,
                })
                .collect(),
        })
    }
}
