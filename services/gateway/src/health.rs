//! The gateway's health per backend: `grpc.health.v1.Health/Check` at the
//! gateway answers for each backend service by its name ("segmentation") and
//! by its contracts' names ("themodel.segmentation.v1.SegmentationService"),
//! so a probe can ask whether a service is reachable through the gateway.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_check_response, health_client::HealthClient},
    server::HealthReporter,
};

use crate::forward::{Backend, Forwarder};

/// How often each backend is asked.
const INTERVAL: Duration = Duration::from_secs(5);
/// How long a backend gets to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the health of every backend current until `shutdown`.
pub async fn watch_backends(
    forwarder: Forwarder,
    reporter: HealthReporter,
    shutdown: CancellationToken,
) {
    let names: Vec<(String, Vec<String>)> = forwarder
        .backends()
        .map(|b| (b.name().to_owned(), health_names(b.name())))
        .collect();
    loop {
        for backend in forwarder.backends() {
            let status = check(backend).await;
            if let Some((_, reported)) = names.iter().find(|(name, _)| name == backend.name()) {
                for name in reported {
                    reporter.set_service_status(name, status).await;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

/// Asks the backend for its own overall health.
async fn check(backend: &Backend) -> ServingStatus {
    let mut client = HealthClient::new(backend.channel());
    let answer = tokio::time::timeout(TIMEOUT, client.check(HealthCheckRequest::default())).await;
    match answer {
        Ok(Ok(response))
            if response.get_ref().status
                == health_check_response::ServingStatus::Serving as i32 =>
        {
            ServingStatus::Serving
        }
        Ok(Ok(_)) => ServingStatus::NotServing,
        Ok(Err(status)) => {
            tracing::debug!(backend = backend.name(), %status, "backend health check failed");
            ServingStatus::NotServing
        }
        Err(_) => {
            tracing::debug!(backend = backend.name(), "backend health check timed out");
            ServingStatus::NotServing
        }
    }
}

/// The names a backend's health is reported under: its own, and those of the
/// gRPC services in its package `themodel.<name>.v1`.
fn health_names(name: &str) -> Vec<String> {
    std::iter::once(name.to_owned())
        .chain(themodel_platform::methods::services_in(&format!(
            "themodel.{name}.v1"
        )))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_answers_for_its_name_and_its_contracts() {
        assert_eq!(
            health_names("segmentation"),
            [
                "segmentation",
                "themodel.segmentation.v1.SegmentationService"
            ]
        );
    }
}
