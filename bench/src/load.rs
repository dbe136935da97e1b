//! The load generator: closed-loop (fixed concurrency) and open-loop (fixed
//! arrival rate) drivers that record latencies in HdrHistograms and errors by
//! gRPC code.
//!
//! Open loop measures each call from the instant it was *scheduled*, not from
//! when it was sent, so a server that falls behind shows its real queueing
//! delay (no coordinated omission).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;

/// What one call ended with.
pub type Outcome = Result<(), tonic::Code>;

/// The result of one load run.
pub struct Report {
    /// Calls that succeeded.
    pub ok: u64,
    /// Failed calls by gRPC code name.
    pub errors: BTreeMap<String, u64>,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Latency of successful calls, microseconds.
    pub ok_latency: Histogram<u64>,
    /// Latency of failed calls, microseconds.
    pub error_latency: Histogram<u64>,
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

impl Report {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds");
        Self {
            ok: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            ok_latency: histogram(),
            error_latency: histogram(),
        }
    }

    fn record(&mut self, outcome: Outcome, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 120_000_000);
        match outcome {
            Ok(()) => {
                self.ok += 1;
                let _ = self.ok_latency.record(micros);
            }
            Err(code) => {
                *self.errors.entry(format!("{code:?}")).or_default() += 1;
                let _ = self.error_latency.record(micros);
            }
        }
    }

    /// Adds `other`'s calls, errors, latencies and measured time.
    pub fn merge(&mut self, other: &Report) {
        self.ok += other.ok;
        self.elapsed += other.elapsed;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        let _ = self.ok_latency.add(&other.ok_latency);
        let _ = self.error_latency.add(&other.error_latency);
    }

    /// Successful calls per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Failed calls.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// A quantile of successful-call latency, in milliseconds.
    pub fn ok_ms(&self, quantile: f64) -> f64 {
        self.ok_latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// A quantile of failed-call latency, in milliseconds.
    pub fn error_ms(&self, quantile: f64) -> f64 {
        self.error_latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// Errors as `CODE=n, ...`.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        self.errors
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `concurrency` workers each call back-to-back for `warmup + measure`; only
/// calls that start after the warm-up are recorded. `call(worker)` makes one call.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    call: F,
) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now() + warmup;
    let end = start + measure;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut report = Report::new();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        return report;
                    }
                    let outcome = call(worker).await;
                    if sent >= start {
                        report.record(outcome, sent.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut total = Report::new();
    for worker in workers {
        if let Ok(report) = worker.await {
            total.merge(&report);
        }
    }
    total.elapsed = measure;
    total
}

/// Calls arrive at `rate` per second for `measure`, whatever the server does.
/// At most `max_in_flight` calls are outstanding; a call that would exceed it
/// is counted as `ClientOverflow` instead of being queued.
pub async fn open_loop<F, Fut>(
    rate: f64,
    measure: Duration,
    max_in_flight: usize,
    call: F,
) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let call = Arc::new(call);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Outcome, Duration)>();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let collector = tokio::spawn(async move {
        let mut report = Report::new();
        while let Some((outcome, latency)) = rx.recv().await {
            report.record(outcome, latency);
        }
        report
    });
    let start = tokio::time::Instant::now();
    let total = (rate * measure.as_secs_f64()) as u64;
    let mut overflow = 0u64;
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            overflow += 1;
            continue;
        };
        let call = call.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let outcome = call(i).await;
            let _ = tx.send((outcome, scheduled.elapsed()));
            drop(permit);
        });
    }
    drop(tx);
    let mut report = collector.await.unwrap_or_else(|_| Report::new());
    if overflow > 0 {
        report.errors.insert("ClientOverflow".into(), overflow);
    }
    report.elapsed = measure;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_counts_successes_and_errors_by_code() {
        let report = closed_loop(
            2,
            Duration::ZERO,
            Duration::from_millis(100),
            |worker| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if worker == 0 {
                    Ok(())
                } else {
                    Err(tonic::Code::Unavailable)
                }
            },
        )
        .await;
        assert!(report.ok > 0);
        assert_eq!(report.errors.keys().collect::<Vec<_>>(), ["Unavailable"]);
        assert!(report.ok_ms(0.5) >= 1.0);
    }

    #[tokio::test]
    async fn open_loop_never_queues_beyond_its_in_flight_limit() {
        // 50 calls are due within 50 ms; each takes a second and only 5 may be
        // outstanding, so the other 45 are counted, not queued.
        let report = open_loop(1000.0, Duration::from_millis(50), 5, |_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .await;
        assert_eq!(report.ok, 5);
        assert_eq!(report.errors.get("ClientOverflow"), Some(&45));
        // Latency is measured from the scheduled start, so it includes the wait.
        assert!(report.ok_ms(0.5) >= 1000.0);
    }
}
