//! The partner-success service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "partner_success.themodel";

/// What can go wrong in the partner-success service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such partner (or not visible to the caller).
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// The partner id is taken.
    #[error("partner {0} exists")]
    PartnerExists(String),
    /// The caller's etag is stale.
    #[error("etag mismatch")]
    EtagMismatch {
        /// Resource type, e.g. `partner`.
        resource: &'static str,
        /// Its id.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// A canonical error from the platform (auth, idempotency, database).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::Api(err.into())
    }
}

impl From<Vec<Violation>> for Error {
    fn from(violations: Vec<Violation>) -> Self {
        Error::Invalid(violations)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Invalid(violations) => ApiError::InvalidArgument(violations),
            Error::PartnerNotFound(id) => ApiError::NotFound {
                resource: "partner",
                id,
            },
            Error::PartnerExists(value) => ApiError::AlreadyExists {
                resource: "partner",
                field: "partner_id",
                value,
            },
            Error::EtagMismatch {
                resource,
                id,
                current,
            } => ApiError::etag_mismatch(resource, id, current),
            Error::Api(api) => api,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        ApiError::from(err).into_status(DOMAIN)
    }
}

/// Results of this service.
pub type Result<T, E = Error> = std::result::Result<T, E>;
