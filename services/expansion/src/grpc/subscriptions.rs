//! Handlers of the subscription and holdings RPCs.

use chrono::NaiveDate;
use themodel_platform::{
    Violation, Violations,
    accounts::Account,
    auth::{Principal, principal},
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
        key,
        subscription::{new_subscription, references, subscription_to_proto, term},
    },
    domain::{
        access::SUBSCRIPTION_WRITERS,
        catalogue::{Plan, Product},
        subscription::{Refusal, Subscription, Term, ended_on, money, terms_problem, with_term},
    },
    error::{Error, Result},
    store::subscriptions::{Filter, today},
};

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Overlap(message) => Error::TermOverlap(message),
            Refusal::AlreadyEnded(message) => Error::AlreadyEnded(message),
        }
    }
}

impl Handler {
    /// The account `id` as the caller may see it; NOT_FOUND otherwise.
    pub(super) async fn visible_account<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
    ) -> Result<Account> {
        self.accounts
            .find(&CallContext::of(request), principal, id)
            .await?
            .ok_or_else(|| Error::AccountNotFound(id.to_owned()))
    }

    /// The account `id` of a resource the caller asked for: when the caller
    /// may not see the account, the resource is `not_found` (its existence is
    /// not confirmed).
    pub(super) async fn account_of<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
        not_found: impl FnOnce() -> Error,
    ) -> Result<Account> {
        self.visible_account(request, principal, id)
            .await
            .map_err(|err| match err {
                Error::AccountNotFound(_) => not_found(),
                other => other,
            })
    }

    /// The product `key` and its plan `plan_key`; NOT_FOUND when either is
    /// unknown.
    pub(super) async fn plan(&self, product_key: &str, plan_key: &str) -> Result<(Product, Plan)> {
        let product = self
            .products
            .get(product_key)
            .await?
            .ok_or_else(|| Error::ProductNotFound(product_key.to_owned()))?;
        let plan = product
            .fields
            .plans
            .iter()
            .find(|p| p.key == plan_key)
            .cloned()
            .ok_or_else(|| Error::PlanNotFound {
                product: product_key.to_owned(),
                plan: plan_key.to_owned(),
            })?;
        Ok((product, plan))
    }

    /// Subscription `id` and its account, as the caller may see them.
    pub(super) async fn visible_subscription<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        id: &str,
    ) -> Result<(Subscription, Account)> {
        let not_found = || Error::SubscriptionNotFound(id.to_owned());
        let sub = self.subscriptions.get(id).await?.ok_or_else(not_found)?;
        let account = self
            .account_of(request, principal, &sub.fields.account_id, not_found)
            .await?;
        Ok((sub, account))
    }

    pub(super) async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<pb::CreateSubscriptionResponse> {
        let principal = principal(&request)?;
        principal.require(SUBSCRIPTION_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let Some(sub) = &req.subscription else {
            return Err(Error::Invalid(vec![Violation::new(
                "subscription",
                "is required",
            )]));
        };
        let refs = v.check("subscription", references(sub));
        let (Some(refs), true) = (refs, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (product, plan) = self.plan(&refs.product_key, &refs.plan_key).await?;
        let mut terms: Vec<Term> = Vec::with_capacity(sub.terms.len());
        for (i, t) in sub.terms.iter().enumerate() {
            let currency = terms.first().map(|t| t.unit_price.currency_code.as_str());
            if let Some(t) = v.check(
                &format!("subscription.terms[{i}]"),
                term(t, &plan, currency),
            ) {
                terms.push(t);
            }
        }
        if v.is_empty()
            && let Some((i, problem)) = terms_problem(&terms)
        {
            v.add(format!("subscription.terms[{i}].start_date"), problem);
        }
        v.finish(|| ())?;
        refuse_retired(&product, &plan, &terms)?;
        let account = self
            .visible_account(&request, &principal, &refs.account_id)
            .await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "CreateSubscription", req);
        self.subscriptions
            .create(idempotency, new_subscription(refs, terms), &account)
            .await
    }

    pub(super) async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<pb::GetSubscriptionResponse> {
        let principal = principal(&request)?;
        let id = subscription_id(&request.get_ref().id)?;
        let (sub, _) = self.visible_subscription(&request, &principal, &id).await?;
        Ok(pb::GetSubscriptionResponse {
            subscription: Some(subscription_to_proto(&sub, today())),
        })
    }

    pub(super) async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<pb::ListSubscriptionsResponse> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", validate::page_size(req.page_size));
        let account_id = (!req.account_id.is_empty())
            .then(|| v.check("account_id", validate::resource_id(&req.account_id)))
            .flatten();
        let product_key = (!req.product_key.is_empty())
            .then(|| v.check("product_key", key(&req.product_key)))
            .flatten();
        let filters = (&req.account_id, &req.product_key);
        let after = v
            .check("", page_token::decode::<String>(&req.page_token, &filters))
            .flatten();
        let page_size = v.finish(|| page_size.unwrap_or_default())?;
        let filter = Filter {
            account_id,
            product_key,
            partner_id: principal.partner_scope().map(str::to_owned),
        };
        let (subs, more) = self
            .subscriptions
            .list(&filter, after.as_deref(), page_size)
            .await?;
        let next_page_token = match subs.last() {
            Some(last) if more => page_token::encode(&last.id, &filters),
            _ => String::new(),
        };
        let today = today();
        Ok(pb::ListSubscriptionsResponse {
            subscriptions: subs
                .iter()
                .map(|s| subscription_to_proto(s, today))
                .collect(),
            next_page_token,
        })
    }

    pub(super) async fn change_subscription(
        &self,
        request: Request<pb::ChangeSubscriptionRequest>,
    ) -> Result<pb::ChangeSubscriptionResponse> {
        let principal = principal(&request)?;
        principal.require(SUBSCRIPTION_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check("id", validate::resource_id(&req.id));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        if req.term.is_none() {
            v.add("term", "is required");
        }
        let (Some(id), Some(new_term), true) = (id, req.term.as_ref(), v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (sub, account) = self.visible_subscription(&request, &principal, &id).await?;
        let (product, plan) = self
            .plan(&sub.fields.product_key, &sub.fields.plan_key)
            .await?;
        let new_term = term(new_term, &plan, Some(sub.currency()))
            .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed("term")).collect()))?;
        refuse_retired(&product, &plan, std::slice::from_ref(&new_term))?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "ChangeSubscription", req);
        let subscription = self
            .subscriptions
            .change(idempotency, &account, &id, etag, |current| {
                Ok(with_term(&current.fields.terms, new_term)?)
            })
            .await?;
        Ok(pb::ChangeSubscriptionResponse {
            subscription: Some(subscription),
        })
    }

    pub(super) async fn end_subscription(
        &self,
        request: Request<pb::EndSubscriptionRequest>,
    ) -> Result<pb::EndSubscriptionResponse> {
        let principal = principal(&request)?;
        principal.require(SUBSCRIPTION_WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let request_id = request_id_field(&req.request_id, &mut v);
        let id = v.check("id", validate::resource_id(&req.id));
        let etag = v.check("etag", validate::etag(&req.etag)).flatten();
        let end = match &req.end_date {
            Some(date) => v.check("end_date", validate::date(date)),
            None => {
                v.add("end_date", "is required");
                None
            }
        };
        let (Some(id), Some(end), true) = (id, end, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        let (_, account) = self.visible_subscription(&request, &principal, &id).await?;
        let idempotency = IdempotencyKey::new(&principal, request_id, "EndSubscription", req);
        let subscription = self
            .subscriptions
            .change(idempotency, &account, &id, etag, |current| {
                Ok(ended_on(&current.fields.terms, end)?)
            })
            .await?;
        Ok(pb::EndSubscriptionResponse {
            subscription: Some(subscription),
        })
    }

    pub(super) async fn get_holdings(
        &self,
        request: Request<pb::GetHoldingsRequest>,
    ) -> Result<pb::GetHoldingsResponse> {
        let principal = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let account_id = v.check("account_id", validate::resource_id(&req.account_id));
        let day: Option<NaiveDate> = match &req.as_of {
            Some(date) => v.check("as_of", validate::date(date)),
            None => Some(today()),
        };
        let (Some(account_id), Some(day), true) = (account_id, day, v.is_empty()) else {
            return Err(Error::Invalid(v.into_vec()));
        };
        self.visible_account(&request, &principal, &account_id)
            .await?;
        let held = self.subscriptions.held_on(&account_id, day).await?;
        let on_sale = self.products.on_sale().await?;
        let holdings = held
            .iter()
            .map(|(product_key, subs)| {
                let currency = subs.first().map_or("", |s| s.currency());
                let mrr = subs.iter().map(|s| s.mrr_on(day)).sum();
                pb::Holding {
                    product_key: product_key.clone(),
                    subscription_ids: subs.iter().map(|s| s.id.clone()).collect(),
                    mrr: Some(money(currency, mrr).to_proto()),
                }
            })
            .collect();
        let whitespace = on_sale
            .into_iter()
            .filter(|key| !held.contains_key(key))
            .collect();
        Ok(pb::GetHoldingsResponse {
            holdings,
            whitespace,
        })
    }
}

/// A valid subscription id; INVALID_ARGUMENT otherwise.
fn subscription_id(id: &str) -> Result<String> {
    validate::resource_id(id)
        .map_err(|vs| Error::Invalid(vs.into_iter().map(|v| v.prefixed("id")).collect()))
}

/// New revenue on a retired plan or product is refused; terms that ended
/// before today (history) are not.
fn refuse_retired(product: &Product, plan: &Plan, terms: &[Term]) -> Result<()> {
    let today = today();
    let current = terms.iter().any(|t| t.end.is_none_or(|end| end > today));
    if current && (product.fields.retired || plan.retired) {
        return Err(Error::PlanRetired(format!(
            "plan {} of product {} is retired: only terms that ended before today may be recorded on it",
            plan.key, product.key
        )));
    }
    Ok(())
}
