//! A gRPC status as a JSON/REST answer: the `google.rpc.Status` in its JSON
//! form (code, message, details with their `@type`) under the HTTP status
//! code that the usual mapping gives it.

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::{ErrorDetail, StatusExt};

use super::{Response, json_response};

/// The reason services give a stale etag; such a FAILED_PRECONDITION is 412.
const ETAG_MISMATCH: &str = "ETAG_MISMATCH";
/// Seconds a client is told to wait after RESOURCE_EXHAUSTED without a
/// RetryInfo.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// The HTTP status code of a gRPC status.
pub fn http_code(status: &tonic::Status) -> StatusCode {
    match status.code() {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::FailedPrecondition if is_etag_mismatch(status) => StatusCode::PRECONDITION_FAILED,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // What nginx and the grpc-gateway answer for a caller that gave up.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn is_etag_mismatch(status: &tonic::Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|info| info.reason == ETAG_MISMATCH)
}

/// `status` in the JSON mapping of `google.rpc.Status`.
pub fn to_json(status: &tonic::Status) -> Value {
    json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": status.get_error_details_vec().iter().filter_map(detail_json).collect::<Vec<_>>(),
    })
}

/// The answer for `status`, with `code` as its HTTP status.
pub fn respond(status: &tonic::Status, code: StatusCode) -> Response {
    let mut response = json_response(code, &to_json(status));
    let headers = response.headers_mut();
    match status.code() {
        Code::Unauthenticated => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Code::ResourceExhausted => {
            let delay = status
                .get_error_details_vec()
                .into_iter()
                .find_map(|d| match d {
                    ErrorDetail::RetryInfo(info) => info.retry_delay,
                    _ => None,
                });
            let secs = delay.map_or(DEFAULT_RETRY_AFTER_SECS, |d| {
                d.as_secs() + u64::from(d.subsec_nanos() > 0)
            });
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        _ => {}
    }
    response
}

/// A duration as the JSON mapping writes it (`"1.500s"`).
fn duration_json(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let fraction = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
}

/// One detail in the JSON mapping of `google.protobuf.Any` (`None` for a
/// kind this version of the details library does not know).
fn detail_json(detail: &ErrorDetail) -> Option<Value> {
    Some(match detail {
        ErrorDetail::ErrorInfo(d) => json!({
            "@type": tonic_types::ErrorInfo::TYPE_URL,
            "reason": d.reason,
            "domain": d.domain,
            "metadata": d.metadata,
        }),
        ErrorDetail::BadRequest(d) => json!({
            "@type": tonic_types::BadRequest::TYPE_URL,
            "fieldViolations": d.field_violations.iter().map(|v| json!({
                "field": v.field,
                "description": v.description,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::RetryInfo(d) => json!({
            "@type": tonic_types::RetryInfo::TYPE_URL,
            "retryDelay": d.retry_delay.map(duration_json),
        }),
        ErrorDetail::PreconditionFailure(d) => json!({
            "@type": tonic_types::PreconditionFailure::TYPE_URL,
            "violations": d.violations.iter().map(|v| json!({
                "type": v.r#type,
                "subject": v.subject,
                "description": v.description,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::ResourceInfo(d) => json!({
            "@type": tonic_types::ResourceInfo::TYPE_URL,
            "resourceType": d.resource_type,
            "resourceName": d.resource_name,
            "owner": d.owner,
            "description": d.description,
        }),
        ErrorDetail::QuotaFailure(d) => json!({
            "@type": tonic_types::QuotaFailure::TYPE_URL,
            "violations": d.violations.iter().map(|v| json!({
                "subject": v.subject,
                "description": v.description,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::RequestInfo(d) => json!({
            "@type": tonic_types::RequestInfo::TYPE_URL,
            "requestId": d.request_id,
            "servingData": d.serving_data,
        }),
        ErrorDetail::Help(d) => json!({
            "@type": tonic_types::Help::TYPE_URL,
            "links": d.links.iter().map(|l| json!({
                "description": l.description,
                "url": l.url,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::LocalizedMessage(d) => json!({
            "@type": tonic_types::LocalizedMessage::TYPE_URL,
            "locale": d.locale,
            "message": d.message,
        }),
        ErrorDetail::DebugInfo(d) => json!({
            "@type": tonic_types::DebugInfo::TYPE_URL,
            "stackEntries": d.stack_entries,
            "detail": d.detail,
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use themodel_platform::ApiError;

    #[test]
    fn codes_map_the_usual_way() {
        let code = |c| http_code(&tonic::Status::new(c, "x"));
        assert_eq!(code(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(code(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(code(Code::PermissionDenied), StatusCode::FORBIDDEN);
        assert_eq!(code(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(code(Code::AlreadyExists), StatusCode::CONFLICT);
        assert_eq!(code(Code::Aborted), StatusCode::CONFLICT);
        assert_eq!(code(Code::FailedPrecondition), StatusCode::BAD_REQUEST);
        assert_eq!(code(Code::ResourceExhausted), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code(Code::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code(Code::Internal), StatusCode::INTERNAL_SERVER_ERROR);
        let stale = ApiError::etag_mismatch("account", "a1".into(), "\"2\"".into())
            .into_status("segmentation.themodel");
        assert_eq!(http_code(&stale), StatusCode::PRECONDITION_FAILED);
    }

    #[test]
    fn durations_read_as_the_json_mapping_writes_them() {
        assert_eq!(duration_json(Duration::from_secs(2)), "2s");
        assert_eq!(duration_json(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration_json(Duration::from_nanos(1)), "0.000000001s");
    }
}
