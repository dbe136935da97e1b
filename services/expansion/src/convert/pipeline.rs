//! CSQLs and opportunities between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::expansion as pb;

use super::{key, timestamp};
use crate::domain::{
    pipeline::{Csql, CsqlKind, Opportunity},
    subscription::etag,
};

/// What a caller sets on a new CSQL, checked.
#[derive(Debug, Clone)]
pub struct NewCsql {
    /// The account.
    pub account_id: String,
    /// Upsell or cross-sell.
    pub kind: CsqlKind,
    /// The product.
    pub product_key: String,
    /// The estimate.
    pub estimated_mrr: validate::Money,
    /// Why.
    pub reason: String,
    /// The CSM named, if any.
    pub csm_id: Option<String>,
    /// The QBR it came out of.
    pub qbr_id: Option<String>,
}

/// Validates a free-text reason of 1 to 2,000 characters.
pub fn reason(value: &str) -> Result<String, Vec<Violation>> {
    validate::text(value, 1, 2000)
}

/// Validates a new CSQL; paths relative to it.
pub fn new_csql(csql: &pb::Csql) -> Result<NewCsql, Vec<Violation>> {
    let mut v = Violations::new();
    let account_id = v.check("account_id", validate::resource_id(&csql.account_id));
    let kind = match validate::known_enum::<CsqlKind>(csql.kind) {
        Ok(CsqlKind::Unspecified) => {
            v.add("kind", "is required: upsell or cross-sell");
            None
        }
        result => v.check("kind", result),
    };
    let product_key = v.check("product_key", key(&csql.product_key));
    let estimated_mrr = match &csql.estimated_mrr {
        Some(m) => v
            .check("estimated_mrr", validate::Money::non_negative(m))
            .filter(|m| {
                let positive = m.units > 0 || m.nanos > 0;
                if !positive {
                    v.add("estimated_mrr", "must be more than zero");
                }
                positive
            }),
        None => {
            v.add("estimated_mrr", "is required");
            None
        }
    };
    let reason = v.check("reason", reason(&csql.reason));
    let csm_id = (!csql.csm_id.is_empty())
        .then(|| v.check("csm_id", validate::person_id(&csql.csm_id)))
        .flatten();
    let qbr_id = (!csql.qbr_id.is_empty())
        .then(|| v.check("qbr_id", validate::resource_id(&csql.qbr_id)))
        .flatten();
    let (Some(account_id), Some(kind), Some(product_key), Some(estimated_mrr), Some(reason), true) = (
        account_id,
        kind,
        product_key,
        estimated_mrr,
        reason,
        v.is_empty(),
    ) else {
        return Err(v.into_vec());
    };
    Ok(NewCsql {
        account_id,
        kind,
        product_key,
        estimated_mrr,
        reason,
        csm_id,
        qbr_id,
    })
}

/// The contract form of a CSQL.
pub fn csql_to_proto(c: &Csql) -> pb::Csql {
    pb::Csql {
        id: c.id.clone(),
        account_id: c.account_id.clone(),
        kind: c.kind as i32,
        product_key: c.product_key.clone(),
        estimated_mrr: Some(c.estimated_mrr.to_proto()),
        reason: c.reason.clone(),
        csm_id: c.csm_id.clone(),
        team_id: c.team_id.clone(),
        tier: c.tier.clone(),
        qbr_id: c.qbr_id.clone().unwrap_or_default(),
        status: c.status as i32,
        rejection_reason: c.rejection_reason.clone().unwrap_or_default(),
        opportunity_id: c.opportunity_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(c.create_time)),
        hand_off_time: c.hand_off_time.map(timestamp),
        decision_time: c.decision_time.map(timestamp),
        etag: etag(c.revision),
    }
}

/// The contract form of an opportunity.
pub fn opportunity_to_proto(o: &Opportunity) -> pb::Opportunity {
    pb::Opportunity {
        id: o.id.clone(),
        csql_id: o.csql_id.clone(),
        account_id: o.account_id.clone(),
        product_key: o.product_key.clone(),
        estimated_mrr: Some(o.estimated_mrr.to_proto()),
        owner_id: o.owner_id.clone(),
        stage: o.stage as i32,
        won_mrr: o.won_mrr.as_ref().map(validate::Money::to_proto),
        subscription_id: o.subscription_id.clone().unwrap_or_default(),
        lost_reason: o.lost_reason.clone().unwrap_or_default(),
        close_date: o.close_date.map(validate::date_to_proto),
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        etag: etag(o.revision),
    }
}
