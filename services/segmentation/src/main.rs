//! The segmentation service as its own process.

use themodel_platform::registry::{SEGMENTATION, Settings};
use themodel_segmentation::{Application, NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Settings::from_command_line(
        &SEGMENTATION,
        "themodel-segmentation",
        "Segmentation service of the THE MODEL suite",
    );
    themodel_platform::run_process(NAME, |shutdown| Application::build(config, shutdown)).await
}
