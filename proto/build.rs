//! Compiles the contracts with protox (pure Rust, no protoc) and generates the
//! prost messages and tonic clients/servers, plus one descriptor set that the
//! servers expose through gRPC reflection.

use std::{env, path::PathBuf};

/// googleapis files vendored unchanged under google/api: the `google.api.http`
/// rules the REST gateway transcodes by. They are imports, not roots, but the
/// descriptor set carries them (protox adds every dependency).
const VENDORED: &[&str] = &["google/api/annotations.proto", "google/api/http.proto"];

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
    for proto in PROTOS.iter().chain(VENDORED) {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let mut compiler = protox::Compiler::new(["."])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTOS)?;
    // Encoded by protox itself so that extension options (the methods'
    // `google.api.http` rules, which the REST gateway reads at run time) stay
    // in: `prost_types` drops them when it encodes the set.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

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
