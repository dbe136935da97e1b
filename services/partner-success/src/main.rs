//! The partner-success service as its own process.

use clap::Parser;
use themodel_partner_success::{Application, Config, NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
