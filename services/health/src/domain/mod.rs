//! The health service's rules, free of transport and storage.

pub mod access;
pub mod adoption;
pub mod feature;
pub mod scorecard;
pub mod usage;
