//! The partner-success service's errors and their one mapping to gRPC status.

use themodel_platform::{ApiError, Violation};

use crate::domain::deal::InvalidTransition;

/// ErrorInfo domain of this service.
pub const DOMAIN: &str = "partner_success.themodel";

/// ErrorInfo reason: a deal cannot move from its status to the one asked.
pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
/// ErrorInfo reason: a deal with a conflict is approved without an override.
pub const DEAL_CONFLICT: &str = "DEAL_CONFLICT";
/// ErrorInfo reason: a suspended or terminated partner registers a deal.
pub const PARTNER_INACTIVE: &str = "PARTNER_INACTIVE";
/// ErrorInfo reason: a sourced attribution names another partner than the
/// account's own.
pub const SOURCED_PARTNER_MISMATCH: &str = "SOURCED_PARTNER_MISMATCH";
/// ErrorInfo reason: an attribution overlaps one of the same account,
/// partner and kind.
pub const ATTRIBUTION_OVERLAP: &str = "ATTRIBUTION_OVERLAP";
/// ErrorInfo reason: an attribution already ended.
pub const ALREADY_ENDED: &str = "ALREADY_ENDED";
/// ErrorInfo reason: partners' tiers are evaluated before the first tier
/// program version.
pub const NO_TIER_PROGRAM: &str = "NO_TIER_PROGRAM";
/// ErrorInfo reason: a partner that is not active is evaluated for a tier.
pub const PARTNER_NOT_ACTIVE: &str = "PARTNER_NOT_ACTIVE";
/// ErrorInfo reason: a report of another service sums amounts in several
/// currencies.
pub const MIXED_CURRENCIES: &str = "MIXED_CURRENCIES";

/// What can go wrong in the partner-success service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such resource (or not visible to the caller).
    #[error("{resource} {id} not found")]
    NotFound {
        /// `partner`, `staff`, `account`, `attribution`, `deal`.
        resource: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No such partner (or not visible to the caller).
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// The partner id is taken.
    #[error("partner {0} exists")]
    PartnerExists(String),
    /// A unique field of a resource is taken.
    #[error("{resource} with {field} {value:?} exists")]
    Taken {
        /// Resource type.
        resource: &'static str,
        /// The unique field.
        field: &'static str,
        /// The value.
        value: String,
    },
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
    /// A deal move its status does not allow.
    #[error("deal {id}: {} cannot become {}", .transition.current.as_str_name(), .transition.requested.as_str_name())]
    InvalidTransition {
        /// The deal.
        id: String,
        /// Current and requested status.
        transition: InvalidTransition,
    },
    /// A conflicting deal approved without an override.
    #[error("deal {0} has a conflict")]
    DealConflict(String),
    /// The partner may not register deals now.
    #[error("partner {partner_id} is {status}")]
    PartnerInactive {
        /// The partner.
        partner_id: String,
        /// Its status name.
        status: &'static str,
    },
    /// A sourced attribution names another partner than the account's.
    #[error("{0}")]
    SourcedPartnerMismatch(String),
    /// An attribution overlaps another of the same account, partner and kind.
    #[error("attribution overlaps {0}")]
    AttributionOverlap(String),
    /// The attribution already ended.
    #[error("{0}")]
    AlreadyEnded(String),
    /// There is no tier program to evaluate yet.
    #[error("no tier program")]
    NoTierProgram,
    /// Only active partners are tiered.
    #[error("partner {partner_id} is {status}")]
    PartnerNotActive {
        /// The partner.
        partner_id: String,
        /// Its status name.
        status: &'static str,
    },
    /// Another service's report has amounts in several currencies.
    #[error("{what} amounts in {currencies}")]
    MixedCurrencies {
        /// What the amounts are: `revenue`, `CSQL`.
        what: &'static str,
        /// The currencies, as the other service named them.
        currencies: String,
    },
    /// A canonical error from the platform (auth, idempotency, database).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Error {
    /// A call to the `peer` service for its `what` report failed with
    /// `status`: amounts in several currencies are the caller's to settle
    /// (FAILED_PRECONDITION `MIXED_CURRENCIES`); the rest as
    /// [`ApiError::from_peer`] (UNAVAILABLE when the peer is out of reach).
    pub fn from_peer(peer: &str, what: &'static str, status: tonic::Status) -> Self {
        use tonic_types::StatusExt as _;
        if status.code() == tonic::Code::FailedPrecondition
            && let Some(info) = status.get_details_error_info()
            && info.reason == MIXED_CURRENCIES
        {
            return Error::MixedCurrencies {
                what,
                currencies: info.metadata.get("currencies").cloned().unwrap_or_default(),
            };
        }
        Error::Api(ApiError::from_peer(peer, status))
    }
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
        let failed = |reason, message, metadata| ApiError::FailedPrecondition {
            reason,
            message,
            metadata,
        };
        match err {
            Error::Invalid(violations) => ApiError::InvalidArgument(violations),
            Error::NotFound { resource, id } => ApiError::NotFound { resource, id },
            Error::PartnerNotFound(id) => ApiError::NotFound {
                resource: "partner",
                id,
            },
            Error::PartnerExists(value) => ApiError::AlreadyExists {
                resource: "partner",
                field: "partner_id",
                value,
            },
            Error::Taken {
                resource,
                field,
                value,
            } => ApiError::AlreadyExists {
                resource,
                field,
                value,
            },
            Error::EtagMismatch {
                resource,
                id,
                current,
            } => ApiError::etag_mismatch(resource, id, current),
            Error::InvalidTransition { id, transition } => {
                let current = transition.current.as_str_name();
                let requested = transition.requested.as_str_name();
                failed(
                    INVALID_TRANSITION,
                    format!("deal {id} is {current} and cannot become {requested}"),
                    vec![
                        ("current_status", current.to_owned()),
                        ("requested_status", requested.to_owned()),
                    ],
                )
            }
            Error::DealConflict(id) => failed(
                DEAL_CONFLICT,
                format!(
                    "deal {id} conflicts with another registration or a customer; \
                     approve with override_conflict and an override_reason, or reject it"
                ),
                vec![("deal_id", id)],
            ),
            Error::PartnerInactive { partner_id, status } => failed(
                PARTNER_INACTIVE,
                format!("partner {partner_id} is {status} and may not register deals"),
                vec![("partner_id", partner_id), ("status", status.to_owned())],
            ),
            Error::SourcedPartnerMismatch(message) => {
                failed(SOURCED_PARTNER_MISMATCH, message, Vec::new())
            }
            Error::AttributionOverlap(id) => failed(
                ATTRIBUTION_OVERLAP,
                format!(
                    "the period overlaps attribution {id} of the same account, partner and kind; end it first"
                ),
                vec![("attribution_id", id)],
            ),
            Error::AlreadyEnded(message) => failed(ALREADY_ENDED, message, Vec::new()),
            Error::NoTierProgram => failed(
                NO_TIER_PROGRAM,
                "there is no tier program yet; make its first version with UpdateTierProgram"
                    .into(),
                Vec::new(),
            ),
            Error::PartnerNotActive { partner_id, status } => failed(
                PARTNER_NOT_ACTIVE,
                format!("partner {partner_id} is {status}; only active partners are tiered"),
                vec![("partner_id", partner_id), ("status", status.to_owned())],
            ),
            Error::MixedCurrencies { what, currencies } => failed(
                MIXED_CURRENCIES,
                match what {
                    "revenue" => format!(
                        "the partners' revenue is in {currencies} and cannot be summed; \
                         set currency_code to one of them"
                    ),
                    _ => format!(
                        "the partners' {what} amounts are in {currencies} and cannot be summed"
                    ),
                },
                vec![("currencies", currencies)],
            ),
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
