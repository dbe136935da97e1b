//! The expansion service's rules, free of transport and storage.

pub mod access;
pub mod catalogue;
pub mod pipeline;
pub mod renewal;
pub mod revenue;
pub mod subscription;
