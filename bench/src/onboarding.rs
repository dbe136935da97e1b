//! The onboarding completion rate at scale: GetCompletionReport for a
//! 12-month period over 100,000 plans with their step history, by tier and
//! by CSM, through the onboarding service, against one set-based SQL
//! statement computing the same counts in the same database.
//!
//! The plans are loaded straight into the service's tables (setup, not what
//! is measured): anchors over two years, targets per tier, three quarters
//! set up and over half value-confirmed (some late), a few cancelled, and
//! three completed steps each. Deterministic: a seeded generator.

use std::{collections::BTreeMap, time::Instant};

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Statement};
use themodel_proto::onboarding::{self as pb, onboarding_service_client::OnboardingServiceClient};

use crate::{
    report::{Row, Section, Verdict, best, runs_list, times},
    scenarios::{Bearer, Bench},
};

/// The goals: within 2x of the SQL, under 512 MiB at peak.
const MAX_RATIO: f64 = 2.0;
const MAX_PEAK_MIB: f64 = 512.0;
/// Timed runs of each side; the best counts.
const RUNS: usize = 3;
/// Rows per INSERT statement while loading.
const INSERT_ROWS: usize = 400;
/// CSMs owning the plans.
const CSMS: usize = 50;
/// The tiers (10/30/60%) with their set-up and value target days.
const TIERS: [(&str, i64, i64); 3] = [
    ("TIER_HIGH_TOUCH", 45, 120),
    ("TIER_LOW_TOUCH", 30, 90),
    ("TIER_TECH_TOUCH", 14, 60),
];
/// The report's period.
const PERIOD: (&str, &str) = ("2026-01-01", "2026-12-31");

/// One group's counts: (due, on time, late, open, cancelled).
type Counts = (i64, i64, i64, i64, i64);

impl Bench {
    /// The completion report on SQLite and, when it answers, PostgreSQL.
    pub async fn onboarding(&mut self) -> anyhow::Result<Vec<Section>> {
        let url = self.sqlite_url("onboarding");
        let mut sections = vec![self.onboarding_on("SQLite", &url).await?];
        if let Some(admin) = self.postgres.clone() {
            let db = crate::baseline::PgDatabase::create(&admin).await?;
            let section = self.onboarding_on("PostgreSQL", &db.url).await;
            db.drop_database().await?;
            sections.push(section?);
        }
        Ok(sections)
    }

    async fn onboarding_on(&mut self, backend: &str, url: &str) -> anyhow::Result<Section> {
        let plans = self.plan.onboarding_plans;
        themodel_platform::store::migrate::<themodel_onboarding::store::migration::Migrator>(url)
            .await?;
        let started = Instant::now();
        load(url, plans).await?;
        let load_s = started.elapsed().as_secs_f64();

        let svc = self.spawn("onboarding", &["--database-url", url]).await?;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let idle = svc.rss_mib();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", svc.addr))?
            .connect()
            .await?;
        // The service's first stall sweep runs at start (over plans loaded
        // with no recent progress it raises many alerts); the report is
        // timed once that write has finished, not against it.
        first_run(&channel, &self.admin, "detect-stalls").await?;
        let mut client = OnboardingServiceClient::with_interceptor(channel, self.admin.clone())
            .max_decoding_message_size(64 << 20);
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        for (name, grouping, column) in [
            ("tier", pb::CompletionGrouping::Tier, "tier"),
            ("CSM", pb::CompletionGrouping::Csm, "owner_csm_id"),
        ] {
            let request = pb::GetCompletionReportRequest {
                start_date: Some(date(PERIOD.0)),
                end_date: Some(date(PERIOD.1)),
                stage: pb::Stage::ValueConfirmed as i32,
                group_by: grouping as i32,
            };
            let mut ours_runs = Vec::with_capacity(RUNS);
            let mut response = None;
            for _ in 0..RUNS {
                let start = Instant::now();
                let report = client.get_completion_report(request).await?.into_inner();
                ours_runs.push(start.elapsed().as_secs_f64());
                response = Some(report);
            }
            let response = response.ok_or_else(|| anyhow::anyhow!("no report"))?;
            let (sql_runs, sql) = sql_counts(url, column).await?;
            let ours: BTreeMap<String, Counts> = response
                .groups
                .iter()
                .map(|g| {
                    (
                        g.group.clone(),
                        (
                            g.due,
                            g.completed_on_time,
                            g.completed_late,
                            g.open,
                            g.cancelled,
                        ),
                    )
                })
                .collect();
            anyhow::ensure!(
                ours == sql,
                "{backend}: the service's counts by {name} differ from the SQL's:\n{ours:?}\n{sql:?}"
            );
            let (ours_s, sql_s) = (best(&ours_runs), best(&sql_runs));
            let due: i64 = ours.values().map(|c| c.0).sum();
            rows.push(Row {
                measure: format!("GetCompletionReport by {name}, {due} plans due of {plans} (s)"),
                ours: format!("{ours_s:.3}"),
                baseline: format!("{sql_s:.3}"),
                ratio: times(ours_s / sql_s),
                goal: format!("<= {MAX_RATIO:.0}x"),
                verdict: Verdict::of(ours_s / sql_s <= MAX_RATIO),
            });
            if grouping == pb::CompletionGrouping::Tier {
                notes.push(format!(
                    "value confirmed on time by tier: {}",
                    response
                        .groups
                        .iter()
                        .map(|g| format!(
                            "{} {} (median {} days, p90 {})",
                            g.group,
                            g.rate_basis_points
                                .map_or("-".into(), |r| format!("{:.1}%", f64::from(r) / 100.0)),
                            g.median_days.unwrap_or_default(),
                            g.p90_days.unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            notes.push(format!(
                "runs by {name} (s): service {}; SQL {}",
                runs_list(&ours_runs),
                runs_list(&sql_runs)
            ));
        }
        let peak = svc.peak_rss_mib();
        svc.stop().await;
        if backend == "SQLite" {
            self.memory.push(("themodel-onboarding".into(), idle, peak));
        }
        rows.push(Row {
            measure: "peak service RSS (MiB)".into(),
            ours: format!("{peak:.0}"),
            baseline: String::new(),
            ratio: String::new(),
            goal: format!("< {MAX_PEAK_MIB:.0} MiB"),
            verdict: Verdict::of(peak < MAX_PEAK_MIB),
        });
        notes.push(format!("loading the data took {load_s:.1} s"));
        Ok(Section {
            title: format!("Onboarding completion rate: {backend}"),
            setup: format!(
                "GetCompletionReport for VALUE_CONFIRMED over {} to {}, by tier and by CSM, over \
                 {plans} plans (anchors over 2025-2026, tiers 10/30/60% with their own target days, \
                 {CSMS} CSMs, three completed steps each), through the service with an admin token, \
                 against one set-based SQL statement in the same database counting, per group, the \
                 plans whose value target date falls in the period and how many reached it on time, \
                 late, are open or cancelled (`SUM(CASE ...)` over an indexed range of the due \
                 date, grouped). The service's one grouped statement also groups the plans by days \
                 from the anchor to the stage (for the median and p90) and it counts the open \
                 plans not dated yet, which the SQL does not. Timed once the service's first \
                 stall sweep has finished. Best of {RUNS} runs each; the counts agree (checked).",
                PERIOD.0, PERIOD.1
            ),
            rows,
            notes,
        })
    }
}

fn date(text: &str) -> themodel_proto::common::Date {
    let d: NaiveDate = text.parse().unwrap_or_default();
    themodel_platform::validate::date_to_proto(d)
}

/// Waits until the service's job `name` has run once.
async fn first_run(
    channel: &tonic::transport::Channel,
    admin: &Bearer,
    name: &str,
) -> anyhow::Result<()> {
    use themodel_proto::operations::{
        JobOutcome, ListJobsRequest, operations_service_client::OperationsServiceClient,
    };
    let mut operations = OperationsServiceClient::with_interceptor(channel.clone(), admin.clone());
    let started = Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(600) {
        let jobs = operations
            .list_jobs(ListJobsRequest::default())
            .await?
            .into_inner()
            .jobs;
        if jobs
            .iter()
            .any(|j| j.name == name && j.last_outcome() != JobOutcome::Unspecified)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("job {name} did not run within 10 minutes")
}

fn micros(day: NaiveDate, seconds: i64) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
        + seconds * 1_000_000
}

/// Loads `plans` plans with three completed steps each.
async fn load(url: &str, plans: u64) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let mut rng = StdRng::seed_from_u64(12);
    let first: NaiveDate = "2025-01-01".parse()?;
    let mut plan_rows = Vec::with_capacity(INSERT_ROWS);
    let mut step_rows = Vec::with_capacity(INSERT_ROWS * 3);
    for i in 0..plans {
        let roll: f64 = rng.random();
        let tier = if roll < 0.1 {
            0
        } else if roll < 0.4 {
            1
        } else {
            2
        };
        let (tier_name, setup_days, value_days) = TIERS[tier];
        let anchor = first + Days::new(rng.random_range(0..730));
        let setup_due = anchor + Days::new(setup_days as u64);
        let value_due = anchor + Days::new(value_days as u64);
        let cancelled = rng.random_bool(0.05);
        // Set-up 75% (a fifth late), value 55% of those set up (a quarter late).
        let setup_at = (!cancelled && rng.random_bool(0.75)).then(|| {
            let days = if rng.random_bool(0.2) {
                setup_days + rng.random_range(1..30)
            } else {
                rng.random_range(1..=setup_days)
            };
            micros(anchor, days * 86_400 + rng.random_range(0..86_400))
        });
        let value_at = setup_at.filter(|_| rng.random_bool(0.73)).map(|_| {
            let days = if rng.random_bool(0.25) {
                value_days + rng.random_range(1..60)
            } else {
                rng.random_range(setup_days..=value_days)
            };
            micros(anchor, days * 86_400 + rng.random_range(0..86_400))
        });
        let id = format!("plan-{i:08}");
        let account = format!("account-{i:08}");
        let csm = format!("csm-{:03}", rng.random_range(0..CSMS));
        let created = micros(anchor, 3600);
        let open = value_at.is_none() && !cancelled;
        let opt = |v: Option<i64>| v.map_or("NULL".to_owned(), |v| v.to_string());
        plan_rows.push(format!(
            "('{id}', '{account}', 'core', 'core-default', 1, '{tier_name}', '{csm}', NULL, \
             '{anchor}', NULL, '{anchor}', '{setup_due}', '{value_due}', {}, {}, {}, '', {created}, \
             {created}, 1, {}, 14, {}, 0, {}, {}, {})",
            opt(setup_at),
            opt(value_at),
            if cancelled {
                (created + 86_400_000_000).to_string()
            } else {
                "NULL".into()
            },
            if open {
                format!("'{account}/core'")
            } else {
                "NULL".into()
            },
            if backend == sea_orm::DatabaseBackend::Postgres {
                "false"
            } else {
                "0"
            },
            anchor.to_epoch_days(),
            setup_due.to_epoch_days(),
            value_due.to_epoch_days(),
        ));
        for (k, step) in ["kickoff", "sso", "import"].iter().enumerate() {
            step_rows.push(format!(
                "('{id}', '{step}', {}, '{csm}', '', NULL, NULL)",
                created + (k as i64 + 1) * 86_400_000_000
            ));
        }
        if plan_rows.len() >= INSERT_ROWS {
            flush(&db, &mut plan_rows, &mut step_rows).await?;
        }
    }
    flush(&db, &mut plan_rows, &mut step_rows).await?;
    if backend == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared("ANALYZE plans").await?;
    } else {
        db.execute_unprepared("ANALYZE").await?;
    }
    db.close().await?;
    Ok(())
}

async fn flush(
    db: &sea_orm::DatabaseConnection,
    plans: &mut Vec<String>,
    steps: &mut Vec<String>,
) -> anyhow::Result<()> {
    if plans.is_empty() {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "INSERT INTO plans (id, account_id, product_key, playbook_key, playbook_version, tier, \
         owner_csm_id, partner_id, contract_start, kickoff, anchor_date, setup_due, value_due, \
         setup_time_us, value_time_us, cancel_time_us, cancel_reason, create_time_us, \
         progress_time_us, revision, open_slot, stall_days, self_success, rule_version, anchor_day, \
         setup_due_day, value_due_day) VALUES {}",
        plans.join(", ")
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO plan_steps (plan_id, step_key, done_time_us, done_by, note, signed_by, \
         signed_date) VALUES {}",
        steps.join(", ")
    ))
    .await?;
    plans.clear();
    steps.clear();
    Ok(())
}

/// The counts per `column` by one set-based statement, best of the runs.
async fn sql_counts(
    url: &str,
    column: &str,
) -> anyhow::Result<(Vec<f64>, BTreeMap<String, Counts>)> {
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    // The first microsecond after the target day, UTC.
    let due_end = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "((EXTRACT(EPOCH FROM value_due::date)::bigint + 86400) * 1000000)"
        }
        _ => "((CAST(strftime('%s', value_due) AS INTEGER) + 86400) * 1000000)",
    };
    let sql = format!(
        "SELECT {column} AS g, COUNT(*) AS due, \
         SUM(CASE WHEN value_time_us IS NOT NULL AND value_time_us < {due_end} THEN 1 ELSE 0 END) AS on_time, \
         SUM(CASE WHEN value_time_us IS NOT NULL AND value_time_us >= {due_end} THEN 1 ELSE 0 END) AS late, \
         SUM(CASE WHEN value_time_us IS NULL AND cancel_time_us IS NULL THEN 1 ELSE 0 END) AS open, \
         SUM(CASE WHEN value_time_us IS NULL AND cancel_time_us IS NOT NULL THEN 1 ELSE 0 END) AS cancelled \
         FROM plans WHERE value_due BETWEEN '{}' AND '{}' GROUP BY {column}",
        PERIOD.0, PERIOD.1
    );
    let mut runs = Vec::with_capacity(RUNS);
    let mut counts = BTreeMap::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql.clone()))
            .await?;
        runs.push(start.elapsed().as_secs_f64());
        counts = rows
            .iter()
            .map(|r| -> anyhow::Result<(String, Counts)> {
                let n = |c: &str| r.try_get::<i64>("", c);
                Ok((
                    r.try_get::<String>("", "g")?,
                    (
                        n("due")?,
                        n("on_time")?,
                        n("late")?,
                        n("open")?,
                        n("cancelled")?,
                    ),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    db.close().await?;
    Ok((runs, counts))
}
