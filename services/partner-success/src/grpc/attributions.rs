//! Handlers of the attribution RPCs.

use themodel_platform::{
    Violation, Violations,
    auth::principal,
    client::CallContext,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::partner_success as pb;
use tonic::Request;

use super::{Handler, optional_partner};
use crate::{
    convert::{
        attribution::{attribution_to_proto, new_attribution},
        optional_date, required_date,
    },
    domain::{
        access::{ATTRIBUTION_WRITERS, scoped_partner},
        attribution::AttributionKind,
    },
    error::{Error, Result},
    store::{attributions::AttributionFilter, today},
};

impl Handler {
    pub(super) async fn record_attribution(
        &self,
        request: Request<pb::RecordAttributionRequest>,
    ) -> Result<pb::RecordAttributionResponse> {
        let principal = principal(&request)?;
        principal.require(ATTRIBUTION_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(attribution) = &req.attribution else {
            return Err(Error::Invalid(vec![Violation::new(
                "attribution",
                "is required",
            )]));
        };
        let new = v.check("attribution", new_attribution(attribution));
        let (Some(new), true) = (new, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let account = self
            .accounts
            .find(&CallContext::of(&request), &principal, &new.account_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: "account",
                id: new.account_id.clone(),
            })?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RecordAttribution", req);
        self.attributions.record(idempotency, new, &account).await
    }

    pub(super) async fn end_attribution(
        &self,
        request: Request<pb::EndAttributionRequest>,
    ) -> Result<pb::EndAttributionResponse> {
        let principal = principal(&request)?;
        principal.require(ATTRIBUTION_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check("id", validate::resource_id(&req.id));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let end = required_date(req.end_date.as_ref(), "end_date", &mut v);
        let (Some(id), Some(end), true) = (id, end, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "EndAttribution", req);
        self.attributions.end(idempotency, &id, end, etag).await
    }

    pub(super) async fn list_attributions(
        &self,
        request: Request<pb::ListAttributionsRequest>,
    ) -> Result<pb::ListAttributionsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        let account_id = if req.account_id.is_empty() {
            Some(None)
        } else {
            v.check("account_id", validate::resource_id(&req.account_id))
                .map(Some)
        };
        let kind = v.check("kind", validate::known_enum::<AttributionKind>(req.kind));
        let (Some(page_size), Some(named), Some(account_id), Some(kind), true) =
            (page_size, named, account_id, kind, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = AttributionFilter {
            account_id,
            partner_id: scoped_partner(&principal, named)?,
            kind: (kind != AttributionKind::Unspecified).then_some(kind as i32),
            scope: principal.partner_scope().map(str::to_owned),
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (list, more) = self
            .attributions
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match list.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListAttributionsResponse {
            attributions: list.iter().map(attribution_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_attribution_summary(
        &self,
        request: Request<pb::GetAttributionSummaryRequest>,
    ) -> Result<pb::GetAttributionSummaryResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        if principal.partner_scope().is_none() && req.partner_id.is_empty() {
            v.add("partner_id", "is required");
        }
        let day = optional_date(req.as_of.as_ref(), "as_of", &mut v);
        let (Some(named), Some(day), true) = (named, day, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let partner_id = scoped_partner(&principal, named)?.unwrap_or_default();
        let day = day.unwrap_or_else(today);
        if self.partners.get(&partner_id).await?.is_none() {
            return Err(Error::PartnerNotFound(partner_id));
        }
        let summary = self
            .attributions
            .summary(&partner_id, day, principal.partner_scope())
            .await?;
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(pb::GetAttributionSummaryResponse {
            partner_id,
            as_of: Some(validate::date_to_proto(day)),
            sourced_accounts: count(summary.sourced),
            influenced_accounts: count(summary.influenced),
        })
    }
}
