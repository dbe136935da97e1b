//! Handlers of plans.

use chrono::Utc;
use themodel_platform::{
    Violations,
    accounts::Account,
    auth::{Principal, principal},
    client::CallContext,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::onboarding as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::key,
    domain::{access::PLAN_WRITERS, plan::Status},
    error::{Error, Result},
    store::{
        plans::{Completion, PlanData, PlanFilter},
        routing::choose,
    },
};

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

/// A day a caller sends, not after today.
fn past_day(
    v: &mut Violations,
    field: &str,
    day: Option<&themodel_proto::common::Date>,
    required: bool,
) -> Option<chrono::NaiveDate> {
    match day {
        Some(d) => v.check(field, validate::date(d)).filter(|d| {
            let ahead = *d > today();
            if ahead {
                v.add(field, "must not be after today");
            }
            !ahead
        }),
        None => {
            if required {
                v.add(field, "is required");
            }
            None
        }
    }
}

impl Handler {
    /// The account `account_id` as `principal` may see it.
    async fn visible_account<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        account_id: &str,
    ) -> Result<Option<Account>> {
        Ok(self
            .accounts
            .find(&CallContext::of(request), principal, account_id)
            .await?)
    }

    /// Plan `id` when `principal` may see its account; NOT_FOUND otherwise.
    async fn visible_plan<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
    ) -> Result<PlanData> {
        let plan = self
            .plans
            .get(id)
            .await?
            .ok_or_else(|| Error::PlanNotFound(id.to_owned()))?;
        if principal.partner_scope().is_some()
            && self
                .visible_account(request, principal, &plan.row.account_id)
                .await?
                .is_none()
        {
            return Err(Error::PlanNotFound(id.to_owned()));
        }
        Ok(plan)
    }

    pub(super) async fn open_plan(
        &self,
        request: Request<pb::OpenPlanRequest>,
    ) -> Result<pb::OpenPlanResponse> {
        let principal = principal(&request)?;
        principal.require(PLAN_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let product_key = v.check("product_key", key(&req.product_key));
        let contract_start = req
            .contract_start_date
            .as_ref()
            .and_then(|d| v.check("contract_start_date", validate::date(d)));
        let (Some(account_id), Some(product_key), true) = (account_id, product_key, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let account = self
            .visible_account(&request, &principal, &account_id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(account_id.clone()))?;
        let choice = choose(&self.store.db, &account, &product_key)
            .await?
            .ok_or_else(|| Error::NoPlaybook {
                product: product_key.clone(),
                tier: account.tier.as_str_name().to_owned(),
            })?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "OpenPlan", req);
        self.plans
            .open(idempotency, &account, &product_key, contract_start, choice)
            .await
    }

    pub(super) async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<pb::GetPlanResponse> {
        let principal = principal(&request)?;
        let id = validate::resource_id(&request.get_ref().id)
            .map_err(|v| Error::Invalid(v.into_iter().map(|v| v.prefixed("id")).collect()))?;
        let plan = self.visible_plan(&request, &principal, &id).await?;
        Ok(pb::GetPlanResponse {
            plan: Some(plan.to_proto(today())),
        })
    }

    pub(super) async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Result<pb::ListPlansResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let owner_csm_id = (!req.owner_csm_id.is_empty())
            .then(|| v.check("owner_csm_id", validate::person_id(&req.owner_csm_id)))
            .flatten();
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let status = match v.check("status", validate::known_enum::<pb::PlanStatus>(req.status)) {
            Some(pb::PlanStatus::OnTrack) => Some(Status::OnTrack),
            Some(pb::PlanStatus::AtRisk) => Some(Status::AtRisk),
            Some(pb::PlanStatus::Completed) => Some(Status::Completed),
            Some(pb::PlanStatus::Cancelled) => Some(Status::Cancelled),
            _ => None,
        };
        let filters = (
            &req.account_id,
            &req.owner_csm_id,
            &req.product_key,
            req.status,
        );
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = PlanFilter {
            account_id,
            owner_csm_id,
            product_key,
            partner_id: principal.partner_scope().map(str::to_owned),
            status: status.map(|s| (s, today())),
        };
        let (plans, more) = self.plans.list(&filter, after, page_size).await?;
        let next_page_token = match plans.last() {
            Some(last) if more => page_token::encode(&last.row.id, &filters),
            _ => String::new(),
        };
        let today = today();
        Ok(pb::ListPlansResponse {
            plans: plans.iter().map(|p| p.to_proto(today)).collect(),
            next_page_token,
        })
    }

    pub(super) async fn complete_step(
        &self,
        request: Request<pb::CompleteStepRequest>,
    ) -> Result<pb::CompleteStepResponse> {
        let principal = principal(&request)?;
        principal.require(PLAN_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let plan_id = v.check("plan_id", validate::resource_id(&req.plan_id));
        let step_key = v.check("step_key", key(&req.step_key));
        let note = v.check("note", validate::text(&req.note, 0, 2000));
        let signed_by = (!req.signed_by.is_empty())
            .then(|| v.check("signed_by", validate::text(&req.signed_by, 1, 200)))
            .flatten();
        let signed_date = past_day(&mut v, "signed_date", req.signed_date.as_ref(), false);
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let (Some(plan_id), Some(step_key), Some(note), true) =
            (plan_id, step_key, note, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_plan(&request, &principal, &plan_id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CompleteStep", req);
        self.plans
            .complete_step(
                idempotency,
                &plan_id,
                &step_key,
                Completion {
                    note,
                    signed_by,
                    signed_date,
                },
                etag,
                &principal.subject,
            )
            .await
    }

    pub(super) async fn record_kickoff(
        &self,
        request: Request<pb::RecordKickoffRequest>,
    ) -> Result<pb::RecordKickoffResponse> {
        let principal = principal(&request)?;
        principal.require(PLAN_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let plan_id = v.check("plan_id", validate::resource_id(&req.plan_id));
        let day = past_day(&mut v, "kickoff_date", req.kickoff_date.as_ref(), true);
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let (Some(plan_id), Some(day), true) = (plan_id, day, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_plan(&request, &principal, &plan_id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordKickoff", req);
        self.plans
            .record_kickoff(idempotency, &plan_id, day, etag)
            .await
    }

    pub(super) async fn cancel_plan(
        &self,
        request: Request<pb::CancelPlanRequest>,
    ) -> Result<pb::CancelPlanResponse> {
        let principal = principal(&request)?;
        principal.require(PLAN_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let plan_id = v.check("plan_id", validate::resource_id(&req.plan_id));
        let reason = v.check("reason", validate::text(&req.reason, 1, 500));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let (Some(plan_id), Some(reason), true) = (plan_id, reason, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_plan(&request, &principal, &plan_id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CancelPlan", req);
        self.plans.cancel(idempotency, &plan_id, reason, etag).await
    }
}
