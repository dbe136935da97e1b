//! Attributions between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::partner_success as pb;

use super::{optional_date, required_date, timestamp};
use crate::domain::{
    attribution::{Attribution, AttributionKind, NewAttribution},
    partner::etag,
};

/// Validates an attribution to record; paths relative to it.
pub fn new_attribution(a: &pb::Attribution) -> Result<NewAttribution, Vec<Violation>> {
    let mut v = Violations::new();
    let account_id = v.check("account_id", validate::resource_id(&a.account_id));
    let partner_id = v.check("partner_id", validate::partner_id(&a.partner_id));
    let kind = match validate::known_enum::<AttributionKind>(a.kind) {
        Ok(AttributionKind::Unspecified) => {
            v.add("kind", "is required: SOURCED or INFLUENCED");
            None
        }
        result => v.check("kind", result),
    };
    let start = required_date(a.start_date.as_ref(), "start_date", &mut v);
    let end = optional_date(a.end_date.as_ref(), "end_date", &mut v);
    if let (Some(start), Some(Some(end))) = (start, end)
        && end <= start
    {
        v.add("end_date", format!("{end} is not after start_date {start}"));
    }
    let (Some(account_id), Some(partner_id), Some(kind), Some(start), Some(end), true) =
        (account_id, partner_id, kind, start, end, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(NewAttribution {
        account_id,
        partner_id,
        kind,
        start,
        end,
    })
}

/// The contract form of an attribution.
pub fn attribution_to_proto(a: &Attribution) -> pb::Attribution {
    pb::Attribution {
        id: a.id.clone(),
        account_id: a.account_id.clone(),
        partner_id: a.partner_id.clone(),
        kind: a.kind as i32,
        start_date: Some(validate::date_to_proto(a.start)),
        end_date: a.end.map(validate::date_to_proto),
        create_time: Some(timestamp(a.create_time)),
        update_time: Some(timestamp(a.update_time)),
        etag: etag(a.revision),
    }
}
