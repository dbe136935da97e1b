//! Usage ingest at scale: usage events streamed into the health service with
//! `StreamUsage` (answered once the last chunk has committed) against the raw
//! database writing the same rows into the same `usage_events` table: one
//! binary `COPY` on PostgreSQL, a prepared-statement insert loop in one
//! transaction on SQLite.
//!
//! The health service runs in its own process with the segmentation and
//! expansion services as its peers, as in production: the accounts come from
//! segmentation's events (the service's projection of them), the product from
//! expansion's catalogue, the features from `CreateFeature`. That setup is not
//! measured. The events come from a seeded generator: the same rows for the
//! service and for the baselines.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use themodel_proto::{
    common::Money,
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::{self as pb, health_service_client::HealthServiceClient},
};
use tonic::transport::{Channel, Endpoint};

use crate::{
    baseline::{self, UsageRow},
    report::{Row, Section, Verdict, percent},
    scenarios::Bench,
};

/// Accounts the events belong to.
const ACCOUNTS: u64 = 1_000;
/// Users of each account.
const USERS: usize = 50;
/// The product's features; the first [`KEY_FEATURES`] are key features.
const FEATURES: [&str; 20] = [
    "dashboards",
    "reports",
    "exports",
    "alerts",
    "workflows",
    "integrations",
    "api-access",
    "sso",
    "audit-log",
    "custom-fields",
    "forecasts",
    "segments",
    "playbooks",
    "surveys",
    "notes",
    "tasks",
    "email-sync",
    "calendar-sync",
    "mobile",
    "webhooks",
];
const KEY_FEATURES: usize = 6;
/// The product of the catalogue the features belong to.
const PRODUCT: &str = "analytics";
/// Events happen over the last this many days.
const DAYS: i64 = 30;
/// Each event stands for 1 to this many uses.
const MAX_COUNT: u8 = 5;
/// Events per `StreamUsageRequest` message.
const PER_MESSAGE: usize = 1_000;
/// The generator's seed.
const SEED: u64 = 0x4845_414c_5448;
/// How long the service may take to project the accounts before the
/// scenario gives up.
const PROJECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// The goals: shares of the raw database's rate, and a rate on PostgreSQL.
const POSTGRES_GOAL: f64 = 0.70;
const SQLITE_GOAL: f64 = 0.60;
const RATE_GOAL: f64 = 100_000.0;

/// One generated event, by index into the accounts, users and features.
#[derive(Clone, Copy)]
struct Event {
    account: u16,
    user: u8,
    feature: u8,
    count: u8,
    at_us: i64,
    /// Whether it carries an event id (derived from its index).
    has_id: bool,
}

/// The events and the names they refer to.
struct Usage {
    /// Account ids, as segmentation gave them.
    accounts: Vec<String>,
    /// User ids, [`USERS`] per account in account order.
    users: Vec<String>,
    events: Vec<Event>,
}

impl Usage {
    /// `n` events of `accounts` over the [`DAYS`] before `now_us`.
    fn generate(accounts: Vec<String>, n: u64, now_us: i64) -> Usage {
        let mut rng = StdRng::seed_from_u64(SEED);
        let users = (0..accounts.len())
            .flat_map(|a| (0..USERS).map(move |u| format!("user{u:02}@account{a:04}.example")))
            .collect();
        let span_us = DAYS * 24 * 3600 * 1_000_000;
        let events = (0..n)
            .map(|_| Event {
                account: rng.random_range(0..accounts.len()) as u16,
                user: rng.random_range(0..USERS) as u8,
                feature: rng.random_range(0..FEATURES.len()) as u8,
                count: rng.random_range(1..=MAX_COUNT),
                at_us: now_us - rng.random_range(1..span_us),
                has_id: rng.random_bool(0.5),
            })
            .collect();
        Usage {
            accounts,
            users,
            events,
        }
    }

    /// The id of event `i`, if it has one: unique, UUID-shaped.
    fn event_id(&self, i: usize) -> Option<String> {
        self.events[i].has_id.then(|| {
            let high = splitmix(SEED ^ i as u64);
            uuid::Uuid::from_u64_pair(high, i as u64)
                .hyphenated()
                .to_string()
        })
    }

    fn user(&self, e: &Event) -> &str {
        &self.users[usize::from(e.account) * USERS + usize::from(e.user)]
    }

    fn messages(&self) -> usize {
        self.events.len().div_ceil(PER_MESSAGE)
    }

    /// Message `m` of the stream.
    fn message(&self, m: usize) -> pb::StreamUsageRequest {
        let range = m * PER_MESSAGE..((m + 1) * PER_MESSAGE).min(self.events.len());
        let events = range
            .map(|i| {
                let e = &self.events[i];
                let at = chrono::DateTime::from_timestamp_micros(e.at_us).unwrap_or_default();
                pb::UsageEvent {
                    account_id: self.accounts[usize::from(e.account)].clone(),
                    account_external_id: String::new(),
                    user_id: self.user(e).to_owned(),
                    product_key: PRODUCT.into(),
                    feature_key: FEATURES[usize::from(e.feature)].into(),
                    occurred_at: Some(themodel_platform::validate::timestamp(at)),
                    count: i64::from(e.count),
                    event_id: self.event_id(i).unwrap_or_default(),
                }
            })
            .collect();
        pb::StreamUsageRequest { events }
    }

    /// The events as the service stores them.
    fn rows(&self) -> Vec<UsageRow<'_>> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| UsageRow {
                account_id: &self.accounts[usize::from(e.account)],
                user_id: self.user(e),
                product_key: PRODUCT,
                feature_key: FEATURES[usize::from(e.feature)],
                occurred_at_us: e.at_us,
                count: i64::from(e.count),
                event_id: self.event_id(i),
            })
            .collect()
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What streaming the events into the service showed.
struct Ingest {
    /// From the first message sent to the response.
    seconds: f64,
    /// The service's CPU over that time.
    cpu_seconds: f64,
    idle_mib: f64,
    peak_mib: f64,
    /// `FeatureAdopted` events the service emitted (first uses recorded).
    adoptions: i64,
    /// How long the service took to project the accounts (setup).
    projection_s: f64,
}

impl Bench {
    /// StreamUsage into the health service on SQLite and, when it answers,
    /// PostgreSQL, each against the raw database writing the same rows.
    pub async fn health_ingest(&mut self) -> anyhow::Result<Vec<Section>> {
        let seg = self
            .spawn(
                "segmentation",
                &["--database-url", &self.sqlite_url("usage-segmentation")],
            )
            .await?;
        let segmentation = format!("segmentation=http://{}", seg.addr);
        let exp = self
            .spawn(
                "expansion",
                &[
                    "--database-url",
                    &self.sqlite_url("usage-expansion"),
                    "--peer",
                    &segmentation,
                ],
            )
            .await?;
        let expansion = format!("expansion=http://{}", exp.addr);
        let ids = self.seed(seg.addr, ACCOUNTS).await?;
        anyhow::ensure!(
            ids.len() as u64 == ACCOUNTS,
            "seeded {} of {ACCOUNTS} accounts",
            ids.len()
        );
        self.create_product(exp.addr).await?;
        let now_us = chrono::Utc::now().timestamp_micros();
        let usage = Arc::new(Usage::generate(ids, self.plan.usage_events, now_us));
        let peers = [segmentation.as_str(), expansion.as_str()];

        let url = self.sqlite_url("usage");
        let ours = self.stream_into(&url, &peers, &usage).await?;
        self.memory
            .push(("themodel-health".into(), ours.idle_mib, ours.peak_mib));
        let base =
            baseline::sqlite_usage_insert_loop(&self.sqlite_url("usage-baseline"), &usage.rows())
                .await?;
        let mut sections = vec![self.ingest_section(
            "SQLite",
            "a prepared-statement insert loop in one transaction",
            &ours,
            base.as_secs_f64(),
            SQLITE_GOAL,
        )];

        if let Some(admin) = self.postgres.clone() {
            let db = baseline::PgDatabase::create(&admin).await?;
            let ours = self.stream_into(&db.url, &peers, &usage).await;
            db.drop_database().await?;
            let ours = ours?;
            let db = baseline::PgDatabase::create(&admin).await?;
            let base = baseline::postgres_usage_copy(&db.url, &usage.rows()).await;
            db.drop_database().await?;
            let mut section = self.ingest_section(
                "PostgreSQL",
                "one binary `COPY` over one connection",
                &ours,
                base?.as_secs_f64(),
                POSTGRES_GOAL,
            );
            let rate = self.plan.usage_events as f64 / ours.seconds;
            section.rows.insert(
                1,
                Row {
                    measure: "StreamUsage (events/s)".into(),
                    ours: format!("{rate:.0}"),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: format!("at least {RATE_GOAL:.0}/s"),
                    verdict: Verdict::of(rate >= RATE_GOAL),
                },
            );
            sections.push(section);
        }
        exp.stop().await;
        seg.stop().await;
        Ok(sections)
    }

    /// Adds [`PRODUCT`] to the catalogue of the expansion service at `addr`.
    async fn create_product(&self, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        ExpansionServiceClient::with_interceptor(channel, self.admin.clone())
            .create_product(ex::CreateProductRequest {
                product: Some(ex::Product {
                    product_key: PRODUCT.into(),
                    display_name: "Analytics".into(),
                    plans: vec![ex::Plan {
                        plan_key: "monthly".into(),
                        display_name: "Monthly".into(),
                        list_price: Some(Money {
                            currency_code: "USD".into(),
                            units: 10,
                            nanos: 0,
                        }),
                        billing_period: ex::BillingPeriod::Monthly as i32,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await?;
        Ok(())
    }

    /// Starts the health service on the database at `url` with `peers`,
    /// creates the features, waits for its projection of the accounts, then
    /// streams the events into it.
    async fn stream_into(
        &self,
        url: &str,
        peers: &[&str; 2],
        usage: &Arc<Usage>,
    ) -> anyhow::Result<Ingest> {
        let health = self
            .spawn(
                "health",
                &[
                    "--database-url",
                    url,
                    "--peer",
                    peers[0],
                    "--peer",
                    peers[1],
                ],
            )
            .await?;
        let channel: Channel = Endpoint::from_shared(format!("http://{}", health.addr))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        let mut admin = HealthServiceClient::with_interceptor(channel.clone(), self.admin.clone());
        for (i, feature) in FEATURES.iter().enumerate() {
            admin
                .create_feature(pb::CreateFeatureRequest {
                    feature: Some(pb::Feature {
                        product_key: PRODUCT.into(),
                        feature_key: (*feature).into(),
                        display_name: feature.replace('-', " "),
                        key_feature: i < KEY_FEATURES,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?;
        }
        let db = sea_orm::Database::connect(url).await?;
        let projection_s = wait_for_projection(&db, usage.accounts.len() as i64).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle_mib = health.rss_mib();

        let mut client = HealthServiceClient::with_interceptor(channel, self.bearer.clone());
        let messages = {
            let usage = usage.clone();
            futures::stream::iter((0..usage.messages()).map(move |m| usage.message(m)))
        };
        let cpu_before = health.cpu_seconds();
        let start = Instant::now();
        let summary = client
            .stream_usage(messages)
            .await
            .with_context(|| {
                format!(
                    "StreamUsage of {} events into the health service on {}",
                    usage.events.len(),
                    url.split(':').next().unwrap_or("?")
                )
            })?
            .into_inner()
            .summary
            .unwrap_or_default();
        let seconds = start.elapsed().as_secs_f64();
        let cpu_seconds = health.cpu_seconds() - cpu_before;
        let peak_mib = health.peak_rss_mib();
        health.stop().await;

        let n = usage.events.len() as i64;
        anyhow::ensure!(
            (summary.accepted, summary.duplicates, summary.rejected) == (n, 0, 0),
            "the service accepted {}, counted {} duplicates and rejected {} of {n} events; first \
             rejections: {:?}",
            summary.accepted,
            summary.duplicates,
            summary.rejected,
            summary.rejections.iter().take(3).collect::<Vec<_>>()
        );
        let stored = count(&db, "usage_events").await?;
        anyhow::ensure!(stored == n, "{stored} of {n} events stored");
        let adoptions = count(&db, "feature_adoptions").await?;
        db.close().await?;
        Ok(Ingest {
            seconds,
            cpu_seconds,
            idle_mib,
            peak_mib,
            adoptions,
            projection_s,
        })
    }

    fn ingest_section(
        &self,
        backend: &str,
        baseline: &str,
        ours: &Ingest,
        base_s: f64,
        goal: f64,
    ) -> Section {
        let n = self.plan.usage_events as f64;
        let ratio = base_s / ours.seconds;
        let (write, committing) = if backend == "PostgreSQL" {
            (
                "the events by binary `COPY`",
                "two commit on connections of their own",
            )
        } else {
            ("the events as multi-row `INSERT`s", "one commits")
        };
        Section {
            title: format!("Usage ingest: {backend}"),
            setup: format!(
                "{} usage events streamed through the health service's `StreamUsage` in messages \
                 of {PER_MESSAGE}, answered once the last chunk has committed, against {baseline} \
                 of the same rows into the same `usage_events` table (made by the service's \
                 migrations, with its index). The service judges each event (its fields, its \
                 account in the service's projection of segmentation's accounts, its feature in \
                 the catalogue, its event id not seen before) and commits 20,000 at a time, \
                 judging the next chunk while {committing}: {write}, their event ids (one \
                 statement a chunk), each account's first use of each feature and a \
                 `FeatureAdopted` event for it, and queues the accounts used to be scored again; \
                 the service's background scorer drains that queue meanwhile (no scorecard is \
                 defined here, so it reads what it would score with and keeps no score). The \
                 events: {ACCOUNTS} accounts, {} features of \
                 one product, {USERS} users per account, times over the last {DAYS} days, \
                 counts 1 to {MAX_COUNT}, about half with a unique event id; seeded, the same \
                 rows on both sides. Segmentation and expansion (SQLite) run beside the service \
                 as its peers; creating the accounts, product and features and the service's \
                 projection of the accounts are not timed.",
                self.plan.usage_events,
                FEATURES.len(),
            ),
            rows: vec![
                Row {
                    measure: "StreamUsage against the baseline (events/s)".into(),
                    ours: format!("{:.0}", n / ours.seconds),
                    baseline: format!("{:.0}", n / base_s),
                    ratio: percent(ratio),
                    goal: format!(">= {}", percent(goal)),
                    verdict: Verdict::of(ratio >= goal),
                },
                Row {
                    measure: "service RSS idle / peak during the stream (MiB)".into(),
                    ours: format!("{:.1} / {:.1}", ours.idle_mib, ours.peak_mib),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: String::new(),
                    verdict: Verdict::Info,
                },
            ],
            notes: vec![
                format!(
                    "wall time: ours {:.2} s, baseline {base_s:.2} s; the service used {:.2} s of \
                     CPU meanwhile ({:.0}% of its core, {:.1} µs an event)",
                    ours.seconds,
                    ours.cpu_seconds,
                    100.0 * ours.cpu_seconds / ours.seconds,
                    1e6 * ours.cpu_seconds / n
                ),
                format!(
                    "every event accepted and stored (checked); {} `FeatureAdopted` events; the \
                     service projected the {ACCOUNTS} accounts in {:.1} s before the stream",
                    ours.adoptions, ours.projection_s
                ),
            ],
        }
    }
}

/// Rows in `table`.
async fn count(db: &DatabaseConnection, table: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count of {table}"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Waits until the service's projection in `db` holds `accounts` accounts;
/// returns the seconds it took.
async fn wait_for_projection(db: &DatabaseConnection, accounts: i64) -> anyhow::Result<f64> {
    let start = Instant::now();
    loop {
        let projected = count(db, "projected_accounts").await?;
        if projected >= accounts {
            return Ok(start.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            start.elapsed() < PROJECTION_TIMEOUT,
            "the health service projected {projected} of {accounts} accounts from segmentation's \
             events in {} s; its account-projection consumer is not keeping up or cannot reach \
             segmentation",
            PROJECTION_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
