//! Handlers of the deal registration RPCs.

use themodel_platform::{
    Violation, Violations,
    auth::{Principal, principal},
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::partner_success as pb;
use tonic::Request;

use super::{Handler, optional_partner, resource_id};
use crate::{
    convert::deal::{View, deal_fields_from_proto, deal_to_proto},
    domain::{
        access::{DEAL_APPROVERS, DEAL_REGISTRARS, can_see, scoped_partner},
        deal::{DEFAULT_PROTECTION_DAYS, DealOutcome, DealStatus, MAX_PROTECTION_DAYS},
    },
    error::{Error, Result},
    store::{
        deals::{Approval, DealFilter},
        today,
    },
};

/// Longest reason of a rejection or an override, in characters.
const MAX_REASON: usize = 500;

/// A deal's id and etag; INVALID_ARGUMENT with both violations otherwise.
fn id_and_etag<'a>(
    id: &str,
    etag: &'a str,
    v: &mut Violations,
) -> (Option<String>, Option<Option<&'a str>>) {
    (
        v.check("id", validate::resource_id(id)),
        v.check("etag", validate::etag(etag)),
    )
}

impl Handler {
    pub(super) async fn create_deal(
        &self,
        request: Request<pb::CreateDealRequest>,
    ) -> Result<pb::CreateDealResponse> {
        let principal = principal(&request)?;
        principal.require(DEAL_REGISTRARS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(deal) = &req.deal else {
            return Err(Error::Invalid(vec![Violation::new("deal", "is required")]));
        };
        let named = optional_partner(&deal.partner_id, "deal.partner_id", &mut v);
        if principal.partner_scope().is_none() && deal.partner_id.is_empty() {
            v.add("deal.partner_id", "is required");
        }
        let fields = v.check("deal", deal_fields_from_proto(deal, String::new()));
        let (Some(named), Some(mut fields), true) = (named, fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        fields.partner_id = scoped_partner(&principal, named)?.unwrap_or_default();
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateDeal", req);
        let deal = self
            .deals
            .create(idempotency, fields, View::of(&principal))
            .await?;
        Ok(pb::CreateDealResponse { deal: Some(deal) })
    }

    pub(super) async fn submit_deal(
        &self,
        request: Request<pb::SubmitDealRequest>,
    ) -> Result<pb::SubmitDealResponse> {
        let principal = principal(&request)?;
        principal.require(DEAL_REGISTRARS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, etag) = id_and_etag(&req.id, &req.etag, &mut v);
        let (Some(id), Some(etag), true) = (id, etag, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "SubmitDeal", req);
        let deal = self
            .deals
            .submit(
                idempotency,
                &id,
                principal.partner_scope(),
                etag,
                View::of(&principal),
            )
            .await?;
        Ok(pb::SubmitDealResponse { deal: Some(deal) })
    }

    pub(super) async fn approve_deal(
        &self,
        request: Request<pb::ApproveDealRequest>,
    ) -> Result<pb::ApproveDealResponse> {
        let principal = principal(&request)?;
        principal.require(DEAL_APPROVERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, etag) = id_and_etag(&req.id, &req.etag, &mut v);
        let protection_days = match req.protection_days {
            0 => Some(DEFAULT_PROTECTION_DAYS),
            days => {
                match u32::try_from(days) {
                    Ok(days) if days <= MAX_PROTECTION_DAYS => Some(days),
                    _ => {
                        v.add(
                        "protection_days",
                        format!("must be 1 to {MAX_PROTECTION_DAYS} (0 means {DEFAULT_PROTECTION_DAYS})"),
                    );
                        None
                    }
                }
            }
        };
        let override_reason = if req.override_conflict {
            v.check(
                "override_reason",
                validate::text(&req.override_reason, 1, MAX_REASON),
            )
            .map(Some)
        } else if !req.override_reason.is_empty() {
            v.add("override_reason", "is only accepted with override_conflict");
            None
        } else {
            Some(None)
        };
        let (Some(id), Some(etag), Some(protection_days), Some(override_reason), true) =
            (id, etag, protection_days, override_reason, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "ApproveDeal", req);
        let approval = Approval {
            protection_days,
            override_reason,
        };
        let deal = self
            .deals
            .approve(idempotency, &id, etag, approval, today())
            .await?;
        Ok(pb::ApproveDealResponse { deal: Some(deal) })
    }

    pub(super) async fn reject_deal(
        &self,
        request: Request<pb::RejectDealRequest>,
    ) -> Result<pb::RejectDealResponse> {
        let principal = principal(&request)?;
        principal.require(DEAL_APPROVERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, etag) = id_and_etag(&req.id, &req.etag, &mut v);
        let reason = v.check("reason", validate::text(&req.reason, 1, MAX_REASON));
        let (Some(id), Some(etag), Some(reason), true) = (id, etag, reason, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "RejectDeal", req);
        let deal = self.deals.reject(idempotency, &id, etag, reason).await?;
        Ok(pb::RejectDealResponse { deal: Some(deal) })
    }

    pub(super) async fn close_deal(
        &self,
        request: Request<pb::CloseDealRequest>,
    ) -> Result<pb::CloseDealResponse> {
        let principal = principal(&request)?;
        principal.require(DEAL_APPROVERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, etag) = id_and_etag(&req.id, &req.etag, &mut v);
        let outcome = match validate::known_enum::<DealOutcome>(req.outcome) {
            Ok(DealOutcome::Unspecified) => {
                v.add("outcome", "is required: WON or LOST");
                None
            }
            result => v.check("outcome", result),
        };
        let (Some(id), Some(etag), Some(outcome), true) = (id, etag, outcome, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "CloseDeal", req);
        let deal = self.deals.close(idempotency, &id, etag, outcome).await?;
        Ok(pb::CloseDealResponse { deal: Some(deal) })
    }

    pub(super) async fn get_deal(
        &self,
        request: Request<pb::GetDealRequest>,
    ) -> Result<pb::GetDealResponse> {
        let principal = principal(&request)?;
        let id = resource_id(&request.get_ref().id, "id")?;
        let deal = self.visible_deal(&principal, id).await?;
        Ok(pb::GetDealResponse {
            deal: Some(deal_to_proto(&deal, View::of(&principal))),
        })
    }

    /// Deal `id` as the caller may see it; NOT_FOUND otherwise.
    async fn visible_deal(
        &self,
        principal: &Principal,
        id: String,
    ) -> Result<crate::domain::deal::Deal> {
        self.deals
            .get(&id)
            .await?
            .filter(|d| can_see(principal, &d.fields.partner_id))
            .ok_or(Error::NotFound {
                resource: "deal",
                id,
            })
    }

    pub(super) async fn list_deals(
        &self,
        request: Request<pb::ListDealsRequest>,
    ) -> Result<pb::ListDealsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        let status = v.check("status", validate::known_enum::<DealStatus>(req.status));
        let (Some(page_size), Some(named), Some(status), true) =
            (page_size, named, status, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = DealFilter {
            partner_id: scoped_partner(&principal, named)?,
            status: (status != DealStatus::Unspecified).then_some(status as i32),
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (deals, more) = self
            .deals
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match deals.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        let view = View::of(&principal);
        Ok(pb::ListDealsResponse {
            deals: deals.iter().map(|d| deal_to_proto(d, view)).collect(),
            next_page_token,
        })
    }
}
