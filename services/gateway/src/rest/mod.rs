//! JSON/REST in front of the gateway's gRPC stack. A request that is not
//! gRPC is matched against the routes the contracts' `google.api.http`
//! rules declare, turned into the gRPC call it stands for and sent through
//! the same stack as any gRPC call (authentication, shedding, metrics,
//! tracing, deadline, forwarding); the gRPC answer comes back as JSON.
//!
//! Unary RPCs answer one JSON object. A server stream answers
//! newline-delimited JSON, one `{"result": ...}` per message and an
//! `{"error": ...}` line if it fails midway. A client stream takes
//! newline-delimited JSON request objects, all checked before any is sent.

pub mod routes;
pub mod status;
pub mod template;
pub mod transcode;

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tower::util::BoxCloneSyncService;

use crate::error::Error;
use routes::{Found, Route, Routes};
use themodel_platform::ApiError;

/// What the gateway's stack answers.
pub type Response = http::Response<tonic::body::Body>;
/// The gateway's gRPC stack, as the JSON/REST front calls it.
pub type Inner = BoxCloneSyncService<http::Request<tonic::body::Body>, Response, Infallible>;

/// Header giving a JSON/REST call's deadline in seconds (`2.5`).
pub const REQUEST_TIMEOUT: &str = "request-timeout";
/// Bounds of a `Request-Timeout`, seconds.
const MIN_REQUEST_TIMEOUT_SECS: f64 = 1.0;
const MAX_REQUEST_TIMEOUT_SECS: f64 = 86_400.0;
/// Content type of a streamed JSON/REST body.
const NDJSON: &str = "application/x-ndjson";
/// Headers of the HTTP request that say nothing to the gRPC call.
const HOP_HEADERS: [header::HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::HOST,
    header::TE,
];

/// The JSON/REST API: its routes and limits.
pub struct Api {
    routes: Routes,
    max_body_bytes: usize,
    openapi: Bytes,
}

/// Every contract of the suite, with the comments of its source.
pub fn descriptor_pool() -> anyhow::Result<DescriptorPool> {
    Ok(DescriptorPool::decode(themodel_proto::FILE_DESCRIPTOR_SET)?)
}

impl Api {
    /// Serves `routes`; `openapi` is served at `GET /openapi.json`.
    pub fn new(routes: Routes, max_body_bytes: usize, openapi: Bytes) -> Self {
        Self {
            routes,
            max_body_bytes,
            openapi,
        }
    }

    /// The routes.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }
}

/// The JSON/REST front, wrapping the gateway's gRPC stack.
#[derive(Clone)]
pub struct Rest {
    inner: Inner,
    api: Arc<Api>,
}

impl Rest {
    /// `inner` with JSON/REST in front of it.
    pub fn new(inner: Inner, api: Arc<Api>) -> Self {
        Self { inner, api }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Rest {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        // Use the service that was made ready, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_grpc(request.headers()) {
            return inner.call(request);
        }
        let api = self.api.clone();
        Box::pin(async move { Ok(api.serve(inner, request).await) })
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

impl Api {
    async fn serve(&self, inner: Inner, request: http::Request<tonic::body::Body>) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        if path == "/openapi.json" && parts.method == Method::GET {
            let mut response = http::Response::new(tonic::body::Body::new(
                http_body_util::Full::new(self.openapi.clone()),
            ));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        let (route, bound) = match self.routes.find(&parts.method, path) {
            Found::Route(route, bound) => (route, bound),
            Found::NotFound => return error(Error::NoRoute(path.to_owned())),
            Found::MethodNotAllowed(allowed) => {
                let allowed = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut response = error(Error::MethodNotAllowed {
                    method: parts.method.to_string(),
                    allowed: allowed.clone(),
                });
                if let Ok(value) = HeaderValue::from_str(&allowed) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                return response;
            }
        };
        match self.call(inner, route, bound, parts, body).await {
            Ok(response) => response,
            Err(err) => error(err),
        }
    }

    async fn call(
        &self,
        inner: Inner,
        route: &Route,
        bound: Vec<(&str, String)>,
        parts: http::request::Parts,
        body: tonic::body::Body,
    ) -> Result<Response, Error> {
        let body = self.read_body(route, &parts.headers, body).await?;
        let input = route.rpc.input();
        let frames = if route.rpc.is_client_streaming() {
            transcode::stream_requests(&input, &body)?
                .iter()
                .map(transcode::frame)
                .collect::<Vec<_>>()
        } else {
            let message = transcode::request(&input, route.body, &body, parts.uri.query(), &bound)?;
            vec![transcode::frame(&message)]
        };
        let (request, timeout) = grpc_request(parts, &route.grpc_path, frames)?;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let response = tower::ServiceExt::oneshot(inner, request)
            .await
            .unwrap_or_else(|never| match never {});
        let output = route.rpc.output();
        if route.rpc.is_server_streaming() {
            Ok(stream_response(response, output, deadline))
        } else {
            Ok(unary_response(response, output).await)
        }
    }

    /// The body, within the limit, as a JSON body must be sent.
    async fn read_body(
        &self,
        route: &Route,
        headers: &HeaderMap,
        body: tonic::body::Body,
    ) -> Result<Bytes, Error> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return Err(Error::BodyTooLarge(self.max_body_bytes));
        }
        let body = http_body_util::Limited::new(body, self.max_body_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::BodyTooLarge(self.max_body_bytes)
                } else {
                    Error::invalid("body", format!("could not be read: {e}"))
                }
            })?
            .to_bytes();
        if body.is_empty() {
            return Ok(body);
        }
        if route.body == routes::Body::None {
            return Err(Error::invalid(
                "body",
                format!(
                    "{} {} takes no body",
                    route.method,
                    route.template.openapi_path()
                ),
            ));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let json = essence.eq_ignore_ascii_case("application/json")
            || (route.rpc.is_client_streaming() && essence.eq_ignore_ascii_case(NDJSON));
        if !json {
            return Err(Error::UnsupportedMediaType(content_type.to_owned()));
        }
        Ok(body)
    }
}

/// The gRPC request a JSON/REST request stands for: the caller's headers
/// (token, trace context, source service) with the deadline in gRPC form;
/// and the `Request-Timeout`, if one was given.
fn grpc_request(
    parts: http::request::Parts,
    grpc_path: &str,
    frames: Vec<Bytes>,
) -> Result<(http::Request<tonic::body::Body>, Option<Duration>), Error> {
    let mut headers = parts.headers;
    let timeout = match headers.get(REQUEST_TIMEOUT) {
        Some(value) => Some(request_timeout(value)?),
        None => None,
    };
    for name in &HOP_HEADERS {
        headers.remove(name);
    }
    headers.remove(REQUEST_TIMEOUT);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Some(timeout) = timeout
        && !headers.contains_key("grpc-timeout")
        && let Ok(value) = HeaderValue::from_str(&format!("{}m", timeout.as_millis().max(1)))
    {
        headers.insert("grpc-timeout", value);
    }
    let body: Bytes = frames.concat().into();
    let mut request = http::Request::new(tonic::body::Body::new(http_body_util::Full::new(body)));
    *request.method_mut() = Method::POST;
    *request.version_mut() = http::Version::HTTP_2;
    *request.uri_mut() = grpc_path
        .parse()
        .map_err(|_| Error::NoRoute(grpc_path.to_owned()))?;
    *request.headers_mut() = headers;
    *request.extensions_mut() = parts.extensions;
    Ok((request, timeout))
}

/// A `Request-Timeout` of seconds, from one to a day. (A shorter deadline
/// is for gRPC callers, in `grpc-timeout`: over HTTP/1.1 it would leave no
/// time for the call.)
fn request_timeout(value: &HeaderValue) -> Result<Duration, Error> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| (MIN_REQUEST_TIMEOUT_SECS..=MAX_REQUEST_TIMEOUT_SECS).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::invalid(
                "header.request-timeout",
                format!(
                    "must be a number of seconds from {MIN_REQUEST_TIMEOUT_SECS} to {MAX_REQUEST_TIMEOUT_SECS}"
                ),
            )
        })
}

/// The status a gRPC answer ended with: in its headers (an answer without a
/// message) or in its trailers.
fn status_of(headers: &HeaderMap, trailers: Option<&HeaderMap>) -> tonic::Status {
    tonic::Status::from_header_map(headers)
        .or_else(|| trailers.and_then(tonic::Status::from_header_map))
        .unwrap_or_else(|| tonic::Status::internal("the backend's answer carried no status"))
}

async fn unary_response(response: Response, output: MessageDescriptor) -> Response {
    let (parts, body) = response.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers)
        && status.code() != tonic::Code::Ok
    {
        return status_response(&status);
    }
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(status) => return status_response(&status),
    };
    let status = status_of(&parts.headers, collected.trailers());
    if status.code() != tonic::Code::Ok {
        return status_response(&status);
    }
    let mut data = BytesMut::from(collected.to_bytes());
    let message = match transcode::take_frame(&mut data) {
        Ok(Some(bytes)) => DynamicMessage::decode(output, bytes).map_err(|e| e.to_string()),
        Ok(None) => Err("the backend's answer held no message".to_owned()),
        Err(e) => Err(e),
    };
    match message {
        Ok(message) => json_bytes_response(StatusCode::OK, transcode::to_json(&message).into()),
        Err(e) => {
            tracing::error!(error = %e, "undecodable backend answer");
            status_response(&tonic::Status::internal(e))
        }
    }
}

/// A server stream as newline-delimited JSON. The stream ends at the
/// caller's deadline, if it gave one: the service bounds only the wait for
/// a stream's first answer, so the transcoder, as the gRPC client, ends it.
fn stream_response(
    response: Response,
    output: MessageDescriptor,
    deadline: Option<tokio::time::Instant>,
) -> Response {
    let (parts, body) = response.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers)
        && status.code() != tonic::Code::Ok
    {
        return status_response(&status);
    }
    struct State {
        body: tonic::body::Body,
        buf: BytesMut,
        output: MessageDescriptor,
        done: bool,
    }
    let lines = futures::stream::unfold(
        State {
            body,
            buf: BytesMut::new(),
            output,
            done: false,
        },
        move |mut state| async move {
            loop {
                if state.done {
                    return None;
                }
                match transcode::take_frame(&mut state.buf) {
                    Ok(Some(bytes)) => {
                        let line = match DynamicMessage::decode(state.output.clone(), bytes) {
                            Ok(message) => result_line(&message),
                            Err(e) => {
                                state.done = true;
                                error_line(&tonic::Status::internal(e.to_string()))
                            }
                        };
                        return Some((Ok::<_, Infallible>(http_body::Frame::data(line)), state));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        state.done = true;
                        let line = error_line(&tonic::Status::internal(e));
                        return Some((Ok(http_body::Frame::data(line)), state));
                    }
                }
                let next = match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, state.body.frame()).await,
                    None => Ok(state.body.frame().await),
                };
                let Ok(next) = next else {
                    state.done = true;
                    let status = ApiError::DeadlineExceeded("the call's deadline passed".into())
                        .into_status(crate::error::DOMAIN);
                    return Some((Ok(http_body::Frame::data(error_line(&status))), state));
                };
                match next {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => state.buf.extend_from_slice(&data),
                        Err(frame) => {
                            state.done = true;
                            let status = status_of(&HeaderMap::new(), frame.trailers_ref());
                            if status.code() != tonic::Code::Ok {
                                return Some((
                                    Ok(http_body::Frame::data(error_line(&status))),
                                    state,
                                ));
                            }
                        }
                    },
                    Some(Err(status)) => {
                        state.done = true;
                        return Some((Ok(http_body::Frame::data(error_line(&status))), state));
                    }
                    None => state.done = true,
                }
            }
        },
    );
    let mut response = http::Response::new(tonic::body::Body::new(
        http_body_util::StreamBody::new(lines),
    ));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

fn result_line(message: &DynamicMessage) -> Bytes {
    let mut line = b"{\"result\":".to_vec();
    line.extend(transcode::to_json(message));
    line.extend(b"}\n");
    line.into()
}

fn error_line(status: &tonic::Status) -> Bytes {
    let mut line = serde_json::to_vec(&serde_json::json!({ "error": status::to_json(status) }))
        .unwrap_or_default();
    line.push(b'\n');
    line.into()
}

/// The JSON answer for a gateway error.
fn error(err: Error) -> Response {
    let code = err.http_code();
    let status = err.into_status();
    status::respond(&status, code.unwrap_or_else(|| status::http_code(&status)))
}

/// The JSON answer for a gRPC status.
fn status_response(status: &tonic::Status) -> Response {
    status::respond(status, status::http_code(status))
}

/// `body` as a JSON answer with status `code`.
pub(crate) fn json_response(code: StatusCode, body: &serde_json::Value) -> Response {
    json_bytes_response(code, serde_json::to_vec(body).unwrap_or_default().into())
}

fn json_bytes_response(code: StatusCode, body: Bytes) -> Response {
    let mut response = http::Response::new(tonic::body::Body::new(http_body_util::Full::new(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
