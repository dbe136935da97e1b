//! Handlers of the CSQL and opportunity RPCs and CS's expansion KPIs.

use themodel_platform::{
    Violation, Violations,
    auth::{Role, principal},
    client::CallContext,
    page_token,
    store::IdempotencyKey,
    validate::{self, request_id_field},
};
use themodel_proto::expansion as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        pipeline::{csql_to_proto, new_csql, opportunity_to_proto, reason},
        subscription::{References, new_subscription, term},
    },
    domain::{
        access::{CSQL_DECIDERS, CSQL_RAISERS},
        pipeline::{Csql, CsqlStatus, OpportunityStage, csql_stats},
        subscription::{money, terms_problem},
    },
    error::{Error, Result},
    store::{
        pipeline::{CsqlFilter, CsqlGroup, Sale},
        subscriptions::today,
    },
};

/// Id, etag and request id of a request acting on one resource.
fn target(
    id: &str,
    etag: &str,
    request_id: &str,
    v: &mut Violations,
) -> (Option<String>, Option<String>, Option<String>) {
    let request_id = request_id_field(request_id, v);
    let id = v.check("id", validate::resource_id(id));
    let etag = v
        .check("etag", validate::etag(etag))
        .flatten()
        .map(str::to_owned);
    (id, etag, request_id)
}

impl Handler {
    /// CSQL `id` as the caller may see it (NOT_FOUND otherwise), with its
    /// account.
    async fn visible_csql<T>(
        &self,
        request: &Request<T>,
        principal: &themodel_platform::auth::Principal,
        id: &str,
    ) -> Result<(Csql, themodel_platform::accounts::Account)> {
        let not_found = || Error::CsqlNotFound(id.to_owned());
        let csql = self.pipeline.get(id).await?.ok_or_else(not_found)?;
        let account = self
            .account_of(request, principal, &csql.account_id, not_found)
            .await?;
        Ok((csql, account))
    }

    pub(super) async fn create_csql(
        &self,
        request: Request<pb::CreateCsqlRequest>,
    ) -> Result<pb::CreateCsqlResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_RAISERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(csql) = &req.csql else {
            return Err(Error::Invalid(vec![Violation::new("csql", "is required")]));
        };
        let new = v.check("csql", new_csql(csql));
        let (Some(new), true) = (new, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        // A CSM raises its own CSQLs; anyone else names the CSM.
        let csm_id = match (principal.role, new.csm_id.clone()) {
            (Role::Csm, None) => principal.subject.clone(),
            (Role::Csm, Some(named)) if named != principal.subject => {
                return Err(Error::Api(themodel_platform::ApiError::PermissionDenied(
                    "a CSM raises CSQLs in its own name".into(),
                )));
            }
            (_, Some(named)) => named,
            (_, None) => {
                return Err(Error::Invalid(vec![Violation::new(
                    "csql.csm_id",
                    "is required when the caller is not the CSM",
                )]));
            }
        };
        self.products
            .get(&new.product_key)
            .await?
            .ok_or_else(|| Error::ProductNotFound(new.product_key.clone()))?;
        let account = self
            .visible_account(&request, &principal, &new.account_id)
            .await?;
        if let Some(qbr_id) = &new.qbr_id
            && self
                .qbrs
                .get(qbr_id)
                .await?
                .is_none_or(|q| q.account_id != account.id)
        {
            return Err(Error::QbrNotFound(qbr_id.clone()));
        }
        let team_id = self
            .accounts
            .csm_team(&CallContext::of(&request), &csm_id)
            .await?
            .unwrap_or_default();
        let now = crate::store::now();
        let csql = Csql {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            kind: new.kind,
            product_key: new.product_key,
            estimated_mrr: new.estimated_mrr,
            reason: new.reason,
            csm_id,
            team_id,
            tier: account.tier.as_str_name().to_owned(),
            qbr_id: new.qbr_id,
            status: CsqlStatus::Open,
            rejection_reason: None,
            opportunity_id: None,
            create_time: now,
            hand_off_time: None,
            decision_time: None,
            revision: 1,
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateCsql", req);
        self.pipeline
            .create(idempotency, csql, &account, today())
            .await
    }

    pub(super) async fn get_csql(
        &self,
        request: Request<pb::GetCsqlRequest>,
    ) -> Result<pb::GetCsqlResponse> {
        let principal = principal(&request)?;
        let id = validate::resource_id(&request.get_ref().id)
            .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed("id")).collect()))?;
        let (csql, _) = self.visible_csql(&request, &principal, &id).await?;
        Ok(pb::GetCsqlResponse {
            csql: Some(csql_to_proto(&csql)),
        })
    }

    pub(super) async fn list_csqls(
        &self,
        request: Request<pb::ListCsqlsRequest>,
    ) -> Result<pb::ListCsqlsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let status = match validate::known_enum::<CsqlStatus>(req.status) {
            Ok(CsqlStatus::Unspecified) => None,
            result => v.check("status", result),
        };
        let csm_id = (!req.csm_id.is_empty())
            .then(|| v.check("csm_id", validate::person_id(&req.csm_id)))
            .flatten();
        let filters = (&req.account_id, req.status, &req.csm_id);
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = CsqlFilter {
            account_id,
            status,
            csm_id,
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let (csqls, more) = self
            .pipeline
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match csqls.last() {
            Some(last) if more => page_token::encode(&last.id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListCsqlsResponse {
            csqls: csqls.iter().map(csql_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn hand_off_csql(
        &self,
        request: Request<pb::HandOffCsqlRequest>,
    ) -> Result<pb::HandOffCsqlResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_RAISERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let (id, etag, request_id) = target(&req.id, &req.etag, &req.request_id, &mut v);
        let (Some(id), true) = (id, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_csql(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "HandOffCsql", req);
        self.pipeline
            .hand_off(idempotency, &id, etag.as_deref())
            .await
    }

    pub(super) async fn accept_csql(
        &self,
        request: Request<pb::AcceptCsqlRequest>,
    ) -> Result<pb::AcceptCsqlResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_DECIDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let (id, etag, request_id) = target(&req.id, &req.etag, &req.request_id, &mut v);
        let (Some(id), true) = (id, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (_, account) = self.visible_csql(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "AcceptCsql", req);
        self.pipeline
            .accept(
                idempotency,
                &account,
                &id,
                etag.as_deref(),
                &principal.subject,
            )
            .await
    }

    pub(super) async fn reject_csql(
        &self,
        request: Request<pb::RejectCsqlRequest>,
    ) -> Result<pb::RejectCsqlResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_DECIDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let (id, etag, request_id) = target(&req.id, &req.etag, &req.request_id, &mut v);
        let why = v.check("reason", reason(&req.reason));
        let (Some(id), Some(why), true) = (id, why, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (_, account) = self.visible_csql(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "RejectCsql", req);
        self.pipeline
            .reject(idempotency, &account, &id, etag.as_deref(), why)
            .await
    }

    /// Opportunity `id` as the caller may see it, with its account.
    async fn visible_opportunity<T>(
        &self,
        request: &Request<T>,
        principal: &themodel_platform::auth::Principal,
        id: &str,
    ) -> Result<(
        crate::domain::pipeline::Opportunity,
        themodel_platform::accounts::Account,
    )> {
        let not_found = || Error::OpportunityNotFound(id.to_owned());
        let opp = self
            .pipeline
            .get_opportunity(id)
            .await?
            .ok_or_else(not_found)?;
        let account = self
            .account_of(request, principal, &opp.account_id, not_found)
            .await?;
        Ok((opp, account))
    }

    pub(super) async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<pb::GetOpportunityResponse> {
        let principal = principal(&request)?;
        let id = validate::resource_id(&request.get_ref().id)
            .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed("id")).collect()))?;
        let (opp, _) = self.visible_opportunity(&request, &principal, &id).await?;
        Ok(pb::GetOpportunityResponse {
            opportunity: Some(opportunity_to_proto(&opp)),
        })
    }

    pub(super) async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<pb::ListOpportunitiesResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let stage = match validate::known_enum::<OpportunityStage>(req.stage) {
            Ok(OpportunityStage::Unspecified) => None,
            result => v.check("stage", result),
        };
        let filters = (&req.account_id, req.stage);
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let (opportunities, more) = self
            .pipeline
            .list_opportunities(
                account_id.as_deref(),
                stage,
                principal.partner_scope(),
                after.as_deref(),
                page_size,
            )
            .await?;
        let next_page_token = match opportunities.last() {
            Some(last) if more => page_token::encode(&last.id, &filters),
            _ => String::new(),
        };
        Ok(pb::ListOpportunitiesResponse {
            opportunities: opportunities.iter().map(opportunity_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn win_opportunity(
        &self,
        request: Request<pb::WinOpportunityRequest>,
    ) -> Result<pb::WinOpportunityResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_DECIDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let (id, etag, request_id) = target(&req.id, &req.etag, &req.request_id, &mut v);
        let subscription_id = (!req.subscription_id.is_empty())
            .then(|| {
                v.check(
                    "subscription_id",
                    validate::resource_id(&req.subscription_id),
                )
            })
            .flatten();
        if req.term.is_none() {
            v.add(
                "term",
                "is required: a won opportunity names the term it sold",
            );
        }
        let (Some(id), Some(sold), true) = (id, req.term.as_ref(), v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (opp, account) = self.visible_opportunity(&request, &principal, &id).await?;
        let sale = match subscription_id {
            Some(subscription_id) => {
                let sub = self
                    .subscriptions
                    .get(&subscription_id)
                    .await?
                    .filter(|s| s.fields.account_id == account.id)
                    .ok_or_else(|| Error::SubscriptionNotFound(subscription_id.clone()))?;
                let (_, plan) = self
                    .plan(&sub.fields.product_key, &sub.fields.plan_key)
                    .await?;
                let term = term(sold, &plan, Some(sub.currency())).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("term")).collect())
                })?;
                Sale::Upsell {
                    subscription_id,
                    term,
                }
            }
            None => {
                let plan_key = crate::convert::key(&req.plan_key).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("plan_key")).collect())
                })?;
                let (_, plan) = self.plan(&opp.product_key, &plan_key).await?;
                let term = term(sold, &plan, None).map_err(|vs| {
                    Error::Invalid(vs.into_iter().map(|v| v.prefixed("term")).collect())
                })?;
                if let Some((_, problem)) = terms_problem(std::slice::from_ref(&term)) {
                    return Err(Error::Invalid(vec![Violation::new("term", problem)]));
                }
                Sale::CrossSell(new_subscription(
                    References {
                        external_id: None,
                        account_id: account.id.clone(),
                        product_key: opp.product_key.clone(),
                        plan_key,
                    },
                    vec![term],
                ))
            }
        };
        let idempotency = IdempotencyKey::new(&principal, request_id, "WinOpportunity", req);
        self.pipeline
            .win(idempotency, &account, &id, etag.as_deref(), sale, today())
            .await
    }

    pub(super) async fn lose_opportunity(
        &self,
        request: Request<pb::LoseOpportunityRequest>,
    ) -> Result<pb::LoseOpportunityResponse> {
        let principal = principal(&request)?;
        principal.require(CSQL_DECIDERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let (id, etag, request_id) = target(&req.id, &req.etag, &req.request_id, &mut v);
        let why = v.check("reason", reason(&req.reason));
        let (Some(id), Some(why), true) = (id, why, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (_, account) = self.visible_opportunity(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "LoseOpportunity", req);
        self.pipeline
            .lose(idempotency, &account, &id, etag.as_deref(), why, today())
            .await
    }

    pub(super) async fn get_csql_report(
        &self,
        request: Request<pb::GetCsqlReportRequest>,
    ) -> Result<pb::GetCsqlReportResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut day = |field: &str, date: Option<&themodel_proto::common::Date>| match date {
            Some(date) => v.check(field, validate::date(date)),
            None => {
                v.add(field, "is required");
                None
            }
        };
        let start = day("start_date", req.start_date.as_ref());
        let end = day("end_date", req.end_date.as_ref());
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            v.add("end_date", format!("{end} is before start_date {start}"));
        }
        let group = match validate::known_enum::<pb::CsqlGrouping>(req.group_by) {
            Ok(pb::CsqlGrouping::Unspecified) => Some(CsqlGroup::Whole),
            Ok(pb::CsqlGrouping::Csm) => Some(CsqlGroup::Csm),
            Ok(pb::CsqlGrouping::Team) => Some(CsqlGroup::Team),
            Ok(pb::CsqlGrouping::Tier) => Some(CsqlGroup::Tier),
            Ok(pb::CsqlGrouping::Partner) => Some(CsqlGroup::Partner),
            Err(vs) => {
                v.extend_prefixed("group_by", vs);
                None
            }
        };
        let (Some(start), Some(end), Some(group), true) = (start, end, group, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let micros = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp_micros())
        };
        let until = end.succ_opt().unwrap_or(end);
        let (facts, currencies) = self
            .pipeline
            .facts(
                micros(start),
                micros(until),
                group,
                principal.partner_scope(),
            )
            .await?;
        if currencies.len() > 1 {
            return Err(Error::MixedCurrencies(currencies.join(", ")));
        }
        let currency = currencies.first().cloned().unwrap_or_default();
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(pb::GetCsqlReportResponse {
            groups: csql_stats(facts)
                .into_iter()
                .map(|s| pb::CsqlStats {
                    acceptance_rate_basis_points: s.acceptance_rate_bp(),
                    win_rate_basis_points: s.win_rate_bp(),
                    pipeline_value: Some(money(&currency, s.pipeline).to_proto()),
                    created: count(s.created),
                    handed_off: count(s.handed_off),
                    accepted: count(s.accepted),
                    rejected: count(s.rejected),
                    won: count(s.won),
                    lost: count(s.lost),
                    group: s.group,
                })
                .collect(),
        })
    }
}
