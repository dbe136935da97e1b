//! Deals between the contract and the domain. A partner user's view hides
//! who a conflict is with and why an approver overrode it.

use themodel_platform::{Violation, Violations, auth::Principal, validate};
use themodel_proto::partner_success as pb;

use super::{key, notes, timestamp};
use crate::domain::{
    company::normalise_company_name,
    deal::{Conflict, ConflictWith, Deal, DealFields, etag},
    staff::is_email,
};

/// Longest notes of a deal, in characters.
pub const MAX_NOTES: usize = 2000;

/// Who a deal is shown to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Staff roles: everything.
    Full,
    /// A partner user: the other record of a conflict hidden.
    Partner,
}

impl View {
    /// The view `principal` gets.
    pub fn of(principal: &Principal) -> Self {
        if principal.partner_scope().is_some() {
            View::Partner
        } else {
            View::Full
        }
    }
}

/// Validates the caller-set fields of a deal for `partner_id`; paths
/// relative to it.
pub fn deal_fields_from_proto(
    deal: &pb::Deal,
    partner_id: String,
) -> Result<DealFields, Vec<Violation>> {
    let mut v = Violations::new();
    let company_name = v.check("company_name", validate::text(&deal.company_name, 1, 200));
    if company_name.is_some() && normalise_company_name(&deal.company_name).is_empty() {
        v.add(
            "company_name",
            "must hold letters or digits besides a legal form",
        );
    }
    let domain = if deal.domain.is_empty() {
        v.add("domain", "is required");
        None
    } else if deal.domain.len() > 300 {
        v.add("domain", "must be at most 300 characters");
        None
    } else {
        let normalised = validate::normalise_domain(&deal.domain);
        if normalised.is_none() {
            v.add(
                "domain",
                format!("{} is not a web domain", validate::echo(&deal.domain)),
            );
        }
        normalised
    };
    let contact_name = v.check("contact_name", validate::text(&deal.contact_name, 0, 200));
    let contact_email = v.check("contact_email", validate::text(&deal.contact_email, 0, 254));
    if contact_email
        .as_deref()
        .is_some_and(|e| !e.is_empty() && !is_email(e))
    {
        v.add("contact_email", "is not an e-mail address");
    }
    let expected_mrr = match &deal.expected_mrr {
        Some(money) => v.check("expected_mrr", validate::Money::non_negative(money)),
        None => {
            v.add("expected_mrr", "is required");
            None
        }
    };
    let product_key = (!deal.product_key.is_empty())
        .then(|| v.check("product_key", key(&deal.product_key)))
        .flatten();
    let notes = v.check("notes", notes(&deal.notes, MAX_NOTES));
    let (
        Some(company_name),
        Some(domain),
        Some(contact_name),
        Some(contact_email),
        Some(expected_mrr),
        Some(notes),
        true,
    ) = (
        company_name,
        domain,
        contact_name,
        contact_email,
        expected_mrr,
        notes,
        v.is_empty(),
    )
    else {
        return Err(v.into_vec());
    };
    Ok(DealFields {
        partner_id,
        company_name,
        domain,
        contact_name,
        contact_email,
        expected_mrr,
        product_key,
        notes,
    })
}

/// The contract form of a conflict as `view` may see it.
fn conflict_to_proto(conflict: &Conflict, view: View) -> pb::DealConflict {
    let mut proto = pb::DealConflict {
        kind: conflict.kind() as i32,
        description: conflict.description().to_owned(),
        matched_on: conflict.matched_on.to_owned(),
        ..Default::default()
    };
    if view == View::Full {
        match &conflict.with {
            ConflictWith::Deal {
                deal_id,
                partner_id,
            } => {
                proto.conflicting_deal_id.clone_from(deal_id);
                proto.conflicting_partner_id.clone_from(partner_id);
            }
            ConflictWith::Customer { account_id } => proto.account_id.clone_from(account_id),
        }
    }
    proto
}

/// The contract form of a deal as `view` may see it.
pub fn deal_to_proto(deal: &Deal, view: View) -> pb::Deal {
    let f = &deal.fields;
    pb::Deal {
        id: deal.id.clone(),
        partner_id: f.partner_id.clone(),
        company_name: f.company_name.clone(),
        domain: f.domain.clone(),
        contact_name: f.contact_name.clone(),
        contact_email: f.contact_email.clone(),
        expected_mrr: Some(f.expected_mrr.to_proto()),
        product_key: f.product_key.clone().unwrap_or_default(),
        notes: f.notes.clone(),
        status: deal.status as i32,
        protection_days: deal.protection_days as i32,
        approved_on: deal.approved_on.map(validate::date_to_proto),
        expires_on: deal.expires_on.map(validate::date_to_proto),
        rejection_reason: deal.rejection_reason.clone(),
        conflict: deal.conflict.as_ref().map(|c| conflict_to_proto(c, view)),
        override_reason: match view {
            View::Full => deal.override_reason.clone(),
            View::Partner => String::new(),
        },
        submit_time: deal.submit_time.map(timestamp),
        create_time: Some(timestamp(deal.create_time)),
        update_time: Some(timestamp(deal.update_time)),
        etag: etag(deal.revision),
    }
}
