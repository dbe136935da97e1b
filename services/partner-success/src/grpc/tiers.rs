//! Handlers of the tier program RPCs.

use prost::Message as _;
use serde::Serialize;
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
        notes,
        tier::{
            UPDATABLE_FIELDS, apply_mask, change_to_proto, program_from_proto, program_to_proto,
            rules_to_proto,
        },
    },
    domain::access::{TIER_PROGRAM_WRITERS, scoped_partner},
    error::{Error, Result},
    onboarding::report_context,
    store::{
        tiers::{HistoryFilter, Peers},
        today,
    },
};

/// Longest reason given for a program version, in characters.
const MAX_REASON: usize = 500;

/// What a preview's pages are bound to: the program previewed (its rules as
/// validated), or the one in force.
#[derive(Debug, Serialize)]
struct PreviewFilter {
    program: Option<Vec<u8>>,
}

impl Handler {
    pub(super) async fn get_tier_program(
        &self,
        request: Request<pb::GetTierProgramRequest>,
    ) -> Result<pb::GetTierProgramResponse> {
        // Every role reads the program partners are measured against.
        principal(&request)?;
        let version = request.get_ref().version;
        if version < 0 {
            return Err(Error::Invalid(vec![Violation::new(
                "version",
                "must not be negative (0 is the version in force)",
            )]));
        }
        let program = self
            .tiers
            .program((version > 0).then_some(version))
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: "tier_program",
                id: if version == 0 {
                    "in force".into()
                } else {
                    version.to_string()
                },
            })?;
        Ok(pb::GetTierProgramResponse {
            program: Some(program_to_proto(&program)),
        })
    }

    pub(super) async fn update_tier_program(
        &self,
        request: Request<pb::UpdateTierProgramRequest>,
    ) -> Result<pb::UpdateTierProgramResponse> {
        let principal = principal(&request)?;
        principal.require(TIER_PROGRAM_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.program else {
            return Err(Error::Invalid(vec![Violation::new(
                "program",
                "is required",
            )]));
        };
        let etag = v
            .check("program.etag", validate::etag(&patch.etag))
            .flatten();
        let paths = v.check(
            "",
            validate::update_mask(req.update_mask.as_ref(), UPDATABLE_FIELDS, "TierProgram"),
        );
        let reason = v.check("reason", notes(&req.reason, MAX_REASON));
        let (Some(paths), Some(reason), true) = (paths, reason, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdateTierProgram", req);
        self.tiers
            .update_program(
                idempotency,
                etag,
                |current| {
                    let mut merged = current
                        .map(|c| rules_to_proto(&c.program, c.version))
                        .unwrap_or_default();
                    apply_mask(&mut merged, patch, &paths);
                    program_from_proto(&merged).map_err(|vs| {
                        Error::Invalid(vs.into_iter().map(|v| v.prefixed("program")).collect())
                    })
                },
                reason,
                &principal.subject,
            )
            .await
    }

    pub(super) async fn preview_tier_program(
        &self,
        request: Request<pb::PreviewTierProgramRequest>,
    ) -> Result<pb::PreviewTierProgramResponse> {
        let principal = principal(&request)?;
        principal.require(TIER_PROGRAM_WRITERS)?;
        let ctx = CallContext::of(&request);
        let onboarding = report_context(&request, &ctx);
        let peers = Peers {
            revenue: &ctx,
            onboarding: &onboarding,
        };
        let req = request.get_ref();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let candidate = match &req.program {
            Some(program) => v.check("program", program_from_proto(program)).map(Some),
            None => Some(None),
        };
        let (Some(page_size), Some(candidate), true) = (page_size, candidate, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = PreviewFilter {
            program: candidate
                .as_ref()
                .map(|p| rules_to_proto(p, 0).encode_to_vec()),
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (mut response, more) = self
            .tiers
            .preview(peers, candidate, today(), after.as_deref(), page_size)
            .await?;
        if let Some(last) = response.partners.last().filter(|_| more) {
            response.next_page_token = page_token::encode(&last.partner_id, &filter);
        }
        Ok(response)
    }

    pub(super) async fn evaluate_partner_tiers(
        &self,
        request: Request<pb::EvaluatePartnerTiersRequest>,
    ) -> Result<pb::EvaluatePartnerTiersResponse> {
        let principal = principal(&request)?;
        principal.require(TIER_PROGRAM_WRITERS)?;
        let ctx = CallContext::of(&request);
        let onboarding = report_context(&request, &ctx);
        let peers = Peers {
            revenue: &ctx,
            onboarding: &onboarding,
        };
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let only = optional_partner(&req.partner_id, "partner_id", &mut v);
        let (Some(only), true) = (only, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "EvaluatePartnerTiers", req);
        self.tiers
            .evaluate(
                idempotency,
                peers,
                only.as_deref(),
                today(),
                &principal.subject,
            )
            .await
    }

    pub(super) async fn list_partner_tier_history(
        &self,
        request: Request<pb::ListPartnerTierHistoryRequest>,
    ) -> Result<pb::ListPartnerTierHistoryResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let named = optional_partner(&req.partner_id, "partner_id", &mut v);
        let (Some(page_size), Some(named), true) = (page_size, named, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let filter = HistoryFilter {
            partner_id: scoped_partner(&principal, named)?,
        };
        let after = page_token::decode::<String>(&req.page_token, &filter)?;
        let (changes, more) = self
            .tiers
            .history(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match changes.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListPartnerTierHistoryResponse {
            changes: changes.iter().map(change_to_proto).collect(),
            next_page_token,
        })
    }
}
