//! The segmentation domain in plain Rust: accounts and who may touch them.
//! No gRPC and no database here.

pub mod access;
pub mod account;
