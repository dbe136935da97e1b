//! Handlers of the partner scorecard RPCs.

use serde::Serialize;
use themodel_platform::{Violations, auth::principal, client::CallContext, page_token, validate};
use themodel_proto::partner_success as pb;
use tonic::Request;

use super::Handler;
use crate::{
    convert::{
        partner_id,
        scorecard::{optional_currency, period},
    },
    domain::{access::can_see, partner::PartnerStatus, scorecard::Period},
    error::{Error, Result},
    onboarding::report_context,
    store::{PartnerFilter, scorecards::Ask, today},
};

/// What a page token of a scorecard listing is bound to.
#[derive(Debug, Serialize)]
struct Listing<'a> {
    start: String,
    end: String,
    currency: Option<&'a str>,
    partners: &'a PartnerFilter,
}

impl<'a> Listing<'a> {
    fn of(period: &Period, currency: Option<&'a str>, partners: &'a PartnerFilter) -> Self {
        Self {
            start: period.start.to_string(),
            end: period.end.to_string(),
            currency,
            partners,
        }
    }
}

impl Handler {
    pub(super) async fn get_partner_scorecard(
        &self,
        request: Request<pb::GetPartnerScorecardRequest>,
    ) -> Result<pb::GetPartnerScorecardResponse> {
        let principal = principal(&request)?;
        let ctx = CallContext::of(&request);
        let onboarding = report_context(&request, &ctx);
        let req = request.get_ref();
        let mut v = Violations::new();
        let id = v.check("partner_id", partner_id(&req.partner_id));
        let period = period(req.start_date.as_ref(), req.end_date.as_ref(), &mut v);
        let currency = optional_currency(&req.currency_code, "currency_code", &mut v);
        let (Some(id), Some(period), Some(currency), true) = (id, period, currency, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        // Another partner's id is as unknown to a partner user as a missing one.
        let partner = if can_see(&principal, &id) {
            self.partners.get(&id).await?
        } else {
            None
        };
        let partner = partner.ok_or(Error::PartnerNotFound(id))?;
        let ask = Ask {
            period,
            currency: currency.as_deref(),
            scope: principal.partner_scope(),
            single: true,
            today: today(),
            onboarding: &onboarding,
        };
        let scorecard = self
            .scorecards
            .of(&ctx, std::slice::from_ref(&partner), ask)
            .await?
            .pop();
        Ok(pb::GetPartnerScorecardResponse { scorecard })
    }

    pub(super) async fn list_partner_scorecards(
        &self,
        request: Request<pb::ListPartnerScorecardsRequest>,
    ) -> Result<pb::ListPartnerScorecardsResponse> {
        let principal = principal(&request)?;
        let ctx = CallContext::of(&request);
        let onboarding = report_context(&request, &ctx);
        let req = request.get_ref();
        let mut v = Violations::new();
        let period = period(req.start_date.as_ref(), req.end_date.as_ref(), &mut v);
        let currency = optional_currency(&req.currency_code, "currency_code", &mut v);
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let partners = PartnerFilter {
            partner_id: principal.partner_scope().map(str::to_owned),
            status: Some(PartnerStatus::Active as i32),
            contract_form: None,
        };
        // The token is checked once the period and currency it is bound to
        // are known to be valid.
        let after = match (&period, &currency) {
            (Some(period), Some(currency)) => {
                let listing = Listing::of(period, currency.as_deref(), &partners);
                v.check("", page_token::decode::<String>(&req.page_token, &listing))
                    .flatten()
            }
            _ => None,
        };
        let (Some(period), Some(currency), Some(page_size), true) =
            (period, currency, page_size, v.is_empty())
        else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (page, more) = self
            .partners
            .list(&partners, after.as_deref(), page_size)
            .await?;
        let ask = Ask {
            period,
            currency: currency.as_deref(),
            scope: principal.partner_scope(),
            single: false,
            today: today(),
            onboarding: &onboarding,
        };
        let scorecards = self.scorecards.of(&ctx, &page, ask).await?;
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(
                &last.id,
                &Listing::of(&period, currency.as_deref(), &partners),
            ),
            _ => String::new(),
        };
        Ok(pb::ListPartnerScorecardsResponse {
            scorecards,
            next_page_token,
        })
    }
}
