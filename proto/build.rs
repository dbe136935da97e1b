//! Compiles the contracts with protox (pure Rust, no protoc) and generates the
//! prost messages and tonic clients/servers, plus one descriptor set that the
//! servers expose through gRPC reflection.

use std::{env, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "themodel/common/v1/types.proto",
    "themodel/events/v1/events.proto",
    "themodel/operations/v1/operations.proto",
    "themodel/expansion/v1/resources.proto",
    "themodel/expansion/v1/events.proto",
    "themodel/expansion/v1/pipeline.proto",
    "themodel/expansion/v1/qbrs.proto",
    "themodel/expansion/v1/renewals.proto",
    "themodel/expansion/v1/expansion_service.proto",
    "themodel/health/v1/resources.proto",
    "themodel/health/v1/events.proto",
    "themodel/health/v1/health_service.proto",
    "themodel/onboarding/v1/resources.proto",
    "themodel/onboarding/v1/events.proto",
    "themodel/onboarding/v1/onboarding_service.proto",
    "themodel/partner_success/v1/resources.proto",
    "themodel/partner_success/v1/events.proto",
    "themodel/partner_success/v1/partner_success_service.proto",
    "themodel/segmentation/v1/resources.proto",
    "themodel/segmentation/v1/events.proto",
    "themodel/segmentation/v1/segmentation_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("descriptor.bin"), fds.encode_to_vec())?;

    // Type names let event payloads be packed into `google.protobuf.Any`.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .emit_rerun_if_changed(false)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
