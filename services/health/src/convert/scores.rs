//! Conversions of scorecards, sentiments and scores, with the validation of
//! what callers send. Violation paths are relative to the converted value.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::{health as pb, segmentation::Tier};

use super::{key, timestamp};
use crate::domain::scorecard::{
    Definition, Grade, Measure, Part, Scorecard, Thresholds, etag, weight_problems,
};

/// Longest sentiment note.
pub const MAX_NOTE_LEN: usize = 2_000;

/// The domain measure of a contract one.
pub fn measure(value: i32) -> Option<Measure> {
    match pb::Measure::try_from(value).ok()? {
        pb::Measure::Breadth => Some(Measure::Breadth),
        pb::Measure::SeatUse => Some(Measure::SeatUse),
        pb::Measure::UserTrend => Some(Measure::UserTrend),
        pb::Measure::Sentiment => Some(Measure::Sentiment),
        pb::Measure::Unspecified => None,
    }
}

/// The contract measure of a stored name.
pub fn measure_to_proto(name: &str) -> pb::Measure {
    match Measure::from_name(name) {
        Some(Measure::Breadth) => pb::Measure::Breadth,
        Some(Measure::SeatUse) => pb::Measure::SeatUse,
        Some(Measure::UserTrend) => pb::Measure::UserTrend,
        Some(Measure::Sentiment) => pb::Measure::Sentiment,
        None => pb::Measure::Unspecified,
    }
}

/// The contract grade.
pub fn grade_to_proto(grade: Option<Grade>) -> pb::Grade {
    match grade {
        Some(Grade::A) => pb::Grade::A,
        Some(Grade::B) => pb::Grade::B,
        Some(Grade::C) => pb::Grade::C,
        Some(Grade::D) => pb::Grade::D,
        Some(Grade::E) => pb::Grade::E,
        None => pb::Grade::Unspecified,
    }
}

/// The scope of a scorecard: a known tier's name (`TIER_UNSPECIFIED` for
/// the default).
pub fn tier(value: i32) -> Result<String, Vec<Violation>> {
    Tier::try_from(value)
        .map(|t| t.as_str_name().to_owned())
        .map_err(|_| vec![Violation::new("", format!("{value} is not a tier"))])
}

/// Validates what a caller states of a scorecard version; paths relative to
/// the scorecard.
pub fn definition(card: &pb::Scorecard) -> Result<Definition, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check("display_name", validate::text(&card.display_name, 1, 200));
    let mut measures = Vec::with_capacity(card.measures.len());
    for (i, m) in card.measures.iter().enumerate() {
        match measure(m.measure) {
            Some(known) => measures.push((known, m.weight)),
            None => v.add(
                format!("measures[{i}].measure"),
                "must be BREADTH, SEAT_USE, USER_TREND or SENTIMENT",
            ),
        }
    }
    if measures.len() == card.measures.len() {
        for (field, problem) in weight_problems(&measures) {
            v.add(field, problem);
        }
    }
    let thresholds = match &card.thresholds {
        Some(t) => {
            let t = Thresholds {
                a: t.a_min,
                b: t.b_min,
                c: t.c_min,
                d: t.d_min,
            };
            for (field, problem) in t.problems() {
                v.add(format!("thresholds.{field}"), problem);
            }
            Some(t)
        }
        None => {
            v.add("thresholds", "is required");
            None
        }
    };
    let (Some(display_name), Some(thresholds), true) = (display_name, thresholds, v.is_empty())
    else {
        return Err(v.into_vec());
    };
    Ok(Definition {
        display_name,
        measures,
        thresholds,
    })
}

/// Validates a scorecard key.
pub fn scorecard_key(value: &str) -> Result<String, Vec<Violation>> {
    key(value)
}

/// The contract form of a scorecard at a version.
pub fn scorecard_to_proto(card: &Scorecard) -> pb::Scorecard {
    let t = card.definition.thresholds;
    pb::Scorecard {
        scorecard_key: card.key.clone(),
        tier: Tier::from_str_name(&card.tier).unwrap_or_default() as i32,
        display_name: card.definition.display_name.clone(),
        measures: card
            .definition
            .measures
            .iter()
            .map(|(m, w)| pb::MeasureWeight {
                measure: measure_to_proto(m.name()) as i32,
                weight: *w,
            })
            .collect(),
        thresholds: Some(pb::GradeThresholds {
            a_min: t.a,
            b_min: t.b,
            c_min: t.c,
            d_min: t.d,
        }),
        version: card.version,
        create_time: Some(timestamp(card.create_time)),
        created_by: card.created_by.clone(),
        etag: etag(card.latest),
    }
}

/// The contract form of a score's parts.
pub fn parts_to_proto(parts: &[Part]) -> Vec<pb::MeasureScore> {
    parts
        .iter()
        .map(|p| pb::MeasureScore {
            measure: measure_to_proto(&p.measure) as i32,
            value: p.value,
            stated_weight: p.stated_weight,
            weight_basis_points: p.weight,
            contribution: p.contribution,
        })
        .collect()
}

/// Validates a sentiment note.
pub fn note(value: &str) -> Result<String, Vec<Violation>> {
    validate::text(value, 1, MAX_NOTE_LEN)
}
