//! The scenarios: each starts its servers in their own processes, measures the
//! suite and its baseline in the same run, and returns a report section.
//! Adding a scenario is one function here and one line in `main.rs`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use themodel_proto::segmentation::{
    self as pb, segmentation_service_client::SegmentationServiceClient,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{
    baseline,
    echo::{EchoRequest, echo_service_client::EchoServiceClient},
    load::{Report, closed_loop, open_loop},
    procs::{self, ServerProc},
    report::{Row, Section, Verdict, percent, times},
    rows,
};

/// Concurrency of throughput runs.
pub(crate) const CONCURRENCY: usize = 64;
/// Connections the load generator opens to a server.
const CHANNELS: usize = 4;
/// Rows per BatchUpsertAccounts call.
const BATCH: u64 = 1000;
/// Turns each server of the framework tax takes under the load.
const TAX_TURNS: u32 = 4;

/// The scenarios, in the order a full run measures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The server stack against bare tonic.
    Tax,
    /// The gateway hop, then overload.
    Hop,
    /// GetAccount against the echo of the same stack, SQLite and PostgreSQL.
    Read,
    /// BatchUpsertAccounts into SQLite against a prepared insert loop.
    BulkSqlite,
    /// BatchUpsertAccounts into PostgreSQL against binary COPY.
    BulkPostgres,
    /// The store's bulk-append primitive against raw binary COPY.
    Copy,
    /// Tier policy and coverage at scale against set-based SQL.
    Segmentation,
    /// Revenue movements and retention at scale against set-based SQL.
    Expansion,
    /// StreamUsage into the health service against raw COPY and an insert loop.
    HealthIngest,
    /// Recomputing every health score against set-based SQL aggregates.
    Recompute,
    /// The onboarding completion rate at scale against set-based SQL.
    Onboarding,
    /// Every partner's scorecard assembled from the other services' reports.
    Partners,
    /// GetAccount over JSON/REST against gRPC, both through the gateway.
    Rest,
    /// Memory of each process.
    Memory,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 14] = [
        Scenario::Tax,
        Scenario::Hop,
        Scenario::Read,
        Scenario::BulkSqlite,
        Scenario::BulkPostgres,
        Scenario::Copy,
        Scenario::Segmentation,
        Scenario::Expansion,
        Scenario::HealthIngest,
        Scenario::Recompute,
        Scenario::Onboarding,
        Scenario::Partners,
        Scenario::Rest,
        Scenario::Memory,
    ];

    /// What the progress line says.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Tax => "framework tax",
            Scenario::Hop => "gateway hop and overload",
            Scenario::Read => "read path",
            Scenario::BulkSqlite => "bulk write path: SQLite",
            Scenario::BulkPostgres => "bulk write path: PostgreSQL",
            Scenario::Copy => "bulk append primitive",
            Scenario::Segmentation => "tier policy and coverage",
            Scenario::Expansion => "revenue movements and retention",
            Scenario::HealthIngest => "usage ingest",
            Scenario::Recompute => "health recompute",
            Scenario::Onboarding => "onboarding completion rate",
            Scenario::Partners => "partner scorecards",
            Scenario::Rest => "JSON/REST at the gateway",
            Scenario::Memory => "memory",
        }
    }
}

/// How long and how much to measure.
#[derive(Clone, Copy)]
pub struct Plan {
    /// Unrecorded time before each measurement.
    pub warmup: Duration,
    /// Recorded time of each load run.
    pub measure: Duration,
    /// Accounts written by each bulk scenario.
    pub bulk_rows: u64,
    /// Accounts of the revenue report (three subscription terms each).
    pub revenue_accounts: u64,
    /// Usage events streamed into the health service.
    pub usage_events: u64,
    /// Accounts whose health is recomputed (100 usage events each).
    pub recompute_accounts: u64,
    /// Onboarding plans of the completion report.
    pub onboarding_plans: u64,
    /// Partners whose scorecards are listed.
    pub partners: u64,
    /// Accounts spread over those partners.
    pub partner_accounts: u64,
}

impl Plan {
    /// The full plan (the published figures) or a quick one for development.
    pub fn new(quick: bool) -> Self {
        if quick {
            Plan {
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(2),
                bulk_rows: 20_000,
                revenue_accounts: 1_000,
                usage_events: 20_000,
                recompute_accounts: 500,
                onboarding_plans: 2_000,
                partners: 20,
                partner_accounts: 2_000,
            }
        } else {
            Plan {
                warmup: Duration::from_secs(2),
                measure: Duration::from_secs(10),
                bulk_rows: 1_000_000,
                revenue_accounts: 100_000,
                usage_events: 1_000_000,
                recompute_accounts: 100_000,
                onboarding_plans: 100_000,
                partners: 1_000,
                partner_accounts: 100_000,
            }
        }
    }
}

/// Sends a bearer token.
#[derive(Clone)]
pub struct Bearer(pub MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Segmentation = SegmentationServiceClient<InterceptedService<Channel, Bearer>>;

/// What every scenario shares.
pub struct Bench {
    /// Durations and sizes.
    pub plan: Plan,
    /// Key file the servers verify tokens with.
    pub key_file: PathBuf,
    /// A service token for the load.
    pub bearer: Bearer,
    /// An admin token, for what only CS management may do (apply a policy).
    pub admin: Bearer,
    /// Admin URL of a PostgreSQL server, if one answers.
    pub postgres: Option<String>,
    /// Scratch space (SQLite files).
    pub dir: PathBuf,
    /// Memory seen per process: (name, idle MiB, peak MiB under load).
    pub memory: Vec<(String, f64, f64)>,
}

async fn channels(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(out)
}

fn code(status: tonic::Status) -> tonic::Code {
    status.code()
}

impl Bench {
    /// Measures one scenario.
    pub async fn run(&mut self, scenario: Scenario) -> anyhow::Result<Vec<Section>> {
        Ok(match scenario {
            Scenario::Tax => vec![self.framework_tax().await?],
            Scenario::Hop => self.gateway_and_overload().await?,
            Scenario::Read => vec![self.read_path().await?],
            Scenario::BulkSqlite => vec![self.bulk_sqlite().await?],
            Scenario::BulkPostgres => self.bulk_postgres().await?.into_iter().collect(),
            Scenario::Copy => self.bulk_append().await?.into_iter().collect(),
            Scenario::Segmentation => self.segmentation().await?,
            Scenario::Expansion => self.expansion().await?,
            Scenario::HealthIngest => self.health_ingest().await?,
            Scenario::Recompute => self.recompute().await?,
            Scenario::Onboarding => self.onboarding().await?,
            Scenario::Partners => self.partners().await?,
            Scenario::Rest => self.rest().await?,
            Scenario::Memory => vec![self.memory().await?],
        })
    }

    /// Starts `serve <kind>` with the bench key and `extra` arguments.
    pub(crate) async fn spawn(&self, kind: &str, extra: &[&str]) -> anyhow::Result<ServerProc> {
        let mut args = vec![
            kind.to_owned(),
            "--key-file".into(),
            self.key_file.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        ServerProc::spawn(&args).await
    }

    pub(crate) async fn segmentation_clients(
        &self,
        addr: SocketAddr,
        n: usize,
    ) -> anyhow::Result<Vec<Segmentation>> {
        Ok(channels(addr, n)
            .await?
            .into_iter()
            .map(|c| SegmentationServiceClient::with_interceptor(c, self.bearer.clone()))
            .collect())
    }

    pub(crate) fn sqlite_url(&self, name: &str) -> String {
        format!(
            "sqlite://{}/{name}-{}.db?mode=rwc",
            self.dir.display(),
            uuid::Uuid::now_v7().simple()
        )
    }

    /// Framework tax: the same echo handler on a bare tonic server and behind
    /// the suite's server stack with a verified token on every call. Both
    /// servers stay up and take turns under the load in the order bare, stack,
    /// stack, bare, ..., so a drift of the machine's speed during the run
    /// (this ratio moved by 20 points between whole runs minutes apart) weighs
    /// on both alike.
    pub async fn framework_tax(&mut self) -> anyhow::Result<Section> {
        let bare = ServerProc::spawn(&["echo".into()]).await?;
        let stack = self.spawn("echo-stack", &[]).await?;
        let warmup = self.plan.warmup / 2;
        let measure = self.plan.measure / TAX_TURNS;
        let (mut base, mut ours) = (EchoRun::default(), EchoRun::default());
        for turn in 0..2 * TAX_TURNS {
            if matches!(turn % 4, 1 | 2) {
                let bearer = Some(self.bearer.clone());
                ours.add(self.echo_turn(&stack, bearer, warmup, measure).await?);
            } else {
                base.add(self.echo_turn(&bare, None, warmup, measure).await?);
            }
        }
        bare.stop().await;
        stack.stop().await;
        Ok(Section {
            title: "Framework tax".into(),
            setup: format!(
                "A trivial RPC (echo of 64 bytes) through the full server stack every service uses \
                 (JWT verification, load shedding, per-RPC metrics and span) against the same handler \
                 on a bare tonic server. Closed loop, {CONCURRENCY} concurrent calls over {CHANNELS} connections; \
                 the two servers take {TAX_TURNS} turns each under the load, in the order bare, stack, stack, bare."
            ),
            rows: vec![
                throughput_row(&ours.report, &base.report, 0.80),
                latency_row("latency", &ours.report, &base.report),
                cpu_row("server", ours.server_per_call(), base.server_per_call()),
                cpu_row("client", ours.client_per_call(), base.client_per_call()),
            ],
            notes: vec![format!(
                "errors: ours {}, baseline {}",
                ours.report.errors_text(),
                base.report.errors_text()
            )],
        })
    }

    /// The echo load for the plan's warm-up and measurement.
    async fn echo_load(
        &self,
        server: &ServerProc,
        bearer: Option<Bearer>,
    ) -> anyhow::Result<Report> {
        let run = self
            .echo_turn(server, bearer, self.plan.warmup, self.plan.measure)
            .await?;
        Ok(run.report)
    }

    /// One closed-loop echo load on `server`, with the CPU it cost both sides.
    async fn echo_turn(
        &self,
        server: &ServerProc,
        bearer: Option<Bearer>,
        warmup: Duration,
        measure: Duration,
    ) -> anyhow::Result<EchoRun> {
        let chans = Arc::new(channels(server.addr, CHANNELS).await?);
        let bearer = bearer.map(|b| b.0);
        let call = move |worker: usize| {
            let channel = chans[worker % chans.len()].clone();
            let bearer = bearer.clone();
            async move {
                let mut request = tonic::Request::new(EchoRequest {
                    payload: vec![7u8; 64],
                });
                if let Some(b) = bearer {
                    request.metadata_mut().insert("authorization", b);
                }
                EchoServiceClient::new(channel)
                    .echo(request)
                    .await
                    .map(|_| ())
                    .map_err(code)
            }
        };
        let cpu_before = server.cpu_seconds();
        let client_before = procs::self_cpu_seconds();
        let report = closed_loop(CONCURRENCY, warmup, measure, call).await;
        // The warm-up ran at the same rate: scale the measured calls to the whole turn.
        let calls = report.ok as f64 * (warmup + measure).as_secs_f64() / measure.as_secs_f64();
        Ok(EchoRun {
            server_cpu: server.cpu_seconds() - cpu_before,
            client_cpu: procs::self_cpu_seconds() - client_before,
            calls,
            report,
        })
    }

    /// Gateway hop and overload: `GetAccount` direct and through the gateway,
    /// then twice the sustainable rate at the service.
    pub async fn gateway_and_overload(&mut self) -> anyhow::Result<Vec<Section>> {
        let seg = self
            .spawn("segmentation", &["--database-url", &self.sqlite_url("hop")])
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seg_idle = seg.rss_mib();
        let ids = self.seed(seg.addr, 1000).await?;

        let direct_latency = self.get_load(seg.addr, &ids, 1).await?;
        let direct = self.get_load(seg.addr, &ids, CONCURRENCY).await?;

        let gw = self
            .spawn("gateway", &["--backend", &format!("http://{}", seg.addr)])
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let gw_idle = gw.rss_mib();
        let hop_latency = self.get_load(gw.addr, &ids, 1).await?;
        let hop = self.get_load(gw.addr, &ids, CONCURRENCY).await?;
        self.memory
            .push(("themodel-gateway".into(), gw_idle, gw.peak_rss_mib()));
        gw.stop().await;

        let hop_section = Section {
            title: "Gateway hop".into(),
            setup: format!(
                "`GetAccount` of one of 1,000 accounts (SQLite) through the gateway against the same call \
                 straight to the segmentation service. Latency with one call at a time; throughput with \
                 {CONCURRENCY} concurrent calls. Gateway and service share the server core."
            ),
            rows: vec![
                p50_row(&hop_latency, &direct_latency, 1.25),
                throughput_row(&hop, &direct, 0.70),
                latency_row("latency, 1 in flight,", &hop_latency, &direct_latency),
                latency_row("latency under load,", &hop, &direct),
            ],
            notes: vec![format!(
                "errors: via gateway {}, direct {}",
                hop.errors_text(),
                direct.errors_text()
            )],
        };

        // Overload: twice what the service sustained, open loop.
        let rss_before = seg.rss_mib();
        let rate = direct.rps() * 2.0;
        let clients = Arc::new(self.segmentation_clients(seg.addr, 16).await?);
        let ids = Arc::new(ids);
        let over = open_loop(rate, self.plan.measure, 20_000, move |i| {
            let mut client = clients[(i % clients.len() as u64) as usize].clone();
            let id = ids[(i % ids.len() as u64) as usize].clone();
            async move {
                client
                    .get_account(pb::GetAccountRequest { id })
                    .await
                    .map(|_| ())
                    .map_err(code)
            }
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = seg.rss_mib();
        let shed = over.errors.get("ResourceExhausted").copied().unwrap_or(0)
            + over.errors.get("Unavailable").copied().unwrap_or(0);
        let offered = over.ok + over.error_count();
        let bounded = over.ok_ms(0.99) < 1000.0;
        let overload_section = Section {
            title: "Overload".into(),
            setup: format!(
                "Open loop at twice the throughput the service sustained above ({rate:.0} calls/s offered, \
                 latency measured from each call's scheduled start, so queueing is not hidden). The baseline \
                 column is the same service at its sustainable load. The service admits \
                 at most MAX_CONCURRENT_CALLS (default 256) calls at once, fewer while its run queue is \
                 backlogged, and refuses the rest at once."
            ),
            rows: vec![
                Row {
                    measure: "accepted p99 latency (ms)".into(),
                    ours: format!("{:.1}", over.ok_ms(0.99)),
                    baseline: format!("{:.1}", direct.ok_ms(0.99)),
                    ratio: times(over.ok_ms(0.99) / direct.ok_ms(0.99)),
                    goal: "bounded (< 1 s)".into(),
                    verdict: Verdict::of(bounded),
                },
                Row {
                    measure: "accepted calls/s".into(),
                    ours: format!("{:.0}", over.rps()),
                    baseline: format!("{:.0}", direct.rps()),
                    ratio: percent(over.rps() / direct.rps()),
                    goal: String::new(),
                    verdict: Verdict::Info,
                },
                Row {
                    measure: "shed calls (RESOURCE_EXHAUSTED)".into(),
                    ours: format!("{shed} of {offered}"),
                    baseline: "0".into(),
                    ratio: String::new(),
                    goal: "excess shed".into(),
                    verdict: Verdict::of(shed > 0),
                },
                Row {
                    measure: "p99 time to refuse (ms)".into(),
                    ours: format!("{:.1}", over.error_ms(0.99)),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: "quick".into(),
                    verdict: Verdict::Info,
                },
                Row {
                    measure: "service RSS before -> after (MiB)".into(),
                    ours: format!("{rss_before:.1} -> {rss_after:.1}"),
                    baseline: String::new(),
                    ratio: times(rss_after / rss_before),
                    goal: "flat".into(),
                    verdict: Verdict::of(rss_after <= rss_before * 1.5 + 16.0),
                },
            ],
            notes: vec![format!("outcomes: ok={}, {}", over.ok, over.errors_text())],
        };
        self.memory
            .push(("themodel-segmentation".into(), seg_idle, seg.peak_rss_mib()));
        seg.stop().await;
        Ok(vec![hop_section, overload_section])
    }

    /// Read path: GetAccount straight to the service, on SQLite and on
    /// PostgreSQL, against the echo of the same server stack.
    pub async fn read_path(&mut self) -> anyhow::Result<Section> {
        let stack = self.spawn("echo-stack", &[]).await?;
        let echo = self.echo_load(&stack, Some(self.bearer.clone())).await?;
        stack.stop().await;
        let sqlite = self.read_load(&self.sqlite_url("read")).await?;
        let mut rows = vec![read_row("SQLite", &sqlite, &echo, Some(0.40))];
        let mut notes = vec![format!(
            "errors: SQLite {}, echo {}",
            sqlite.errors_text(),
            echo.errors_text()
        )];
        if let Some(admin) = self.postgres.clone() {
            let db = baseline::PgDatabase::create(&admin).await?;
            let postgres = self.read_load(&db.url).await;
            db.drop_database().await?;
            let postgres = postgres?;
            rows.push(read_row("PostgreSQL", &postgres, &echo, None));
            notes.push(format!("errors: PostgreSQL {}", postgres.errors_text()));
        }
        rows.push(latency_row("SQLite latency under load,", &sqlite, &echo));
        Ok(Section {
            title: "Read path".into(),
            setup: format!(
                "`GetAccount` of one of 1,000 accounts straight to the segmentation service against the \
                 echo of the same server stack (the framework's ceiling for one call). Closed loop, \
                 {CONCURRENCY} concurrent calls over {CHANNELS} connections."
            ),
            rows,
            notes,
        })
    }

    /// GetAccount under load on a fresh database at `url`.
    async fn read_load(&self, url: &str) -> anyhow::Result<Report> {
        let seg = self.spawn("segmentation", &["--database-url", url]).await?;
        let ids = self.seed(seg.addr, 1000).await?;
        let report = self.get_load(seg.addr, &ids, CONCURRENCY).await;
        seg.stop().await;
        report
    }

    pub(crate) async fn get_load(
        &self,
        addr: SocketAddr,
        ids: &[String],
        concurrency: usize,
    ) -> anyhow::Result<Report> {
        let clients = Arc::new(self.segmentation_clients(addr, CHANNELS).await?);
        let ids = Arc::new(ids.to_vec());
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Ok(closed_loop(
            concurrency,
            self.plan.warmup,
            self.plan.measure,
            move |worker| {
                let mut client = clients[worker % clients.len()].clone();
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let id = ids[n % ids.len()].clone();
                async move {
                    client
                        .get_account(pb::GetAccountRequest { id })
                        .await
                        .map(|_| ())
                        .map_err(code)
                }
            },
        )
        .await)
    }

    /// Creates `n` accounts; returns their ids.
    pub(crate) async fn seed(&self, addr: SocketAddr, n: u64) -> anyhow::Result<Vec<String>> {
        let mut client = self.segmentation_clients(addr, 1).await?.remove(0);
        let mut ids = Vec::new();
        for start in (0..n).step_by(BATCH as usize) {
            let response = client
                .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
                    accounts: (start..(start + BATCH).min(n)).map(rows::account).collect(),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            ids.extend(
                response
                    .results
                    .into_iter()
                    .filter_map(|r| r.account.map(|a| a.id)),
            );
        }
        Ok(ids)
    }

    /// Writes `bulk_rows` accounts through BatchUpsertAccounts; returns seconds.
    async fn bulk_load(&self, database_url: &str) -> anyhow::Result<(f64, String)> {
        let seg = self
            .spawn("segmentation", &["--database-url", database_url])
            .await?;
        let seconds = self.load_accounts(seg.addr, self.plan.bulk_rows).await?;
        let note = format!(
            "peak service RSS during the load: {:.1} MiB",
            seg.peak_rss_mib()
        );
        seg.stop().await;
        Ok((seconds, note))
    }

    /// Writes `rows` accounts through BatchUpsertAccounts over two
    /// connections into the service at `addr`; returns seconds.
    pub(crate) async fn load_accounts(&self, addr: SocketAddr, rows: u64) -> anyhow::Result<f64> {
        let clients = self.segmentation_clients(addr, 2).await?;
        let batches = rows.div_ceil(BATCH);
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = std::time::Instant::now();
        let mut workers = Vec::new();
        for mut client in clients {
            let next = next.clone();
            workers.push(tokio::spawn(async move {
                let mut created = 0u64;
                loop {
                    let batch = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if batch >= batches {
                        return Ok::<u64, tonic::Status>(created);
                    }
                    let first = batch * BATCH;
                    let response = client
                        .batch_upsert_accounts(pb::BatchUpsertAccountsRequest {
                            accounts: (first..(first + BATCH).min(rows))
                                .map(rows::account)
                                .collect(),
                            request_id: format!("bulk-{batch}"),
                        })
                        .await?
                        .into_inner();
                    created += response.created_count as u64;
                }
            }));
        }
        let mut created = 0;
        for worker in workers {
            created += worker.await??;
        }
        let seconds = start.elapsed().as_secs_f64();
        anyhow::ensure!(created == rows, "created {created} of {rows} accounts");
        Ok(seconds)
    }

    /// Bulk write path into SQLite against a prepared insert loop in one transaction.
    pub async fn bulk_sqlite(&mut self) -> anyhow::Result<Section> {
        let (ours, note) = self.bulk_load(&self.sqlite_url("bulk")).await?;
        let base =
            baseline::sqlite_insert_loop(&self.sqlite_url("baseline"), self.plan.bulk_rows).await?;
        Ok(self.bulk_section(
            "Bulk write path: SQLite",
            "a prepared-statement insert loop in one transaction",
            ours,
            base.as_secs_f64(),
            note,
        ))
    }

    /// Bulk write path into PostgreSQL against binary COPY.
    pub async fn bulk_postgres(&mut self) -> anyhow::Result<Option<Section>> {
        let Some(admin) = self.postgres.clone() else {
            return Ok(None);
        };
        let ours_db = baseline::PgDatabase::create(&admin).await?;
        let (ours, note) = self.bulk_load(&ours_db.url).await?;
        ours_db.drop_database().await?;
        let base_db = baseline::PgDatabase::create(&admin).await?;
        let base = baseline::postgres_copy(&base_db.url, self.plan.bulk_rows).await?;
        base_db.drop_database().await?;
        Ok(Some(self.bulk_section(
            "Bulk write path: PostgreSQL",
            "one binary `COPY`",
            ours,
            base.as_secs_f64(),
            note,
        )))
    }

    /// The store's bulk-append primitive against raw binary COPY.
    pub async fn bulk_append(&mut self) -> anyhow::Result<Option<Section>> {
        let Some(admin) = self.postgres.clone() else {
            return Ok(None);
        };
        let ours_db = baseline::PgDatabase::create(&admin).await?;
        let ours = baseline::store_append(&ours_db.url, self.plan.bulk_rows).await;
        ours_db.drop_database().await?;
        let base_db = baseline::PgDatabase::create(&admin).await?;
        let base = baseline::postgres_copy(&base_db.url, self.plan.bulk_rows).await;
        base_db.drop_database().await?;
        let (ours, base) = (ours?.as_secs_f64(), base?.as_secs_f64());
        let setup = format!(
            "{} account rows appended with the store's bulk-append primitive (binary `COPY` inside a \
             unit of work that also commits an event and an idempotency record) against one raw \
             binary `COPY` of the same rows over one connection. In-process, no RPC.",
            self.plan.bulk_rows
        );
        Ok(Some(self.rate_section(
            "Bulk append primitive: PostgreSQL",
            "rows/s",
            0.85,
            (ours, base),
            setup,
        )))
    }

    /// A section comparing the rate of writing `bulk_rows` rows in `ours_s`
    /// seconds against the baseline's `base_s`.
    fn rate_section(
        &self,
        title: &str,
        measure: &str,
        goal: f64,
        (ours_s, base_s): (f64, f64),
        setup: String,
    ) -> Section {
        let n = self.plan.bulk_rows as f64;
        let ratio = base_s / ours_s;
        Section {
            title: title.into(),
            setup,
            rows: vec![Row {
                measure: measure.into(),
                ours: format!("{:.0}", n / ours_s),
                baseline: format!("{:.0}", n / base_s),
                ratio: percent(ratio),
                goal: format!(">= {}", percent(goal)),
                verdict: Verdict::of(ratio >= goal),
            }],
            notes: vec![format!(
                "wall time: ours {ours_s:.1} s, baseline {base_s:.1} s"
            )],
        }
    }

    fn bulk_section(
        &self,
        title: &str,
        baseline: &str,
        ours_s: f64,
        base_s: f64,
        note: String,
    ) -> Section {
        let setup = format!(
            "{} accounts through `BatchUpsertAccounts` in batches of {BATCH} (2 in flight; each batch \
             validated, upserted by external_id, with one event per account and an idempotency record, \
             in one transaction) against {baseline} of the same rows into the same table.",
            self.plan.bulk_rows
        );
        let mut section = self.rate_section(title, "accounts/s", 0.5, (ours_s, base_s), setup);
        section.notes.push(note);
        section
    }

    /// Idle and loaded memory of `themodel serve` (the services alone were
    /// measured by the scenarios above).
    pub async fn memory(&mut self) -> anyhow::Result<Section> {
        let suite = self
            .spawn("suite", &["--database-url", &self.sqlite_url("suite")])
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = suite.rss_mib();
        let ids = self.seed(suite.addr, 1000).await?;
        let loaded = self.get_load(suite.addr, &ids, CONCURRENCY).await?;
        self.memory
            .push(("themodel serve".into(), idle, suite.peak_rss_mib()));
        suite.stop().await;
        Ok(Section {
            title: "Memory".into(),
            setup: "Resident memory of each process right after start (idle) and its peak during the \
                    scenarios above (loaded); `themodel serve` loaded with GetAccount through its gateway."
                .into(),
            rows: self
                .memory
                .iter()
                .map(|(name, idle, peak)| Row {
                    measure: format!("{name} RSS idle / peak (MiB)"),
                    ours: format!("{idle:.1} / {peak:.1}"),
                    baseline: String::new(),
                    ratio: String::new(),
                    goal: String::new(),
                    verdict: Verdict::Info,
                })
                .collect(),
            notes: vec![format!(
                "`themodel serve` under load: {:.0} GetAccount calls/s through its gateway, errors {}",
                loaded.rps(),
                loaded.errors_text()
            )],
        })
    }
}

/// Echo load on one server, summed over its turns.
#[derive(Default)]
struct EchoRun {
    report: Report,
    /// CPU seconds the server spent.
    server_cpu: f64,
    /// CPU seconds the load generator spent.
    client_cpu: f64,
    /// Calls made, warm-up included.
    calls: f64,
}

impl EchoRun {
    fn add(&mut self, turn: EchoRun) {
        self.report.merge(&turn.report);
        self.server_cpu += turn.server_cpu;
        self.client_cpu += turn.client_cpu;
        self.calls += turn.calls;
    }

    /// Server CPU seconds per call.
    fn server_per_call(&self) -> f64 {
        self.server_cpu / self.calls.max(1.0)
    }

    /// Load generator CPU seconds per call.
    fn client_per_call(&self) -> f64 {
        self.client_cpu / self.calls.max(1.0)
    }
}

fn read_row(database: &str, ours: &Report, echo: &Report, goal: Option<f64>) -> Row {
    let ratio = ours.rps() / echo.rps();
    Row {
        measure: format!("GetAccount on {database} (calls/s)"),
        ours: format!("{:.0}", ours.rps()),
        baseline: format!("{:.0}", echo.rps()),
        ratio: percent(ratio),
        goal: goal.map_or_else(String::new, |g| format!(">= {}", percent(g))),
        verdict: goal.map_or(Verdict::Info, |g| Verdict::of(ratio >= g)),
    }
}

/// p50 latency at one call in flight, with `goal` the largest ratio met.
pub(crate) fn p50_row(ours: &Report, base: &Report, goal: f64) -> Row {
    let ratio = ours.ok_ms(0.5) / base.ok_ms(0.5);
    Row {
        measure: "p50 latency, 1 in flight (ms)".into(),
        ours: format!("{:.3}", ours.ok_ms(0.5)),
        baseline: format!("{:.3}", base.ok_ms(0.5)),
        ratio: times(ratio),
        goal: format!("<= {goal}x"),
        verdict: Verdict::of(ratio <= goal),
    }
}

pub(crate) fn throughput_row(ours: &Report, base: &Report, goal: f64) -> Row {
    let ratio = ours.rps() / base.rps();
    Row {
        measure: "throughput (calls/s)".into(),
        ours: format!("{:.0}", ours.rps()),
        baseline: format!("{:.0}", base.rps()),
        ratio: percent(ratio),
        goal: format!(">= {}", percent(goal)),
        verdict: Verdict::of(ratio >= goal),
    }
}

/// CPU seconds per call of `who`, shown in microseconds.
fn cpu_row(who: &str, ours: f64, base: f64) -> Row {
    Row {
        measure: format!("{who} CPU per call (µs)"),
        ours: format!("{:.1}", ours * 1e6),
        baseline: format!("{:.1}", base * 1e6),
        ratio: times(ours / base),
        goal: String::new(),
        verdict: Verdict::Info,
    }
}

pub(crate) fn latency_row(measure: &str, ours: &Report, base: &Report) -> Row {
    let quantiles = |r: &Report| {
        [0.5, 0.9, 0.99, 0.999]
            .map(|q| format!("{:.2}", r.ok_ms(q)))
            .join(" / ")
    };
    Row {
        measure: format!("{measure} p50 / p90 / p99 / p99.9 (ms)"),
        ours: quantiles(ours),
        baseline: quantiles(base),
        ratio: format!("{} at p99", times(ours.ok_ms(0.99) / base.ok_ms(0.99))),
        goal: String::new(),
        verdict: Verdict::Info,
    }
}
