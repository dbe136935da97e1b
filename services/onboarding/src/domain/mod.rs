//! The onboarding service's rules, free of transport and storage.

pub mod access;
pub mod capacity;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod self_success;
