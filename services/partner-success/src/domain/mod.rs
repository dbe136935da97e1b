//! The partner-success service's rules, free of transport and storage.

pub mod access;
pub mod attribution;
pub mod certification;
pub mod company;
pub mod deal;
pub mod partner;
pub mod scorecard;
pub mod staff;
pub mod tier;
