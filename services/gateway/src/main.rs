//! The gateway as its own process.

use clap::Parser;
use themodel_gateway::{Application, Config, NAME};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = themodel_platform::telemetry::init(NAME)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(themodel_platform::cancel_on_signal(shutdown.clone()));
    let running = Application::build(config, shutdown).await?;
    running.run.await
}
