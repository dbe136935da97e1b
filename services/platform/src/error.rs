//! The closed set of errors a service returns, and their one mapping to a gRPC
//! `Status` carrying a `google.rpc.ErrorInfo` (AIP-193) and, for validation
//! errors, `google.rpc.BadRequest` field violations.
//!
//! Each service has its own error enum and converts it into [`ApiError`]; the
//! conversion to `Status` happens only here.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Stable `ErrorInfo.reason` values shared by every service.
pub mod reason {
    /// One or more request fields are invalid; see the BadRequest details.
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// The addressed resource does not exist (or is not visible to the caller).
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// A unique field of the resource is already taken.
    pub const ALREADY_EXISTS: &str = "ALREADY_EXISTS";
    /// The request's etag does not match the stored resource.
    pub const ETAG_MISMATCH: &str = "ETAG_MISMATCH";
    /// The request_id was used before with a different request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    /// No valid bearer token.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The caller's role does not allow the call.
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// A dependency (database, peer service) cannot be reached now; retry later.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// A concurrent change conflicted with the request; retry it.
    pub const CONCURRENT_CHANGE: &str = "CONCURRENT_CHANGE";
    /// The server is at its concurrency limit; retry with backoff.
    pub const OVERLOADED: &str = "OVERLOADED";
    /// The server failed; the cause is in its logs.
    pub const INTERNAL: &str = "INTERNAL";
    /// The request bytes are not a valid protobuf message of the method's type.
    pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";
    /// The request message is larger than the server accepts.
    pub const MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
    /// The caller's deadline passed before the answer was complete.
    pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
}

/// Most field violations one error lists; the rest are counted in the message.
pub const MAX_VIOLATIONS: usize = 100;
/// Longest `grpc-message` a server sends, in bytes.
pub const MAX_MESSAGE_LEN: usize = 1024;
/// Longest ErrorInfo metadata value, field path or violation description, in bytes.
const MAX_METADATA_VALUE_LEN: usize = 256;
/// Bytes of field violations one error carries at most: with the message, the
/// details stay well inside the 16 KiB of metadata clients accept by default.
const VIOLATIONS_BUDGET: usize = 4 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut cut = max.saturating_sub(3);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut]).into()
}

/// One invalid field: its path in the request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `account.acv.currency_code`.
    pub field: String,
    /// What is wrong, in words a developer can act on.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The same violation with its field path prefixed, e.g. `acv` -> `account.acv`.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.field = if prefix.is_empty() {
            self.field
        } else if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// The canonical errors of the suite.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is invalid; nothing was changed.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<Violation>),
    /// The resource does not exist or is hidden from the caller.
    #[error("{resource} {id} not found")]
    NotFound {
        /// Resource type, e.g. `account`.
        resource: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// A unique field is taken.
    #[error("{resource} with {field} {value:?} already exists")]
    AlreadyExists {
        /// Resource type.
        resource: &'static str,
        /// The unique field.
        field: &'static str,
        /// The value that is taken.
        value: String,
    },
    /// The system is not in the state the request requires.
    #[error("{message}")]
    FailedPrecondition {
        /// Stable reason, one of [`reason`] or service-specific.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
        /// Dynamic values for the ErrorInfo metadata.
        metadata: Vec<(&'static str, String)>,
    },
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency is unreachable; the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    /// A concurrent change got in the way; the caller may retry.
    #[error("{0}")]
    Aborted(String),
    /// The caller's deadline passed before the answer was complete.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The server is at a limit; the caller may retry with backoff.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The request bytes could not be decoded as the method's message.
    #[error("the request is not a valid protobuf message: {0}")]
    Undecodable(String),
    /// The request message is over the server's size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A server fault. The cause is logged, never sent to the caller.
    #[error("internal error: {0:#}")]
    Internal(#[source] anyhow::Error),
}

fn describe(violations: &[Violation]) -> String {
    // Leave room for the count of the violations left out.
    let budget = MAX_MESSAGE_LEN - 40;
    let mut text = String::new();
    let mut described = 0;
    for v in violations {
        let part = format!(
            "{}: {}",
            truncate(&v.field, MAX_METADATA_VALUE_LEN),
            truncate(&v.description, MAX_METADATA_VALUE_LEN)
        );
        if described > 0 && text.len() + part.len() + 2 > budget {
            break;
        }
        if described > 0 {
            text.push_str("; ");
        }
        text.push_str(&part);
        described += 1;
    }
    if described < violations.len() {
        text.push_str(&format!("; and {} more", violations.len() - described));
    }
    text
}

impl ApiError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![Violation::new(field, description)])
    }

    /// Wraps a server fault.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// A call to another service of the suite failed with `status`: the
    /// caller may retry when the peer is out of reach, may not when the peer
    /// refused the caller, and anything else is this service's fault.
    pub fn from_peer(peer: &str, status: tonic::Status) -> Self {
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
                Self::Unavailable(status.message().to_owned())
            }
            Code::PermissionDenied | Code::Unauthenticated => {
                Self::PermissionDenied(format!("the {peer} service refused the call"))
            }
            code => Self::internal(anyhow::anyhow!(
                "the {peer} service answered {code:?}: {}",
                status.message()
            )),
        }
    }

    /// The etag a caller sent for `resource` `id` is stale; `current` is the
    /// one to read again.
    pub fn etag_mismatch(resource: &str, id: String, current: String) -> Self {
        Self::FailedPrecondition {
            reason: reason::ETAG_MISMATCH,
            message: format!(
                "{resource} {id} changed since it was read (current etag {current}); read it again and retry"
            ),
            metadata: vec![("id", id), ("current_etag", current)],
        }
    }

    /// The gRPC status for this error, with ErrorInfo in `domain`
    /// (e.g. `segmentation.themodel`). Internal causes are logged here.
    ///
    /// The status is bounded whatever the input: at most [`MAX_VIOLATIONS`]
    /// violations, a message of at most [`MAX_MESSAGE_LEN`] bytes and short
    /// metadata values, so that an error always fits in the response
    /// metadata every client and proxy accepts.
    pub fn into_status(self, domain: &str) -> Status {
        let message = truncate(&self.to_string(), MAX_MESSAGE_LEN).into_owned();
        let mut details = ErrorDetails::new();
        let (code, reason, metadata): (Code, &str, HashMap<String, String>) = match self {
            ApiError::InvalidArgument(violations) => {
                let mut budget = VIOLATIONS_BUDGET;
                for v in violations.into_iter().take(MAX_VIOLATIONS) {
                    let field = truncate(&v.field, MAX_METADATA_VALUE_LEN);
                    let description = truncate(&v.description, MAX_METADATA_VALUE_LEN);
                    let size = field.len() + description.len();
                    if size > budget {
                        break;
                    }
                    budget -= size;
                    details.add_bad_request_violation(field, description);
                }
                (
                    Code::InvalidArgument,
                    reason::INVALID_ARGUMENT,
                    HashMap::new(),
                )
            }
            ApiError::NotFound { resource, id } => (
                Code::NotFound,
                reason::NOT_FOUND,
                HashMap::from([("resource".into(), resource.into()), ("id".into(), id)]),
            ),
            ApiError::AlreadyExists {
                resource,
                field,
                value,
            } => (
                Code::AlreadyExists,
                reason::ALREADY_EXISTS,
                HashMap::from([
                    ("resource".into(), resource.into()),
                    ("field".into(), field.into()),
                    ("value".into(), value),
                ]),
            ),
            ApiError::FailedPrecondition {
                reason, metadata, ..
            } => (
                Code::FailedPrecondition,
                reason,
                metadata
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ),
            ApiError::Unauthenticated(_) => (
                Code::Unauthenticated,
                reason::UNAUTHENTICATED,
                HashMap::new(),
            ),
            ApiError::PermissionDenied(_) => (
                Code::PermissionDenied,
                reason::PERMISSION_DENIED,
                HashMap::new(),
            ),
            ApiError::Unavailable(_) => (Code::Unavailable, reason::UNAVAILABLE, HashMap::new()),
            ApiError::Aborted(_) => (Code::Aborted, reason::CONCURRENT_CHANGE, HashMap::new()),
            ApiError::DeadlineExceeded(_) => (
                Code::DeadlineExceeded,
                reason::DEADLINE_EXCEEDED,
                HashMap::new(),
            ),
            ApiError::ResourceExhausted(_) => {
                (Code::ResourceExhausted, reason::OVERLOADED, HashMap::new())
            }
            ApiError::Undecodable(_) => (
                Code::InvalidArgument,
                reason::MALFORMED_REQUEST,
                HashMap::new(),
            ),
            ApiError::TooLarge(_) => (
                Code::ResourceExhausted,
                reason::MESSAGE_TOO_LARGE,
                HashMap::new(),
            ),
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), domain, "internal error");
                details.set_error_info(reason::INTERNAL, domain, HashMap::new());
                return Status::with_error_details(Code::Internal, "internal error", details);
            }
        };
        let metadata: HashMap<String, String> = metadata
            .into_iter()
            .map(|(k, v)| (k, truncate(&v, MAX_METADATA_VALUE_LEN).into_owned()))
            .collect();
        details.set_error_info(reason, domain, metadata);
        Status::with_error_details(code, message, details)
    }
}

/// A handler's answer: the response, or the error as a status in `domain`.
pub fn respond<T>(result: Result<T, ApiError>, domain: &str) -> Result<tonic::Response<T>, Status> {
    result
        .map(tonic::Response::new)
        .map_err(|e| e.into_status(domain))
}

impl From<sea_orm::DbErr> for ApiError {
    /// A database error the caller did not cause: unreachable is UNAVAILABLE,
    /// anything else INTERNAL.
    fn from(err: sea_orm::DbErr) -> Self {
        match err {
            ref lost if connection_lost(lost) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry later".into())
            }
            ref conflict if is_transaction_conflict(conflict) => {
                tracing::info!(error = %err, "transaction conflict");
                ApiError::Aborted("a concurrent change conflicted with this request; retry".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

/// True when the database could not be reached or the connection broke
/// mid-query (connections are not pinged before use, so a restarted database
/// shows here first): the caller may retry.
fn connection_lost(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                &**e,
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// True for a PostgreSQL serialization failure (40001) or deadlock (40P01):
/// the transaction lost a race with another and can simply be retried.
fn is_transaction_conflict(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
}

/// Collects violations while validating a request, so that a caller learns
/// about every bad field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(Violation::new(field, description));
    }

    /// Records violations found under `prefix`.
    pub fn extend_prefixed(
        &mut self,
        prefix: &str,
        violations: impl IntoIterator<Item = Violation>,
    ) {
        self.0
            .extend(violations.into_iter().map(|v| v.prefixed(prefix)));
    }

    /// Takes a validation result: the value when valid, the violations recorded otherwise.
    pub fn check<T>(&mut self, prefix: &str, result: Result<T, Vec<Violation>>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violations) => {
                self.extend_prefixed(prefix, violations);
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations recorded.
    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded, the violations otherwise.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<Violation>> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_unavailable_and_other_database_errors_internal() {
        use sea_orm::{DbErr, RuntimeErr, sqlx};
        let io = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let broken = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(io())));
        assert!(matches!(ApiError::from(broken), ApiError::Unavailable(_)));
        let timed_out = DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(
            sqlx::Error::PoolTimedOut,
        )));
        assert!(matches!(
            ApiError::from(timed_out),
            ApiError::Unavailable(_)
        ));
        let other = DbErr::Custom("a bug".into());
        assert!(matches!(ApiError::from(other), ApiError::Internal(_)));
    }

    #[test]
    fn validation_errors_carry_field_violations_and_error_info() {
        let status = ApiError::InvalidArgument(vec![
            Violation::new("account.name", "must not be empty"),
            Violation::new("page_size", "must not be negative"),
        ])
        .into_status("segmentation.themodel");
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["account.name", "page_size"]);
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, reason::INVALID_ARGUMENT);
        assert_eq!(info.domain, "segmentation.themodel");
    }

    #[test]
    fn statuses_stay_small_whatever_the_input() {
        let huge = "x".repeat(100_000);
        let violations = (0..200)
            .map(|i| Violation::new(format!("f{i}.{huge}"), huge.clone()))
            .collect();
        let status = ApiError::InvalidArgument(violations).into_status("x.themodel");
        assert!(status.message().len() <= MAX_MESSAGE_LEN);
        assert!(
            status.details().len() < 6 * 1024,
            "{}",
            status.details().len()
        );
        let bad = status.get_details_bad_request().expect("bad request");
        assert!(!bad.field_violations.is_empty());
        let many = (0..1000)
            .map(|i| Violation::new(format!("accounts[{i}].name"), "must not be empty"))
            .collect();
        let status = ApiError::InvalidArgument(many).into_status("x.themodel");
        let bad = status.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        assert!(status.message().ends_with("more"), "{}", status.message());
        let status = ApiError::AlreadyExists {
            resource: "account",
            field: "external_id",
            value: huge.clone(),
        }
        .into_status("x.themodel");
        assert!(status.message().len() <= MAX_MESSAGE_LEN);
        assert!(status.details().len() < 2 * 1024);
        assert_eq!(truncate("héllo", 4), "h...");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status =
            ApiError::internal(anyhow::anyhow!("password=secret")).into_status("x.themodel");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn failed_precondition_keeps_reason_and_metadata() {
        let status = ApiError::FailedPrecondition {
            reason: reason::ETAG_MISMATCH,
            message: "stale".into(),
            metadata: vec![("current_etag", "\"3\"".into())],
        }
        .into_status("x.themodel");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "ETAG_MISMATCH");
        assert_eq!(
            info.metadata.get("current_etag").map(String::as_str),
            Some("\"3\"")
        );
    }
}
