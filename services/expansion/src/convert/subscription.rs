//! Subscriptions between the contract and the domain. A term's price and
//! period default to its plan's, so validation needs the plan.

use chrono::NaiveDate;
use themodel_platform::{Violation, Violations, validate};
use themodel_proto::expansion as pb;

use super::timestamp;
use crate::domain::{
    catalogue::{BillingPeriod, Plan},
    subscription::{MAX_QUANTITY, MAX_TERMS, NewSubscription, Subscription, Term, etag, money},
};

/// The references of a new subscription, checked before the plan is known.
#[derive(Debug, Clone)]
pub struct References {
    /// Id in the billing system or CRM.
    pub external_id: Option<String>,
    /// The account.
    pub account_id: String,
    /// The product.
    pub product_key: String,
    /// The plan.
    pub plan_key: String,
}

/// Validates what a new subscription refers to; paths relative to it.
pub fn references(sub: &pb::Subscription) -> Result<References, Vec<Violation>> {
    let mut v = Violations::new();
    let external_id = (!sub.external_id.is_empty())
        .then(|| v.check("external_id", validate::external_id(&sub.external_id)))
        .flatten();
    let account_id = v.check("account_id", validate::resource_id(&sub.account_id));
    let product_key = v.check("product_key", super::key(&sub.product_key));
    let plan_key = v.check("plan_key", super::key(&sub.plan_key));
    if sub.terms.is_empty() {
        v.add("terms", "must hold at least one term");
    } else if sub.terms.len() > MAX_TERMS {
        v.add("terms", format!("must hold at most {MAX_TERMS} terms"));
    }
    let (Some(account_id), Some(product_key), Some(plan_key), true) =
        (account_id, product_key, plan_key, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(References {
        external_id,
        account_id,
        product_key,
        plan_key,
    })
}

/// Validates a term of `plan`, in `currency` when one is fixed already;
/// paths relative to it.
pub fn term(
    term: &pb::SubscriptionTerm,
    plan: &Plan,
    currency: Option<&str>,
) -> Result<Term, Vec<Violation>> {
    let mut v = Violations::new();
    if !(1..=MAX_QUANTITY).contains(&term.quantity) {
        v.add("quantity", format!("must be 1 to {MAX_QUANTITY}"));
    }
    let unit_price = match &term.unit_price {
        Some(price) => v.check("unit_price", validate::Money::non_negative(price)),
        None => Some(plan.list_price.clone()),
    };
    if let (Some(price), Some(currency)) = (&unit_price, currency)
        && price.currency_code != currency
    {
        v.add(
            "unit_price.currency_code",
            format!(
                "is {}, but the subscription is in {currency}",
                price.currency_code
            ),
        );
    }
    let period = match validate::known_enum::<BillingPeriod>(term.billing_period) {
        Ok(BillingPeriod::Unspecified) => Some(plan.period),
        result => v.check("billing_period", result),
    };
    let start = match &term.start_date {
        Some(date) => v.check("start_date", validate::date(date)),
        None => {
            v.add("start_date", "is required");
            None
        }
    };
    let end = match &term.end_date {
        Some(date) => v.check("end_date", validate::date(date)).map(Some),
        None => Some(None),
    };
    if let (Some(start), Some(Some(end))) = (start, end)
        && end <= start
    {
        v.add(
            "end_date",
            format!(
                "{end} is not after start_date {start} (the end is the first day out of force)"
            ),
        );
    }
    let (Some(unit_price), Some(period), Some(start), Some(end), true) =
        (unit_price, period, start, end, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    let term = Term {
        quantity: term.quantity,
        unit_price,
        period,
        start,
        end,
    };
    if term.mrr().is_none() {
        return Err(vec![Violation::new(
            "quantity",
            "quantity x unit_price is beyond the range of an amount",
        )]);
    }
    Ok(term)
}

/// The contract form of a term.
fn term_to_proto(term: &Term) -> pb::SubscriptionTerm {
    pb::SubscriptionTerm {
        quantity: term.quantity,
        unit_price: Some(term.unit_price.to_proto()),
        billing_period: term.period as i32,
        start_date: Some(validate::date_to_proto(term.start)),
        end_date: term.end.map(validate::date_to_proto),
        mrr: term.mrr().map(|m| m.to_proto()),
    }
}

/// The contract form of a subscription, its MRR and status as of `today`.
pub fn subscription_to_proto(sub: &Subscription, today: NaiveDate) -> pb::Subscription {
    let f = &sub.fields;
    pb::Subscription {
        id: sub.id.clone(),
        external_id: f.external_id.clone().unwrap_or_default(),
        account_id: f.account_id.clone(),
        product_key: f.product_key.clone(),
        plan_key: f.plan_key.clone(),
        terms: f.terms.iter().map(term_to_proto).collect(),
        current_mrr: Some(money(sub.currency(), sub.mrr_on(today)).to_proto()),
        status: sub.status_on(today) as i32,
        create_time: Some(timestamp(sub.create_time)),
        update_time: Some(timestamp(sub.update_time)),
        etag: etag(sub.revision),
    }
}

/// A new subscription from its checked parts.
pub fn new_subscription(refs: References, terms: Vec<Term>) -> NewSubscription {
    NewSubscription {
        external_id: refs.external_id,
        account_id: refs.account_id,
        product_key: refs.product_key,
        plan_key: refs.plan_key,
        terms,
    }
}
