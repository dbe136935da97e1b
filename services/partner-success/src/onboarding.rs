//! What the service learns of how its partners' accounts are onboarded,
//! through the onboarding service's contract (never its database): one
//! completion report per stage, grouped by partner, gives every partner's
//! completion rate within the target period in one call. The scorecards
//! read it for a page of partners, the tier program for every partner.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use themodel_platform::{
    auth::{Principal, Role},
    client::{CORRELATION_HEADER, CallContext, Clients, Retry},
    registry, validate,
};
use themodel_proto::onboarding::{
    CompletionGroup, CompletionGrouping, GetCompletionReportRequest, Stage,
    onboarding_service_client::OnboardingServiceClient,
};

use crate::error::{Error, Result};

/// The roles the onboarding service gives its completion report to (its
/// contract: admin, bizops and cs_manager).
pub const REPORT_READERS: &[Role] = &[Role::Admin, Role::Bizops, Role::CsManager];

/// The context to ask the onboarding service for its completion report in,
/// for a request whose own context is `ctx`: the caller's own (delegated)
/// when its role may read the report, else the service's.
///
/// Every role reads scorecards, but the onboarding service gives its report
/// to admin, bizops and cs_manager alone, so a delegated call of a CSM, of
/// customer sales or of a partner user would be refused and fail their
/// scorecard. For them the service asks as itself: the report does not
/// depend on who asks (it counts every partner's plans), and the scorecards
/// keep the groups of the partners they are built for alone (a partner
/// user's page holds its own partner only), so no caller learns more than
/// its scorecards show. This relies on the onboarding service giving the
/// report to service callers too. The call keeps the request's deadline,
/// trace context and correlation id.
pub fn report_context<T>(request: &tonic::Request<T>, ctx: &CallContext) -> CallContext {
    let delegable = request
        .extensions()
        .get::<Principal>()
        .is_some_and(|p| REPORT_READERS.contains(&p.role));
    if delegable {
        return ctx.clone();
    }
    // A context of the same request without its caller is the service's.
    let mut bare = tonic::Request::new(());
    *bare.metadata_mut() = request.metadata().clone();
    if let Ok(id) = ctx.correlation_id().parse() {
        bare.metadata_mut().insert(CORRELATION_HEADER, id);
    }
    CallContext::of(&bare)
}

/// The onboarding service's completion reports, as this service reads them.
#[derive(Debug, Clone)]
pub struct Onboarding {
    clients: Clients,
}

impl Onboarding {
    /// Asks the onboarding service through `clients`.
    pub fn new(clients: Clients) -> Self {
        Self { clients }
    }

    /// The completion of `stage` by each of `partner_ids` among the plans
    /// whose target date for it falls in `period` (its first and last day,
    /// inclusive), by partner id; partners with no plan due are absent. One call, made in
    /// `ctx`; only the groups of `partner_ids` are kept.
    pub async fn completion_by_partner(
        &self,
        ctx: &CallContext,
        stage: Stage,
        period: (NaiveDate, NaiveDate),
        partner_ids: &[String],
    ) -> Result<BTreeMap<String, CompletionGroup>> {
        if partner_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let asked: BTreeSet<&str> = partner_ids.iter().map(String::as_str).collect();
        self.completion(ctx, stage, period, |partner_id| asked.contains(partner_id))
            .await
    }

    /// The completion of `stage` by every partner (or by `only`) among the
    /// plans whose target date for it falls in `period` (its first and last
    /// day, inclusive), by partner id; partners with no plan due are absent.
    /// One call, made in `ctx`, whatever the number of partners.
    pub async fn completion_of_partners(
        &self,
        ctx: &CallContext,
        stage: Stage,
        period: (NaiveDate, NaiveDate),
        only: Option<&str>,
    ) -> Result<BTreeMap<String, CompletionGroup>> {
        self.completion(ctx, stage, period, |partner_id| {
            // Plans of accounts without a partner are grouped under "".
            !partner_id.is_empty() && only.is_none_or(|only| only == partner_id)
        })
        .await
    }

    /// The one call of the report, keeping the groups of the partners
    /// `keep` accepts.
    async fn completion(
        &self,
        ctx: &CallContext,
        stage: Stage,
        (start, end): (NaiveDate, NaiveDate),
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, CompletionGroup>> {
        let report = self
            .clients
            .call(
                ctx,
                registry::ONBOARDING.name,
                "GetCompletionReport",
                Retry::Safe,
                GetCompletionReportRequest {
                    start_date: Some(validate::date_to_proto(start)),
                    end_date: Some(validate::date_to_proto(end)),
                    stage: stage as i32,
                    group_by: CompletionGrouping::Partner as i32,
                },
                |channel, request| async move {
                    OnboardingServiceClient::new(channel)
                        .get_completion_report(request)
                        .await
                },
            )
            .await
            .map_err(|status| {
                Error::from_peer(registry::ONBOARDING.name, "onboarding completion", status)
            })?;
        Ok(report
            .groups
            .into_iter()
            // The report covers every partner (and plans without one, under
            // ""): keep those asked for.
            .filter(|group| keep(&group.group))
            .map(|group| (group.group.clone(), group))
            .collect())
    }
}
