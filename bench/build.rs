//! Compiles the benchmark's own echo contract (not part of the suite's API).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/themodel/bench/v1/echo.proto");
    let fds = protox::compile(["themodel/bench/v1/echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
