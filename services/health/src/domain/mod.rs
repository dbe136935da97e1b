//! The health service's rules, free of transport and storage.

pub mod access;
pub mod adoption;
pub mod alerts;
pub mod backtest;
pub mod feature;
pub mod measures;
pub mod scorecard;
pub mod summary;
pub mod usage;
