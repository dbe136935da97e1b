//! Playbooks: ordered phases of steps, the criteria of the two stages, the
//! anchor target days count from and the target days per tier. A version is
//! immutable; plans keep the version they opened with.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Most phases in a playbook.
pub const MAX_PHASES: usize = 20;
/// Most steps in a playbook, over all phases.
pub const MAX_STEPS: usize = 100;
/// Most criteria of a stage.
pub const MAX_CRITERIA: usize = 20;
/// Longest target, in days.
pub const MAX_DAYS: i32 = 730;
/// The scope of a product's default playbook.
pub const DEFAULT_TIER: &str = "TIER_UNSPECIFIED";
/// The scope of a product's self-success playbook.
pub const SELF_SUCCESS_SCOPE: &str = "SELF_SUCCESS";

/// What a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// A setting.
    Setting,
    /// A feature.
    Feature,
    /// A meeting.
    Meeting,
    /// Content sent.
    Content,
    /// Anything else.
    Custom,
}

/// What completing a step needs beyond who and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Confirmation {
    /// Nothing more.
    None,
    /// A CSM's note.
    CsmCheck,
    /// The customer's sign-off: who and when.
    CustomerSignOff,
}

/// What target days count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// The contract's start.
    ContractStart,
    /// The kick-off meeting.
    Kickoff,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDef {
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: StepKind,
    /// What completing it needs.
    pub confirmation: Confirmation,
    /// Days after the anchor it is due.
    pub due_day: i32,
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseDef {
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<StepDef>,
}

/// One condition of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criterion {
    /// A step completed.
    Step(String),
    /// A signal at or above a threshold.
    Signal {
        /// The signal.
        key: String,
        /// The value to reach.
        threshold: i64,
    },
}

/// Target days of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// The tier's name; `TIER_UNSPECIFIED` for the others.
    pub tier: String,
    /// Days to SETUP_COMPLETE.
    pub setup_days: i32,
    /// Days to VALUE_CONFIRMED.
    pub value_days: i32,
    /// Days without progress after which a plan is stalled.
    #[serde(default = "default_stall_days")]
    pub stall_days: i32,
}

/// Days without progress before a plan stalls, unless a playbook says.
pub const DEFAULT_STALL_DAYS: i32 = 14;

fn default_stall_days() -> i32 {
    DEFAULT_STALL_DAYS
}

/// What a caller states of a playbook version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// Name to show.
    pub display_name: String,
    /// Phases, in order.
    pub phases: Vec<PhaseDef>,
    /// SETUP_COMPLETE's criteria.
    pub setup: Vec<Criterion>,
    /// VALUE_CONFIRMED's criteria.
    pub value: Vec<Criterion>,
    /// What targets count from.
    pub anchor: Anchor,
    /// Targets per tier.
    pub targets: Vec<Targets>,
}

impl Definition {
    /// Every step, in order, with its phase's key.
    pub fn steps(&self) -> impl Iterator<Item = (&str, &StepDef)> {
        self.phases
            .iter()
            .flat_map(|p| p.steps.iter().map(move |s| (p.key.as_str(), s)))
    }

    /// The step `key`.
    pub fn step(&self, key: &str) -> Option<&StepDef> {
        self.steps().map(|(_, s)| s).find(|s| s.key == key)
    }

    /// The targets of `tier`, else the default ones.
    pub fn targets_for(&self, tier: &str) -> Option<&Targets> {
        self.targets
            .iter()
            .find(|t| t.tier == tier)
            .or_else(|| self.targets.iter().find(|t| t.tier == DEFAULT_TIER))
    }

    /// Why the structure is not acceptable, per field relative to the
    /// playbook (`phases[0].steps[1].step_key`, ...). Field formats are
    /// checked where they are converted.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.phases.is_empty() || self.phases.len() > MAX_PHASES {
            problems.push((
                "phases".to_owned(),
                format!("must hold 1 to {MAX_PHASES} phases"),
            ));
        }
        let mut phase_keys = BTreeSet::new();
        let mut step_keys = BTreeSet::new();
        for (i, phase) in self.phases.iter().enumerate() {
            if !phase_keys.insert(phase.key.as_str()) {
                problems.push((
                    format!("phases[{i}].phase_key"),
                    format!("{} is used twice", phase.key),
                ));
            }
            if phase.steps.is_empty() {
                problems.push((format!("phases[{i}].steps"), "must hold a step".to_owned()));
            }
            for (j, step) in phase.steps.iter().enumerate() {
                if !step_keys.insert(step.key.as_str()) {
                    problems.push((
                        format!("phases[{i}].steps[{j}].step_key"),
                        format!("{} is used twice", step.key),
                    ));
                }
                if !(0..=MAX_DAYS).contains(&step.due_day) {
                    problems.push((
                        format!("phases[{i}].steps[{j}].due_day"),
                        format!("must be 0 to {MAX_DAYS}"),
                    ));
                }
            }
        }
        if step_keys.len() > MAX_STEPS {
            problems.push((
                "phases".to_owned(),
                format!("must hold at most {MAX_STEPS} steps"),
            ));
        }
        for (field, criteria) in [
            ("setup_criteria", &self.setup),
            ("value_criteria", &self.value),
        ] {
            if criteria.is_empty() || criteria.len() > MAX_CRITERIA {
                problems.push((
                    field.to_owned(),
                    format!("must hold 1 to {MAX_CRITERIA} criteria"),
                ));
            }
            for (i, c) in criteria.iter().enumerate() {
                match c {
                    Criterion::Step(key) if !step_keys.contains(key.as_str()) => problems.push((
                        format!("{field}[{i}].step_key"),
                        format!("{key} is not a step of the playbook"),
                    )),
                    Criterion::Signal { threshold, .. } if *threshold < 1 => problems.push((
                        format!("{field}[{i}].signal.threshold"),
                        "must be at least 1".to_owned(),
                    )),
                    _ => {}
                }
            }
        }
        let mut tiers = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            if !tiers.insert(t.tier.as_str()) {
                problems.push((
                    format!("targets[{i}].tier"),
                    format!("{} is listed twice", t.tier),
                ));
            }
            if !(1..=MAX_DAYS).contains(&t.setup_days) {
                problems.push((
                    format!("targets[{i}].setup_days"),
                    format!("must be 1 to {MAX_DAYS}"),
                ));
            }
            if !(1..=365).contains(&t.stall_days) {
                problems.push((
                    format!("targets[{i}].stall_days"),
                    "must be 0 (14) or 1 to 365".to_owned(),
                ));
            }
            if t.value_days < t.setup_days || t.value_days > MAX_DAYS {
                problems.push((
                    format!("targets[{i}].value_days"),
                    format!("must be setup_days ({}) to {MAX_DAYS}", t.setup_days),
                ));
            }
        }
        if !tiers.contains(DEFAULT_TIER) {
            problems.push((
                "targets".to_owned(),
                "must hold the targets of TIER_UNSPECIFIED (every other tier)".to_owned(),
            ));
        }
        problems
    }
}

/// A playbook at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    /// Its key.
    pub key: String,
    /// The product.
    pub product_key: String,
    /// Its scope: a tier's name, or `TIER_UNSPECIFIED`.
    pub tier: String,
    /// The version's definition.
    pub definition: Definition,
    /// The version.
    pub version: i64,
    /// Published at.
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// Published by.
    pub created_by: String,
    /// The latest version (for the etag).
    pub latest: i64,
}

/// The etag of a playbook's latest version.
pub fn etag(latest: i64) -> String {
    format!("v{latest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str) -> StepDef {
        StepDef {
            key: key.into(),
            name: key.into(),
            kind: StepKind::Setting,
            confirmation: Confirmation::None,
            due_day: 7,
        }
    }

    fn definition() -> Definition {
        Definition {
            display_name: "Analytics".into(),
            phases: vec![PhaseDef {
                key: "setup".into(),
                name: "Setup".into(),
                steps: vec![step("sso"), step("import")],
            }],
            setup: vec![Criterion::Step("sso".into())],
            value: vec![Criterion::Signal {
                key: "users".into(),
                threshold: 10,
            }],
            anchor: Anchor::ContractStart,
            targets: vec![Targets {
                tier: DEFAULT_TIER.into(),
                setup_days: 30,
                value_days: 90,
                stall_days: 14,
            }],
        }
    }

    #[test]
    fn a_sound_playbook_has_no_problems_and_resolves_targets_by_tier() {
        let d = definition();
        assert!(d.problems().is_empty());
        assert_eq!(
            d.targets_for("TIER_HIGH_TOUCH").map(|t| t.value_days),
            Some(90)
        );
        assert_eq!(d.steps().count(), 2);
        assert!(d.step("import").is_some());
    }

    #[test]
    fn structural_mistakes_are_named_by_field() {
        let mut d = definition();
        d.phases[0].steps.push(step("sso"));
        d.setup.push(Criterion::Step("missing".into()));
        d.value = vec![Criterion::Signal {
            key: "users".into(),
            threshold: 0,
        }];
        d.targets[0].setup_days = -1;
        d.targets.push(Targets {
            tier: "TIER_HIGH_TOUCH".into(),
            setup_days: 30,
            value_days: 10,
            stall_days: 7,
        });
        let fields: Vec<String> = d.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            vec![
                "phases[0].steps[2].step_key",
                "setup_criteria[1].step_key",
                "value_criteria[0].signal.threshold",
                "targets[0].setup_days",
                "targets[1].value_days",
            ]
        );
        let empty = Definition {
            phases: vec![],
            targets: vec![],
            ..definition()
        };
        let fields: Vec<String> = empty.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            vec!["phases", "setup_criteria[0].step_key", "targets"]
        );
    }
}
