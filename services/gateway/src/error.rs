//! The gateway's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, validate::echo};

/// ErrorInfo domain of the gateway.
pub const DOMAIN: &str = "gateway.themodel";

/// What can go wrong while routing a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path names no service of the suite.
    #[error("no service of the suite serves {}", echo(.0))]
    UnknownMethod(String),
    /// A call to a shared contract (event feed, operations) without the
    /// metadata that names the service.
    #[error("x-themodel-source must name the service to call (e.g. segmentation)")]
    MissingSource,
    /// The metadata names a service that does not exist.
    #[error("x-themodel-source {} is not a service of the suite", echo(.0))]
    UnknownSource(String),
    /// The backend could not be reached.
    #[error("the {service} service is unavailable: {cause}")]
    BackendUnavailable {
        /// The backend.
        service: String,
        /// Why.
        cause: String,
    },
}

impl Error {
    /// The gRPC status of this error.
    pub fn into_status(self) -> tonic::Status {
        match self {
            // The standard answer for a method no server implements.
            Error::UnknownMethod(_) => {
                tonic::Status::new(tonic::Code::Unimplemented, self.to_string())
            }
            Error::MissingSource | Error::UnknownSource(_) => {
                ApiError::invalid("metadata.x-themodel-source", self.to_string())
                    .into_status(DOMAIN)
            }
            Error::BackendUnavailable { .. } => {
                ApiError::Unavailable(self.to_string()).into_status(DOMAIN)
            }
        }
    }
}
