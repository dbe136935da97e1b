//! The health service as its own process.

use themodel_health::{Application, NAME};
use themodel_platform::registry::{HEALTH, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Settings::from_command_line(
        &HEALTH,
        "themodel-health",
        "Health service of the THE MODEL suite",
    );
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
