//! The expansion service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "expansion.themodel";

/// ErrorInfo reason: an update would remove a plan or change its billing
/// period.
pub const PLAN_CHANGE_REFUSED: &str = "PLAN_CHANGE_REFUSED";

/// What can go wrong in the expansion service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such product.
    #[error("product {0} not found")]
    ProductNotFound(String),
    /// The product key is taken.
    #[error("product {0} exists")]
    ProductExists(String),
    /// The caller's etag is stale.
    #[error("etag mismatch")]
    EtagMismatch {
        /// Resource type, e.g. `product`.
        resource: &'static str,
        /// Its id.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// A plan would be removed or change its billing period.
    #[error("plan change refused: {0}")]
    PlanChangeRefused(String),
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
            Error::ProductNotFound(id) => ApiError::NotFound {
                resource: "product",
                id,
            },
            Error::ProductExists(value) => ApiError::AlreadyExists {
                resource: "product",
                field: "product_key",
                value,
            },
            Error::EtagMismatch {
                resource,
                id,
                current,
            } => ApiError::etag_mismatch(resource, id, current),
            Error::PlanChangeRefused(message) => ApiError::FailedPrecondition {
                reason: PLAN_CHANGE_REFUSED,
                message,
                metadata: Vec::new(),
            },
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
