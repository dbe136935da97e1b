//! The suite's protobuf contracts: prost messages and tonic clients (feature
//! `client`) and servers (feature `server`), one module per protobuf package.

#![allow(clippy::all, missing_docs)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

pub mod themodel {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("themodel.common.v1");
        }
    }
    pub mod expansion {
        pub mod v1 {
            tonic::include_proto!("themodel.expansion.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("themodel.events.v1");
        }
    }
    pub mod health {
        pub mod v1 {
            tonic::include_proto!("themodel.health.v1");
        }
    }
    pub mod onboarding {
        pub mod v1 {
            tonic::include_proto!("themodel.onboarding.v1");
        }
    }
    pub mod operations {
        pub mod v1 {
            tonic::include_proto!("themodel.operations.v1");
        }
    }
    pub mod partner_success {
        pub mod v1 {
            tonic::include_proto!("themodel.partner_success.v1");
        }
    }
    pub mod segmentation {
        pub mod v1 {
            tonic::include_proto!("themodel.segmentation.v1");
        }
    }
}

pub use themodel::{
    common::v1 as common, events::v1 as events, expansion::v1 as expansion, health::v1 as health,
    onboarding::v1 as onboarding, operations::v1 as operations,
    partner_success::v1 as partner_success, segmentation::v1 as segmentation,
};
