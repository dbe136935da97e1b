//! What bounds a call's life besides its own work: the caller's token and the
//! server's shutdown.
//!
//! - A streaming response ends with UNAUTHENTICATED when the token that opened
//!   it expires: it would otherwise go on disclosing data to a caller who can
//!   no longer authenticate.
//! - On shutdown every streaming response ends at once with UNAVAILABLE (its
//!   client reconnects to another replica), new calls but health and
//!   reflection are refused with UNAVAILABLE, and unary calls in flight
//!   finish. [`Calls::drained`] resolves when no call is left, so the process
//!   exits as soon as its unary work is done.
//!
//! Unary responses are never cut: their single message answers a request
//! that was authorized and accepted before the cut-off.
//!
//! [`Calls`] is the [`Gate`] that does this; it sits behind authentication,
//! which puts the token's expiry in the request.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::FutureExt as _;
use http_body::{Body, Frame, SizeHint};
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

use crate::{
    auth::{TokenExpiry, is_public_path},
    error::ApiError,
    gate::{Gate, Response},
};

/// The calls of one server: what is in flight, and the shutdown signal.
#[derive(Clone)]
pub struct Calls {
    in_flight: TaskTracker,
    shutdown: CancellationToken,
    domain: &'static str,
}

impl Calls {
    /// Calls of a server whose errors carry ErrorInfo in `domain`, stopped by `shutdown`.
    pub fn new(domain: &'static str, shutdown: CancellationToken) -> Self {
        Self {
            in_flight: TaskTracker::new(),
            shutdown,
            domain,
        }
    }

    /// Calls not finished yet (their response not fully sent).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Resolves once shutdown has begun and no call is left in flight.
    pub async fn drained(&self) {
        self.shutdown.cancelled().await;
        self.in_flight.close();
        self.in_flight.wait().await;
    }
}

impl Gate for Calls {
    type Pass = (TaskTrackerToken, Option<Cut>);

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Self::Pass, Response> {
        let path = request.uri().path();
        if self.shutdown.is_cancelled() && !is_public_path(path) {
            let status = ApiError::Unavailable(
                "the server is shutting down; retry, another replica will answer".into(),
            )
            .into_status(self.domain);
            return Err(status.into_http());
        }
        let cut = crate::methods::is_streaming(path).then(|| {
            Cut::new(
                self.shutdown.clone(),
                request.extensions().get::<TokenExpiry>().copied(),
                self.domain,
            )
        });
        Ok((self.in_flight.token(), cut))
    }

    fn respond(&self, (in_flight, cut): Self::Pass, response: Response) -> Response {
        response.map(|body| {
            tonic::body::Body::new(BoundedBody {
                inner: Some(body),
                cut,
                _in_flight: in_flight,
            })
        })
    }
}

/// When a streaming response must end early, and with what status.
pub struct Cut {
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    domain: &'static str,
}

impl Cut {
    fn new(shutdown: CancellationToken, expiry: Option<TokenExpiry>, domain: &'static str) -> Self {
        let expiry = expiry.map(|TokenExpiry(valid_until)| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let left = Duration::from_secs(valid_until.saturating_sub(now));
            Box::pin(tokio::time::sleep(left))
        });
        Self {
            shutdown: Box::pin(shutdown.cancelled_owned()),
            expiry,
            domain,
        }
    }

    /// The status to end the stream with, once it is due.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<tonic::Status> {
        let error = if self.shutdown.poll_unpin(cx).is_ready() {
            ApiError::Unavailable(
                "the server is shutting down; reconnect, another replica will answer".into(),
            )
        } else if self
            .expiry
            .as_mut()
            .is_some_and(|sleep| sleep.poll_unpin(cx).is_ready())
        {
            ApiError::Unauthenticated("the bearer token expired; reconnect with a new one".into())
        } else {
            return Poll::Pending;
        };
        Poll::Ready(error.into_status(self.domain))
    }
}

/// A response body that counts as in flight until it is done or dropped, and
/// for streaming methods ends at the [`Cut`].
struct BoundedBody {
    /// `None` once the stream was cut.
    inner: Option<tonic::body::Body>,
    cut: Option<Cut>,
    _in_flight: TaskTrackerToken,
}

impl Body for BoundedBody {
    type Data = tonic::codegen::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(cut) = &mut this.cut
            && let Poll::Ready(status) = cut.poll(cx)
        {
            this.cut = None;
            // Dropping the stream tells its producer the caller is gone.
            this.inner = None;
            let mut trailers = http::HeaderMap::new();
            if let Err(err) = status.add_header(&mut trailers) {
                tracing::error!(error = %err, "cannot encode the status ending a stream");
            }
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let Some(inner) = &mut this.inner else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(&polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))))
            || matches!(&polled, Poll::Ready(Some(Ok(frame))) if frame.is_trailers())
        {
            // The stream ended by itself: nothing left to cut.
            this.cut = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
