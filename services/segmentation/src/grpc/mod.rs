//! gRPC handlers: authorize, validate and convert, call the repository, convert
//! back. Business rules live in `domain`, persistence in `store`.

use themodel_platform::{
    Violation, Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::segmentation::{self as pb, segmentation_service_server::SegmentationService};
use tonic::{Request, Response, Status};

mod csms;
mod plan;
mod tiers;
mod touchpoints;

use crate::{
    convert::{account_to_proto, apply_mask, fields_from_proto, mask_paths},
    domain::{
        access::{self, BULK_WRITERS, WRITERS},
        account::{LifecycleStatus, Tier, normalise_domain},
    },
    error::{Error, Result},
    store::{
        Accounts, ListFilter, csms::Csms, overrides::Overrides, tiers::Tiers,
        touchpoints::Touchpoints,
    },
};

/// Most rows one BatchUpsertAccounts call takes.
pub const MAX_BATCH: usize = 1000;

/// The SegmentationService implementation.
#[derive(Debug, Clone)]
pub struct Handler {
    accounts: Accounts,
    tiers: Tiers,
    overrides: Overrides,
    csms: Csms,
    touchpoints: Touchpoints,
}

impl Handler {
    /// Handlers over the service's repositories.
    pub fn new(
        accounts: Accounts,
        tiers: Tiers,
        overrides: Overrides,
        csms: Csms,
        touchpoints: Touchpoints,
    ) -> Self {
        Self {
            accounts,
            tiers,
            overrides,
            csms,
            touchpoints,
        }
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn optional_filter(value: &str, field: &str, violations: &mut Violations) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        violations.check(field, validate::reference(value, "-_.:@/"))
    }
}

impl Handler {
    async fn create(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<pb::CreateAccountResponse> {
        let principal = principal(&request)?;
        principal.require(WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let fields = match &req.account {
            Some(account) => v.check("account", fields_from_proto(account)),
            None => {
                v.add("account", "is required");
                None
            }
        };
        let (Some(mut fields), true) = (fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        access::scope_fields(&principal, None, &mut fields)?;
        let key = IdempotencyKey::new(&principal, request_id, "CreateAccount", &req);
        self.accounts.create(key, &principal, fields).await
    }

    async fn get(&self, request: Request<pb::GetAccountRequest>) -> Result<pb::GetAccountResponse> {
        let principal = principal(&request)?;
        let mut v = Violations::new();
        let id = v.check("id", validate::resource_id(&request.get_ref().id));
        let id = v.finish(|| id.unwrap_or_default())?;
        let account = self
            .accounts
            .get(&id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(id.clone()))?;
        access::ensure_visible(&principal, &account)?;
        Ok(pb::GetAccountResponse {
            account: Some(account_to_proto(&account)),
        })
    }

    async fn list(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<pb::ListAccountsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let tier = v.check("tier", validate::known_enum::<Tier>(req.tier));
        let status = v.check(
            "lifecycle_status",
            validate::known_enum::<LifecycleStatus>(req.lifecycle_status),
        );
        let owner = optional_filter(&req.owner_csm_id, "owner_csm_id", &mut v);
        let partner = optional_filter(&req.partner_id, "partner_id", &mut v);
        let external_id = optional_filter(&req.external_id, "external_id", &mut v);
        let name_contains = match req.name_contains.as_str() {
            "" => None,
            text => v.check("name_contains", validate::text(text, 1, 200)),
        };
        let domain = match req.domain.as_str() {
            "" => None,
            text => {
                let normalised = normalise_domain(text);
                if normalised.is_none() {
                    v.add("domain", "is not a web domain such as acme.co.jp");
                }
                normalised
            }
        };
        let filter = ListFilter {
            tier: tier.filter(|t| *t != Tier::Unspecified).map(|t| t as i32),
            owner_csm_id: owner,
            partner_id: access::list_partner_filter(&principal, partner)?,
            lifecycle_status: status
                .filter(|s| *s != LifecycleStatus::Unspecified)
                .map(|s| s as i32),
            external_id,
            name_contains,
            domain,
        };
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filter))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (accounts, more) = self
            .accounts
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match accounts.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListAccountsResponse {
            accounts: accounts.iter().map(account_to_proto).collect(),
            next_page_token,
        })
    }

    async fn update(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<pb::UpdateAccountResponse> {
        let principal = principal(&request)?;
        principal.require(WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.account else {
            return Err(Error::Invalid(vec![Violation::new(
                "account",
                "is required",
            )]));
        };
        let id = v.check("account.id", validate::resource_id(&patch.id));
        let etag = v
            .check("account.etag", validate::etag(&patch.etag))
            .flatten();
        let paths = v.check("", mask_paths(req.update_mask.as_ref(), patch));
        let (id, paths) = v.finish(|| (id.unwrap_or_default(), paths.unwrap_or_default()))?;
        let key = IdempotencyKey::new(&principal, request_id, "UpdateAccount", &req);
        self.accounts
            .update(key, &principal, &id, etag, |current| {
                let mut merged = account_to_proto(current);
                apply_mask(&mut merged, patch, &paths);
                let mut fields = fields_from_proto(&merged).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("account")).collect())
                })?;
                access::scope_fields(&principal, Some(&current.fields), &mut fields)?;
                Ok(fields)
            })
            .await
    }

    async fn batch_upsert(
        &self,
        request: Request<pb::BatchUpsertAccountsRequest>,
    ) -> Result<pb::BatchUpsertAccountsResponse> {
        let principal = principal(&request)?;
        principal.require(BULK_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        if req.accounts.is_empty() || req.accounts.len() > MAX_BATCH {
            v.add(
                "accounts",
                format!(
                    "must hold 1 to {MAX_BATCH} accounts, not {}",
                    req.accounts.len()
                ),
            );
        }
        v.finish(|| ())?;
        let rows = req
            .accounts
            .iter()
            .map(|account| {
                let row = if account.external_id.is_empty() {
                    Err(vec![Violation::new(
                        "external_id",
                        "is required to match the account in an upsert",
                    )])
                } else {
                    fields_from_proto(account)
                };
                (account.external_id.clone(), row)
            })
            .collect();
        let key = IdempotencyKey::new(&principal, request_id, "BatchUpsertAccounts", &req);
        self.accounts.batch_upsert(key, &principal, rows).await
    }
}

#[tonic::async_trait]
impl SegmentationService for Handler {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        respond(self.create(request).await)
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        respond(self.get(request).await)
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        respond(self.list(request).await)
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::UpdateAccountResponse>, Status> {
        respond(self.update(request).await)
    }

    async fn batch_upsert_accounts(
        &self,
        request: Request<pb::BatchUpsertAccountsRequest>,
    ) -> Result<Response<pb::BatchUpsertAccountsResponse>, Status> {
        respond(self.batch_upsert(request).await)
    }

    async fn preview_tier_policy(
        &self,
        request: Request<pb::PreviewTierPolicyRequest>,
    ) -> Result<Response<pb::PreviewTierPolicyResponse>, Status> {
        respond(self.preview_policy(request).await)
    }

    async fn apply_tier_policy(
        &self,
        request: Request<pb::ApplyTierPolicyRequest>,
    ) -> Result<Response<pb::ApplyTierPolicyResponse>, Status> {
        respond(self.apply_policy(request).await)
    }

    async fn get_tier_policy(
        &self,
        request: Request<pb::GetTierPolicyRequest>,
    ) -> Result<Response<pb::GetTierPolicyResponse>, Status> {
        respond(self.get_policy(request).await)
    }

    async fn list_tier_policies(
        &self,
        request: Request<pb::ListTierPoliciesRequest>,
    ) -> Result<Response<pb::ListTierPoliciesResponse>, Status> {
        respond(self.list_policies(request).await)
    }

    async fn list_tier_changes(
        &self,
        request: Request<pb::ListTierChangesRequest>,
    ) -> Result<Response<pb::ListTierChangesResponse>, Status> {
        respond(self.tier_changes(request).await)
    }

    async fn get_tier_as_of(
        &self,
        request: Request<pb::GetTierAsOfRequest>,
    ) -> Result<Response<pb::GetTierAsOfResponse>, Status> {
        respond(self.tier_as_of(request).await)
    }

    async fn override_tier(
        &self,
        request: Request<pb::OverrideTierRequest>,
    ) -> Result<Response<pb::OverrideTierResponse>, Status> {
        respond(self.override_tier(request).await)
    }

    async fn list_tier_overrides(
        &self,
        request: Request<pb::ListTierOverridesRequest>,
    ) -> Result<Response<pb::ListTierOverridesResponse>, Status> {
        respond(self.list_overrides(request).await)
    }

    async fn create_csm(
        &self,
        request: Request<pb::CreateCsmRequest>,
    ) -> Result<Response<pb::CreateCsmResponse>, Status> {
        respond(self.create_csm(request).await)
    }

    async fn get_csm(
        &self,
        request: Request<pb::GetCsmRequest>,
    ) -> Result<Response<pb::GetCsmResponse>, Status> {
        respond(self.get_csm(request).await)
    }

    async fn list_csms(
        &self,
        request: Request<pb::ListCsmsRequest>,
    ) -> Result<Response<pb::ListCsmsResponse>, Status> {
        respond(self.list_csms(request).await)
    }

    async fn update_csm(
        &self,
        request: Request<pb::UpdateCsmRequest>,
    ) -> Result<Response<pb::UpdateCsmResponse>, Status> {
        respond(self.update_csm(request).await)
    }

    async fn assign_accounts(
        &self,
        request: Request<pb::AssignAccountsRequest>,
    ) -> Result<Response<pb::AssignAccountsResponse>, Status> {
        respond(self.assign(request).await)
    }

    async fn get_capacity_report(
        &self,
        request: Request<pb::GetCapacityReportRequest>,
    ) -> Result<Response<pb::GetCapacityReportResponse>, Status> {
        respond(self.capacity_report(request).await)
    }

    async fn record_touchpoint(
        &self,
        request: Request<pb::RecordTouchpointRequest>,
    ) -> Result<Response<pb::RecordTouchpointResponse>, Status> {
        respond(self.record_touchpoint(request).await)
    }

    async fn batch_record_touchpoints(
        &self,
        request: Request<pb::BatchRecordTouchpointsRequest>,
    ) -> Result<Response<pb::BatchRecordTouchpointsResponse>, Status> {
        respond(self.record_touchpoints(request).await)
    }

    async fn list_touchpoints(
        &self,
        request: Request<pb::ListTouchpointsRequest>,
    ) -> Result<Response<pb::ListTouchpointsResponse>, Status> {
        respond(self.list_touchpoints(request).await)
    }

    async fn get_coverage(
        &self,
        request: Request<pb::GetCoverageRequest>,
    ) -> Result<Response<pb::GetCoverageResponse>, Status> {
        respond(self.coverage(request).await)
    }

    async fn list_uncovered_accounts(
        &self,
        request: Request<pb::ListUncoveredAccountsRequest>,
    ) -> Result<Response<pb::ListUncoveredAccountsResponse>, Status> {
        respond(self.uncovered(request).await)
    }

    async fn plan_headcount(
        &self,
        request: Request<pb::PlanHeadcountRequest>,
    ) -> Result<Response<pb::PlanHeadcountResponse>, Status> {
        respond(self.plan_headcount(request).await)
    }

    async fn get_mix_report(
        &self,
        request: Request<pb::GetMixReportRequest>,
    ) -> Result<Response<pb::GetMixReportResponse>, Status> {
        respond(self.mix_report(request).await)
    }
}
