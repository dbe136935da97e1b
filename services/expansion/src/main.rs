//! The expansion service as its own process.

use themodel_expansion::{Application, NAME};
use themodel_platform::registry::{EXPANSION, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Settings::from_command_line(
        &EXPANSION,
        "themodel-expansion",
        "Expansion service of the THE MODEL suite",
    );
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
