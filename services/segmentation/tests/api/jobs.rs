//! Scheduled jobs: one replica at a time runs each job, another takes over
//! when the holder dies, and the service lists its jobs.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use themodel_platform::{
    auth::Role,
    jobs::{JobRunner, Schedule},
    store::{Store, StoreConfig},
    testing::{Bearer, TestDatabase},
};
use themodel_proto::operations::{
    JobOutcome, ListJobsRequest, operations_service_client::OperationsServiceClient,
};
use themodel_segmentation::store::migration::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::helpers::*;

/// What the probe job saw: runs by holder, and the most runs at once.
#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    runs: Mutex<Vec<String>>,
}

impl Probe {
    fn runs_by(&self, holder: &str) -> usize {
        self.runs
            .lock()
            .expect("lock")
            .iter()
            .filter(|h| *h == holder)
            .count()
    }
}

/// Starts a replica's runner with the probe job on `url`.
async fn replica(url: &str, probe: Arc<Probe>, shutdown: CancellationToken) -> JobRunner {
    let store = Store::connect::<Migrator>("segmentation", url, &StoreConfig::default())
        .await
        .expect("store");
    let jobs = JobRunner::new(&store, "segmentation", shutdown);
    let holder = jobs.holder().to_owned();
    jobs.every(
        "probe",
        Schedule::every(Duration::from_millis(50)).lease(Duration::from_millis(800)),
        move || {
            let probe = probe.clone();
            let holder = holder.clone();
            async move {
                let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
                probe.most_at_once.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                probe.runs.lock().expect("lock").push(holder);
                probe.running.fetch_sub(1, Ordering::SeqCst);
                Ok("probed".into())
            }
        },
    );
    jobs
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn one_replica_at_a_time_runs_a_job_and_another_takes_over_when_it_dies() {
    themodel_platform::telemetry::init_for_tests();
    let db = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());

    // Replica A in a runtime of its own, so that it can die without a word.
    let (a_holder, a_runtime) = {
        let url = db.url.clone();
        let probe = probe.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let jobs = runtime.block_on(replica(&url, probe, CancellationToken::new()));
            (jobs.holder().to_owned(), runtime)
        })
        .join()
        .expect("replica a")
    };
    until("replica a has run", || probe.runs_by(&a_holder) >= 3).await;
    let b = replica(&db.url, probe.clone(), CancellationToken::new()).await;
    let b_holder = b.holder().to_owned();
    until("a few more runs", || probe.runs_by(&a_holder) >= 10).await;
    // While A lives, B never runs the job.
    assert_eq!(probe.runs_by(&b_holder), 0);

    // A dies (its tasks stop mid-flight, no lease released); B takes over.
    a_runtime.shutdown_background();
    until("replica b has taken over", || probe.runs_by(&b_holder) >= 5).await;
    assert_eq!(probe.most_at_once.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stopping_replica_hands_its_jobs_over_at_once() {
    themodel_platform::telemetry::init_for_tests();
    let db = TestDatabase::new().await;
    let probe = Arc::new(Probe::default());
    let stop_a = CancellationToken::new();
    let a = replica(&db.url, probe.clone(), stop_a.clone()).await;
    let a_holder = a.holder().to_owned();
    until("replica a has run", || probe.runs_by(&a_holder) >= 2).await;
    // A lease far longer than the test: only a release lets B in.
    let b = {
        let store = Store::connect::<Migrator>("segmentation", &db.url, &StoreConfig::default())
            .await
            .expect("store");
        let jobs = JobRunner::new(&store, "segmentation", CancellationToken::new());
        let (probe, holder) = (probe.clone(), jobs.holder().to_owned());
        jobs.every(
            "probe",
            Schedule::every(Duration::from_millis(50)).lease(Duration::from_secs(600)),
            move || {
                let (probe, holder) = (probe.clone(), holder.clone());
                async move {
                    probe.runs.lock().expect("lock").push(holder);
                    Ok(String::new())
                }
            },
        );
        jobs
    };
    stop_a.cancel();
    until("replica b runs", || probe.runs_by(b.holder()) >= 1).await;
}

#[tokio::test]
async fn the_service_lists_its_jobs_for_operators_only() {
    let app = spawn_app().await;
    let mut ops =
        OperationsServiceClient::with_interceptor(app.channel(), Bearer::new(Role::Bizops, None));
    // The idempotency-key purge runs as soon as the service starts.
    let mut purge = None;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let jobs = ops
                .list_jobs(ListJobsRequest::default())
                .await
                .expect("list jobs")
                .into_inner()
                .jobs;
            if let Some(job) = jobs
                .into_iter()
                .find(|j| j.name == "purge-idempotency-keys" && j.run_count > 0)
                .filter(|j| j.last_outcome != JobOutcome::Unspecified as i32)
            {
                purge = Some(job);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the purge job ran");
    let purge = purge.expect("job");
    assert_eq!(purge.last_outcome, JobOutcome::Succeeded as i32);
    assert_eq!(purge.interval.map(|d| d.seconds), Some(3600));
    assert!(!purge.holder.is_empty());

    let status =
        OperationsServiceClient::with_interceptor(app.channel(), Bearer::new(Role::Csm, None))
            .list_jobs(ListJobsRequest::default())
            .await
            .expect_err("not an operator");
    assert_eq!(status.code(), Code::PermissionDenied);
}
