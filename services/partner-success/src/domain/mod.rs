//! The partner-success service's rules, free of transport and storage.

pub mod access;
pub mod partner;
