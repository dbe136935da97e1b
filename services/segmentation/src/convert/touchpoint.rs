//! Conversions of touchpoints and coverage between the contract and the
//! domain.

use chrono::{DateTime, Duration, Utc};
use themodel_platform::{Violation, Violations, validate};
use themodel_proto::segmentation as pb;

use super::{EXTERNAL_ID_CHARS, REFERENCE_CHARS, optional_reference, timestamp};
use crate::domain::{
    account::Tier,
    coverage::{Coverage, DEFAULT_TARGETS, Figure, MAX_WINDOW_MONTHS, Target},
};

pub use pb::TouchpointKind;

/// Longest note.
const MAX_NOTE_LEN: usize = 2000;
/// Clock skew tolerated before a touchpoint counts as dated in the future.
const MAX_SKEW: Duration = Duration::seconds(60);

/// A touchpoint's caller-set fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointFields {
    /// The account.
    pub account_id: String,
    /// The CSM, when known.
    pub csm_id: Option<String>,
    /// The kind.
    pub kind: TouchpointKind,
    /// When it happened.
    pub occur_time: DateTime<Utc>,
    /// The note.
    pub note: String,
    /// Id in the source system.
    pub external_id: Option<String>,
}

/// An instant of the contract, validated.
pub fn instant(t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Vec<Violation>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| vec![Violation::new("", "is not a valid timestamp")])
}

/// Validates a touchpoint; paths are relative to it. `now` bounds its time.
pub fn touchpoint_from_proto(
    t: &pb::Touchpoint,
    now: DateTime<Utc>,
) -> Result<TouchpointFields, Vec<Violation>> {
    let mut v = Violations::new();
    let account_id = v.check("account_id", validate::resource_id(&t.account_id));
    let csm_id = v.check("csm_id", optional_reference(&t.csm_id, REFERENCE_CHARS));
    let kind = match validate::known_enum::<TouchpointKind>(t.kind) {
        Ok(TouchpointKind::Unspecified) => {
            v.add("kind", "is required");
            None
        }
        result => v.check("kind", result),
    };
    let occur_time = match &t.occur_time {
        None => {
            v.add("occur_time", "is required");
            None
        }
        // Stored to the microsecond, so a returned touchpoint equals a re-read one.
        Some(time) => match v
            .check("occur_time", instant(time))
            .and_then(|t| DateTime::from_timestamp_micros(t.timestamp_micros()))
        {
            Some(time) if time > now + MAX_SKEW => {
                v.add(
                    "occur_time",
                    format!("must not be in the future (now is {now})"),
                );
                None
            }
            other => other,
        },
    };
    let note = v.check("note", validate::text(&t.note, 0, MAX_NOTE_LEN));
    let external_id = v.check(
        "external_id",
        optional_reference(&t.external_id, EXTERNAL_ID_CHARS),
    );
    let (
        Some(account_id),
        Some(csm_id),
        Some(kind),
        Some(occur_time),
        Some(note),
        Some(external_id),
        true,
    ) = (
        account_id,
        csm_id,
        kind,
        occur_time,
        note,
        external_id,
        v.is_empty(),
    )
    else {
        return Err(v.into_vec());
    };
    Ok(TouchpointFields {
        account_id,
        csm_id,
        kind,
        occur_time,
        note,
        external_id,
    })
}

/// The contract form of a recorded touchpoint.
pub fn touchpoint_to_proto(
    id: &str,
    t: &TouchpointFields,
    create_time: DateTime<Utc>,
) -> pb::Touchpoint {
    pb::Touchpoint {
        id: id.to_owned(),
        account_id: t.account_id.clone(),
        csm_id: t.csm_id.clone().unwrap_or_default(),
        kind: t.kind as i32,
        occur_time: Some(timestamp(t.occur_time)),
        note: t.note.clone(),
        external_id: t.external_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(create_time)),
    }
}

/// Coverage targets: the defaults, with the request's replacing them per
/// tier. Paths start with `targets`.
pub fn targets_from_proto(targets: &[pb::CoverageTarget]) -> Result<[Target; 3], Vec<Violation>> {
    let mut resolved = DEFAULT_TARGETS;
    let mut v = Violations::new();
    for (i, t) in targets.iter().enumerate() {
        let path = format!("targets[{i}]");
        let slot = match validate::known_enum::<Tier>(t.tier) {
            Ok(tier) => resolved.iter().position(|r| r.tier == tier),
            Err(_) => None,
        };
        let Some(slot) = slot else {
            v.add(format!("{path}.tier"), "must be a tier");
            continue;
        };
        let months = u32::try_from(t.window_months)
            .ok()
            .filter(|m| (1..=MAX_WINDOW_MONTHS).contains(m));
        let percent = u32::try_from(t.target_percent).ok().filter(|p| *p <= 100);
        if months.is_none() {
            v.add(
                format!("{path}.window_months"),
                format!("must be 1 to {MAX_WINDOW_MONTHS}"),
            );
        }
        if percent.is_none() {
            v.add(format!("{path}.target_percent"), "must be 0 to 100");
        }
        if let (Some(window_months), Some(target_percent)) = (months, percent) {
            resolved[slot] = Target {
                tier: resolved[slot].tier,
                window_months,
                target_percent,
            };
        }
    }
    v.finish(|| resolved)
}

fn figure_to_proto(f: &Figure, csm_id: &str, team_id: &str) -> pb::CoverageFigure {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    pb::CoverageFigure {
        tier: f.tier as i32,
        csm_id: csm_id.to_owned(),
        team_id: team_id.to_owned(),
        account_count: clamp(f.accounts),
        covered_count: clamp(f.covered),
        rate_basis_points: clamp(f.rate_basis_points()),
        target: Some(pb::CoverageTarget {
            tier: f.target.tier as i32,
            window_months: f.target.window_months as i32,
            target_percent: f.target.target_percent as i32,
        }),
        target_met: f.target_met(),
    }
}

/// The contract form of coverage figures.
pub fn coverage_to_proto(c: &Coverage, as_of: DateTime<Utc>) -> pb::GetCoverageResponse {
    pb::GetCoverageResponse {
        as_of: Some(timestamp(as_of)),
        tiers: c.tiers.iter().map(|f| figure_to_proto(f, "", "")).collect(),
        csms: c
            .csms
            .iter()
            .map(|(csm, f)| figure_to_proto(f, csm, ""))
            .collect(),
        teams: c
            .teams
            .iter()
            .map(|(team, f)| figure_to_proto(f, "", team))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touchpoints_in_the_future_or_without_kind_are_refused() {
        let now = Utc::now();
        let t = pb::Touchpoint {
            account_id: "01890000-0000-7000-8000-000000000000".into(),
            kind: 0,
            occur_time: Some(timestamp(now + Duration::hours(1))),
            ..Default::default()
        };
        let fields: Vec<_> = touchpoint_from_proto(&t, now)
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["kind", "occur_time"]);
        let ok = pb::Touchpoint {
            kind: TouchpointKind::Qbr as i32,
            occur_time: Some(timestamp(now)),
            ..t
        };
        assert!(touchpoint_from_proto(&ok, now).is_ok());
    }

    #[test]
    fn targets_replace_the_defaults_per_tier() {
        let targets = targets_from_proto(&[pb::CoverageTarget {
            tier: Tier::HighTouch as i32,
            window_months: 2,
            target_percent: 90,
        }])
        .expect("valid");
        assert_eq!(targets[0].window_months, 2);
        assert_eq!(targets[1], DEFAULT_TARGETS[1]);
        let bad = targets_from_proto(&[pb::CoverageTarget {
            tier: 0,
            window_months: 0,
            target_percent: 101,
        }])
        .expect_err("invalid");
        assert_eq!(bad.len(), 1);
        let bad = targets_from_proto(&[pb::CoverageTarget {
            tier: Tier::LowTouch as i32,
            window_months: 0,
            target_percent: 101,
        }])
        .expect_err("invalid");
        let fields: Vec<_> = bad.into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            ["targets[0].window_months", "targets[0].target_percent"]
        );
    }
}
