//! Handlers of the CSM and book-of-business RPCs.

use themodel_platform::{
    Violations,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::segmentation as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        REFERENCE_CHARS,
        csm::{
            apply_csm_mask, csm_fields_from_proto, csm_mask_paths, csm_to_proto, report_to_proto,
        },
    },
    domain::{
        access::{ASSIGNERS, CSM_WRITERS, POLICY_READERS},
        account::Tier,
    },
    error::{Error, Result},
    grpc::MAX_BATCH,
    store::csms::CsmFilter,
};

/// Suggested moves a capacity report returns by default, and at most.
const DEFAULT_MOVES: usize = 1000;
const MAX_MOVES: usize = 10_000;

/// A date from the request, or today (UTC) when unset.
fn date_or_today(
    date: Option<&themodel_proto::common::Date>,
    field: &str,
    v: &mut Violations,
) -> Option<chrono::NaiveDate> {
    match date {
        Some(d) => v.check(field, validate::date(d)),
        None => Some(chrono::Utc::now().date_naive()),
    }
}

fn csm_id(value: &str, field: &str, v: &mut Violations) -> Option<String> {
    v.check(field, validate::reference(value, REFERENCE_CHARS))
}

impl Handler {
    pub(super) async fn create_csm(
        &self,
        request: Request<pb::CreateCsmRequest>,
    ) -> Result<pb::CreateCsmResponse> {
        let principal = principal(&request)?;
        principal.require(CSM_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let (id, fields) = match &req.csm {
            Some(csm) => (
                csm_id(&csm.id, "csm.id", &mut v),
                v.check("csm", csm_fields_from_proto(csm)),
            ),
            None => {
                v.add("csm", "is required");
                (None, None)
            }
        };
        let start = date_or_today(req.team_start_date.as_ref(), "team_start_date", &mut v);
        let (Some(id), Some(fields), Some(start), true) = (id, fields, start, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let key = IdempotencyKey::new(&principal, request_id, "CreateCsm", &req);
        self.csms.create(key, id, fields, start).await
    }

    pub(super) async fn get_csm(
        &self,
        request: Request<pb::GetCsmRequest>,
    ) -> Result<pb::GetCsmResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let mut v = Violations::new();
        let id = csm_id(&request.get_ref().id, "id", &mut v);
        let id = v.finish(|| id.unwrap_or_default())?;
        let csm = self
            .csms
            .get(&id)
            .await?
            .ok_or_else(|| Error::CsmNotFound(id.clone()))?;
        Ok(pb::GetCsmResponse {
            csm: Some(csm_to_proto(&csm)),
        })
    }

    pub(super) async fn list_csms(
        &self,
        request: Request<pb::ListCsmsRequest>,
    ) -> Result<pb::ListCsmsResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let tier = v.check("tier", validate::known_enum::<Tier>(req.tier));
        let team_id = if req.team_id.is_empty() {
            None
        } else {
            csm_id(&req.team_id, "team_id", &mut v)
        };
        let filter = CsmFilter {
            team_id,
            tier: tier.filter(|t| *t != Tier::Unspecified).map(|t| t as i32),
        };
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filter))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (csms, more) = self.csms.list(&filter, after.as_deref(), page_size).await?;
        let next_page_token = match csms.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        Ok(pb::ListCsmsResponse {
            csms: csms.iter().map(csm_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_csm(
        &self,
        request: Request<pb::UpdateCsmRequest>,
    ) -> Result<pb::UpdateCsmResponse> {
        let principal = principal(&request)?;
        principal.require(CSM_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(patch) = &req.csm else {
            return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                "csm",
                "is required",
            )]));
        };
        let id = csm_id(&patch.id, "csm.id", &mut v);
        let etag = v.check("csm.etag", validate::etag(&patch.etag)).flatten();
        let paths = v.check("", csm_mask_paths(req.update_mask.as_ref()));
        let on = date_or_today(req.team_change_date.as_ref(), "team_change_date", &mut v);
        let (Some(id), Some(paths), Some(on), true) = (id, paths, on, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let key = IdempotencyKey::new(&principal, request_id, "UpdateCsm", &req);
        self.csms
            .update(key, &id, etag, on, |current| {
                let mut merged = csm_to_proto(current);
                apply_csm_mask(&mut merged, patch, &paths);
                csm_fields_from_proto(&merged).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("csm")).collect())
                })
            })
            .await
    }

    pub(super) async fn assign(
        &self,
        request: Request<pb::AssignAccountsRequest>,
    ) -> Result<pb::AssignAccountsResponse> {
        let principal = principal(&request)?;
        principal.require(ASSIGNERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let csm = csm_id(&req.csm_id, "csm_id", &mut v);
        if req.account_ids.is_empty() || req.account_ids.len() > MAX_BATCH {
            v.add(
                "account_ids",
                format!(
                    "must hold 1 to {MAX_BATCH} ids, not {}",
                    req.account_ids.len()
                ),
            );
        }
        for (i, id) in req.account_ids.iter().enumerate() {
            v.check(&format!("account_ids[{i}]"), validate::resource_id(id));
        }
        let (Some(csm), true) = (csm, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let key = IdempotencyKey::new(&principal, request_id, "AssignAccounts", &req);
        self.accounts
            .assign(key, &principal, &csm, &req.account_ids)
            .await
    }

    pub(super) async fn capacity_report(
        &self,
        request: Request<pb::GetCapacityReportRequest>,
    ) -> Result<pb::GetCapacityReportResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let max_moves = match request.get_ref().max_moves {
            0 => DEFAULT_MOVES,
            n if n > 0 => (n as usize).min(MAX_MOVES),
            _ => {
                return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                    "max_moves",
                    "must not be negative",
                )]));
            }
        };
        Ok(report_to_proto(self.csms.report().await?, max_moves))
    }
}
