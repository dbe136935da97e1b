//! Per-RPC observation for every server: a tracing span parented on the
//! caller's `traceparent`, and Prometheus metrics — calls by method and gRPC
//! code, and a latency histogram — recorded when the call ends.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
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
#[derive(Clone)]
pub struct ObserveLayer {
    series: Arc<Series>,
}

impl ObserveLayer {
    /// Observes the server of `service` (e.g. "segmentation").
    pub fn new(service: &'static str) -> Self {
        let _ = prometheus();
        Self {
            series: Arc::new(Series::new(service)),
        }
    }
}

/// A server's metric series, by method label.
///
/// Each series' handle is made on its first use and kept: looking a series up
/// by its labels allocates and hashes them on every call (a twentieth of the
/// server's CPU on a trivial call, see `docs/benchmarks.md`), where a kept
/// handle only adds to an atomic.
struct Series {
    service: &'static str,
    methods: HashMap<&'static str, MethodSeries>,
}

/// One method's series: its latency, and its calls by gRPC code.
#[derive(Default)]
struct MethodSeries {
    latency: OnceLock<metrics::Histogram>,
    calls: [OnceLock<metrics::Counter>; CODES],
}

/// gRPC status codes, 0 (OK) to 16 (UNAUTHENTICATED).
const CODES: usize = 17;

impl Series {
    fn new(service: &'static str) -> Self {
        Self {
            service,
            methods: crate::methods::labels()
                .map(|method| (method, MethodSeries::default()))
                .collect(),
        }
    }

    fn record(&self, method: &'static str, code: i32, elapsed: Duration) {
        let code = tonic::Code::from_i32(code);
        let calls = || self.calls(method, code);
        let latency = || self.latency(method);
        match self.methods.get(method) {
            Some(series) => {
                series.calls[code as usize].get_or_init(calls).increment(1);
                series
                    .latency
                    .get_or_init(latency)
                    .record(elapsed.as_secs_f64());
            }
            // Every label has its entry; a series outside them is still counted.
            None => {
                calls().increment(1);
                latency().record(elapsed.as_secs_f64());
            }
        }
    }

    fn calls(&self, method: &'static str, code: tonic::Code) -> metrics::Counter {
        let code = format!("{code:?}");
        metrics::counter!(RPC_CALLS, "service" => self.service, "method" => method, "code" => code)
    }

    fn latency(&self, method: &'static str) -> metrics::Histogram {
        metrics::histogram!(RPC_LATENCY, "service" => self.service, "method" => method)
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            series: self.series.clone(),
        }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    series: Arc<Series>,
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
        let series = self.series.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let start = Instant::now();
        Box::pin(
            async move {
                let response = inner.call(request).await?;
                let recorder = Recorder {
                    series,
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
    series: Arc<Series>,
    method: &'static str,
    start: Instant,
    span: tracing::Span,
}

impl Recorder {
    fn record(self, code: i32) {
        self.span.record("rpc.grpc.status_code", code);
        self.series.record(self.method, code, self.start.elapsed());
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

#[cfg(test)]
mod tests {
    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    const GET_ACCOUNT: &str = "/themodel.segmentation.v1.SegmentationService/GetAccount";

    /// The value of the exported `metric` line of `service`'s GetAccount
    /// series that also carries `label`.
    fn exported(metric: &str, service: &str, label: &str) -> Option<f64> {
        prometheus()
            .render()
            .lines()
            .find(|line| {
                line.starts_with(metric)
                    && line.contains(&format!("service=\"{service}\""))
                    && line.contains(&format!("method=\"{GET_ACCOUNT}\""))
                    && line.contains(label)
            })
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
    }

    #[tokio::test]
    async fn every_call_is_counted_by_method_and_code_and_timed() {
        let not_found = tower::service_fn(|_: http::Request<()>| async {
            let mut response = http::Response::new(tonic::body::Body::empty());
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static("5"));
            Ok::<_, std::convert::Infallible>(response)
        });
        let service = ObserveLayer::new("observe-test").layer(not_found);
        for calls in 1..=3 {
            let request = http::Request::builder()
                .uri(GET_ACCOUNT)
                .body(())
                .expect("request");
            service.clone().oneshot(request).await.expect("answered");
            let count = |metric, label| exported(metric, "observe-test", label);
            assert_eq!(count(RPC_CALLS, "code=\"NotFound\""), Some(calls as f64));
            let timed = format!("{RPC_LATENCY}_count");
            assert_eq!(count(&timed, ""), Some(calls as f64));
        }
    }
}
