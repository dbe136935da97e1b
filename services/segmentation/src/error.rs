//! The segmentation service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "segmentation.themodel";

/// ErrorInfo reason: amounts in several currencies would have to be compared.
pub const MIXED_CURRENCIES: &str = "MIXED_CURRENCIES";
/// ErrorInfo reason: rank shares with no account to rank.
pub const NOTHING_TO_RANK: &str = "NOTHING_TO_RANK";

/// ErrorInfo reason: an override before the first policy version.
pub const NO_TIER_POLICY: &str = "NO_TIER_POLICY";
/// ErrorInfo reason: an override of a churned account.
pub const ACCOUNT_CHURNED: &str = "ACCOUNT_CHURNED";

/// What can go wrong in the segmentation service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such account (or not visible to the caller).
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// The external_id belongs to another account.
    #[error("external_id {0:?} is taken")]
    ExternalIdTaken(String),
    /// The caller's etag is stale.
    #[error("etag mismatch")]
    EtagMismatch {
        /// Resource type, e.g. `account`.
        resource: &'static str,
        /// Its id.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// Amounts in several currencies would have to be compared.
    #[error("amounts in {0:?} cannot be ranked together")]
    MixedCurrencies(Vec<String>),
    /// Rank shares with no account to rank.
    #[error("no account to rank")]
    NothingToRank,
    /// No such CSM.
    #[error("csm {0} not found")]
    CsmNotFound(String),
    /// The CSM id is taken.
    #[error("csm {0} exists")]
    CsmExists(String),
    /// The touchpoint's external_id is recorded already.
    #[error("touchpoint {0} exists")]
    TouchpointExists(String),
    /// Overrides need a policy to be exceptions to.
    #[error("no tier policy applied yet")]
    NoTierPolicy,
    /// Churned accounts are not tiered.
    #[error("account {0} is churned")]
    AccountChurned(String),
    /// No such tier policy version.
    #[error("tier policy version {0} not found")]
    PolicyNotFound(i32),
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
            Error::AccountNotFound(id) => ApiError::NotFound {
                resource: "account",
                id,
            },
            Error::ExternalIdTaken(value) => ApiError::AlreadyExists {
                resource: "account",
                field: "external_id",
                value,
            },
            Error::EtagMismatch {
                resource,
                id,
                current,
            } => ApiError::etag_mismatch(resource, id, current),
            Error::MixedCurrencies(currencies) => ApiError::FailedPrecondition {
                reason: MIXED_CURRENCIES,
                message: format!(
                    "amounts in {} cannot be compared: tier policies rank accounts of one currency",
                    currencies.join(", ")
                ),
                metadata: vec![("currencies", currencies.join(","))],
            },
            Error::NothingToRank => ApiError::FailedPrecondition {
                reason: NOTHING_TO_RANK,
                message: "rank shares need accounts to rank and there are none that are not churned; use money thresholds".into(),
                metadata: Vec::new(),
            },
            Error::CsmNotFound(id) => ApiError::NotFound { resource: "csm", id },
            Error::CsmExists(value) => ApiError::AlreadyExists {
                resource: "csm",
                field: "id",
                value,
            },
            Error::TouchpointExists(value) => ApiError::AlreadyExists {
                resource: "touchpoint",
                field: "external_id",
                value,
            },
            Error::NoTierPolicy => ApiError::FailedPrecondition {
                reason: NO_TIER_POLICY,
                message: "no tier policy has been applied yet; an override is an exception to one".into(),
                metadata: Vec::new(),
            },
            Error::AccountChurned(id) => ApiError::FailedPrecondition {
                reason: ACCOUNT_CHURNED,
                message: format!("account {id} is churned: churned accounts are not tiered"),
                metadata: vec![("id", id)],
            },
            Error::PolicyNotFound(version) => ApiError::NotFound {
                resource: "tier_policy",
                id: version.to_string(),
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
