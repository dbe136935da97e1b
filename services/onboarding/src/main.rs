//! The onboarding service as its own process.

use themodel_onboarding::{Application, NAME};
use themodel_platform::registry::{ONBOARDING, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Settings::from_command_line(
        &ONBOARDING,
        "themodel-onboarding",
        "Onboarding service of the THE MODEL suite",
    );
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
