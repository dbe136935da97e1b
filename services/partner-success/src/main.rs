//! The partner-success service as its own process.

use themodel_partner_success::{Application, NAME};
use themodel_platform::registry::{PARTNER_SUCCESS, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Settings::from_command_line(
        &PARTNER_SUCCESS,
        "themodel-partner-success",
        "Partner-success service of the THE MODEL suite",
    );
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
