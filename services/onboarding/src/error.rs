//! The onboarding service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "onboarding.themodel";

/// Reason: no playbook onboards the account's product and tier.
pub const NO_PLAYBOOK: &str = "NO_PLAYBOOK";
/// Reason: the step is done already.
pub const STEP_ALREADY_DONE: &str = "STEP_ALREADY_DONE";
/// Reason: the plan is completed or cancelled.
pub const PLAN_CLOSED: &str = "PLAN_CLOSED";

/// What can go wrong in the onboarding service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such product in the expansion service's catalogue.
    #[error("product {0} not found")]
    ProductNotFound(String),
    /// No such playbook (or version).
    #[error("playbook {0} not found")]
    PlaybookNotFound(String),
    /// The playbook key, or a playbook for the product and tier, exists.
    #[error("playbook with {field} {value} exists")]
    PlaybookExists {
        /// `playbook_key` or `tier`.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The caller's playbook etag is stale.
    #[error("playbook etag mismatch")]
    PlaybookEtagMismatch {
        /// Its key.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// The caller's self-success rule etag is stale.
    #[error("self-success rule etag mismatch")]
    RuleEtagMismatch {
        /// Its current etag.
        current: String,
    },
    /// No playbook for the product and the account's tier, nor a default.
    #[error("no playbook for product {product} and tier {tier}")]
    NoPlaybook {
        /// The product.
        product: String,
        /// The tier.
        tier: String,
    },
    /// No such account, or not visible to the caller.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// No such plan, or not visible to the caller.
    #[error("plan {0} not found")]
    PlanNotFound(String),
    /// The account has an open plan for the product.
    #[error("open plan exists for {0}")]
    PlanExists(String),
    /// The caller's plan etag is stale.
    #[error("plan etag mismatch")]
    PlanEtagMismatch {
        /// Its id.
        id: String,
        /// Its current etag.
        current: String,
    },
    /// The plan has no such step.
    #[error("step {0} not found")]
    StepNotFound(String),
    /// The step is done already.
    #[error("step {0} is done already")]
    StepAlreadyDone(String),
    /// The plan is completed or cancelled.
    #[error("plan {0} is closed")]
    PlanClosed(String),
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
            Error::PlaybookNotFound(id) => ApiError::NotFound {
                resource: "playbook",
                id,
            },
            Error::PlaybookExists { field, value } => ApiError::AlreadyExists {
                resource: "playbook",
                field,
                value,
            },
            Error::PlaybookEtagMismatch { id, current } => {
                ApiError::etag_mismatch("playbook", id, current)
            }
            Error::RuleEtagMismatch { current } => ApiError::etag_mismatch(
                "self-success rule",
                "self-success-rule".to_owned(),
                current,
            ),
            Error::NoPlaybook { product, tier } => ApiError::FailedPrecondition {
                reason: NO_PLAYBOOK,
                message: format!(
                    "no playbook onboards product {product} for tier {tier} and the product has no default playbook; create one"
                ),
                metadata: vec![("product_key", product), ("tier", tier)],
            },
            Error::AccountNotFound(id) => ApiError::NotFound {
                resource: "account",
                id,
            },
            Error::PlanNotFound(id) => ApiError::NotFound {
                resource: "plan",
                id,
            },
            Error::PlanExists(value) => ApiError::AlreadyExists {
                resource: "plan",
                field: "product_key",
                value,
            },
            Error::PlanEtagMismatch { id, current } => ApiError::etag_mismatch("plan", id, current),
            Error::StepNotFound(id) => ApiError::NotFound {
                resource: "step",
                id,
            },
            Error::StepAlreadyDone(step) => ApiError::FailedPrecondition {
                reason: STEP_ALREADY_DONE,
                message: format!("step {step} is done already"),
                metadata: vec![("step_key", step)],
            },
            Error::PlanClosed(id) => ApiError::FailedPrecondition {
                reason: PLAN_CLOSED,
                message: format!("plan {id} is completed or cancelled"),
                metadata: vec![("plan_id", id)],
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
