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
    /// No JSON/REST route has this path.
    #[error("no resource at {}", echo(.0))]
    NoRoute(String),
    /// The path exists, not with this HTTP method.
    #[error("{method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the path serves, comma-separated.
        allowed: String,
    },
    /// A JSON/REST body that is not JSON.
    #[error("content type {} is not served; send application/json", echo(.0))]
    UnsupportedMediaType(String),
    /// A body over the configured limit.
    #[error("the body is over the limit of {0} bytes")]
    BodyTooLarge(usize),
    /// A part of a JSON/REST request that does not make a valid message.
    #[error("{field}: {message}")]
    Invalid {
        /// Where: `body`, `body[3]`, `query.page_size`, `path.id`, a header.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The caller's deadline passed before the backend answered.
    #[error("the deadline passed before the {service} service answered")]
    DeadlineExceeded {
        /// The backend.
        service: String,
    },
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
    /// A request part that is not valid.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status of a JSON/REST error that the gRPC code alone does
    /// not give.
    pub fn http_code(&self) -> Option<http::StatusCode> {
        match self {
            Error::MethodNotAllowed { .. } => Some(http::StatusCode::METHOD_NOT_ALLOWED),
            Error::UnsupportedMediaType(_) => Some(http::StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Error::BodyTooLarge(_) => Some(http::StatusCode::PAYLOAD_TOO_LARGE),
            _ => None,
        }
    }

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
            Error::NoRoute(_) => tonic::Status::new(tonic::Code::NotFound, self.to_string()),
            Error::MethodNotAllowed { .. } => {
                tonic::Status::new(tonic::Code::Unimplemented, self.to_string())
            }
            Error::UnsupportedMediaType(_) => {
                ApiError::invalid("header.content-type", self.to_string()).into_status(DOMAIN)
            }
            Error::BodyTooLarge(_) => {
                ApiError::invalid("body", self.to_string()).into_status(DOMAIN)
            }
            Error::Invalid { field, message } => {
                ApiError::invalid(field, message).into_status(DOMAIN)
            }
            Error::DeadlineExceeded { .. } => {
                ApiError::DeadlineExceeded(self.to_string()).into_status(DOMAIN)
            }
            Error::BackendUnavailable { .. } => {
                ApiError::Unavailable(self.to_string()).into_status(DOMAIN)
            }
        }
    }
}
