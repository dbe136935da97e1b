//! The segmentation domain in plain Rust: accounts, who may touch them, and
//! the tier policies that decide their touch models.
//! No gRPC and no database here.

pub mod access;
pub mod account;
pub mod books;
pub mod coverage;
pub mod csm;
pub mod plan;
pub mod policy;
