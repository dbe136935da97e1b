//! Per-RPC observation for every server: a tracing span parented on the
//! caller's `traceparent`, and Prometheus metrics — calls by method and gRPC
//! code, and a latency histogram — recorded when the call ends.

use std::{
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll, ready},
    time::Instant,
};

use futures::future::BoxFuture;
use http_body::{Body, Frame};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

/// Calls handled, labels `service`, `method`, `code`.
pub const RPC_CALLS: &str = "grpc_server_handled_total";
/// Call latency in seconds, labels `service`, `method`.
pub const RPC_LATENCY: &str = "grpc_server_handling_seconds";

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(RPC_LATENCY.into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (a test harness): keep a local one.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Tower layer adding a span and metrics to every call of `service`.
#[derive(Clone, Copy)]
pub struct ObserveLayer {
    service: &'static str,
}

impl ObserveLayer {
    /// Observes the server of `service` (e.g. "segmentation").
    pub fn new(service: &'static str) -> Self {
        let _ = prometheus();
        Self { service }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            service: self.service,
        }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    service: &'static str,
}

impl<S, B, RB> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Body + Send + 'static,
{
    type Response = http::Response<ObservedBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Only known methods name their series: paths are the caller's choice.
        let method = crate::methods::label(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        crate::telemetry::set_parent_from(&span, request.headers());
        let service = self.service;
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let start = Instant::now();
        Box::pin(
            async move {
                let response = inner.call(request).await?;
                let recorder = Recorder {
                    service,
                    method,
                    start,
                    span: tracing::Span::current(),
                };
                // Errors arrive as trailers-only responses: the code is in the headers.
                let done = match grpc_code(response.headers()) {
                    Some(code) => {
                        recorder.record(code);
                        None
                    }
                    None => Some(recorder),
                };
                Ok(response.map(|inner| ObservedBody {
                    inner,
                    recorder: done,
                }))
            }
            .instrument(span),
        )
    }
}

fn grpc_code(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

struct Recorder {
    service: &'static str,
    method: &'static str,
    start: Instant,
    span: tracing::Span,
}

impl Recorder {
    fn record(self, code: i32) {
        let code_name = format!("{:?}", tonic::Code::from_i32(code));
        self.span.record("rpc.grpc.status_code", code);
        metrics::counter!(RPC_CALLS, "service" => self.service, "method" => self.method, "code" => code_name)
            .increment(1);
        metrics::histogram!(RPC_LATENCY, "service" => self.service, "method" => self.method)
            .record(self.start.elapsed().as_secs_f64());
    }
}

pin_project_lite::pin_project! {
    /// A response body that records the call when its trailers pass by.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // The caller went away before the trailers: record as cancelled.
            if let Some(recorder) = this.project().recorder.take() {
                recorder.record(tonic::Code::Cancelled as i32);
            }
        }
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_code)
                    && let Some(recorder) = this.recorder.take()
                {
                    recorder.record(code);
                }
            }
            Some(Err(_)) => {
                if let Some(recorder) = this.recorder.take() {
                    recorder.record(tonic::Code::Internal as i32);
                }
            }
            None => {
                if let Some(recorder) = this.recorder.take() {
                    recorder.record(tonic::Code::Ok as i32);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
