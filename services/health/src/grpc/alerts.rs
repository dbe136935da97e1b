//! Handlers of the alert policy and health alerts.

use themodel_platform::{
    Violation, Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::health as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::key,
    domain::{
        access::RULE_WRITERS,
        alerts::{Kind, Policy},
    },
    error::{Error, Result},
    store::alerts::{AlertFilter, alert_to_proto, policy_to_proto},
};

/// The fields UpdateAlertPolicy may change.
const POLICY_FIELDS: &[&str] = &["grade_drop", "no_usage_grace_days", "usage_drop_percent"];

/// The kind of an alert filter; none for every kind.
fn kind_filter(value: i32) -> Result<Option<Kind>, Vec<Violation>> {
    Ok(match validate::known_enum::<pb::AlertKind>(value)? {
        pb::AlertKind::Unspecified => None,
        pb::AlertKind::UsageDrop => Some(Kind::UsageDrop),
        pb::AlertKind::GradeDrop => Some(Kind::GradeDrop),
        pb::AlertKind::NoUsage => Some(Kind::NoUsage),
    })
}

impl Handler {
    pub(super) async fn get_alert_policy(
        &self,
        request: Request<pb::GetAlertPolicyRequest>,
    ) -> Result<pb::GetAlertPolicyResponse> {
        principal(&request)?;
        Ok(pb::GetAlertPolicyResponse {
            policy: Some(policy_to_proto(&self.alerts.policy().await?)),
        })
    }

    pub(super) async fn update_alert_policy(
        &self,
        request: Request<pb::UpdateAlertPolicyRequest>,
    ) -> Result<pb::UpdateAlertPolicyResponse> {
        let principal = principal(&request)?;
        principal.require(RULE_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(sent) = &req.policy else {
            return Err(Error::Invalid(vec![Violation::new(
                "policy",
                "is required",
            )]));
        };
        let paths = v.check(
            "",
            validate::update_mask(req.update_mask.as_ref(), POLICY_FIELDS, "AlertPolicy"),
        );
        let etag = v.check("policy.etag", validate::etag(&sent.etag)).flatten();
        // The values named are checked whatever the current policy holds.
        let named = |field: &str| paths.as_ref().is_some_and(|p| p.contains(&field));
        let probe = Policy {
            usage_drop_percent: if named("usage_drop_percent") {
                sent.usage_drop_percent
            } else {
                0
            },
            no_usage_grace_days: if named("no_usage_grace_days") {
                sent.no_usage_grace_days
            } else {
                0
            },
            grade_drop: sent.grade_drop,
        };
        for (field, problem) in probe.problems() {
            v.add(format!("policy.{field}"), problem);
        }
        let (Some(paths), true) = (paths, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdateAlertPolicy", req);
        let sent = sent.clone();
        self.alerts
            .update_policy(
                idempotency,
                etag,
                move |policy| {
                    for path in paths {
                        match path {
                            "usage_drop_percent" => {
                                policy.usage_drop_percent = sent.usage_drop_percent;
                            }
                            "no_usage_grace_days" => {
                                policy.no_usage_grace_days = sent.no_usage_grace_days;
                            }
                            "grade_drop" => policy.grade_drop = sent.grade_drop,
                            _ => {}
                        }
                    }
                    Ok(())
                },
                &principal.subject,
            )
            .await
    }

    pub(super) async fn list_health_alerts(
        &self,
        request: Request<pb::ListHealthAlertsRequest>,
    ) -> Result<pb::ListHealthAlertsResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let kind = v.check("kind", kind_filter(req.kind)).flatten();
        let filters = (
            &req.account_id,
            &req.product_key,
            req.kind,
            req.include_cleared,
        );
        let before = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = AlertFilter {
            account_id,
            product_key,
            kind,
            open_only: !req.include_cleared,
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let (rows, more) = self.alerts.list(&filter, before, page_size).await?;
        let next_page_token = match rows.last() {
            Some(last) if more => page_token::encode(&last.alert_id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListHealthAlertsResponse {
            alerts: rows.iter().map(alert_to_proto).collect(),
            next_page_token,
        })
    }
}
