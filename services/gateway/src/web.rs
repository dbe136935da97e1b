//! What browsers and HTTP tools reach in front of the gateway's gRPC stack:
//! the CORS policy, gRPC-Web (turned into gRPC here) and JSON/REST.

use std::{sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue, Method, header};
use themodel_platform::server::Stack;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    forward::SOURCE_HEADER,
    rest::{Api, REQUEST_TIMEOUT, Rest},
};

/// Settings of JSON/REST and browser access.
#[derive(Debug, Clone, clap::Args)]
pub struct WebConfig {
    /// Largest JSON/REST request body accepted, in bytes (larger is 413).
    #[arg(long, env = "REST_MAX_BODY_BYTES", default_value_t = 4 << 20)]
    pub rest_max_body_bytes: usize,
    /// A browser origin allowed to call the gateway over JSON/REST and
    /// gRPC-Web (`https://portal.example.com`; repeatable, or
    /// comma-separated in the variable). None by default: no cross-origin
    /// calls.
    #[arg(
        long = "cors-allowed-origin",
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            rest_max_body_bytes: 4 << 20,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// How long a browser may keep a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The CORS policy allowing `origins`; `None` (no cross-origin calls) when
/// there are none.
pub fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim())
                .map_err(|_| anyhow::anyhow!("CORS origin {o:?} is not a header value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let name = HeaderName::from_static;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                name(REQUEST_TIMEOUT),
                name(SOURCE_HEADER),
                name("grpc-timeout"),
                name("x-grpc-web"),
                name("x-user-agent"),
                name("traceparent"),
                name("tracestate"),
            ])
            .expose_headers([
                name("grpc-status"),
                name("grpc-message"),
                name("grpc-status-details-bin"),
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::ALLOW,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

/// The gateway's stack with JSON/REST, gRPC-Web and the CORS policy in
/// front.
pub fn front(stack: Stack, api: Arc<Api>, cors: Option<CorsLayer>) -> Stack {
    // gRPC-Web answers 400 to any other HTTP/1.1 request, so JSON/REST is
    // told apart first; gRPC and gRPC-Web pass through it.
    let web = Rest::new(Stack::new(tonic_web::GrpcWebLayer::new().layer(stack)), api);
    match cors {
        Some(cors) => Stack::new(
            tower::ServiceExt::<http::Request<tonic::body::Body>>::map_response(
                cors.layer(web),
                |r| r.map(tonic::body::Body::new),
            ),
        ),
        None => Stack::new(web),
    }
}
