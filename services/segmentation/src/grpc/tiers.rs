//! Handlers of the tier policy RPCs.

use prost::Message;
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
    convert::policy::{rules_from_proto, rules_to_proto},
    domain::{
        access::{self, OVERRIDE_APPROVERS, POLICY_APPLIERS, POLICY_PREVIEWERS, POLICY_READERS},
        account::Tier,
    },
    error::{Error, Result},
    store::overrides::OverrideFilter,
};

use pb::OverrideState;

/// Longest reason an apply or an override may give.
const MAX_REASON_LEN: usize = 500;

impl Handler {
    pub(super) async fn preview_policy(
        &self,
        request: Request<pb::PreviewTierPolicyRequest>,
    ) -> Result<pb::PreviewTierPolicyResponse> {
        principal(&request)?.require(POLICY_PREVIEWERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let rules = v.check("", rules_from_proto(req.rules.as_ref()));
        // A token belongs to the rules it paged, however they were spelled.
        let fingerprint = rules.as_ref().map(|r| rules_to_proto(r).encode_to_vec());
        let after = v
            .check(
                "",
                page_token::decode::<String>(&req.page_token, &fingerprint),
            )
            .flatten();
        let (Some(rules), Some(page_size), true) = (rules, page_size, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (policy, page, more) = self
            .tiers
            .preview(&rules, after.as_deref(), page_size as usize)
            .await?;
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(&last.account_id, &fingerprint),
            _ => String::new(),
        };
        Ok(pb::PreviewTierPolicyResponse {
            policy: Some(policy),
            moves: page,
            next_page_token,
        })
    }

    pub(super) async fn apply_policy(
        &self,
        request: Request<pb::ApplyTierPolicyRequest>,
    ) -> Result<pb::ApplyTierPolicyResponse> {
        let principal = principal(&request)?;
        principal.require(POLICY_APPLIERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let rules = v.check("", rules_from_proto(req.rules.as_ref()));
        let reason = v.check("reason", validate::text(&req.reason, 0, MAX_REASON_LEN));
        let (Some(rules), Some(reason), true) = (rules, reason, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let key = IdempotencyKey::new(&principal, request_id, "ApplyTierPolicy", &req);
        self.tiers.apply(key, &principal, &rules, reason).await
    }

    pub(super) async fn get_policy(
        &self,
        request: Request<pb::GetTierPolicyRequest>,
    ) -> Result<pb::GetTierPolicyResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let version = request.get_ref().version;
        if version < 0 {
            return Err(Error::Invalid(vec![themodel_platform::Violation::new(
                "version",
                "must not be negative (0 is the current version)",
            )]));
        }
        let policy = self
            .tiers
            .get(version)
            .await?
            .ok_or(Error::PolicyNotFound(version))?;
        Ok(pb::GetTierPolicyResponse {
            policy: Some(policy),
        })
    }

    pub(super) async fn list_policies(
        &self,
        request: Request<pb::ListTierPoliciesRequest>,
    ) -> Result<pb::ListTierPoliciesResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let before = v
            .check("", page_token::decode::<i32>(&req.page_token, &()))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (policies, more) = self.tiers.list(before, page_size).await?;
        let next_page_token = match policies.last() {
            Some(last) if more => page_token::encode(&last.version, &()),
            _ => String::new(),
        };
        Ok(pb::ListTierPoliciesResponse {
            policies,
            next_page_token,
        })
    }

    pub(super) async fn tier_changes(
        &self,
        request: Request<pb::ListTierChangesRequest>,
    ) -> Result<pb::ListTierChangesResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let before = v
            .check(
                "",
                page_token::decode::<(i64, String)>(&req.page_token, &req.account_id),
            )
            .flatten();
        let (account_id, page_size) = v.finish(|| {
            (
                account_id.unwrap_or_default(),
                page_size.unwrap_or_default(),
            )
        })?;
        self.ensure_account_visible(&principal, &account_id).await?;
        let (changes, more) = self
            .tiers
            .changes(&account_id, before.as_ref(), page_size)
            .await?;
        let next_page_token = match changes.last() {
            Some((time, id, _)) if more => page_token::encode(&(time, id), &account_id),
            _ => String::new(),
        };
        Ok(pb::ListTierChangesResponse {
            changes: changes.into_iter().map(|(_, _, change)| change).collect(),
            next_page_token,
        })
    }

    pub(super) async fn tier_as_of(
        &self,
        request: Request<pb::GetTierAsOfRequest>,
    ) -> Result<pb::GetTierAsOfResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let at = match req.as_of {
            None => Some(chrono::Utc::now().timestamp_micros()),
            Some(t) => {
                let at = chrono::DateTime::from_timestamp(
                    t.seconds,
                    u32::try_from(t.nanos).unwrap_or(u32::MAX),
                )
                .map(|t| t.timestamp_micros());
                if at.is_none() {
                    v.add("as_of", "is not a valid timestamp");
                }
                at
            }
        };
        let (account_id, at) =
            v.finish(|| (account_id.unwrap_or_default(), at.unwrap_or_default()))?;
        self.ensure_account_visible(&principal, &account_id).await?;
        let change = self.tiers.as_of(&account_id, at).await?;
        Ok(pb::GetTierAsOfResponse {
            tier: change.as_ref().map_or(0, |c| c.new_tier),
            change,
        })
    }

    pub(super) async fn override_tier(
        &self,
        request: Request<pb::OverrideTierRequest>,
    ) -> Result<pb::OverrideTierResponse> {
        let principal = principal(&request)?;
        principal.require(OVERRIDE_APPROVERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let tier = match validate::known_enum::<Tier>(req.tier) {
            Ok(Tier::Unspecified) => {
                v.add("tier", "is required");
                None
            }
            result => v.check("tier", result),
        };
        let reason = v.check("reason", validate::text(&req.reason, 1, MAX_REASON_LEN));
        let (Some(account_id), Some(tier), Some(reason), true) =
            (account_id, tier, reason, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let key = IdempotencyKey::new(&principal, request_id, "OverrideTier", &req);
        self.overrides
            .create(key, &principal, &account_id, tier, reason)
            .await
    }

    pub(super) async fn list_overrides(
        &self,
        request: Request<pb::ListTierOverridesRequest>,
    ) -> Result<pb::ListTierOverridesResponse> {
        principal(&request)?.require(POLICY_READERS)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let state = v.check("state", validate::known_enum::<OverrideState>(req.state));
        let account_id = if req.account_id.is_empty() {
            None
        } else {
            v.check("account_id", validate::resource_id(&req.account_id))
        };
        let filter = OverrideFilter {
            state: state
                .filter(|s| *s != OverrideState::Unspecified)
                .map(|s| s as i32),
            account_id,
        };
        let before = v
            .check("", page_token::decode::<String>(&req.page_token, &filter))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (overrides, more) = self
            .overrides
            .list(&filter, before.as_deref(), page_size)
            .await?;
        let share = self.overrides.share().await?;
        let next_page_token = match overrides.last() {
            Some(last) if more => page_token::encode(&last.id, &filter),
            _ => String::new(),
        };
        let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(pb::ListTierOverridesResponse {
            overrides,
            next_page_token,
            active_count: clamp(share.active),
            ranked_count: clamp(share.ranked),
            active_share_basis_points: clamp(
                (share.active * 10_000)
                    .checked_div(share.ranked)
                    .unwrap_or(0),
            ),
        })
    }

    /// NOT_FOUND unless the account exists and the caller may see it.
    async fn ensure_account_visible(
        &self,
        principal: &themodel_platform::auth::Principal,
        id: &str,
    ) -> Result<()> {
        let account = self
            .accounts
            .get(id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(id.to_owned()))?;
        Ok(access::ensure_visible(principal, &account)?)
    }
}
