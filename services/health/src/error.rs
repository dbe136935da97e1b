//! The health service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "health.themodel";

/// Reason: no scorecard applies to the account.
pub const NO_SCORECARD: &str = "NO_SCORECARD";

/// What can go wrong in the health service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such product in the expansion service's catalogue.
    #[error("product {0} not found")]
    ProductNotFound(String),
    /// No such feature.
    #[error("feature {0} not found")]
    FeatureNotFound(String),
    /// The product has the feature key already.
    #[error("feature {0} exists")]
    FeatureExists(String),
    /// The caller's etag is stale.
    #[error("etag mismatch")]
    EtagMismatch {
        /// Its id.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// No such scorecard (or version).
    #[error("scorecard {0} not found")]
    ScorecardNotFound(String),
    /// The scorecard key, or a scorecard for the scope, exists already.
    #[error("scorecard with {field} {value} exists")]
    ScorecardExists {
        /// The unique field: `scorecard_key` or `tier`.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The caller's scorecard etag is stale.
    #[error("scorecard etag mismatch")]
    ScorecardEtagMismatch {
        /// Its key.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// The caller's alert policy etag is stale.
    #[error("alert policy etag mismatch")]
    PolicyEtagMismatch {
        /// Its current etag.
        current: String,
    },
    /// Neither the account's tier nor the default scope has a scorecard.
    #[error("no scorecard for tier {0} nor a default one")]
    NoScorecard(String),
    /// No such account, or not visible to the caller.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// The account has no score for the product yet.
    #[error("health score {0} not found")]
    ScoreNotFound(String),
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
            Error::FeatureNotFound(id) => ApiError::NotFound {
                resource: "feature",
                id,
            },
            Error::FeatureExists(value) => ApiError::AlreadyExists {
                resource: "feature",
                field: "feature_key",
                value,
            },
            Error::EtagMismatch { id, current } => ApiError::etag_mismatch("feature", id, current),
            Error::ScorecardNotFound(id) => ApiError::NotFound {
                resource: "scorecard",
                id,
            },
            Error::ScorecardExists { field, value } => ApiError::AlreadyExists {
                resource: "scorecard",
                field,
                value,
            },
            Error::ScorecardEtagMismatch { id, current } => {
                ApiError::etag_mismatch("scorecard", id, current)
            }
            Error::PolicyEtagMismatch { current } => {
                ApiError::etag_mismatch("alert policy", "alert-policy".to_owned(), current)
            }
            Error::NoScorecard(tier) => ApiError::FailedPrecondition {
                reason: NO_SCORECARD,
                message: format!(
                    "no scorecard scores tier {tier} and there is no default scorecard; create one"
                ),
                metadata: vec![("tier", tier)],
            },
            Error::AccountNotFound(id) => ApiError::NotFound {
                resource: "account",
                id,
            },
            Error::ScoreNotFound(id) => ApiError::NotFound {
                resource: "health score",
                id,
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
