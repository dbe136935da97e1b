//! Scheduled jobs: periodic work (purges, stall checks, re-evaluations,
//! relays) that runs on exactly one replica at a time.
//!
//! Each job has a lease row in the service's own database. A replica runs a
//! job only while it holds the lease, renews it while it runs, and keeps it
//! between runs; when the holder dies its lease runs out and another replica
//! takes over. Whether a run is due is decided from the start time stored in
//! the row, so a takeover neither repeats nor skips a run. A replica that
//! loses its lease during a run (it stalled past the lease) stops the run.
//!
//! Lease times come from the replicas' clocks: keep the lease well above the
//! clock skew between them.
//!
//! ```ignore
//! let jobs = JobRunner::new(&store, NAME, shutdown.clone());
//! jobs.every("purge-idempotency-keys", Schedule::every(Duration::from_secs(3600)), move || {
//!     let db = db.clone();
//!     async move { purge(&db).await.map(|n| format!("{n} purged")) }
//! });
//! ```

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, prelude::Expr,
    sea_query::ExprTrait as _,
};
use themodel_proto::operations::{
    self as pb, ListDeadLettersRequest, ListDeadLettersResponse, ListJobsRequest, ListJobsResponse,
    RetryDeadLetterRequest, RetryDeadLetterResponse,
    operations_service_server::{OperationsService, OperationsServiceServer},
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{
    Violations,
    auth::{Principal, Role},
    consumer::{Consumer, list_dead_letters},
    error::{ApiError, respond},
    page_token,
    store::{Store, is_unique_violation},
    validate,
};

/// Jobs run, labels `service`, `job`, `outcome`.
pub const JOB_RUNS: &str = "job_runs_total";
/// Job run time in seconds, labels `service`, `job`.
pub const JOB_DURATION: &str = "job_duration_seconds";
/// Unix time of the job's last successful run, labels `service`, `job`.
pub const JOB_LAST_SUCCESS: &str = "job_last_success_timestamp_seconds";

/// Roles that may list jobs.
const READERS: &[Role] = &[Role::Admin, Role::Bizops];

/// The lease table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One job's lease and last run.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_leases")]
    pub struct Model {
        /// The job's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// The replica holding the lease; empty when released.
        pub holder: String,
        /// When the lease runs out, Unix milliseconds.
        pub lease_until_ms: i64,
        /// When the last run started, Unix milliseconds; 0 before the first.
        pub last_started_ms: i64,
        /// How long the last finished run took.
        pub last_duration_ms: i64,
        /// `JobOutcome` name of the last finished run.
        pub last_outcome: String,
        /// The last run's error, when it failed.
        pub last_error: String,
        /// Runs started.
        pub run_count: i64,
        /// Runs failed.
        pub failure_count: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// When a job runs and how long its lease lasts.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    interval: Duration,
    lease: Duration,
}

impl Schedule {
    /// A run every `interval`, with a 30 s lease (shorter for short intervals).
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            lease: Duration::from_secs(30).min(interval * 3),
        }
    }

    /// How long a lease lasts without renewal: how soon another replica takes
    /// over from one that died.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often a replica checks, and renews a lease it holds.
    fn tick(&self) -> Duration {
        (self.lease / 3)
            .min(self.interval)
            .max(Duration::from_millis(10))
    }
}

/// Runs a service's jobs under leases in its database.
#[derive(Clone)]
pub struct JobRunner {
    db: crate::store::Db,
    service: &'static str,
    holder: Arc<str>,
    schedules: Arc<Mutex<Vec<(&'static str, Schedule)>>>,
    consumers: Arc<Mutex<Vec<Consumer>>>,
    shutdown: CancellationToken,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl JobRunner {
    /// A runner over `store`'s database for `service`, stopping at `shutdown`.
    /// Each runner is a replica with its own holder id.
    pub fn new(store: &Store, service: &'static str, shutdown: CancellationToken) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        Self {
            db: store.db.clone(),
            service,
            holder: format!("{host}/{}/{}", std::process::id(), uuid::Uuid::now_v7()).into(),
            schedules: Arc::default(),
            consumers: Arc::default(),
            shutdown,
        }
    }

    /// Makes `consumer`'s parked events retryable through the operations service.
    pub(crate) fn register_consumer(&self, consumer: Consumer) {
        if let Ok(mut consumers) = self.consumers.lock() {
            consumers.push(consumer);
        }
    }

    fn consumer(&self, name: &str) -> Option<Consumer> {
        self.consumers
            .lock()
            .ok()
            .and_then(|c| c.iter().find(|c| c.name() == name).cloned())
    }

    /// This replica's holder id, as shown in [`Job::holder`](pb::Job::holder).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Runs `job` on `schedule` until shutdown, on one replica at a time. The
    /// job's `Ok` text is logged; an `Err` is recorded as the run's outcome.
    pub fn every<F, Fut>(&self, name: &'static str, schedule: Schedule, job: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        if let Ok(mut schedules) = self.schedules.lock() {
            schedules.push((name, schedule));
        }
        let runner = self.clone();
        tokio::spawn(async move { runner.run(name, schedule, job).await });
    }

    async fn run<F, Fut>(self, name: &'static str, schedule: Schedule, job: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        if let Err(err) = self.ensure_row(name).await {
            tracing::error!(job = name, error = %err, "cannot register job");
        }
        loop {
            match self.acquire(name, schedule.lease).await {
                Ok(Some(lease))
                    if lease.last_started_ms + millis(schedule.interval) <= now_ms() =>
                {
                    self.run_once(name, schedule, &job).await;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(job = name, error = %err, "job lease check failed"),
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(schedule.tick()) => {}
            }
        }
        // Hand the lease over at once instead of letting it run out.
        if let Err(err) = self.release(name).await {
            tracing::warn!(job = name, error = %err, "releasing job lease failed");
        }
    }

    async fn run_once<F, Fut>(&self, name: &'static str, schedule: Schedule, job: &F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<String>>,
    {
        let started = now_ms();
        match self.start(name, started).await {
            Ok(true) => {}
            Ok(false) => return, // lost the lease in between
            Err(err) => {
                tracing::warn!(job = name, error = %err, "recording job start failed");
                return;
            }
        }
        let clock = Instant::now();
        let renew = async {
            loop {
                tokio::time::sleep(schedule.tick()).await;
                match self.acquire(name, schedule.lease).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(job = name, error = %err, "renewing job lease failed")
                    }
                }
            }
        };
        let outcome = tokio::select! {
            result = job() => match result {
                Ok(summary) => {
                    tracing::info!(job = name, summary, "job run finished");
                    (pb::JobOutcome::Succeeded, String::new())
                }
                Err(err) => {
                    tracing::error!(job = name, error = format!("{err:#}"), "job run failed");
                    (pb::JobOutcome::Failed, format!("{err:#}"))
                }
            },
            () = renew => {
                tracing::error!(job = name, "job lease lost during a run; run stopped");
                (pb::JobOutcome::LeaseLost, "the lease was lost during the run".into())
            }
        };
        let duration = clock.elapsed();
        let outcome_name = outcome.0.as_str_name();
        metrics::counter!(JOB_RUNS, "service" => self.service, "job" => name, "outcome" => outcome_name)
            .increment(1);
        metrics::histogram!(JOB_DURATION, "service" => self.service, "job" => name)
            .record(duration.as_secs_f64());
        if outcome.0 == pb::JobOutcome::Succeeded {
            metrics::gauge!(JOB_LAST_SUCCESS, "service" => self.service, "job" => name)
                .set(started as f64 / 1000.0);
        }
        if let Err(err) = self.finish(name, duration, outcome).await {
            tracing::warn!(job = name, error = %err, "recording job outcome failed");
        }
    }

    async fn ensure_row(&self, name: &str) -> Result<(), DbErr> {
        let inserted = entity::Entity::insert(entity::ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(String::new()),
            lease_until_ms: Set(0),
            last_started_ms: Set(0),
            last_duration_ms: Set(0),
            last_outcome: Set(pb::JobOutcome::Unspecified.as_str_name().to_owned()),
            last_error: Set(String::new()),
            run_count: Set(0),
            failure_count: Set(0),
        })
        .exec_without_returning(&self.db)
        .await;
        match inserted {
            Err(err) if !is_unique_violation(&err) => Err(err),
            _ => Ok(()),
        }
    }

    /// Takes or renews the lease; the row when this replica holds it now.
    async fn acquire(&self, name: &str, lease: Duration) -> Result<Option<entity::Model>, DbErr> {
        let now = now_ms();
        let taken = entity::Entity::update_many()
            .col_expr(entity::Column::Holder, Expr::value(self.holder.as_ref()))
            .col_expr(
                entity::Column::LeaseUntilMs,
                Expr::value(now + millis(lease)),
            )
            .filter(entity::Column::Name.eq(name))
            .filter(
                entity::Column::Holder
                    .eq(self.holder.as_ref())
                    .or(entity::Column::LeaseUntilMs.lt(now)),
            )
            .exec(&self.db)
            .await?;
        if taken.rows_affected == 0 {
            return Ok(None);
        }
        entity::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await
    }

    /// Records a run's start, if this replica still holds the lease.
    async fn start(&self, name: &str, started: i64) -> Result<bool, DbErr> {
        let updated = entity::Entity::update_many()
            .col_expr(entity::Column::LastStartedMs, Expr::value(started))
            .col_expr(
                entity::Column::RunCount,
                Expr::col(entity::Column::RunCount).add(1),
            )
            .filter(entity::Column::Name.eq(name))
            .filter(entity::Column::Holder.eq(self.holder.as_ref()))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    async fn finish(
        &self,
        name: &str,
        duration: Duration,
        (outcome, error): (pb::JobOutcome, String),
    ) -> Result<(), DbErr> {
        let failed = i64::from(outcome != pb::JobOutcome::Succeeded);
        entity::Entity::update_many()
            .col_expr(
                entity::Column::LastDurationMs,
                Expr::value(millis(duration)),
            )
            .col_expr(
                entity::Column::LastOutcome,
                Expr::value(outcome.as_str_name()),
            )
            .col_expr(
                entity::Column::LastError,
                Expr::value(crate::error::truncate(&error, 1000).into_owned()),
            )
            .col_expr(
                entity::Column::FailureCount,
                Expr::col(entity::Column::FailureCount).add(failed),
            )
            .filter(entity::Column::Name.eq(name))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn release(&self, name: &str) -> Result<(), DbErr> {
        entity::Entity::update_many()
            .col_expr(entity::Column::Holder, Expr::value(""))
            .col_expr(entity::Column::LeaseUntilMs, Expr::value(0))
            .filter(entity::Column::Name.eq(name))
            .filter(entity::Column::Holder.eq(self.holder.as_ref()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Every job's lease and last run, by name: the jobs registered here and
    /// any other replica recorded.
    pub async fn list(&self) -> Result<Vec<pb::Job>, DbErr> {
        let rows = entity::Entity::find()
            .order_by_asc(entity::Column::Name)
            .all(&self.db)
            .await?;
        let schedules = self.schedules.lock().map(|s| s.clone()).unwrap_or_default();
        let interval_of = |name: &str| {
            schedules
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| duration(s.interval))
        };
        let mut jobs: Vec<pb::Job> = rows
            .into_iter()
            .map(|row| pb::Job {
                interval: interval_of(&row.name),
                holder: row.holder,
                lease_expire_time: (row.lease_until_ms > 0).then(|| timestamp(row.lease_until_ms)),
                last_start_time: (row.last_started_ms > 0).then(|| timestamp(row.last_started_ms)),
                last_duration: Some(duration(Duration::from_millis(
                    u64::try_from(row.last_duration_ms).unwrap_or(0),
                ))),
                last_outcome: pb::JobOutcome::from_str_name(&row.last_outcome).unwrap_or_default()
                    as i32,
                last_error: row.last_error,
                run_count: row.run_count,
                failure_count: row.failure_count,
                name: row.name,
            })
            .collect();
        // Registered a moment ago and not recorded yet: listed as never run.
        for (name, schedule) in &schedules {
            if !jobs.iter().any(|j| j.name == *name) {
                jobs.push(pb::Job {
                    name: (*name).to_owned(),
                    interval: Some(duration(schedule.interval)),
                    ..Default::default()
                });
            }
        }
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(jobs)
    }

    /// `themodel.operations.v1.OperationsService` over these jobs; errors
    /// carry ErrorInfo in `domain`.
    pub fn into_server(self, domain: &'static str) -> OperationsServiceServer<Operations> {
        OperationsServiceServer::new(Operations { jobs: self, domain })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A protobuf timestamp of Unix milliseconds.
pub(crate) fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// The operations service every service mounts.
#[derive(Clone)]
pub struct Operations {
    jobs: JobRunner,
    domain: &'static str,
}

#[tonic::async_trait]
impl OperationsService for Operations {
    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let result = async {
            Principal::of(&request)?.require(READERS)?;
            let jobs = self.jobs.list().await?;
            Ok::<_, ApiError>(ListJobsResponse { jobs })
        }
        .await;
        respond(result, self.domain)
    }

    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let result = async {
            Principal::of(&request)?.require(READERS)?;
            let req = request.get_ref();
            let mut v = Violations::new();
            let page_size = v.check("page_size", validate::page_size(req.page_size));
            let consumer = (!req.consumer.is_empty()).then_some(req.consumer.as_str());
            if consumer.is_some_and(|c| c.len() > 100) {
                v.add("consumer", "must be at most 100 characters");
            }
            let after = match page_token::decode::<(String, i64)>(&req.page_token, &consumer) {
                Ok(after) => after,
                Err(violations) => {
                    v.extend_prefixed("", violations);
                    None
                }
            };
            let page_size = v
                .finish(|| page_size.unwrap_or_default())
                .map_err(ApiError::InvalidArgument)?;
            let (dead_letters, next) =
                list_dead_letters(&self.jobs.db, consumer, after, page_size).await?;
            Ok::<_, ApiError>(ListDeadLettersResponse {
                dead_letters,
                next_page_token: next
                    .map(|n| page_token::encode(&n, &consumer))
                    .unwrap_or_default(),
            })
        }
        .await;
        respond(result, self.domain)
    }

    async fn retry_dead_letter(
        &self,
        request: Request<RetryDeadLetterRequest>,
    ) -> Result<Response<RetryDeadLetterResponse>, Status> {
        let result = async {
            Principal::of(&request)?.require(READERS)?;
            let req = request.get_ref();
            let not_found = || ApiError::NotFound {
                resource: "dead letter",
                id: validate::echo(&req.event_id),
            };
            if req.event_id.len() > validate::MAX_ID_LEN || req.consumer.len() > 100 {
                return Err(not_found());
            }
            let consumer = self.jobs.consumer(&req.consumer).ok_or_else(not_found)?;
            let dead_letter = consumer.retry(&req.event_id).await?;
            Ok(RetryDeadLetterResponse {
                resolved: dead_letter.is_none(),
                dead_letter,
            })
        }
        .await;
        respond(result, self.domain)
    }
}
