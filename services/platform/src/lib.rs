//! The library every service of the suite builds on. It is not a service: it
//! holds the pieces each service would otherwise write again — configuration,
//! telemetry, server bootstrap, authentication, errors, validation, page
//! tokens, persistence with idempotency and the outbox, and the event feed.

pub mod accounts;
pub mod auth;
pub mod calls;
pub mod client;
pub mod consumer;
pub mod error;
pub mod event_feed;
pub mod gate;
pub mod identity;
pub mod jobs;
pub mod methods;
pub mod observe;
pub mod page_token;
pub mod registry;
pub mod relay;
pub mod server;
pub mod shed;
pub mod status_guard;
pub mod store;
pub mod telemetry;
pub mod validate;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, Violation, Violations};

/// The memory allocator of every process built on the platform: jemalloc.
/// With the C library's allocator, a usage stream spent about half of the
/// health service's CPU in `malloc` and `free` (mostly merging the freed
/// small blocks of decoded events whenever a chunk's large buffers were
/// allocated); jemalloc cut the service's CPU per event from 10.7 to 3.9 µs
/// and raised the stream's PostgreSQL rate from 62k to 103-107k events a
/// second (see `docs/benchmarks.md`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Runs a service as its own process: telemetry for `name`, a shutdown token
/// cancelled by SIGTERM or Ctrl-C, then `start` (the service's
/// `Application::build`) served until it has drained. Every service's `main`.
pub async fn run_process<F, Fut>(name: &'static str, start: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<server::Running>>,
{
    let _telemetry = telemetry::init(name)?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    start(shutdown).await?.run.await
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C), then cancels
/// `token` so every server drains.
pub async fn cancel_on_signal(token: tokio_util::sync::CancellationToken) {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
    token.cancel();
}
