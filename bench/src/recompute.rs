//! Recomputing every health score: RecomputeScores over 100,000 accounts
//! and 10,000,000 usage events of the last 35 days, until the service's
//! background scorer has emptied its queue, against set-based SQL computing
//! the same per-account aggregates (window users, key features used, daily
//! active user-days of the last 7 and the 28 days before) in the same
//! database.
//!
//! The events, features and account projection are loaded straight into
//! the service's tables (setup, not what is measured); the scorecard is
//! created through the API. Deterministic: a seeded generator.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Statement};
use themodel_proto::health::{self as pb, health_service_client::HealthServiceClient};

use crate::{
    report::{Row, Section, Verdict, times},
    scenarios::Bench,
};

/// The goal: under 512 MiB at peak.
const MAX_PEAK_MIB: f64 = 512.0;
/// Usage events per account.
const EVENTS_PER_ACCOUNT: u64 = 100;
/// Users per account.
const USERS: u64 = 12;
/// Features of the product; the first five are key features.
const FEATURES: u64 = 10;
const KEY_FEATURES: u64 = 5;
/// Rows per INSERT statement while loading.
const INSERT_ROWS: usize = 1000;
const DAY_US: i64 = 86_400_000_000;

impl Bench {
    /// Recomputing every score on SQLite and, when it answers, PostgreSQL.
    pub async fn recompute(&mut self) -> anyhow::Result<Vec<Section>> {
        let url = self.sqlite_url("recompute");
        let mut sections = vec![self.recompute_on("SQLite", &url).await?];
        if let Some(admin) = self.postgres.clone() {
            let db = crate::baseline::PgDatabase::create(&admin).await?;
            let section = self.recompute_on("PostgreSQL", &db.url).await;
            db.drop_database().await?;
            sections.push(section?);
        }
        Ok(sections)
    }

    async fn recompute_on(&mut self, backend: &str, url: &str) -> anyhow::Result<Section> {
        let accounts = self.plan.recompute_accounts;
        let events = accounts * EVENTS_PER_ACCOUNT;
        themodel_platform::store::migrate::<themodel_health::store::migration::Migrator>(url)
            .await?;
        let started = Instant::now();
        let today_us = chrono::Utc::now().timestamp_micros();
        load(url, accounts, today_us).await?;
        let load_s = started.elapsed().as_secs_f64();
        let (sql_s, aggregated) = sql_aggregates(url, today_us).await?;

        let svc = self.spawn("health", &["--database-url", url]).await?;
        let db = sea_orm::Database::connect(url).await?;
        // The daily sweep and the queue run once at start, before any
        // scorecard exists: wait until both have, and the queue is empty, so
        // the timed recompute starts from nothing.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let ran = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM job_leases WHERE name IN ('score-sweep', \
                     'score-queue') AND last_outcome <> 'JOB_OUTCOME_UNSPECIFIED'"
                        .to_owned(),
                ))
                .await?
                .map(|r| r.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            let waiting = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM score_queue".to_owned(),
                ))
                .await?
                .map(|r| r.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            if ran == 2 && waiting == 0 {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the service never settled");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let idle = svc.rss_mib();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", svc.addr))?
            .connect()
            .await?;
        let mut client = HealthServiceClient::with_interceptor(channel, self.admin.clone());
        client
            .create_scorecard(pb::CreateScorecardRequest {
                scorecard: Some(pb::Scorecard {
                    scorecard_key: "default".into(),
                    display_name: "Default".into(),
                    measures: [
                        (pb::Measure::Breadth, 40),
                        (pb::Measure::UserTrend, 40),
                        (pb::Measure::Sentiment, 20),
                    ]
                    .iter()
                    .map(|(m, w)| pb::MeasureWeight {
                        measure: *m as i32,
                        weight: *w,
                    })
                    .collect(),
                    thresholds: Some(pb::GradeThresholds {
                        a_min: 8_000,
                        b_min: 6_000,
                        c_min: 4_000,
                        d_min: 2_000,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await?;
        let count = |table: &'static str| {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!("SELECT COUNT(*) AS n FROM {table}"),
                    ))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no count"))?;
                anyhow::Ok(row.try_get::<i64>("", "n")?)
            }
        };
        let start = Instant::now();
        let queued = client
            .recompute_scores(pb::RecomputeScoresRequest::default())
            .await?
            .into_inner();
        anyhow::ensure!(
            queued.pending == i64::try_from(accounts)?,
            "{} of {accounts} accounts queued",
            queued.pending
        );
        let deadline = Instant::now() + Duration::from_secs(3600);
        while count("score_queue").await? > 0 {
            anyhow::ensure!(Instant::now() < deadline, "the queue never emptied");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ours_s = start.elapsed().as_secs_f64();
        let peak = svc.peak_rss_mib();
        let scored = count("health_scores").await?;
        anyhow::ensure!(
            scored == i64::try_from(accounts)?,
            "{scored} scores kept for {accounts} accounts"
        );
        // Reads stay open while it runs: one read at the end answers at once.
        let read_start = Instant::now();
        let sample = client
            .get_health_summary(pb::GetHealthSummaryRequest {
                group_by: pb::HealthGrouping::Tier as i32,
                ..Default::default()
            })
            .await?
            .into_inner();
        let summary_s = read_start.elapsed().as_secs_f64();
        svc.stop().await;
        db.close().await?;
        if backend == "SQLite" {
            self.memory
                .push(("themodel-health (recompute)".into(), idle, peak));
        }
        let grades: Vec<String> = sample
            .groups
            .iter()
            .map(|g| {
                format!(
                    "{}: mean {} over {} scores",
                    g.group,
                    g.mean_score
                        .map_or("-".into(), |m| format!("{:.1}", f64::from(m) / 100.0)),
                    g.scores
                )
            })
            .collect();
        Ok(Section {
            title: format!("Health recompute: {backend}"),
            setup: format!(
                "RecomputeScores over {accounts} accounts and {events} usage events of the last 35 \
                 days ({USERS} users and {FEATURES} features, {KEY_FEATURES} of them key, per \
                 account), timed from the call until the background scorer has emptied its queue \
                 (200 accounts per transaction, each with its trend, HealthChanged event and alert \
                 checks), against set-based SQL in the same database computing the per-account \
                 aggregates the measures need (users and key features in 30 days, daily active \
                 user-days of the last 7 and the 28 days before: two grouped statements over the \
                 same events)."
            ),
            rows: vec![
                Row {
                    measure: format!("recompute {accounts} accounts, {events} events (s)"),
                    ours: format!("{ours_s:.1}"),
                    baseline: format!("{sql_s:.1}"),
                    ratio: times(ours_s / sql_s),
                    goal: String::new(),
                    verdict: Verdict::Info,
                },
                Row {
                    measure: "accounts scored per second".into(),
                    ours: format!("{:.0}", accounts as f64 / ours_s),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: String::new(),
                    verdict: Verdict::Info,
                },
                Row {
                    measure: "peak service RSS (MiB)".into(),
                    ours: format!("{peak:.0}"),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: format!("< {MAX_PEAK_MIB:.0} MiB"),
                    verdict: Verdict::of(peak < MAX_PEAK_MIB),
                },
            ],
            notes: vec![
                format!(
                    "the SQL aggregated {aggregated} accounts; loading the data took {load_s:.1} s; \
                     a health summary by tier over every score afterwards took {summary_s:.3} s"
                ),
                format!("scores by tier: {}", grades.join("; ")),
            ],
        })
    }
}

/// Loads `accounts` projected accounts, the product's features and
/// `EVENTS_PER_ACCOUNT` events each over the 35 days before `today_us`.
async fn load(url: &str, accounts: u64, today_us: i64) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let boolean = |b: bool| match (backend, b) {
        (sea_orm::DatabaseBackend::Postgres, true) => "true",
        (sea_orm::DatabaseBackend::Postgres, false) => "false",
        (_, true) => "1",
        (_, false) => "0",
    };
    let features: Vec<String> = (0..FEATURES)
        .map(|f| {
            format!(
                "('core', 'f{f}', 'Feature {f}', {}, {}, 1, 0, 0)",
                boolean(f < KEY_FEATURES),
                boolean(false)
            )
        })
        .collect();
    db.execute_unprepared(&format!(
        "INSERT INTO features (product_key, feature_key, display_name, key_feature, retired, \
         revision, create_time_us, update_time_us) VALUES {}",
        features.join(", ")
    ))
    .await?;
    let tiers = ["TIER_HIGH_TOUCH", "TIER_LOW_TOUCH", "TIER_TECH_TOUCH"];
    let mut rng = StdRng::seed_from_u64(35);
    let mut rows = Vec::with_capacity(INSERT_ROWS);
    for a in 0..accounts {
        rows.push(format!(
            "('account-{a:08}', '', 'Account {a}', '', '', '', '{}', 'LIFECYCLE_STATUS_ACTIVE', 1)",
            tiers[rng.random_range(0..3)]
        ));
        if rows.len() == INSERT_ROWS {
            insert_accounts(&db, &mut rows).await?;
        }
    }
    insert_accounts(&db, &mut rows).await?;
    // Each account's use: a share of its users and features, busier or
    // quieter this last week.
    let start_us = today_us - 35 * DAY_US;
    for a in 0..accounts {
        let users = rng.random_range(3..=USERS);
        let features = rng.random_range(2..=FEATURES);
        let recent_share = rng.random_range(0.05..0.4);
        for _ in 0..EVENTS_PER_ACCOUNT {
            let at = if rng.random_bool(recent_share) {
                today_us - rng.random_range(0..7 * DAY_US)
            } else {
                start_us + rng.random_range(0..28 * DAY_US)
            };
            rows.push(format!(
                "('account-{a:08}', 'u{}', 'core', 'f{}', {at}, {}, NULL)",
                rng.random_range(0..users),
                rng.random_range(0..features),
                rng.random_range(1..=3)
            ));
            if rows.len() == INSERT_ROWS {
                insert_events(&db, &mut rows).await?;
            }
        }
    }
    insert_events(&db, &mut rows).await?;
    db.execute_unprepared("ANALYZE").await?;
    db.close().await?;
    Ok(())
}

async fn insert_accounts(
    db: &sea_orm::DatabaseConnection,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    if !rows.is_empty() {
        db.execute_unprepared(&format!(
            "INSERT INTO projected_accounts (account_id, external_id, name, domain, partner_id, \
             owner_csm_id, tier, lifecycle_status, version_us) VALUES {}",
            rows.join(", ")
        ))
        .await?;
        rows.clear();
    }
    Ok(())
}

async fn insert_events(
    db: &sea_orm::DatabaseConnection,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    if !rows.is_empty() {
        db.execute_unprepared(&format!(
            "INSERT INTO usage_events (account_id, user_id, product_key, feature_key, \
             occurred_at_us, count, event_id) VALUES {}",
            rows.join(", ")
        ))
        .await?;
        rows.clear();
    }
    Ok(())
}

/// The per-account aggregates by two set-based statements; their time and
/// how many accounts they covered.
async fn sql_aggregates(url: &str, today_us: i64) -> anyhow::Result<(f64, i64)> {
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let today = today_us / DAY_US;
    let from = (today - 34) * DAY_US;
    let window = (today - 29) * DAY_US;
    let recent = today - 6;
    let keys: Vec<String> = (0..KEY_FEATURES).map(|f| format!("'f{f}'")).collect();
    let windows = format!(
        "SELECT account_id, product_key, \
         COUNT(DISTINCT CASE WHEN occurred_at_us >= {window} THEN user_id END) AS users, \
         COUNT(DISTINCT CASE WHEN occurred_at_us >= {window} AND feature_key IN ({}) THEN feature_key END) AS keys \
         FROM usage_events WHERE occurred_at_us >= {from} GROUP BY account_id, product_key",
        keys.join(", ")
    );
    let trend = format!(
        "SELECT account_id, product_key, \
         SUM(CASE WHEN day >= {recent} THEN users ELSE 0 END) AS recent, \
         SUM(CASE WHEN day < {recent} THEN users ELSE 0 END) AS baseline \
         FROM (SELECT account_id, product_key, occurred_at_us / {DAY_US} AS day, \
               COUNT(DISTINCT user_id) AS users FROM usage_events \
               WHERE occurred_at_us >= {from} \
               GROUP BY account_id, product_key, occurred_at_us / {DAY_US}) AS daily \
         GROUP BY account_id, product_key"
    );
    let start = Instant::now();
    let a = db
        .query_all_raw(Statement::from_string(backend, windows))
        .await?;
    let b = db
        .query_all_raw(Statement::from_string(backend, trend))
        .await?;
    let elapsed = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        a.len() == b.len(),
        "the statements disagree on the accounts"
    );
    db.close().await?;
    Ok((elapsed, i64::try_from(a.len())?))
}
