//! Conversions of CSMs and books between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::segmentation as pb;

use super::{REFERENCE_CHARS, optional_reference, timestamp};
use crate::domain::{
    account::{Tier, etag},
    books::{Load, Report, Verdict},
    csm::{Csm, CsmFields, UPDATABLE_FIELDS},
    policy::Capacity,
};

/// Most accounts one CSM can be planned to carry.
pub const MAX_CAPACITY: i32 = 100_000;

/// Validates a capacity range; paths are relative to it.
pub fn capacity_from_proto(range: &pb::CapacityRange) -> Result<Capacity, Vec<Violation>> {
    let mut v = Violations::new();
    let mut bound = |name: &str, value: i32| {
        if (1..=MAX_CAPACITY).contains(&value) {
            Some(value as u32)
        } else {
            v.add(name, format!("must be 1 to {MAX_CAPACITY}"));
            None
        }
    };
    let min = bound("min_accounts", range.min_accounts);
    let max = bound("max_accounts", range.max_accounts);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        v.add(
            "min_accounts",
            format!("must not exceed max_accounts ({max})"),
        );
    }
    v.finish(|| Capacity {
        min: min.unwrap_or_default(),
        max: max.unwrap_or_default(),
    })
}

/// The contract form of a capacity.
pub fn capacity_to_proto(c: Capacity) -> pb::CapacityRange {
    pb::CapacityRange {
        min_accounts: c.min as i32,
        max_accounts: c.max as i32,
    }
}

/// Validates the caller-set fields of a CSM; paths are relative to it.
pub fn csm_fields_from_proto(csm: &pb::Csm) -> Result<CsmFields, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check("display_name", validate::text(&csm.display_name, 1, 200));
    let team_id = v.check("team_id", optional_reference(&csm.team_id, REFERENCE_CHARS));
    let tier = match validate::known_enum::<Tier>(csm.tier) {
        Ok(Tier::Unspecified) => {
            v.add("tier", "is required");
            None
        }
        result => v.check("tier", result),
    };
    let capacity = match &csm.capacity {
        Some(c) => v.check("capacity", capacity_from_proto(c)).map(Some),
        None => Some(None),
    };
    let (Some(display_name), Some(team_id), Some(tier), Some(capacity), true) =
        (display_name, team_id, tier, capacity, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(CsmFields {
        display_name,
        team_id,
        tier,
        capacity,
    })
}

/// The contract form of a CSM.
pub fn csm_to_proto(csm: &Csm) -> pb::Csm {
    pb::Csm {
        id: csm.id.clone(),
        display_name: csm.fields.display_name.clone(),
        team_id: csm.fields.team_id.clone().unwrap_or_default(),
        tier: csm.fields.tier as i32,
        capacity: csm.fields.capacity.map(capacity_to_proto),
        team_history: csm
            .team_history
            .iter()
            .map(|m| pb::TeamMembership {
                team_id: m.team_id.clone(),
                start_date: Some(validate::date_to_proto(m.start)),
                end_date: m.end.map(validate::date_to_proto),
            })
            .collect(),
        create_time: Some(timestamp(csm.create_time)),
        update_time: Some(timestamp(csm.update_time)),
        etag: etag(csm.revision),
    }
}

/// Resolves a CSM update mask (required).
pub fn csm_mask_paths(
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    validate::update_mask(mask, UPDATABLE_FIELDS, "Csm")
}

/// Copies the masked fields of `patch` onto `current`.
pub fn apply_csm_mask(current: &mut pb::Csm, patch: &pb::Csm, fields: &[&str]) {
    for field in fields {
        match *field {
            "display_name" => current.display_name.clone_from(&patch.display_name),
            "team_id" => current.team_id.clone_from(&patch.team_id),
            "tier" => current.tier = patch.tier,
            "capacity" => current.capacity = patch.capacity,
            _ => {}
        }
    }
}

/// The contract form of a verdict.
pub fn verdict_to_proto(verdict: Verdict) -> pb::CapacityVerdict {
    match verdict {
        Verdict::NotApplicable => pb::CapacityVerdict::NotApplicable,
        Verdict::Within => pb::CapacityVerdict::Within,
        Verdict::Short => pb::CapacityVerdict::Short,
        Verdict::Idle => pb::CapacityVerdict::Idle,
    }
}

/// The contract form of a capacity report, with at most `max_moves` moves.
pub fn report_to_proto(report: Report, max_moves: usize) -> pb::GetCapacityReportResponse {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let omitted = report.moves.len().saturating_sub(max_moves);
    pb::GetCapacityReportResponse {
        csms: report
            .books
            .iter()
            .map(|b| pb::CsmLoad {
                csm_id: b.carrier.id.clone(),
                tier: b.carrier.tier as i32,
                team_id: b.carrier.team_id.clone().unwrap_or_default(),
                account_count: clamp(b.accounts),
                off_tier_count: clamp(b.off_tier),
                capacity: b.carrier.capacity.map(capacity_to_proto),
                load: match b.load {
                    Load::Under => pb::LoadState::Under,
                    Load::Within => pb::LoadState::Within,
                    Load::Over => pb::LoadState::Over,
                } as i32,
            })
            .collect(),
        tiers: report
            .tiers
            .iter()
            .map(|t| pb::TierCapacity {
                tier: t.tier as i32,
                account_count: clamp(t.accounts),
                unplaced_count: clamp(t.unplaced),
                csms_available: clamp(t.csms_available),
                csms_needed: clamp(t.csms_needed),
                verdict: verdict_to_proto(t.verdict) as i32,
            })
            .collect(),
        moves: report
            .moves
            .into_iter()
            .take(max_moves)
            .map(|m| pb::SuggestedMove {
                account_id: m.account_id,
                from_owner_csm_id: m.from.unwrap_or_default(),
                to_csm_id: m.to,
            })
            .collect(),
        omitted_move_count: i32::try_from(omitted).unwrap_or(i32::MAX),
    }
}
