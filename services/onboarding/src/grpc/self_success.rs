//! Handlers of the self-success rule and its report.

use themodel_platform::{
    Violation, Violations,
    auth::{Role, principal},
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::onboarding as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{signal_key, tier},
    domain::{
        access::{PLAYBOOK_WRITERS, REPORT_READERS},
        self_success::Rule,
    },
    error::{Error, Result},
    store::routing::rule_to_proto,
};

/// Longest report period, in days.
const MAX_PERIOD_DAYS: i64 = 3660;

/// The rule a caller sends; paths relative to the rule.
fn rule(r: &pb::SelfSuccessRule) -> Result<Rule, Vec<Violation>> {
    let mut v = Violations::new();
    let mut tiers = Vec::with_capacity(r.tiers.len());
    for (i, t) in r.tiers.iter().enumerate() {
        tiers.extend(v.check(&format!("tiers[{i}]"), tier(*t)));
    }
    let mut required = Vec::with_capacity(r.required_signals.len());
    for (i, s) in r.required_signals.iter().enumerate() {
        if let Some(key) = v.check(
            &format!("required_signals[{i}].signal_key"),
            signal_key(&s.signal_key),
        ) {
            required.push((key, s.threshold));
        }
    }
    let (min, max) = match (r.target_min_percent, r.target_max_percent) {
        (0, 0) => (Rule::default().target_min, Rule::default().target_max),
        pair => pair,
    };
    let rule = Rule {
        enabled: r.enabled,
        tiers,
        max_products: r.max_products,
        required,
        target_min: min,
        target_max: max,
    };
    for (field, problem) in rule.problems() {
        v.add(field, problem);
    }
    v.finish(|| rule)
}

impl Handler {
    pub(super) async fn get_self_success_rule(
        &self,
        request: Request<pb::GetSelfSuccessRuleRequest>,
    ) -> Result<pb::GetSelfSuccessRuleResponse> {
        let principal = principal(&request)?;
        if principal.role == Role::PartnerUser {
            principal.require(REPORT_READERS)?;
        }
        Ok(pb::GetSelfSuccessRuleResponse {
            rule: Some(rule_to_proto(&self.routing.rule().await?)),
        })
    }

    pub(super) async fn update_self_success_rule(
        &self,
        request: Request<pb::UpdateSelfSuccessRuleRequest>,
    ) -> Result<pb::UpdateSelfSuccessRuleResponse> {
        let principal = principal(&request)?;
        principal.require(PLAYBOOK_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(sent) = &req.rule else {
            return Err(Error::Invalid(vec![Violation::new("rule", "is required")]));
        };
        let etag = v.check("rule.etag", validate::etag(&sent.etag)).flatten();
        let new = v.check("rule", rule(sent));
        let (Some(new), true) = (new, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdateSelfSuccessRule", req);
        self.routing
            .update(idempotency, etag, new, &principal.subject)
            .await
    }

    pub(super) async fn get_self_success_report(
        &self,
        request: Request<pb::GetSelfSuccessReportRequest>,
    ) -> Result<pb::GetSelfSuccessReportResponse> {
        principal(&request)?.require(REPORT_READERS)?;
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
        if let (Some(from), Some(to)) = (from, to)
            && (to < from || (to - from).num_days() > MAX_PERIOD_DAYS)
        {
            v.add(
                "end_date",
                format!("must be start_date to {MAX_PERIOD_DAYS} days after it"),
            );
        }
        let (Some(from), Some(to), true) = (from, to, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let rule = self.routing.rule().await?.rule;
        let (opened, routed) = self.routing.share(from, to).await?;
        let share = (opened > 0)
            .then(|| i32::try_from((routed * 20_000 + opened) / (2 * opened)).unwrap_or(i32::MAX));
        Ok(pb::GetSelfSuccessReportResponse {
            opened: i64::try_from(opened).unwrap_or(i64::MAX),
            routed: i64::try_from(routed).unwrap_or(i64::MAX),
            share_basis_points: share,
            target_min_percent: rule.target_min,
            target_max_percent: rule.target_max,
            within_target: share.is_some_and(|s| rule.within(s)),
        })
    }
}
