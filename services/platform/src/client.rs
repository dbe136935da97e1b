//! Calls from one service to another: the one way a service (or a job, or a
//! consumer) calls another service of the suite.
//!
//! Every call carries the caller's identity (the service itself, or a token
//! delegated from the user it acts for, see [`crate::identity`]), its deadline
//! (what is left of the caller's, less a margin, or a default), the W3C trace
//! context and a correlation id. A call that is safe to repeat (a read, or a
//! mutation carrying a `request_id`) is retried on UNAVAILABLE with
//! exponential backoff and jitter while its deadline allows. A target that
//! cannot be reached answers UNAVAILABLE naming it. Calls, errors by code and
//! latency are recorded per target.
//!
//! ```ignore
//! let account = clients
//!     .call(&CallContext::of(&request), "segmentation", "GetAccount", Retry::Safe,
//!         GetAccountRequest { id },
//!         |channel, request| async move {
//!             SegmentationServiceClient::new(channel).get_account(request).await
//!         })
//!     .await?;
//! ```

use std::{
    collections::HashMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use backon::{ExponentialBuilder, Retryable as _};
use tonic::{Code, Status, metadata::MetadataMap, transport::Channel};

use crate::{
    auth::{Principal, TokenExpiry},
    identity::ServiceIdentity,
    registry,
};

/// Calls made, labels `service`, `target`, `method`, `code`.
pub const CLIENT_CALLS: &str = "grpc_client_handled_total";
/// Call latency in seconds (each attempt), labels `service`, `target`, `method`.
pub const CLIENT_LATENCY: &str = "grpc_client_handling_seconds";
/// Metadata key of the correlation id that follows a request across services.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Taken off the deadline passed on, so the callee gives up before the caller.
const DEADLINE_MARGIN: Duration = Duration::from_millis(5);

/// How calls to other services behave.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientConfig {
    /// Milliseconds to wait for a connection to another service.
    #[arg(long, env = "CLIENT_CONNECT_TIMEOUT_MS", default_value_t = 2000)]
    pub client_connect_timeout_ms: u64,
    /// Deadline in milliseconds of a call whose caller set none.
    #[arg(long, env = "CLIENT_DEFAULT_DEADLINE_MS", default_value_t = 5000)]
    pub client_default_deadline_ms: u64,
    /// Retries of a call that is safe to repeat, after UNAVAILABLE.
    #[arg(long, env = "CLIENT_MAX_RETRIES", default_value_t = 3)]
    pub client_max_retries: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_connect_timeout_ms: 2000,
            client_default_deadline_ms: 5000,
            client_max_retries: 3,
        }
    }
}

/// Whether a call may be sent again after UNAVAILABLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A read, or a mutation with a `request_id`: repeating it is harmless.
    Safe,
    /// A mutation without a `request_id`: sent once.
    Once,
}

/// Who a call is made for, until when, and the correlation id it carries.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The user the call is made for, and when that user's token expires;
    /// `None` when the service calls as itself.
    on_behalf_of: Option<(Principal, u64)>,
    deadline: Option<Instant>,
    correlation_id: String,
    /// The incoming W3C trace context, passed on as it is when no trace is
    /// recorded here.
    trace: Vec<(&'static str, String)>,
}

impl CallContext {
    /// The context of an incoming request: its caller, its deadline
    /// (`grpc-timeout`, counted from now) and its correlation id (a new one
    /// when it came without).
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        let extensions = request.extensions();
        let on_behalf_of = extensions
            .get::<Principal>()
            .cloned()
            .zip(extensions.get::<TokenExpiry>().map(|e| e.0));
        let metadata = request.metadata();
        let deadline = metadata
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_timeout)
            .map(|timeout| Instant::now() + timeout);
        let correlation_id = metadata
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let trace = ["traceparent", "tracestate"]
            .into_iter()
            .filter_map(|key| {
                let value = metadata.get(key)?.to_str().ok()?;
                Some((key, value.to_owned()))
            })
            .collect();
        Self {
            on_behalf_of,
            deadline,
            correlation_id,
            trace,
        }
    }

    /// A call the service makes as itself (a job, a consumer), with a new
    /// correlation id and the default deadline.
    pub fn background() -> Self {
        Self {
            on_behalf_of: None,
            deadline: None,
            correlation_id: uuid::Uuid::now_v7().to_string(),
            trace: Vec::new(),
        }
    }

    /// The same context with its deadline `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Instant::now() + timeout);
        self
    }

    /// The correlation id calls in this context carry.
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H M S m u n).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Channels to the services this service calls.
#[derive(Clone)]
pub struct Clients {
    service: &'static str,
    identity: Arc<ServiceIdentity>,
    targets: Arc<HashMap<String, Channel>>,
    config: ClientConfig,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// Clients of `service` to each `(target, url)`, connecting lazily. A URL
    /// that does not parse is an error naming the target.
    pub fn new(
        service: &'static str,
        identity: Arc<ServiceIdentity>,
        config: &ClientConfig,
        targets: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut channels = HashMap::new();
        for (name, url) in targets {
            let endpoint = Channel::from_shared(url.clone())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the address of {name} ({}) is not a URL: {url:?}: {e}",
                        registry::find(name).map_or_else(
                            || "its client address".to_owned(),
                            |info| info.env_var("ADDR")
                        )
                    )
                })?
                .connect_timeout(Duration::from_millis(config.client_connect_timeout_ms))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            channels.insert(name.clone(), endpoint.connect_lazy());
        }
        Ok(Self {
            service,
            identity,
            targets: Arc::new(channels),
            config: config.clone(),
        })
    }

    /// Calls `method` of `target` with `request` through `send` (which makes
    /// the typed call on the channel it is given), for `ctx`.
    pub async fn call<Req, Res, F, Fut>(
        &self,
        ctx: &CallContext,
        target: &str,
        method: &'static str,
        retry: Retry,
        request: Req,
        send: F,
    ) -> Result<Res, Status>
    where
        Req: Clone,
        F: Fn(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Res>, Status>>,
    {
        let channel = self.channel(target)?;
        let deadline = ctx.deadline.unwrap_or_else(|| {
            Instant::now() + Duration::from_millis(self.config.client_default_deadline_ms)
        });
        let attempt = || async {
            let request = self.prepare(ctx, deadline, request.clone())?;
            let started = Instant::now();
            let result = send(channel.clone(), request).await;
            let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
            metrics::counter!(CLIENT_CALLS, "service" => self.service, "target" => target.to_owned(),
                "method" => method, "code" => format!("{code:?}"))
            .increment(1);
            metrics::histogram!(CLIENT_LATENCY, "service" => self.service, "target" => target.to_owned(),
                "method" => method)
            .record(started.elapsed().as_secs_f64());
            result.map(tonic::Response::into_inner)
        };
        let max_retries = match retry {
            Retry::Safe => self.config.client_max_retries,
            Retry::Once => 0,
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(20))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(max_retries)
            .with_jitter();
        attempt
            .retry(backoff)
            .when(|status: &Status| status.code() == Code::Unavailable)
            // Never sleep past the deadline.
            .adjust(|_, delay| delay.filter(|d| Instant::now() + *d + DEADLINE_MARGIN < deadline))
            .await
            .map_err(|status| match status.code() {
                Code::Unavailable => Status::unavailable(format!(
                    "the {target} service is unavailable: {}",
                    crate::error::truncate(status.message(), 200)
                )),
                Code::DeadlineExceeded => Status::deadline_exceeded(format!(
                    "the {target} service did not answer {method} in time"
                )),
                // A deadline that fires is CANCELLED ("Timeout expired") at
                // whichever end notices it first; to the caller it is the
                // deadline passing, not a fault of the peer's.
                Code::Cancelled if Instant::now() + DEADLINE_MARGIN >= deadline => {
                    Status::deadline_exceeded(format!(
                        "the {target} service did not answer {method} in time"
                    ))
                }
                _ => status,
            })
    }

    /// The channel to `target`, for calls `call` cannot make (streams).
    pub fn channel(&self, target: &str) -> Result<Channel, Status> {
        self.targets
            .get(target)
            .cloned()
            .ok_or_else(|| Status::internal(format!("no client configured for {target}")))
    }

    /// A streaming request for `ctx`: identity, trace context and correlation
    /// id, and no deadline (a stream lasts as long as its reader wants).
    pub fn prepare_stream<Req>(
        &self,
        ctx: &CallContext,
        body: Req,
    ) -> Result<tonic::Request<Req>, Status> {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let mut request = self.prepare(ctx, far, body)?;
        request.metadata_mut().remove("grpc-timeout");
        Ok(request)
    }

    /// The request with its identity, deadline, trace context and correlation id.
    fn prepare<Req>(
        &self,
        ctx: &CallContext,
        deadline: Instant,
        body: Req,
    ) -> Result<tonic::Request<Req>, Status> {
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .and_then(|left| left.checked_sub(DEADLINE_MARGIN))
            .filter(|left| !left.is_zero())
            .ok_or_else(|| Status::deadline_exceeded("the caller's deadline has passed"))?;
        let token = match &ctx.on_behalf_of {
            Some((principal, valid_until)) => self.identity.token_for(principal, *valid_until),
            None => self.identity.token(),
        }
        .map_err(|e| {
            tracing::warn!(error = format!("{e:#}"), "cannot mint a token for a call");
            Status::unauthenticated("the caller's token cannot be passed on")
        })?;
        let mut headers = http::HeaderMap::new();
        for (key, value) in &ctx.trace {
            if let Ok(value) = value.parse() {
                headers.insert(*key, value);
            }
        }
        crate::telemetry::inject_current(&mut headers);
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        request.set_timeout(remaining);
        let metadata = request.metadata_mut();
        if let Ok(value) = format!("Bearer {token}").parse() {
            metadata.insert("authorization", value);
        }
        if let Ok(value) = ctx.correlation_id.parse() {
            metadata.insert(CORRELATION_HEADER, value);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_grpc_sends_them() {
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse_timeout("1x"), None);
        assert_eq!(parse_timeout("123456789S"), None);
    }
}
