//! gRPC handlers: authorize, validate and convert, call the repository,
//! convert back. Business rules live in `domain`, persistence in `store`.

use themodel_platform::{
    Violation, Violations,
    accounts::AccountDirectory,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::partner_success::{
    self as pb, partner_success_service_server::PartnerSuccessService,
};
use tonic::{Request, Response, Status};

mod attributions;
mod certifications;
mod deals;
mod scorecards;
mod staff;
mod tiers;

use crate::{
    convert::{apply_mask, mask_paths, partner_fields_from_proto, partner_id, partner_to_proto},
    domain::{
        access::{PARTNER_WRITERS, can_see},
        partner::{ContractForm, PartnerStatus},
    },
    error::{Error, Result},
    store::{
        PartnerFilter, Partners, attributions::Attributions, certifications::Certifications,
        deals::Deals, scorecards::Scorecards, staff::StaffRepo, tiers::Tiers,
    },
};

/// The service's repositories and its view of the suite's accounts.
#[derive(Debug, Clone)]
pub struct Repositories {
    /// Partners.
    pub partners: Partners,
    /// Partner staff.
    pub staff: StaffRepo,
    /// Certifications.
    pub certifications: Certifications,
    /// Attributions.
    pub attributions: Attributions,
    /// Deals.
    pub deals: Deals,
    /// The tier program and partners' tiers.
    pub tiers: Tiers,
    /// Partner scorecards.
    pub scorecards: Scorecards,
    /// Accounts, as segmentation announces them.
    pub accounts: AccountDirectory,
}

/// The PartnerSuccessService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    partners: Partners,
    staff: StaffRepo,
    certifications: Certifications,
    attributions: Attributions,
    deals: Deals,
    tiers: Tiers,
    scorecards: Scorecards,
    accounts: AccountDirectory,
}

impl Handler {
    /// Handlers over the service's repositories.
    pub fn new(repos: Repositories) -> Self {
        let Repositories {
            partners,
            staff,
            certifications,
            attributions,
            deals,
            tiers,
            scorecards,
            accounts,
        } = repos;
        Self {
            partners,
            staff,
            certifications,
            attributions,
            deals,
            tiers,
            scorecards,
            accounts,
        }
    }

    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<pb::CreatePartnerResponse> {
        let principal = principal(&request)?;
        principal.require(PARTNER_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, fields) = match &req.partner {
            Some(partner) => {
                // A new partner starts onboarding unless told otherwise.
                let mut partner = partner.clone();
                if partner.status == PartnerStatus::Unspecified as i32 {
                    partner.status = PartnerStatus::Onboarding as i32;
                }
                (
                    v.check("partner.partner_id", partner_id(&partner.partner_id)),
                    v.check("partner", partner_fields_from_proto(&partner)),
                )
            }
            None => {
                v.add("partner", "is required");
                (None, None)
            }
        };
        let (Some(id), Some(fields), true) = (id, fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreatePartner", &req);
        self.partners.create(idempotency, id, fields).await
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<pb::GetPartnerResponse> {
        let principal = principal(&request)?;
        let mut v = Violations::new();
        let id = v.check("partner_id", partner_id(&request.get_ref().partner_id));
        let id = v.finish(|| id.unwrap_or_default())?;
        // Another partner's id is as unknown to a partner user as a missing one.
        let partner = if can_see(&principal, &id) {
            self.partners.get(&id).await?
        } else {
            None
        };
        let partner = partner.ok_or(Error::PartnerNotFound(id))?;
        Ok(pb::GetPartnerResponse {
            partner: Some(partner_to_proto(&partner)),
        })
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<pb::ListPartnersResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let status = v.check("status", validate::known_enum::<PartnerStatus>(req.status));
        let form = v.check(
            "contract_form",
            validate::known_enum::<ContractForm>(req.contract_form),
        );
        let filter = PartnerFilter {
            partner_id: principal.partner_scope().map(str::to_owned),
            status: status
                .filter(|s| *s != PartnerStatus::Unspecified)
                .map(|s| s as i32),
            contract_form: form
                .filter(|f| *f != ContractForm::Unspecified)
                .map(|f| f as i32),
        };
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filter))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (partners, more) = self
            .partners
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match partners.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListPartnersResponse {
            partners: partners.iter().map(partner_to_proto).collect(),
            next_page_token,
        })
    }

    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<pb::UpdatePartnerResponse> {
        let principal = principal(&request)?;
        principal.require(PARTNER_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.partner else {
            return Err(Error::Invalid(vec![Violation::new(
                "partner",
                "is required",
            )]));
        };
        let id = v.check("partner.partner_id", partner_id(&patch.partner_id));
        let etag = v
            .check("partner.etag", validate::etag(&patch.etag))
            .flatten();
        let paths = v.check("", mask_paths(req.update_mask.as_ref()));
        let (Some(id), Some(paths), true) = (id, paths, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "UpdatePartner", &req);
        self.partners
            .update(idempotency, &id, etag, |current| {
                let mut merged = partner_to_proto(current);
                apply_mask(&mut merged, patch, &paths);
                partner_fields_from_proto(&merged).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("partner")).collect())
                })
            })
            .await
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

/// A valid resource id at `field`; INVALID_ARGUMENT otherwise.
fn resource_id(id: &str, field: &str) -> Result<String> {
    validate::resource_id(id)
        .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed(field)).collect()))
}

/// An optional partner id at `field`: `Some(None)` when empty.
fn optional_partner(value: &str, field: &str, v: &mut Violations) -> Option<Option<String>> {
    if value.is_empty() {
        Some(None)
    } else {
        v.check(field, partner_id(value)).map(Some)
    }
}

#[tonic::async_trait]
impl PartnerSuccessService for Handler {
    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<Response<pb::CreatePartnerResponse>, Status> {
        respond(Handler::create_partner(self, request).await)
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::GetPartnerResponse>, Status> {
        respond(Handler::get_partner(self, request).await)
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        respond(Handler::list_partners(self, request).await)
    }

    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<Response<pb::UpdatePartnerResponse>, Status> {
        respond(Handler::update_partner(self, request).await)
    }

    async fn create_partner_staff(
        &self,
        request: Request<pb::CreatePartnerStaffRequest>,
    ) -> Result<Response<pb::CreatePartnerStaffResponse>, Status> {
        respond(Handler::create_partner_staff(self, request).await)
    }

    async fn get_partner_staff(
        &self,
        request: Request<pb::GetPartnerStaffRequest>,
    ) -> Result<Response<pb::GetPartnerStaffResponse>, Status> {
        respond(Handler::get_partner_staff(self, request).await)
    }

    async fn list_partner_staff(
        &self,
        request: Request<pb::ListPartnerStaffRequest>,
    ) -> Result<Response<pb::ListPartnerStaffResponse>, Status> {
        respond(Handler::list_partner_staff(self, request).await)
    }

    async fn update_partner_staff(
        &self,
        request: Request<pb::UpdatePartnerStaffRequest>,
    ) -> Result<Response<pb::UpdatePartnerStaffResponse>, Status> {
        respond(Handler::update_partner_staff(self, request).await)
    }

    async fn record_certification(
        &self,
        request: Request<pb::RecordCertificationRequest>,
    ) -> Result<Response<pb::RecordCertificationResponse>, Status> {
        respond(Handler::record_certification(self, request).await)
    }

    async fn list_certifications(
        &self,
        request: Request<pb::ListCertificationsRequest>,
    ) -> Result<Response<pb::ListCertificationsResponse>, Status> {
        respond(Handler::list_certifications(self, request).await)
    }

    async fn get_certified_headcount(
        &self,
        request: Request<pb::GetCertifiedHeadcountRequest>,
    ) -> Result<Response<pb::GetCertifiedHeadcountResponse>, Status> {
        respond(Handler::get_certified_headcount(self, request).await)
    }

    async fn record_attribution(
        &self,
        request: Request<pb::RecordAttributionRequest>,
    ) -> Result<Response<pb::RecordAttributionResponse>, Status> {
        respond(Handler::record_attribution(self, request).await)
    }

    async fn end_attribution(
        &self,
        request: Request<pb::EndAttributionRequest>,
    ) -> Result<Response<pb::EndAttributionResponse>, Status> {
        respond(Handler::end_attribution(self, request).await)
    }

    async fn list_attributions(
        &self,
        request: Request<pb::ListAttributionsRequest>,
    ) -> Result<Response<pb::ListAttributionsResponse>, Status> {
        respond(Handler::list_attributions(self, request).await)
    }

    async fn get_attribution_summary(
        &self,
        request: Request<pb::GetAttributionSummaryRequest>,
    ) -> Result<Response<pb::GetAttributionSummaryResponse>, Status> {
        respond(Handler::get_attribution_summary(self, request).await)
    }

    async fn create_deal(
        &self,
        request: Request<pb::CreateDealRequest>,
    ) -> Result<Response<pb::CreateDealResponse>, Status> {
        respond(Handler::create_deal(self, request).await)
    }

    async fn submit_deal(
        &self,
        request: Request<pb::SubmitDealRequest>,
    ) -> Result<Response<pb::SubmitDealResponse>, Status> {
        respond(Handler::submit_deal(self, request).await)
    }

    async fn approve_deal(
        &self,
        request: Request<pb::ApproveDealRequest>,
    ) -> Result<Response<pb::ApproveDealResponse>, Status> {
        respond(Handler::approve_deal(self, request).await)
    }

    async fn reject_deal(
        &self,
        request: Request<pb::RejectDealRequest>,
    ) -> Result<Response<pb::RejectDealResponse>, Status> {
        respond(Handler::reject_deal(self, request).await)
    }

    async fn close_deal(
        &self,
        request: Request<pb::CloseDealRequest>,
    ) -> Result<Response<pb::CloseDealResponse>, Status> {
        respond(Handler::close_deal(self, request).await)
    }

    async fn get_deal(
        &self,
        request: Request<pb::GetDealRequest>,
    ) -> Result<Response<pb::GetDealResponse>, Status> {
        respond(Handler::get_deal(self, request).await)
    }

    async fn list_deals(
        &self,
        request: Request<pb::ListDealsRequest>,
    ) -> Result<Response<pb::ListDealsResponse>, Status> {
        respond(Handler::list_deals(self, request).await)
    }

    async fn get_tier_program(
        &self,
        request: Request<pb::GetTierProgramRequest>,
    ) -> Result<Response<pb::GetTierProgramResponse>, Status> {
        respond(Handler::get_tier_program(self, request).await)
    }

    async fn update_tier_program(
        &self,
        request: Request<pb::UpdateTierProgramRequest>,
    ) -> Result<Response<pb::UpdateTierProgramResponse>, Status> {
        respond(Handler::update_tier_program(self, request).await)
    }

    async fn preview_tier_program(
        &self,
        request: Request<pb::PreviewTierProgramRequest>,
    ) -> Result<Response<pb::PreviewTierProgramResponse>, Status> {
        respond(Handler::preview_tier_program(self, request).await)
    }

    async fn evaluate_partner_tiers(
        &self,
        request: Request<pb::EvaluatePartnerTiersRequest>,
    ) -> Result<Response<pb::EvaluatePartnerTiersResponse>, Status> {
        respond(Handler::evaluate_partner_tiers(self, request).await)
    }

    async fn list_partner_tier_history(
        &self,
        request: Request<pb::ListPartnerTierHistoryRequest>,
    ) -> Result<Response<pb::ListPartnerTierHistoryResponse>, Status> {
        respond(Handler::list_partner_tier_history(self, request).await)
    }

    async fn get_partner_scorecard(
        &self,
        request: Request<pb::GetPartnerScorecardRequest>,
    ) -> Result<Response<pb::GetPartnerScorecardResponse>, Status> {
        respond(Handler::get_partner_scorecard(self, request).await)
    }

    async fn list_partner_scorecards(
        &self,
        request: Request<pb::ListPartnerScorecardsRequest>,
    ) -> Result<Response<pb::ListPartnerScorecardsResponse>, Status> {
        respond(Handler::list_partner_scorecards(self, request).await)
    }
}
