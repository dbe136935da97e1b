//! Handlers of the touchpoint and coverage RPCs.

use chrono::{DateTime, Utc};
use prost::Message;
use serde::Serialize;
use themodel_platform::{
    Violations,
    auth::Principal,
    auth::principal,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::segmentation as pb;
use tonic::Request;

use super::{Handler, MAX_BATCH};
use crate::{
    convert::{
        REFERENCE_CHARS,
        touchpoint::{coverage_to_proto, instant, targets_from_proto, touchpoint_from_proto},
    },
    domain::{
        access::{BULK_WRITERS, WRITERS},
        account::Tier,
        coverage::summarise,
    },
    error::{Error, Result},
    store::touchpoints::{TouchpointFilter, sort_key, uncovered, uncovered_to_proto},
};

/// The as-of instant of a request: the one given, or now.
fn as_of(value: Option<&prost_types::Timestamp>, v: &mut Violations) -> Option<DateTime<Utc>> {
    match value {
        Some(t) => v.check("as_of", instant(t)),
        None => Some(Utc::now()),
    }
}

fn optional_id(
    value: &str,
    field: &str,
    v: &mut Violations,
    check: fn(&str) -> bool,
) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if check(value) {
        Some(value.to_owned())
    } else {
        v.add(field, "is not a valid id");
        None
    }
}

fn is_resource_id(value: &str) -> bool {
    validate::resource_id(value).is_ok()
}

fn is_csm_id(value: &str) -> bool {
    validate::reference(value, REFERENCE_CHARS).is_ok()
}

/// What an uncovered listing's page token is bound to.
#[derive(Serialize)]
struct UncoveredQuery {
    as_of: Option<(i64, i32)>,
    tier: i32,
    owner: String,
    targets: Vec<u8>,
}

impl Handler {
    pub(super) async fn record_touchpoint(
        &self,
        request: Request<pb::RecordTouchpointRequest>,
    ) -> Result<pb::RecordTouchpointResponse> {
        let principal = principal(&request)?;
        principal.require(WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let fields = match &req.touchpoint {
            Some(t) => v.check("touchpoint", touchpoint_from_proto(t, Utc::now())),
            None => {
                v.add("touchpoint", "is required");
                None
            }
        };
        let (Some(fields), true) = (fields, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        // As for accounts: the CRM activity id is written by CRM sync, and
        // whether a value is taken would tell a partner about another's
        // touchpoints.
        if principal.partner_scope().is_some()
            && req
                .touchpoint
                .as_ref()
                .is_some_and(|t| !t.external_id.is_empty())
        {
            return Err(Error::Api(themodel_platform::ApiError::PermissionDenied(
                "partner users may not set external_id (the CRM activity id); CRM sync sets it"
                    .into(),
            )));
        }
        let key = IdempotencyKey::new(&principal, request_id, "RecordTouchpoint", &req);
        self.touchpoints.record(key, &principal, fields).await
    }

    pub(super) async fn record_touchpoints(
        &self,
        request: Request<pb::BatchRecordTouchpointsRequest>,
    ) -> Result<pb::BatchRecordTouchpointsResponse> {
        let principal = principal(&request)?;
        principal.require(BULK_WRITERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        if req.touchpoints.is_empty() || req.touchpoints.len() > MAX_BATCH {
            v.add(
                "touchpoints",
                format!(
                    "must hold 1 to {MAX_BATCH} touchpoints, not {}",
                    req.touchpoints.len()
                ),
            );
        }
        v.finish(|| ())?;
        let now = Utc::now();
        let rows = req
            .touchpoints
            .iter()
            .map(|t| touchpoint_from_proto(t, now))
            .collect();
        let key = IdempotencyKey::new(&principal, request_id, "BatchRecordTouchpoints", &req);
        self.touchpoints.record_batch(key, rows).await
    }

    pub(super) async fn list_touchpoints(
        &self,
        request: Request<pb::ListTouchpointsRequest>,
    ) -> Result<pb::ListTouchpointsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let filter = TouchpointFilter {
            account_id: optional_id(&req.account_id, "account_id", &mut v, is_resource_id),
            csm_id: optional_id(&req.csm_id, "csm_id", &mut v, is_csm_id),
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let before = v
            .check(
                "",
                page_token::decode::<(i64, String)>(&req.page_token, &filter),
            )
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (touchpoints, more) = self
            .touchpoints
            .list(&filter, before.as_ref(), page_size)
            .await?;
        let next_page_token = match touchpoints.last() {
            Some((time, last)) if more => page_token::encode(&(time, &last.id), &filter),
            _ => String::new(),
        };
        Ok(pb::ListTouchpointsResponse {
            touchpoints: touchpoints.into_iter().map(|(_, t)| t).collect(),
            next_page_token,
        })
    }

    pub(super) async fn coverage(
        &self,
        request: Request<pb::GetCoverageRequest>,
    ) -> Result<pb::GetCoverageResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let as_of = as_of(req.as_of.as_ref(), &mut v);
        let targets = v.check("", targets_from_proto(&req.targets));
        let (Some(as_of), Some(targets), true) = (as_of, targets, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let tallies = self
            .touchpoints
            .tallies(as_of, principal.partner_scope(), &targets)
            .await?;
        Ok(coverage_to_proto(&summarise(tallies, &targets), as_of))
    }

    pub(super) async fn uncovered(
        &self,
        request: Request<pb::ListUncoveredAccountsRequest>,
    ) -> Result<pb::ListUncoveredAccountsResponse> {
        let principal: Principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let tier = v.check("tier", validate::known_enum::<Tier>(req.tier));
        let owner = optional_id(&req.owner_csm_id, "owner_csm_id", &mut v, is_csm_id);
        let targets = v.check("", targets_from_proto(&req.targets));
        let requested = as_of(req.as_of.as_ref(), &mut v);
        let query = UncoveredQuery {
            as_of: req.as_of.map(|t| (t.seconds, t.nanos)),
            tier: req.tier,
            owner: req.owner_csm_id.clone(),
            targets: req.targets.iter().flat_map(|t| t.encode_to_vec()).collect(),
        };
        // The first page fixes the instant, so later pages of "now" agree.
        let position = v
            .check(
                "",
                page_token::decode::<(i64, i64, String)>(&req.page_token, &query),
            )
            .flatten();
        let (Some(page_size), Some(tier), Some(targets), Some(requested), true) =
            (page_size, tier, targets, requested, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let as_of = position
            .as_ref()
            .and_then(|(at, _, _)| DateTime::from_timestamp_micros(*at))
            .unwrap_or(requested);
        let customers = self
            .touchpoints
            .customers(as_of, principal.partner_scope())
            .await?;
        let mut page: Vec<_> = uncovered(customers, as_of, &targets)
            .into_iter()
            .filter(|c| tier == Tier::Unspecified || c.covered.tier == tier)
            .filter(|c| owner.is_none() || c.covered.owner == owner)
            .filter(|c| {
                position
                    .as_ref()
                    .is_none_or(|(_, key, id)| (sort_key(c), &c.covered.id) > (*key, id))
            })
            .take(page_size as usize + 1)
            .collect();
        let more = page.len() as u64 > page_size;
        page.truncate(page_size as usize);
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(
                &(as_of.timestamp_micros(), sort_key(last), &last.covered.id),
                &query,
            ),
            _ => String::new(),
        };
        Ok(pb::ListUncoveredAccountsResponse {
            accounts: page.iter().map(|c| uncovered_to_proto(c, as_of)).collect(),
            next_page_token,
        })
    }
}
