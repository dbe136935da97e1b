//! Load shedding: calls beyond a limit in flight are refused at once with
//! RESOURCE_EXHAUSTED instead of queueing without bound.
//!
//! A fixed limit bounds work in progress, not CPU: once calls are cheap, the
//! limit's worth of them keeps the core busy, every new call (refusals too)
//! waits behind them as a task in the runtime's queue, and the backlog grows
//! for as long as the load lasts. So the limit adapts to that queue. Each call
//! notes whether the runtime's shared run queue holds more than a backlog of
//! tasks when it starts (a worker's own queue holds 256; the shared one fills
//! only when that overflows, or with wake-ups from other threads). Every
//! interval, if most calls started behind such a backlog the limit is halved;
//! otherwise it grows by an eighth, up to `MAX_CONCURRENT_CALLS`. Calls that
//! wait on the database do not queue there, so slow I/O alone never lowers the
//! limit; under CPU overload the limit can fall to one call.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use tokio::runtime::RuntimeMetrics;

use crate::{
    error::ApiError,
    gate::{Gate, Response},
};

/// The current limit of calls in flight, label `service`.
pub const CONCURRENCY_LIMIT: &str = "grpc_server_concurrency_limit";

/// How often the limit is reconsidered.
const INTERVAL: Duration = Duration::from_millis(100);

/// The adaptive limit of calls in flight.
#[derive(Debug)]
pub struct Limiter {
    /// The server's name, the label of its [`CONCURRENCY_LIMIT`] gauge.
    service: &'static str,
    ceiling: usize,
    /// Tasks in the shared run queue beyond which a call counts as
    /// backlogged; `None`: the limit stays at the ceiling.
    backlog: Option<usize>,
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    epoch: Instant,
    /// Nanoseconds after `epoch` at which the current interval ends.
    interval_end: AtomicU64,
    /// Calls seen in the current interval, and those of them backlogged.
    seen: AtomicU64,
    late: AtomicU64,
}

impl Limiter {
    /// A limit for the server of `service` of at most `ceiling` calls,
    /// lowered while the run queue holds more than `backlog` tasks (fixed at
    /// `ceiling` when `backlog` is `None`).
    pub fn new(service: &'static str, ceiling: usize, backlog: Option<usize>) -> Self {
        let ceiling = ceiling.max(1);
        metrics::gauge!(CONCURRENCY_LIMIT, "service" => service).set(ceiling as f64);
        Self {
            service,
            ceiling,
            backlog,
            limit: AtomicUsize::new(ceiling),
            in_flight: AtomicUsize::new(0),
            epoch: Instant::now(),
            interval_end: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            late: AtomicU64::new(0),
        }
    }

    /// Calls admitted at once now.
    pub fn limit(&self) -> usize {
        self.limit.load(Relaxed)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    /// Admits a call that starts at `now` with `queued` tasks in the run
    /// queue (when known), or refuses it. The permit is held until the call is
    /// answered.
    pub fn try_admit(self: &Arc<Self>, queued: Option<usize>, now: Instant) -> Option<Permit> {
        if let (Some(queued), Some(backlog)) = (queued, self.backlog) {
            self.sample(queued > backlog, now);
        }
        let limit = self.limit.load(Relaxed);
        if self.in_flight.fetch_add(1, Relaxed) >= limit {
            self.in_flight.fetch_sub(1, Relaxed);
            return None;
        }
        Some(Permit(self.clone()))
    }

    /// Counts one call, and closes the interval when it is over.
    fn sample(&self, late: bool, now: Instant) {
        self.seen.fetch_add(1, Relaxed);
        if late {
            self.late.fetch_add(1, Relaxed);
        }
        let now =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let end = self.interval_end.load(Relaxed);
        if now < end {
            return;
        }
        let next = now.saturating_add(INTERVAL.as_nanos() as u64);
        // One caller closes the interval; the others carry on.
        if self
            .interval_end
            .compare_exchange(end, next, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        let seen = self.seen.swap(0, Relaxed);
        let late = self.late.swap(0, Relaxed);
        let limit = self.limit.load(Relaxed);
        let adjusted = if late * 2 > seen {
            (limit / 2).max(1)
        } else {
            (limit + (limit / 8).max(1)).min(self.ceiling)
        };
        if adjusted != limit {
            self.limit.store(adjusted, Relaxed);
            metrics::gauge!(CONCURRENCY_LIMIT, "service" => self.service).set(adjusted as f64);
        }
    }
}

/// A call's place in the limit, given back when dropped.
#[derive(Debug)]
pub struct Permit(Arc<Limiter>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The load-shedding gate of a server.
#[derive(Clone)]
pub struct Shed {
    limiter: Arc<Limiter>,
    /// The runtime serving the calls (none outside one: no adapting).
    runtime: Option<RuntimeMetrics>,
    domain: &'static str,
}

impl Shed {
    /// Sheds calls beyond `limiter`; errors use `domain`.
    pub fn new(limiter: Limiter, domain: &'static str) -> Self {
        Self {
            limiter: Arc::new(limiter),
            runtime: tokio::runtime::Handle::try_current()
                .ok()
                .map(|handle| handle.metrics()),
            domain,
        }
    }
}

impl Gate for Shed {
    type Pass = Permit;

    fn admit<B>(&self, _request: &mut http::Request<B>) -> Result<Permit, Response> {
        let queued = self
            .runtime
            .as_ref()
            .map(RuntimeMetrics::global_queue_depth);
        self.limiter
            .try_admit(queued, Instant::now())
            .ok_or_else(|| {
                ApiError::ResourceExhausted(format!(
                    "the server is overloaded: it is at its current limit of {} calls in flight; \
                 retry with backoff",
                    self.limiter.limit()
                ))
                .into_status(self.domain)
                .into_http()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKLOG: usize = 256;

    /// Feeds one interval of calls, `late` of `calls` behind a backlog, each
    /// admitted and answered at once; returns the limit after it.
    fn interval(limiter: &Arc<Limiter>, at: &mut Instant, calls: usize, late: usize) -> usize {
        for i in 0..calls {
            let queued = if i < late { BACKLOG * 4 } else { BACKLOG / 8 };
            drop(limiter.try_admit(Some(queued), *at));
        }
        *at += INTERVAL;
        // The first call of the next interval closes this one.
        drop(limiter.try_admit(Some(0), *at));
        limiter.limit()
    }

    #[test]
    fn a_fixed_limit_refuses_beyond_the_ceiling() {
        let limiter = Arc::new(Limiter::new("test", 2, None));
        let now = Instant::now();
        let first = limiter.try_admit(Some(BACKLOG * 100), now);
        let second = limiter.try_admit(None, now);
        assert!(first.is_some() && second.is_some());
        assert!(limiter.try_admit(None, now).is_none());
        drop(first);
        assert!(limiter.try_admit(None, now).is_some());
        assert_eq!(limiter.limit(), 2, "no target: the limit never moves");
    }

    #[test]
    fn a_backlog_halves_the_limit_down_to_one_call() {
        let limiter = Arc::new(Limiter::new("test", 256, Some(BACKLOG)));
        let mut at = Instant::now();
        // The very first call opens the first interval.
        interval(&limiter, &mut at, 0, 0);
        assert_eq!(limiter.limit(), 256);
        let mut limits = Vec::new();
        for _ in 0..10 {
            limits.push(interval(&limiter, &mut at, 100, 60));
        }
        assert_eq!(limits, [128, 64, 32, 16, 8, 4, 2, 1, 1, 1]);
    }

    #[test]
    fn a_minority_of_backlogged_calls_lets_the_limit_grow_back_to_the_ceiling() {
        let limiter = Arc::new(Limiter::new("test", 64, Some(BACKLOG)));
        let mut at = Instant::now();
        interval(&limiter, &mut at, 0, 0);
        for _ in 0..6 {
            interval(&limiter, &mut at, 10, 10);
        }
        assert_eq!(limiter.limit(), 1);
        assert_eq!(interval(&limiter, &mut at, 100, 40), 2);
        for _ in 0..60 {
            interval(&limiter, &mut at, 10, 0);
        }
        assert_eq!(limiter.limit(), 64, "grows back, never past the ceiling");
    }

    #[test]
    fn a_lowered_limit_refuses_calls_beyond_it_until_permits_return() {
        let limiter = Arc::new(Limiter::new("test", 32, Some(BACKLOG)));
        let mut at = Instant::now();
        interval(&limiter, &mut at, 0, 0);
        while limiter.limit() > 4 {
            interval(&limiter, &mut at, 10, 10);
        }
        let held: Vec<_> = (0..4)
            .map(|_| limiter.try_admit(None, at).expect("within the limit"))
            .collect();
        assert_eq!(limiter.in_flight(), 4);
        assert!(limiter.try_admit(None, at).is_none());
        drop(held);
        assert_eq!(limiter.in_flight(), 0);
        assert!(limiter.try_admit(None, at).is_some());
    }

    #[test]
    fn calls_without_a_run_queue_reading_do_not_move_the_limit() {
        let limiter = Arc::new(Limiter::new("test", 16, Some(BACKLOG)));
        let mut at = Instant::now();
        for _ in 0..10 {
            drop(limiter.try_admit(None, at));
            at += INTERVAL;
        }
        assert_eq!(limiter.limit(), 16);
    }
}
