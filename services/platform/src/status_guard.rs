//! The last look at every error a server sends before it leaves the process.
//!
//! tonic answers a request it cannot decode itself, before any handler runs:
//! undecodable bytes as INTERNAL and an oversized message as OUT_OF_RANGE. The
//! suite keeps INTERNAL for its own faults, so these become INVALID_ARGUMENT
//! (`MALFORMED_REQUEST`) and RESOURCE_EXHAUSTED (`MESSAGE_TOO_LARGE`, gRPC's
//! convention). And whatever produced an error, its message and details are
//! kept small enough for every client and proxy to accept, so that one
//! caller's error can never break a connection other callers share.

use tonic::{Code, Status};

use crate::{
    error::{ApiError, MAX_MESSAGE_LEN, truncate},
    gate::{Gate, Response},
};

/// Largest `grpc-status-details-bin` passed on, in bytes of its base64 text.
const MAX_DETAILS_LEN: usize = 8 * 1024;

/// The gate applying the rules above to trailers-only (error) responses.
#[derive(Clone, Copy)]
pub struct StatusGuard {
    domain: &'static str,
}

impl StatusGuard {
    /// Rewritten errors carry ErrorInfo in `domain`.
    pub fn new(domain: &'static str) -> Self {
        Self { domain }
    }
}

impl Gate for StatusGuard {
    type Pass = ();

    fn admit<B>(&self, _request: &mut http::Request<B>) -> Result<(), Response> {
        Ok(())
    }

    fn respond(&self, _pass: (), mut response: Response) -> Response {
        guard(response.headers_mut(), self.domain);
        response
    }
}

/// Rewrites the status in `headers` (a trailers-only response) when it is one
/// of tonic's own codec errors or too large to pass on.
fn guard(headers: &mut http::HeaderMap, domain: &str) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let replacement = match status.code() {
        Code::Internal
            if status
                .message()
                .starts_with("failed to decode Protobuf message") =>
        {
            let detail = status
                .message()
                .trim_start_matches("failed to decode Protobuf message")
                .trim_start_matches(':')
                .trim();
            Some(ApiError::Undecodable(truncate(detail, 200).into_owned()).into_status(domain))
        }
        Code::OutOfRange
            if status
                .message()
                .contains("decoded message length too large") =>
        {
            Some(
                ApiError::TooLarge(truncate(status.message(), 200).into_owned())
                    .into_status(domain),
            )
        }
        _ => {
            let message_len = headers.get("grpc-message").map_or(0, |v| v.len());
            let details_len = headers
                .get("grpc-status-details-bin")
                .map_or(0, |v| v.len());
            // Percent-encoding can triple the message, hence the factor.
            (message_len > 3 * MAX_MESSAGE_LEN || details_len > MAX_DETAILS_LEN).then(|| {
                Status::new(
                    status.code(),
                    truncate(status.message(), MAX_MESSAGE_LEN).into_owned(),
                )
            })
        }
    };
    if let Some(replacement) = replacement {
        headers.remove("grpc-status-details-bin");
        headers.remove("grpc-message");
        if let Err(err) = replacement.add_header(headers) {
            tracing::error!(error = %err, "cannot encode a rewritten status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    fn headers_of(status: Status) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).expect("encode");
        headers
    }

    #[test]
    fn decode_failures_become_invalid_argument() {
        let mut headers = headers_of(Status::internal(
            "failed to decode Protobuf message: Account.name: invalid string value: data is not UTF-8 encoded",
        ));
        guard(&mut headers, "x.themodel");
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("not UTF-8"),
            "{}",
            status.message()
        );
        assert_eq!(
            status.get_details_error_info().expect("info").reason,
            "MALFORMED_REQUEST"
        );
    }

    #[test]
    fn oversized_messages_are_resource_exhausted() {
        let mut headers = headers_of(Status::out_of_range(
            "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes",
        ));
        guard(&mut headers, "x.themodel");
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.code(), Code::ResourceExhausted);
    }

    #[test]
    fn the_services_own_errors_pass_unchanged_and_huge_ones_are_cut() {
        let own = ApiError::internal(anyhow::anyhow!("boom")).into_status("x.themodel");
        let mut headers = headers_of(own);
        let before = headers.clone();
        guard(&mut headers, "x.themodel");
        assert_eq!(headers, before);

        let mut headers = headers_of(Status::with_details(
            Code::NotFound,
            "y".repeat(100_000),
            vec![7u8; 100_000].into(),
        ));
        guard(&mut headers, "x.themodel");
        let status = Status::from_header_map(&headers).expect("status");
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() <= MAX_MESSAGE_LEN);
        assert!(headers.get("grpc-status-details-bin").is_none());
    }
}
