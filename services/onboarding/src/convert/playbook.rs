//! Playbooks between the contract and the domain.

use themodel_platform::{Violation, Violations, validate};
use themodel_proto::onboarding as pb;

use super::{key, signal_key, tier, tier_to_proto, timestamp};
use crate::domain::playbook::{
    Anchor, Confirmation, Criterion, DEFAULT_STALL_DAYS, Definition, PhaseDef, Playbook,
    SELF_SUCCESS_SCOPE, StepDef, StepKind, Targets, etag,
};

fn step_kind(value: i32) -> Result<StepKind, Vec<Violation>> {
    match validate::known_enum::<pb::StepKind>(value)? {
        pb::StepKind::Setting => Ok(StepKind::Setting),
        pb::StepKind::Feature => Ok(StepKind::Feature),
        pb::StepKind::Meeting => Ok(StepKind::Meeting),
        pb::StepKind::Content => Ok(StepKind::Content),
        pb::StepKind::Custom => Ok(StepKind::Custom),
        pb::StepKind::Unspecified => Err(vec![Violation::new("", "is required")]),
    }
}

fn confirmation(value: i32) -> Result<Confirmation, Vec<Violation>> {
    Ok(match validate::known_enum::<pb::Confirmation>(value)? {
        pb::Confirmation::Unspecified => Confirmation::None,
        pb::Confirmation::CsmCheck => Confirmation::CsmCheck,
        pb::Confirmation::CustomerSignOff => Confirmation::CustomerSignOff,
    })
}

fn anchor(value: i32) -> Result<Anchor, Vec<Violation>> {
    match validate::known_enum::<pb::Anchor>(value)? {
        pb::Anchor::ContractStart => Ok(Anchor::ContractStart),
        pb::Anchor::Kickoff => Ok(Anchor::Kickoff),
        pb::Anchor::Unspecified => Err(vec![Violation::new("", "is required")]),
    }
}

fn criterion(c: &pb::Criterion) -> Result<Criterion, Vec<Violation>> {
    match &c.criterion {
        Some(pb::criterion::Criterion::StepKey(k)) => key(k)
            .map(Criterion::Step)
            .map_err(|v| v.into_iter().map(|v| v.prefixed("step_key")).collect()),
        Some(pb::criterion::Criterion::Signal(s)) => signal_key(&s.signal_key)
            .map(|k| Criterion::Signal {
                key: k,
                threshold: s.threshold,
            })
            .map_err(|v| {
                v.into_iter()
                    .map(|v| v.prefixed("signal.signal_key"))
                    .collect()
            }),
        None => Err(vec![Violation::new("", "set step_key or signal")]),
    }
}

/// Validates what a caller states of a playbook version; paths relative to
/// the playbook.
pub fn definition(p: &pb::Playbook) -> Result<Definition, Vec<Violation>> {
    let mut v = Violations::new();
    let display_name = v.check("display_name", validate::text(&p.display_name, 1, 200));
    let mut phases = Vec::with_capacity(p.phases.len());
    for (i, phase) in p.phases.iter().enumerate() {
        let at = format!("phases[{i}]");
        let phase_key = v.check(&format!("{at}.phase_key"), key(&phase.phase_key));
        let name = v.check(
            &format!("{at}.display_name"),
            validate::text(&phase.display_name, 1, 200),
        );
        let mut steps = Vec::with_capacity(phase.steps.len());
        for (j, s) in phase.steps.iter().enumerate() {
            let at = format!("{at}.steps[{j}]");
            let step_key = v.check(&format!("{at}.step_key"), key(&s.step_key));
            let name = v.check(
                &format!("{at}.display_name"),
                validate::text(&s.display_name, 1, 200),
            );
            let kind = v.check(&format!("{at}.kind"), step_kind(s.kind));
            let confirmation = v.check(&format!("{at}.confirmation"), confirmation(s.confirmation));
            if let (Some(key), Some(name), Some(kind), Some(confirmation)) =
                (step_key, name, kind, confirmation)
            {
                steps.push(StepDef {
                    key,
                    name,
                    kind,
                    confirmation,
                    due_day: s.due_day,
                });
            }
        }
        if let (Some(key), Some(name)) = (phase_key, name) {
            phases.push(PhaseDef { key, name, steps });
        }
    }
    let mut stage = |field: &str, list: &[pb::Criterion]| {
        list.iter()
            .enumerate()
            .filter_map(|(i, c)| v.check(&format!("{field}[{i}]"), criterion(c)))
            .collect::<Vec<_>>()
    };
    let setup = stage("setup_criteria", &p.setup_criteria);
    let value = stage("value_criteria", &p.value_criteria);
    let anchor = v.check("anchor", anchor(p.anchor));
    let mut targets = Vec::with_capacity(p.targets.len());
    for (i, t) in p.targets.iter().enumerate() {
        if let Some(tier) = v.check(&format!("targets[{i}].tier"), tier(t.tier)) {
            targets.push(Targets {
                tier,
                setup_days: t.setup_days,
                value_days: t.value_days,
                stall_days: if t.stall_days == 0 {
                    DEFAULT_STALL_DAYS
                } else {
                    t.stall_days
                },
            });
        }
    }
    let (Some(display_name), Some(anchor), true) = (display_name, anchor, v.is_empty()) else {
        return Err(v.into_vec());
    };
    let definition = Definition {
        display_name,
        phases,
        setup,
        value,
        anchor,
        targets,
    };
    let problems = definition.problems();
    if problems.is_empty() {
        Ok(definition)
    } else {
        Err(problems
            .into_iter()
            .map(|(field, message)| Violation::new(field, message))
            .collect())
    }
}

fn criterion_to_proto(c: &Criterion) -> pb::Criterion {
    pb::Criterion {
        criterion: Some(match c {
            Criterion::Step(k) => pb::criterion::Criterion::StepKey(k.clone()),
            Criterion::Signal { key, threshold } => {
                pb::criterion::Criterion::Signal(pb::SignalCriterion {
                    signal_key: key.clone(),
                    threshold: *threshold,
                })
            }
        }),
    }
}

/// The contract value of a step kind.
pub fn step_kind_to_proto(kind: StepKind) -> pb::StepKind {
    match kind {
        StepKind::Setting => pb::StepKind::Setting,
        StepKind::Feature => pb::StepKind::Feature,
        StepKind::Meeting => pb::StepKind::Meeting,
        StepKind::Content => pb::StepKind::Content,
        StepKind::Custom => pb::StepKind::Custom,
    }
}

/// The contract value of a confirmation.
pub fn confirmation_to_proto(c: Confirmation) -> pb::Confirmation {
    match c {
        Confirmation::None => pb::Confirmation::Unspecified,
        Confirmation::CsmCheck => pb::Confirmation::CsmCheck,
        Confirmation::CustomerSignOff => pb::Confirmation::CustomerSignOff,
    }
}

/// The contract value of an anchor.
pub fn anchor_to_proto(a: Anchor) -> pb::Anchor {
    match a {
        Anchor::ContractStart => pb::Anchor::ContractStart,
        Anchor::Kickoff => pb::Anchor::Kickoff,
    }
}

/// The contract form of a playbook version.
pub fn playbook_to_proto(p: &Playbook) -> pb::Playbook {
    let d = &p.definition;
    pb::Playbook {
        playbook_key: p.key.clone(),
        product_key: p.product_key.clone(),
        tier: tier_to_proto(&p.tier),
        display_name: d.display_name.clone(),
        phases: d
            .phases
            .iter()
            .map(|phase| pb::Phase {
                phase_key: phase.key.clone(),
                display_name: phase.name.clone(),
                steps: phase
                    .steps
                    .iter()
                    .map(|s| pb::Step {
                        step_key: s.key.clone(),
                        display_name: s.name.clone(),
                        kind: step_kind_to_proto(s.kind) as i32,
                        confirmation: confirmation_to_proto(s.confirmation) as i32,
                        due_day: s.due_day,
                    })
                    .collect(),
            })
            .collect(),
        setup_criteria: d.setup.iter().map(criterion_to_proto).collect(),
        value_criteria: d.value.iter().map(criterion_to_proto).collect(),
        anchor: anchor_to_proto(d.anchor) as i32,
        targets: d
            .targets
            .iter()
            .map(|t| pb::TierTargets {
                tier: tier_to_proto(&t.tier),
                setup_days: t.setup_days,
                value_days: t.value_days,
                stall_days: t.stall_days,
            })
            .collect(),
        version: p.version,
        create_time: Some(timestamp(p.create_time)),
        created_by: p.created_by.clone(),
        etag: etag(p.latest),
        self_success: p.tier == SELF_SUCCESS_SCOPE,
    }
}
