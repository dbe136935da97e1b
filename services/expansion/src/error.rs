//! The expansion service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "expansion.themodel";

/// ErrorInfo reason: an update would remove a plan or change its billing
/// period.
pub const PLAN_CHANGE_REFUSED: &str = "PLAN_CHANGE_REFUSED";

/// ErrorInfo reason: a term would overlap an earlier one.
pub const TERM_OVERLAP: &str = "TERM_OVERLAP";
/// ErrorInfo reason: the subscription ended before the day it would end.
pub const ALREADY_ENDED: &str = "ALREADY_ENDED";
/// ErrorInfo reason: a retired plan or product is not sold any more.
pub const PLAN_RETIRED: &str = "PLAN_RETIRED";
/// ErrorInfo reason: amounts in more than one currency would be summed.
pub const MIXED_CURRENCIES: &str = "MIXED_CURRENCIES";

/// ErrorInfo reason: customer sales decides only handed-off CSQLs.
pub const CSQL_NOT_HANDED_OFF: &str = "CSQL_NOT_HANDED_OFF";
/// ErrorInfo reason: the CSQL was accepted or rejected already.
pub const CSQL_ALREADY_DECIDED: &str = "CSQL_ALREADY_DECIDED";
/// ErrorInfo reason: the CSQL was handed off already.
pub const CSQL_NOT_OPEN: &str = "CSQL_NOT_OPEN";
/// ErrorInfo reason: the opportunity was won or lost already.
pub const OPPORTUNITY_CLOSED: &str = "OPPORTUNITY_CLOSED";
/// ErrorInfo reason: a cross-sell of a product the account holds.
pub const PRODUCT_HELD: &str = "PRODUCT_HELD";
/// ErrorInfo reason: an upsell of a product the account does not hold.
pub const PRODUCT_NOT_HELD: &str = "PRODUCT_NOT_HELD";
/// ErrorInfo reason: a won opportunity must add MRR.
pub const NO_MRR_GAINED: &str = "NO_MRR_GAINED";

/// ErrorInfo reason: the subscription's last term runs until ended.
pub const NO_RENEWAL_DUE: &str = "NO_RENEWAL_DUE";
/// ErrorInfo reason: the renewal's outcome is known already.
pub const RENEWAL_ALREADY_RECORDED: &str = "RENEWAL_ALREADY_RECORDED";
/// ErrorInfo reason: only a scheduled QBR is recorded as held.
pub const QBR_ALREADY_HELD: &str = "QBR_ALREADY_HELD";

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
    /// No such plan in the product.
    #[error("plan {plan} of product {product} not found")]
    PlanNotFound {
        /// The product.
        product: String,
        /// The plan.
        plan: String,
    },
    /// No such account, or not one the caller may see.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// No such subscription, or not one the caller may see.
    #[error("subscription {0} not found")]
    SubscriptionNotFound(String),
    /// The external id is taken.
    #[error("subscription {0} exists")]
    SubscriptionExists(String),
    /// A term would overlap an earlier one.
    #[error("{0}")]
    TermOverlap(String),
    /// The subscription ended before the day it would end.
    #[error("{0}")]
    AlreadyEnded(String),
    /// New revenue on a plan no longer sold.
    #[error("{0}")]
    PlanRetired(String),
    /// Amounts in several currencies would be summed.
    #[error("amounts in {0} cannot be summed; name one currency")]
    MixedCurrencies(String),
    /// No such CSQL, or not one the caller may see.
    #[error("csql {0} not found")]
    CsqlNotFound(String),
    /// No such opportunity, or not one the caller may see.
    #[error("opportunity {0} not found")]
    OpportunityNotFound(String),
    /// A step of the pipeline out of order.
    #[error("pipeline step refused: {0:?}")]
    Pipeline(crate::domain::pipeline::Refusal),
    /// A won opportunity that adds no MRR.
    #[error("{0}")]
    NoMrrGained(String),
    /// No renewal is due on the subscription.
    #[error("{0}")]
    NoRenewalDue(String),
    /// The renewal is decided already.
    #[error("{0}")]
    RenewalRecorded(String),
    /// No such QBR, or not one the caller may see.
    #[error("qbr {0} not found")]
    QbrNotFound(String),
    /// The QBR was recorded as held already.
    #[error("{0}")]
    QbrHeld(String),
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

impl From<crate::domain::pipeline::Refusal> for Error {
    fn from(refusal: crate::domain::pipeline::Refusal) -> Self {
        Error::Pipeline(refusal)
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
            Error::PlanNotFound { product, plan } => ApiError::NotFound {
                resource: "plan",
                id: format!("{product}/{plan}"),
            },
            Error::AccountNotFound(id) => ApiError::NotFound {
                resource: "account",
                id,
            },
            Error::SubscriptionNotFound(id) => ApiError::NotFound {
                resource: "subscription",
                id,
            },
            Error::SubscriptionExists(value) => ApiError::AlreadyExists {
                resource: "subscription",
                field: "external_id",
                value,
            },
            Error::TermOverlap(message) => ApiError::FailedPrecondition {
                reason: TERM_OVERLAP,
                message,
                metadata: Vec::new(),
            },
            Error::AlreadyEnded(message) => ApiError::FailedPrecondition {
                reason: ALREADY_ENDED,
                message,
                metadata: Vec::new(),
            },
            Error::PlanRetired(message) => ApiError::FailedPrecondition {
                reason: PLAN_RETIRED,
                message,
                metadata: Vec::new(),
            },
            Error::MixedCurrencies(currencies) => ApiError::FailedPrecondition {
                reason: MIXED_CURRENCIES,
                message: format!(
                    "amounts in {currencies} cannot be summed; set currency_code to one of them"
                ),
                metadata: vec![("currencies", currencies)],
            },
            Error::CsqlNotFound(id) => ApiError::NotFound {
                resource: "csql",
                id,
            },
            Error::OpportunityNotFound(id) => ApiError::NotFound {
                resource: "opportunity",
                id,
            },
            Error::Pipeline(refusal) => {
                use crate::domain::pipeline::Refusal;
                let (reason, message) = match refusal {
                    Refusal::NotHandedOff(m) => (CSQL_NOT_HANDED_OFF, m),
                    Refusal::AlreadyDecided(m) => (CSQL_ALREADY_DECIDED, m),
                    Refusal::NotOpen(m) => (CSQL_NOT_OPEN, m),
                    Refusal::Closed(m) => (OPPORTUNITY_CLOSED, m),
                    Refusal::ProductHeld(m) => (PRODUCT_HELD, m),
                    Refusal::ProductNotHeld(m) => (PRODUCT_NOT_HELD, m),
                };
                ApiError::FailedPrecondition {
                    reason,
                    message,
                    metadata: Vec::new(),
                }
            }
            Error::NoMrrGained(message) => ApiError::FailedPrecondition {
                reason: NO_MRR_GAINED,
                message,
                metadata: Vec::new(),
            },
            Error::NoRenewalDue(message) => ApiError::FailedPrecondition {
                reason: NO_RENEWAL_DUE,
                message,
                metadata: Vec::new(),
            },
            Error::RenewalRecorded(message) => ApiError::FailedPrecondition {
                reason: RENEWAL_ALREADY_RECORDED,
                message,
                metadata: Vec::new(),
            },
            Error::QbrNotFound(id) => ApiError::NotFound {
                resource: "qbr",
                id,
            },
            Error::QbrHeld(message) => ApiError::FailedPrecondition {
                reason: QBR_ALREADY_HELD,
                message,
                metadata: Vec::new(),
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
