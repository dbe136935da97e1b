//! Partner scorecards at scale: every active partner's scorecard for a
//! period through the partner-success service's ListPartnerScorecards (and
//! one GetPartnerScorecard), which counts its own figures and asks the
//! health, expansion and onboarding services for theirs through their
//! contracts. What is reported is the time, the peak memory of every
//! process and the calls partner-success makes to each of the others, read
//! from its own Prometheus counter; beside them, the time of the peers'
//! batch reports asked directly once for every partner.
//!
//! The data is loaded straight into each service's own database (setup,
//! not what is measured): partners with staff and certifications, and
//! accounts spread unevenly over them, as segmentation holds them and as
//! each service's projection does, with attributions, health scores and
//! alerts, subscriptions with seat changes and churn, CSQLs with their
//! opportunities, and onboarding plans. The figures of every scorecard are
//! checked against what was loaded. Deterministic: a seeded generator.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use themodel_proto::{
    expansion::{self as ex, expansion_service_client::ExpansionServiceClient},
    health::{self as hl, health_service_client::HealthServiceClient},
    onboarding::{self as ob, onboarding_service_client::OnboardingServiceClient},
    partner_success::{self as ps, partner_success_service_client::PartnerSuccessServiceClient},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{
    procs::ServerProc,
    report::{Row, Section, Verdict, best, runs_list, times},
    scenarios::{Bearer, Bench},
};

/// The scorecards' period: the first three quarters of 2026.
const PERIOD: (&str, &str) = ("2026-01-01", "2026-09-30");
/// The day before the revenue figures' first month: the retention cohort
/// is the accounts paying then.
const COHORT_DAY: &str = "2025-12-31";
/// Pages the paged listing takes.
const PAGES: u64 = 10;
/// Timed runs of each measurement; the best counts.
const RUNS: usize = 3;
/// Rows per INSERT statement while loading.
const INSERT_ROWS: usize = 500;
/// The one product.
const PRODUCT: &str = "core";
/// CSMs owning the accounts.
const CSMS: u64 = 50;
/// A tier: its name, its onboarding set-up and value target days, and its
/// accounts' seats and monthly seat price in cents.
struct Tier {
    name: &'static str,
    setup_days: u64,
    value_days: u64,
    seats: (i64, i64),
    price: (i64, i64),
}
/// The tiers, 10/30/60% of the accounts.
const TIERS: [Tier; 3] = [
    Tier {
        name: "TIER_HIGH_TOUCH",
        setup_days: 45,
        value_days: 120,
        seats: (20, 80),
        price: (10_000, 30_000),
    },
    Tier {
        name: "TIER_LOW_TOUCH",
        setup_days: 30,
        value_days: 90,
        seats: (5, 25),
        price: (5_000, 12_000),
    },
    Tier {
        name: "TIER_TECH_TOUCH",
        setup_days: 14,
        value_days: 60,
        seats: (1, 5),
        price: (2_000, 6_000),
    },
];
/// Grade thresholds of the loaded scores, basis points (A, B, C, D).
const GRADES: [i32; 4] = [8_000, 6_000, 4_000, 2_000];
/// The periodic jobs of the five services, recorded as having just run so
/// that none runs while the scorecards are measured (the health service's
/// daily sweep would otherwise rescore every account at start).
const JOBS: &[&str] = &[
    "score-sweep",
    "detect-stalls",
    "settle-revenue",
    "evaluate-partner-tiers",
    "expire-deals",
    "expire-tier-overrides",
    "remind-rebaseline",
    "purge-idempotency-keys",
];
/// The deadline the scorecard calls are made with: partner-success passes
/// what is left of it on to the peers (without one it gives each peer call
/// its default of 5 s).
const DEADLINE: Duration = Duration::from_secs(120);
/// The RPCs partner-success makes for scorecards, by peer.
const REPORTS: [(&str, &str); 4] = [
    ("health", "GetHealthSummary"),
    ("expansion", "GetRevenueReport"),
    ("expansion", "GetCsqlReport"),
    ("onboarding", "GetCompletionReport"),
];
/// The services partner-success may call.
const PEERS: [&str; 4] = ["segmentation", "health", "expansion", "onboarding"];
const DAY_US: i64 = 86_400_000_000;

type Partners = PartnerSuccessServiceClient<InterceptedService<Channel, Bearer>>;

/// What one partner's scorecard must show, from the loaded data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Figures {
    accounts: i64,
    churned_accounts: i64,
    sourced: i64,
    influenced: i64,
    active_staff: i64,
    certified: [i64; 3],
    /// Accounts with a score; scores by grade A to E, then without data.
    scored: i64,
    grades: [i64; 6],
    open_alerts: i64,
    /// CSQLs created, handed off, accepted, rejected, won, lost.
    csqls: [i64; 6],
    setup_due: i64,
    value_due: i64,
    /// Retention cohort and its churned accounts.
    cohort: (i64, i64),
}

/// What was loaded.
struct Loaded {
    expected: BTreeMap<String, Figures>,
    partner_ids: Vec<String>,
    rows: u64,
}

/// The five services' databases.
struct Databases {
    segmentation: String,
    health: String,
    expansion: String,
    onboarding: String,
    partners: String,
}

/// The five processes.
struct Processes {
    segmentation: ServerProc,
    health: ServerProc,
    expansion: ServerProc,
    onboarding: ServerProc,
    partners: ServerProc,
}

impl Processes {
    fn all(&self) -> [(&'static str, &ServerProc); 5] {
        [
            ("partner-success", &self.partners),
            ("health", &self.health),
            ("expansion", &self.expansion),
            ("onboarding", &self.onboarding),
            ("segmentation", &self.segmentation),
        ]
    }

    async fn stop(self) {
        self.partners.stop().await;
        self.onboarding.stop().await;
        self.health.stop().await;
        self.expansion.stop().await;
        self.segmentation.stop().await;
    }
}

/// Calls by (peer, method), each with the codes seen.
type Calls = BTreeMap<(String, String), BTreeMap<String, u64>>;

fn total(calls: &Calls) -> u64 {
    calls.values().flat_map(|codes| codes.values()).sum()
}

impl Bench {
    /// The scorecards on SQLite and, when it answers, PostgreSQL.
    pub async fn partners(&mut self) -> anyhow::Result<Vec<Section>> {
        let dbs = Databases {
            segmentation: self.sqlite_url("partners-segmentation"),
            health: self.sqlite_url("partners-health"),
            expansion: self.sqlite_url("partners-expansion"),
            onboarding: self.sqlite_url("partners-onboarding"),
            partners: self.sqlite_url("partners"),
        };
        let mut sections = vec![self.partners_on("SQLite", &dbs).await?];
        if let Some(admin) = self.postgres.clone() {
            let mut created = Vec::new();
            for _ in 0..5 {
                created.push(crate::baseline::PgDatabase::create(&admin).await?);
            }
            let dbs = Databases {
                segmentation: created[0].url.clone(),
                health: created[1].url.clone(),
                expansion: created[2].url.clone(),
                onboarding: created[3].url.clone(),
                partners: created[4].url.clone(),
            };
            let section = self.partners_on("PostgreSQL", &dbs).await;
            for db in created {
                db.drop_database().await?;
            }
            sections.push(section?);
        }
        Ok(sections)
    }

    async fn partners_on(&mut self, backend: &str, dbs: &Databases) -> anyhow::Result<Section> {
        let (partners, accounts) = (self.plan.partners, self.plan.partner_accounts);
        use themodel_platform::store::migrate;
        migrate::<themodel_segmentation::store::migration::Migrator>(&dbs.segmentation).await?;
        migrate::<themodel_health::store::migration::Migrator>(&dbs.health).await?;
        migrate::<themodel_expansion::store::migration::Migrator>(&dbs.expansion).await?;
        migrate::<themodel_onboarding::store::migration::Migrator>(&dbs.onboarding).await?;
        migrate::<themodel_partner_success::store::migration::Migrator>(&dbs.partners).await?;
        let started = Instant::now();
        let loaded = load(dbs, partners, accounts).await?;
        let load_s = started.elapsed().as_secs_f64();

        let procs = self.start_suite(dbs).await?;
        let section = self.measure(backend, &procs, &loaded, load_s).await;
        procs.stop().await;
        section
    }

    /// Starts the five services, each with the peers it calls, and metrics.
    async fn start_suite(&self, dbs: &Databases) -> anyhow::Result<Processes> {
        // Each service after the ones it calls; every one calls all before it.
        let mut peers: Vec<String> = Vec::new();
        let mut started = Vec::new();
        for (kind, name, url) in [
            ("segmentation", "segmentation", &dbs.segmentation),
            ("expansion", "expansion", &dbs.expansion),
            ("health", "health", &dbs.health),
            ("onboarding", "onboarding", &dbs.onboarding),
            ("partner-success", "partner_success", &dbs.partners),
        ] {
            let mut args = vec!["--database-url", url.as_str(), "--metrics"];
            for peer in &peers {
                args.extend(["--peer", peer.as_str()]);
            }
            let proc = self.spawn(kind, &args).await?;
            peers.push(format!("{name}=http://{}", proc.addr));
            started.push(proc);
        }
        let [segmentation, expansion, health, onboarding, partners]: [ServerProc; 5] = started
            .try_into()
            .map_err(|_| anyhow::anyhow!("five services were started"))?;
        // The consumers' first look at their feeds.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(Processes {
            segmentation,
            health,
            expansion,
            onboarding,
            partners,
        })
    }

    async fn measure(
        &mut self,
        backend: &str,
        procs: &Processes,
        loaded: &Loaded,
        load_s: f64,
    ) -> anyhow::Result<Section> {
        let partners = loaded.partner_ids.len() as u64;
        let idle = procs.partners.rss_mib();
        let connect = |addr: SocketAddr| async move {
            Ok::<_, anyhow::Error>(
                tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
                    .tcp_nodelay(true)
                    .connect()
                    .await?,
            )
        };
        let mut client = PartnerSuccessServiceClient::with_interceptor(
            connect(procs.partners.addr).await?,
            self.admin.clone(),
        )
        .max_decoding_message_size(256 << 20);
        let peers = Peers {
            health: HealthServiceClient::with_interceptor(
                connect(procs.health.addr).await?,
                self.admin.clone(),
            )
            .max_decoding_message_size(256 << 20),
            expansion: ExpansionServiceClient::with_interceptor(
                connect(procs.expansion.addr).await?,
                self.admin.clone(),
            )
            .max_decoding_message_size(256 << 20),
            onboarding: OnboardingServiceClient::with_interceptor(
                connect(procs.onboarding.addr).await?,
                self.admin.clone(),
            )
            .max_decoding_message_size(256 << 20),
        };

        // The baseline: the peers' batch reports for every partner at once.
        let mut base_runs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            peers.all_at_once(&loaded.partner_ids).await?;
            base_runs.push(start.elapsed().as_secs_f64());
        }
        let alone = peers.one_by_one(&loaded.partner_ids).await?;
        let resident = |procs: &Processes| procs.all().map(|(_, p)| p.rss_mib());
        let summaries = |calls: &Calls| -> u64 {
            calls
                .iter()
                .filter(|((peer, _), _)| peer == "health")
                .flat_map(|(_, codes)| codes.values())
                .sum()
        };
        let after_base = (resident(procs), summaries(&server_calls(procs).await?));

        // The paged listing, first as a caller without a deadline would, then
        // measured; then one page.
        let page = (partners / PAGES).max(1);
        let undeadlined = without_deadline(&mut client, procs, page).await?;
        let (paged_runs, paged_calls, paged) =
            measure_listing(&mut client, procs, page, partners.div_ceil(page)).await?;
        let (whole_runs, whole_calls, whole) =
            measure_listing(&mut client, procs, partners, 1).await?;

        // The figures agree with what was loaded, and the two listings agree.
        check(&loaded.expected, &paged).map_err(|e| anyhow::anyhow!("{backend}: {e}"))?;
        anyhow::ensure!(
            paged == whole,
            "{backend}: the listing in pages and in one page differ"
        );

        // One scorecard: the partner with the most accounts.
        let (largest, largest_accounts) = loaded
            .expected
            .iter()
            .map(|(id, f)| (id.clone(), f.accounts + f.churned_accounts))
            .max_by_key(|(id, n)| (*n, std::cmp::Reverse(id.clone())))
            .ok_or_else(|| anyhow::anyhow!("no partners"))?;
        let mut one_runs = Vec::with_capacity(RUNS);
        let mut one_calls = Calls::new();
        let mut one = None;
        for _ in 0..RUNS {
            let before = client_calls(procs.partners.metrics).await?;
            let start = Instant::now();
            let mut request = tonic::Request::new(ps::GetPartnerScorecardRequest {
                partner_id: largest.clone(),
                start_date: Some(date(PERIOD.0)),
                end_date: Some(date(PERIOD.1)),
                currency_code: String::new(),
            });
            request.set_timeout(DEADLINE);
            let card = client
                .get_partner_scorecard(request)
                .await?
                .into_inner()
                .scorecard;
            one_runs.push(start.elapsed().as_secs_f64());
            one_calls = diff(&client_calls(procs.partners.metrics).await?, &before);
            one = card;
        }
        anyhow::ensure!(
            one.as_ref() == paged.get(&largest),
            "{backend}: GetPartnerScorecard of {largest} differs from its listed scorecard"
        );

        let at_end = (resident(procs), summaries(&server_calls(procs).await?));
        let peaks: Vec<(&str, f64)> = procs
            .all()
            .iter()
            .map(|(name, p)| (*name, p.peak_rss_mib()))
            .collect();
        let peak = peaks[0].1;
        if backend == "SQLite" {
            self.memory
                .push(("themodel-partner-success".into(), idle, peak));
        }

        let pages = partners.div_ceil(page);
        let base_s = best(&base_runs);
        let (paged_s, whole_s, one_s) = (best(&paged_runs), best(&whole_runs), best(&one_runs));
        let per_page = REPORTS.len() as u64 + 1;
        let calls_row = |measure: String, calls: &Calls, pages: u64| Row {
            measure,
            ours: format!("{} ({})", total(calls), by_peer(calls)),
            baseline: String::new(),
            ratio: String::new(),
            goal: "a few per page, none per account".into(),
            verdict: Verdict::of(total(calls) <= per_page * pages && all_ok(calls)),
        };
        let rows = vec![
            Row {
                measure: format!(
                    "ListPartnerScorecards, {partners} partners in {pages} pages of {page} (s)"
                ),
                ours: format!("{paged_s:.3}"),
                baseline: format!("{base_s:.3}"),
                ratio: times(paged_s / base_s),
                goal: String::new(),
                verdict: Verdict::Info,
            },
            Row {
                measure: format!("ListPartnerScorecards, {partners} partners in one page (s)"),
                ours: format!("{whole_s:.3}"),
                baseline: format!("{base_s:.3}"),
                ratio: times(whole_s / base_s),
                goal: String::new(),
                verdict: Verdict::Info,
            },
            Row {
                measure: format!(
                    "GetPartnerScorecard, the largest partner ({largest_accounts} accounts) (s)"
                ),
                ours: format!("{one_s:.3}"),
                baseline: String::new(),
                ratio: String::new(),
                goal: String::new(),
                verdict: Verdict::Info,
            },
            calls_row(
                format!("calls to other services, {pages} pages"),
                &paged_calls,
                pages,
            ),
            calls_row("calls to other services, one page".into(), &whole_calls, 1),
            calls_row(
                "calls to other services, GetPartnerScorecard".into(),
                &one_calls,
                1,
            ),
            Row {
                measure: "peak RSS, partner-success (MiB)".into(),
                ours: format!("{peak:.0}"),
                baseline: String::new(),
                ratio: String::new(),
                goal: String::new(),
                verdict: Verdict::Info,
            },
            Row {
                measure: format!(
                    "peak RSS, {} (MiB)",
                    peaks[1..]
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                ours: peaks[1..]
                    .iter()
                    .map(|(_, p)| format!("{p:.0}"))
                    .collect::<Vec<_>>()
                    .join(" / "),
                baseline: String::new(),
                ratio: String::new(),
                goal: String::new(),
                verdict: Verdict::Info,
            },
        ];

        let expected = &loaded.expected;
        let sum = |f: fn(&Figures) -> i64| expected.values().map(f).sum::<i64>();
        let with_retention = paged.values().filter(|c| c.retention.is_some()).count();
        let notes = vec![
            format!(
                "calls by peer and RPC (partner-success's `grpc_client_handled_total`, {}; the \
                 peers' own `grpc_server_handled_total` counted the same calls of the listings): \
                 {pages} pages: {}; one page: {}; GetPartnerScorecard: {}",
                if [&paged_calls, &whole_calls, &one_calls]
                    .into_iter()
                    .all(all_ok)
                {
                    "every one OK"
                } else {
                    "codes other than OK in brackets"
                },
                detail(&paged_calls),
                detail(&whole_calls),
                detail(&one_calls)
            ),
            format!(
                "the peers' reports for all {partners} partners, each alone (s, response size): {}",
                alone
                    .iter()
                    .map(|(what, s, bytes)| format!("{what} {s:.3} ({})", size(*bytes)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            format!(
                "without a deadline of the caller's (partner-success then gives each call to a \
                 peer 5 s), the listing in {pages} pages {undeadlined}"
            ),
            format!(
                "runs (s): {pages} pages {}; one page {}; GetPartnerScorecard {}; the peers' reports at once {}",
                runs_list(&paged_runs),
                runs_list(&whole_runs),
                runs_list(&one_runs),
                runs_list(&base_runs)
            ),
            format!(
                "checked against the loaded data for every partner: accounts and churned accounts, \
                 sourced and influenced accounts, active and certified staff, scored accounts, \
                 grades and open alerts, CSQLs by outcome, plans due per stage, retention cohort \
                 and its churned accounts; the one-page listing and GetPartnerScorecard return \
                 the same scorecards. In all: {} accounts ({} churned), {} active staff, {} scores, \
                 {} open alerts, {} CSQLs in the period, {} and {} plans due for set-up and value, \
                 {with_retention} partners with a retention figure",
                sum(|f| f.accounts + f.churned_accounts),
                sum(|f| f.churned_accounts),
                sum(|f| f.active_staff),
                sum(|f| f.scored),
                sum(|f| f.open_alerts),
                sum(|f| f.csqls[0]),
                sum(|f| f.setup_due),
                sum(|f| f.value_due),
            ),
            format!(
                "resident memory (MiB) after the peers' reports and at the end: {}; the health \
                 service had served {} and {} summaries",
                procs
                    .all()
                    .iter()
                    .zip(after_base.0.iter().zip(&at_end.0))
                    .map(|((name, _), (a, b))| format!("{name} {a:.0} and {b:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                after_base.1,
                at_end.1
            ),
            format!(
                "loading {} rows into the five databases took {load_s:.1} s",
                loaded.rows
            ),
        ];
        Ok(Section {
            title: format!("Partner scorecards: {backend}"),
            setup: format!(
                "Every active partner's scorecard for {} to {} through partner-success's \
                 ListPartnerScorecards with an admin token and a deadline of {} s, in {pages} pages \
                 and in one, and one GetPartnerScorecard: {partners} partners (1 to 8 staff each, 85% active, with \
                 certifications of levels 1-3, some expired) over {} accounts spread unevenly \
                 (the largest partner {largest_accounts}; tiers 10/30/60%; 8% churned in the period, 12% \
                 new in it). Segmentation holds the accounts, and each service its projection of \
                 them; partner-success holds an attribution of each account to its partner and \
                 of 15% to another one; health the latest score of 95% (a fifth with an older one, \
                 3% without data) and open alerts on 4%; expansion one subscription each (30% \
                 with a seat change in the period) and CSQLs on 12% with their opportunities; \
                 onboarding a plan for 90%. A page of scorecards counts partner-success's own figures \
                 (accounts from its projection: segmentation is not asked) and asks for the health \
                 summary, the revenue and CSQL reports and the completion report of each stage, each \
                 grouped by partner, through the services' contracts; the calls are counted by \
                 partner-success's `grpc_client_handled_total`. What is asked for is the time, the \
                 peak memory and the calls made: there is no target. The baseline is the five peer \
                 reports asked directly for every partner at once, which is what one page of every \
                 partner asks of the peers. Five processes share the server core; the services' \
                 periodic jobs are recorded as having just run so that none runs meanwhile. Best of \
                 {RUNS} runs each.",
                PERIOD.0,
                PERIOD.1,
                DEADLINE.as_secs(),
                sum(|f| f.accounts + f.churned_accounts),
            ),
            rows,
            notes,
        })
    }
}

/// Lists every scorecard once in pages of `page_size` without a deadline
/// (partner-success then gives each call to a peer its default one): how
/// it went.
async fn without_deadline(
    client: &mut Partners,
    procs: &Processes,
    page_size: u64,
) -> anyhow::Result<String> {
    let before = client_calls(procs.partners.metrics).await?;
    let start = Instant::now();
    let listed = list(client, page_size, None).await;
    let took = start.elapsed().as_secs_f64();
    let calls = diff(&client_calls(procs.partners.metrics).await?, &before);
    Ok(match listed {
        Ok((_, pages)) => format!("listed {pages} pages in {took:.3} s"),
        Err(err) => format!(
            "failed after {took:.3} s with {}; partner-success's calls meanwhile: {}",
            match err.downcast_ref::<tonic::Status>() {
                Some(status) => format!("{:?} \"{}\"", status.code(), status.message()),
                None => format!("{err:#}"),
            },
            detail(&calls)
        ),
    })
}

/// Lists every scorecard `runs` times in pages of `page_size`: the runs'
/// times, the calls partner-success made in the last, and its scorecards.
async fn measure_listing(
    client: &mut Partners,
    procs: &Processes,
    page_size: u64,
    pages: u64,
) -> anyhow::Result<(Vec<f64>, Calls, BTreeMap<String, ps::PartnerScorecard>)> {
    let mut runs = Vec::with_capacity(RUNS);
    let mut calls = Calls::new();
    let mut cards = BTreeMap::new();
    for _ in 0..RUNS {
        let before = client_calls(procs.partners.metrics).await?;
        let received = server_calls(procs).await?;
        let start = Instant::now();
        let listed = list(client, page_size, Some(DEADLINE)).await;
        let took = start.elapsed().as_secs_f64();
        let (listed, seen) = match listed {
            Ok(listed) => listed,
            Err(err) => {
                // What partner-success saw of its peers, to tell why.
                let calls = diff(&client_calls(procs.partners.metrics).await?, &before);
                return Err(err.context(format!(
                    "listing in pages of {page_size} failed after {took:.3} s; \
                     partner-success's calls meanwhile: {}",
                    detail(&calls)
                )));
            }
        };
        runs.push(took);
        anyhow::ensure!(seen == pages, "listed {seen} pages, not {pages}");
        calls = diff(&client_calls(procs.partners.metrics).await?, &before);
        // The peers counted the same calls received.
        let got = diff(&server_calls(procs).await?, &received);
        let made: BTreeMap<(String, String), u64> = calls
            .iter()
            .filter(|((peer, method), _)| REPORTS.iter().any(|(p, m)| p == peer && m == method))
            .map(|(k, codes)| (k.clone(), codes.values().sum()))
            .collect();
        let got: BTreeMap<(String, String), u64> = got
            .iter()
            .map(|(k, codes)| (k.clone(), codes.values().sum()))
            .filter(|(_, n)| *n > 0)
            .collect();
        anyhow::ensure!(
            made == got,
            "partner-success counted calls {made:?}, the peers {got:?}"
        );
        cards = listed;
    }
    Ok((runs, calls, cards))
}

/// Every scorecard, in pages of `page_size`; and the pages.
async fn list(
    client: &mut Partners,
    page_size: u64,
    deadline: Option<Duration>,
) -> anyhow::Result<(BTreeMap<String, ps::PartnerScorecard>, u64)> {
    let mut cards = BTreeMap::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut request = tonic::Request::new(ps::ListPartnerScorecardsRequest {
            start_date: Some(date(PERIOD.0)),
            end_date: Some(date(PERIOD.1)),
            currency_code: String::new(),
            page_size: page_size as i32,
            page_token: token,
        });
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        let page = client.list_partner_scorecards(request).await?.into_inner();
        pages += 1;
        for card in page.scorecards {
            cards.insert(card.partner_id.clone(), card);
        }
        if page.next_page_token.is_empty() {
            return Ok((cards, pages));
        }
        token = page.next_page_token;
    }
}

/// The peers, asked directly.
struct Peers {
    health: HealthServiceClient<InterceptedService<Channel, Bearer>>,
    expansion: ExpansionServiceClient<InterceptedService<Channel, Bearer>>,
    onboarding: OnboardingServiceClient<InterceptedService<Channel, Bearer>>,
}

impl Peers {
    fn health_summary(ids: &[String]) -> hl::GetHealthSummaryRequest {
        hl::GetHealthSummaryRequest {
            product_key: String::new(),
            group_by: hl::HealthGrouping::Partner as i32,
            partner_ids: ids.to_vec(),
        }
    }

    fn revenue() -> ex::GetRevenueReportRequest {
        ex::GetRevenueReportRequest {
            start_month: Some(date("2026-01-01")),
            end_month: Some(date("2026-09-01")),
            group_by: ex::RevenueGrouping::Partner as i32,
            currency_code: String::new(),
            partner_id: String::new(),
        }
    }

    fn csqls() -> ex::GetCsqlReportRequest {
        ex::GetCsqlReportRequest {
            start_date: Some(date(PERIOD.0)),
            end_date: Some(date(PERIOD.1)),
            group_by: ex::CsqlGrouping::Partner as i32,
        }
    }

    fn completion(stage: ob::Stage) -> ob::GetCompletionReportRequest {
        ob::GetCompletionReportRequest {
            start_date: Some(date(PERIOD.0)),
            end_date: Some(date(PERIOD.1)),
            stage: stage as i32,
            group_by: ob::CompletionGrouping::Partner as i32,
        }
    }

    /// The five reports at the same time, as a scorecard page asks them.
    async fn all_at_once(&self, ids: &[String]) -> anyhow::Result<()> {
        let (mut h, mut e, mut c, mut o, mut v) = (
            self.health.clone(),
            self.expansion.clone(),
            self.expansion.clone(),
            self.onboarding.clone(),
            self.onboarding.clone(),
        );
        tokio::try_join!(
            h.get_health_summary(Self::health_summary(ids)),
            e.get_revenue_report(Self::revenue()),
            c.get_csql_report(Self::csqls()),
            o.get_completion_report(Self::completion(ob::Stage::SetupComplete)),
            v.get_completion_report(Self::completion(ob::Stage::ValueConfirmed)),
        )?;
        Ok(())
    }

    /// Each report alone: its time and its response's size.
    async fn one_by_one(&self, ids: &[String]) -> anyhow::Result<Vec<(&'static str, f64, usize)>> {
        /// Times one call; its response's encoded size.
        async fn timed<M: prost::Message>(
            what: &'static str,
            call: impl Future<Output = Result<tonic::Response<M>, tonic::Status>>,
        ) -> anyhow::Result<(&'static str, f64, usize)> {
            let start = Instant::now();
            let response = call.await?.into_inner();
            Ok((what, start.elapsed().as_secs_f64(), response.encoded_len()))
        }
        Ok(vec![
            timed(
                "health summary",
                self.health
                    .clone()
                    .get_health_summary(Self::health_summary(ids)),
            )
            .await?,
            timed(
                "revenue report",
                self.expansion.clone().get_revenue_report(Self::revenue()),
            )
            .await?,
            timed(
                "CSQL report",
                self.expansion.clone().get_csql_report(Self::csqls()),
            )
            .await?,
            timed(
                "set-up completion report",
                self.onboarding
                    .clone()
                    .get_completion_report(Self::completion(ob::Stage::SetupComplete)),
            )
            .await?,
            timed(
                "value completion report",
                self.onboarding
                    .clone()
                    .get_completion_report(Self::completion(ob::Stage::ValueConfirmed)),
            )
            .await?,
        ])
    }
}

/// The figures of a listed scorecard, as [`Figures`] holds them.
fn figures_of(card: &ps::PartnerScorecard) -> Figures {
    let mut f = Figures {
        accounts: card.accounts,
        churned_accounts: card.churned_accounts,
        sourced: card.sourced_accounts,
        influenced: card.influenced_accounts,
        active_staff: i64::from(card.active_staff),
        ..Default::default()
    };
    for level in &card.certified_staff {
        if let Some(slot) = usize::try_from(level.level - 1)
            .ok()
            .and_then(|i| f.certified.get_mut(i))
        {
            *slot = i64::from(level.staff_count);
        }
    }
    if let Some(h) = &card.health {
        f.scored = h.accounts;
        f.open_alerts = h.open_alerts;
        for g in &h.grades {
            let slot = match hl::Grade::try_from(g.grade) {
                Ok(hl::Grade::A) => 0,
                Ok(hl::Grade::B) => 1,
                Ok(hl::Grade::C) => 2,
                Ok(hl::Grade::D) => 3,
                Ok(hl::Grade::E) => 4,
                _ => 5,
            };
            f.grades[slot] += g.count;
        }
    }
    if let Some(c) = &card.csqls {
        f.csqls = [
            c.created,
            c.handed_off,
            c.accepted,
            c.rejected,
            c.won,
            c.lost,
        ];
    }
    f.setup_due = card.setup_completion.as_ref().map_or(0, |g| g.due);
    f.value_due = card.value_completion.as_ref().map_or(0, |g| g.due);
    if let Some(r) = &card.retention {
        f.cohort = (r.cohort_accounts, r.churned_accounts);
    }
    f
}

/// Whether every partner's scorecard shows what was loaded.
fn check(
    expected: &BTreeMap<String, Figures>,
    cards: &BTreeMap<String, ps::PartnerScorecard>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        cards.len() == expected.len(),
        "{} scorecards listed for {} partners",
        cards.len(),
        expected.len()
    );
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(id, want)| {
            let got = cards.get(id).map(figures_of);
            (got.as_ref() != Some(want)).then(|| format!("{id}: got {got:?}, loaded {want:?}"))
        })
        .collect();
    anyhow::ensure!(
        wrong.is_empty(),
        "{} scorecards differ from the loaded data, e.g.\n{}",
        wrong.len(),
        wrong.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
    Ok(())
}

/// Calls by peer: `health 10, expansion 20, ...`.
fn by_peer(calls: &Calls) -> String {
    PEERS
        .iter()
        .map(|peer| {
            let n: u64 = calls
                .iter()
                .filter(|((target, _), _)| target == peer)
                .flat_map(|(_, codes)| codes.values())
                .sum();
            format!("{peer} {n}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Calls by peer and RPC, with any code other than OK.
fn detail(calls: &Calls) -> String {
    calls
        .iter()
        .map(|((target, method), codes)| {
            let n: u64 = codes.values().sum();
            let other: Vec<String> = codes
                .iter()
                .filter(|(code, _)| code.as_str() != "Ok")
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            if other.is_empty() {
                format!("{target} {method} {n}")
            } else {
                format!("{target} {method} {n} ({})", other.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn all_ok(calls: &Calls) -> bool {
    calls
        .values()
        .all(|codes| codes.keys().all(|code| code == "Ok"))
}

/// `after - before`, dropping what did not change.
fn diff(after: &Calls, before: &Calls) -> Calls {
    let mut out = Calls::new();
    for (key, codes) in after {
        for (code, n) in codes {
            let was = before
                .get(key)
                .and_then(|c| c.get(code))
                .copied()
                .unwrap_or(0);
            if *n > was {
                out.entry(key.clone())
                    .or_default()
                    .insert(code.clone(), n - was);
            }
        }
    }
    out
}

/// The calls partner-success has made, by peer, RPC and code.
async fn client_calls(metrics: Option<SocketAddr>) -> anyhow::Result<Calls> {
    let text = scrape(metrics).await?;
    let mut calls = Calls::new();
    for (labels, value) in samples(&text, themodel_platform::client::CLIENT_CALLS) {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        calls
            .entry((get("target"), get("method")))
            .or_default()
            .insert(get("code"), value);
    }
    Ok(calls)
}

/// The scorecard RPCs the peers have served, by peer, RPC and code.
async fn server_calls(procs: &Processes) -> anyhow::Result<Calls> {
    let mut calls = Calls::new();
    for (peer, proc) in [
        ("segmentation", &procs.segmentation),
        ("health", &procs.health),
        ("expansion", &procs.expansion),
        ("onboarding", &procs.onboarding),
    ] {
        let text = scrape(proc.metrics).await?;
        for (labels, value) in samples(&text, themodel_platform::observe::RPC_CALLS) {
            let method = labels.get("method").cloned().unwrap_or_default();
            let method = method.rsplit('/').next().unwrap_or_default().to_owned();
            if !REPORTS.iter().any(|(p, m)| *p == peer && *m == method) {
                continue;
            }
            calls
                .entry((peer.to_owned(), method))
                .or_default()
                .insert(labels.get("code").cloned().unwrap_or_default(), value);
        }
    }
    Ok(calls)
}

/// `GET /metrics` of a process.
async fn scrape(addr: Option<SocketAddr>) -> anyhow::Result<String> {
    let addr = addr.ok_or_else(|| anyhow::anyhow!("the process serves no metrics"))?;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8(response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response from {addr}"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{addr}/metrics answered {head}"
    );
    Ok(body.to_owned())
}

/// The samples of counter `name` in Prometheus text: labels and value.
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, u64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let value = value.trim().parse::<f64>().ok()? as u64;
            let labels = labels
                .split("\",")
                .filter_map(|pair| {
                    let (k, v) = pair.split_once("=\"")?;
                    Some((k.trim().to_owned(), v.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some((labels, value))
        })
        .collect()
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap_or_default()
}

fn date(text: &str) -> themodel_proto::common::Date {
    themodel_platform::validate::date_to_proto(day(text))
}

/// A day from `first` to `last`, both included.
fn between(rng: &mut StdRng, first: &str, last: &str) -> NaiveDate {
    let (a, b) = (day(first), day(last));
    a + Days::new(rng.random_range(0..=(b - a).num_days()) as u64)
}

fn micros(day: NaiveDate) -> i64 {
    i64::from(day.to_epoch_days()) * DAY_US
}

/// A SQL string literal.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn opt_text(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL".to_owned(), text)
}

fn opt_int(value: Option<i64>) -> String {
    value.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}

/// One table's pending rows.
struct Table {
    head: String,
    /// Its columns: given by the row, or filled with a constant (a column
    /// added since this loader was written).
    columns: Vec<(String, Option<&'static str>)>,
    rows: Vec<String>,
}

/// Multi-row INSERTs into one database, each table's columns read from the
/// database itself. Tables are written in the order of their first row, all
/// at once, so that a row is written after those it refers to.
struct Inserter {
    db: DatabaseConnection,
    tables: Vec<(&'static str, Table)>,
    rows: u64,
}

impl Inserter {
    async fn open(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            db: sea_orm::Database::connect(url).await?,
            tables: Vec::new(),
            rows: 0,
        })
    }

    fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    fn boolean(&self, value: bool) -> String {
        match (self.backend(), value) {
            (DatabaseBackend::Postgres, true) => "TRUE".into(),
            (DatabaseBackend::Postgres, false) => "FALSE".into(),
            (_, value) => u8::from(value).to_string(),
        }
    }

    async fn table(&self, table: &str, given: &[&str]) -> anyhow::Result<Table> {
        let backend = self.backend();
        let query = match backend {
            DatabaseBackend::Postgres => format!(
                "SELECT column_name::text, data_type::text, \
                   CASE WHEN is_nullable = 'NO' AND column_default IS NULL \
                   AND is_identity = 'NO' THEN 1 ELSE 0 END \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            ),
            _ => format!(
                "SELECT name, type, \
                   CASE WHEN \"notnull\" = 1 AND dflt_value IS NULL AND pk = 0 THEN 1 ELSE 0 END \
                 FROM pragma_table_info('{table}') ORDER BY cid"
            ),
        };
        let mut columns = Vec::new();
        for row in self
            .db
            .query_all_raw(Statement::from_string(backend, query))
            .await?
        {
            let name: String = row.try_get_by_index(0)?;
            let ty = row.try_get_by_index::<String>(1)?.to_lowercase();
            let required = row.try_get_by_index::<i32>(2)? == 1;
            if given.contains(&name.as_str()) {
                columns.push((name, None));
            } else if required {
                let filler = if ty.contains("int") || ty.contains("num") || ty.contains("real") {
                    "0"
                } else if ty.contains("bool") {
                    "FALSE"
                } else if ty.contains("char") || ty.contains("text") {
                    "''"
                } else {
                    anyhow::bail!("cannot fill the new column {table}.{name} of type {ty}");
                };
                columns.push((name, Some(filler)));
            }
        }
        anyhow::ensure!(!columns.is_empty(), "no table {table}");
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        Ok(Table {
            head: format!("INSERT INTO {table} ({})", names.join(", ")),
            columns,
            rows: Vec::with_capacity(INSERT_ROWS),
        })
    }

    /// Queues a row of `table` given as (column, SQL literal); columns the
    /// table does not have are left out.
    async fn push(&mut self, table: &'static str, values: &[(&str, String)]) -> anyhow::Result<()> {
        let position = match self.tables.iter().position(|(name, _)| *name == table) {
            Some(position) => position,
            None => {
                let given: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                let t = self.table(table, &given).await?;
                self.tables.push((table, t));
                self.tables.len() - 1
            }
        };
        let t = &mut self.tables[position].1;
        let row = t
            .columns
            .iter()
            .map(|(column, filler)| match filler {
                Some(filler) => filler,
                None => values
                    .iter()
                    .find(|(name, _)| name == column)
                    .map_or("NULL", |(_, v)| v.as_str()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        t.rows.push(format!("({row})"));
        self.rows += 1;
        if t.rows.len() >= INSERT_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        for (_, t) in &mut self.tables {
            if !t.rows.is_empty() {
                let sql = format!("{} VALUES {}", t.head, t.rows.join(", "));
                t.rows.clear();
                self.db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    /// Writes what is queued, records the periodic jobs as just run, takes
    /// statistics and closes; the rows written.
    async fn finish(mut self, now_ms: i64) -> anyhow::Result<u64> {
        for job in JOBS {
            let values = [
                ("name", text(job)),
                ("holder", text("")),
                ("lease_until_ms", "0".into()),
                ("last_started_ms", now_ms.to_string()),
                ("last_duration_ms", "0".into()),
                ("last_outcome", text("JOB_OUTCOME_SUCCEEDED")),
                ("last_error", text("")),
                ("run_count", "1".into()),
                ("failure_count", "0".into()),
            ];
            self.push("job_leases", &values).await?;
        }
        self.rows -= JOBS.len() as u64;
        self.flush().await?;
        let analyze = match self.backend() {
            DatabaseBackend::Postgres => "VACUUM ANALYZE",
            _ => "ANALYZE",
        };
        self.db.execute_unprepared(analyze).await?;
        self.db.close().await?;
        Ok(self.rows)
    }
}

/// One account as generated.
struct Account {
    id: String,
    partner: usize,
    tier: usize,
    start: NaiveDate,
    /// The day its subscription ended, for a churned account.
    churn: Option<NaiveDate>,
}

/// Loads `partners` partners and `accounts` accounts into the five
/// databases; what each scorecard must show.
async fn load(dbs: &Databases, partners: u64, accounts: u64) -> anyhow::Result<Loaded> {
    let mut rng = StdRng::seed_from_u64(0x9a27_2026);
    let now_us = chrono::Utc::now().timestamp_micros();
    let now = now_us.to_string();
    let as_of = day(PERIOD.1);
    let (from, to) = (day(PERIOD.0), day(PERIOD.1));
    let in_period = |d: NaiveDate| d >= from && d <= to;
    let mut seg = Inserter::open(&dbs.segmentation).await?;
    let mut health = Inserter::open(&dbs.health).await?;
    let mut exp = Inserter::open(&dbs.expansion).await?;
    let mut onb = Inserter::open(&dbs.onboarding).await?;
    let mut own = Inserter::open(&dbs.partners).await?;

    let partner_ids: Vec<String> = (0..partners).map(|p| format!("partner-{p:04}")).collect();
    let mut expected: BTreeMap<String, Figures> = partner_ids
        .iter()
        .map(|id| (id.clone(), Figures::default()))
        .collect();
    let forms = [
        "CONTRACT_FORM_RESALE",
        "CONTRACT_FORM_REFERRAL",
        "CONTRACT_FORM_CO_SELL",
    ];
    let models = [
        "CS_MODEL_PARTNER_LED",
        "CS_MODEL_VENDOR_LED",
        "CS_MODEL_SHARED",
    ];
    for (p, id) in partner_ids.iter().enumerate() {
        own.push(
            "partners",
            &[
                ("partner_id", text(id)),
                ("display_name", text(&format!("Partner {p}"))),
                ("contract_form", text(forms[p % 3])),
                ("cs_model", text(models[p % 3])),
                ("status", text("PARTNER_STATUS_ACTIVE")),
                ("tier", text("")),
                ("revision", "1".into()),
                ("create_time_us", now.clone()),
                ("update_time_us", now.clone()),
            ],
        )
        .await?;
        let figures = expected.entry(id.clone()).or_default();
        for s in 0..rng.random_range(1..=8) {
            let staff_id = format!("{id}-staff-{s}");
            let active = rng.random_bool(0.85);
            let email = format!("person{s}@{id}.example.com");
            own.push(
                "partner_staff",
                &[
                    ("id", text(&staff_id)),
                    ("partner_id", text(id)),
                    ("name", text(&format!("Person {s}"))),
                    ("email", text(&email)),
                    ("email_key", text(&email)),
                    ("role", text("consultant")),
                    ("external_id", "NULL".into()),
                    (
                        "status",
                        text(if active {
                            "STAFF_STATUS_ACTIVE"
                        } else {
                            "STAFF_STATUS_LEFT"
                        }),
                    ),
                    ("revision", "1".into()),
                    ("create_time_us", now.clone()),
                    ("update_time_us", now.clone()),
                ],
            )
            .await?;
            let mut best = 0;
            for c in 0..rng.random_range(0..=3) {
                let level: i32 = rng.random_range(1..=3);
                let earned = between(&mut rng, "2024-01-01", "2026-12-31");
                let expires = rng.random_bool(0.7).then(|| earned + Days::new(730));
                if earned <= as_of && expires.is_none_or(|e| e >= as_of) {
                    best = best.max(level);
                }
                own.push(
                    "certifications",
                    &[
                        ("id", text(&format!("{staff_id}-cert-{c}"))),
                        ("staff_id", text(&staff_id)),
                        ("partner_id", text(id)),
                        ("course_key", text(&format!("course-{level}"))),
                        ("level", level.to_string()),
                        ("earned_on", text(&earned.to_string())),
                        (
                            "expires_on",
                            opt_text(expires.map(|e| e.to_string()).as_deref()),
                        ),
                        ("create_time_us", now.clone()),
                    ],
                )
                .await?;
            }
            if active {
                figures.active_staff += 1;
                for (slot, level) in (1..=3).enumerate() {
                    if best >= level {
                        figures.certified[slot] += 1;
                    }
                }
            }
        }
    }

    for i in 0..accounts {
        let roll: f64 = rng.random();
        let tier = if roll < 0.1 {
            0
        } else if roll < 0.4 {
            1
        } else {
            2
        };
        // Uneven: the first partners bring the most accounts.
        let u: f64 = rng.random();
        let partner = ((u * u * partners as f64) as usize).min(partner_ids.len() - 1);
        let kind: f64 = rng.random();
        let (start, churn) = if kind < 0.08 {
            (
                between(&mut rng, "2024-01-01", "2025-06-30"),
                Some(between(&mut rng, "2026-01-15", "2026-09-15")),
            )
        } else if kind < 0.20 {
            (between(&mut rng, "2026-01-01", "2026-08-31"), None)
        } else {
            (between(&mut rng, "2024-01-01", "2025-11-30"), None)
        };
        let account = Account {
            id: uuid::Uuid::from_u128(rng.random::<u128>()).to_string(),
            partner,
            tier,
            start,
            churn,
        };
        let partner_id = &partner_ids[partner];
        let figures = expected.entry(partner_id.clone()).or_default();
        if account.churn.is_some() {
            figures.churned_accounts += 1;
        } else {
            figures.accounts += 1;
        }
        accounts_rows(
            &mut [&mut seg, &mut health, &mut exp, &mut onb, &mut own],
            &account,
            partner_id,
            i,
            &now,
        )
        .await?;
        attributions(
            &mut own,
            &mut rng,
            &account,
            &partner_ids,
            &mut expected,
            i,
            &now,
        )
        .await?;
        let figures = expected.entry(partner_id.clone()).or_default();
        scores(&mut health, &mut rng, &account, figures, now_us).await?;
        revenue(&mut exp, &mut rng, &account, figures, i, &now).await?;
        csqls(&mut exp, &mut rng, &account, figures, &in_period, i, &now).await?;
        plan(
            &mut onb, &mut rng, &account, partner_id, figures, &in_period, i,
        )
        .await?;
    }

    let now_ms = now_us / 1000;
    let mut rows = 0;
    for inserter in [seg, health, exp, onb, own] {
        rows += inserter.finish(now_ms).await?;
    }
    Ok(Loaded {
        expected,
        partner_ids,
        rows,
    })
}

/// The account in segmentation and in each projection.
async fn accounts_rows(
    inserters: &mut [&mut Inserter; 5],
    a: &Account,
    partner_id: &str,
    i: u64,
    now: &str,
) -> anyhow::Result<()> {
    let lifecycle = if a.churn.is_some() {
        "LIFECYCLE_STATUS_CHURNED"
    } else if a.start >= day(PERIOD.0) {
        "LIFECYCLE_STATUS_ONBOARDING"
    } else {
        "LIFECYCLE_STATUS_ACTIVE"
    };
    let tier = TIERS[a.tier].name;
    let csm = format!("csm-{}", i % CSMS);
    let domain = format!("account{i}.example.com");
    let [seg, rest @ ..] = inserters;
    seg.push(
        "accounts",
        &[
            ("id", text(&a.id)),
            ("external_id", text(&format!("SF-{i:08}"))),
            ("name", text(&format!("Account {i}"))),
            ("industry", text("IT")),
            ("employee_count", (i % 5000).to_string()),
            ("currency_code", text("JPY")),
            ("acv_units", "1200000".into()),
            ("acv_nanos", "0".into()),
            ("potential_acv_units", "NULL".into()),
            ("potential_acv_nanos", "NULL".into()),
            ("cloud_literacy", text("CLOUD_LITERACY_MEDIUM")),
            ("migration_source", text("MIGRATION_SOURCE_SIMILAR_TOOL")),
            ("contract_start_date", text(&a.start.to_string())),
            (
                "renewal_date",
                text(&(a.start + Days::new(364)).to_string()),
            ),
            ("owner_csm_id", text(&csm)),
            ("partner_id", text(partner_id)),
            ("lifecycle_status", text(lifecycle)),
            ("tier", text(tier)),
            ("create_time_us", now.to_owned()),
            ("update_time_us", now.to_owned()),
            ("revision", "1".into()),
            ("basis_units", "1200000".into()),
            ("basis_nanos", "0".into()),
            ("domain", text(&domain)),
        ],
    )
    .await?;
    for projection in rest.iter_mut() {
        projection
            .push(
                "projected_accounts",
                &[
                    ("account_id", text(&a.id)),
                    ("external_id", text(&format!("SF-{i:08}"))),
                    ("name", text(&format!("Account {i}"))),
                    ("domain", text(&domain)),
                    ("partner_id", text(partner_id)),
                    ("owner_csm_id", text(&csm)),
                    ("tier", text(tier)),
                    ("lifecycle_status", text(lifecycle)),
                    ("version_us", now.to_owned()),
                ],
            )
            .await?;
    }
    Ok(())
}

/// The account's attribution to its partner (sourced, from its start) and,
/// for 15%, to another partner (influenced, a third of them ended).
async fn attributions(
    own_db: &mut Inserter,
    rng: &mut StdRng,
    a: &Account,
    partner_ids: &[String],
    expected: &mut BTreeMap<String, Figures>,
    i: u64,
    now: &str,
) -> anyhow::Result<()> {
    let as_of = day(PERIOD.1);
    let own = &partner_ids[a.partner];
    let row_of =
        |id: String, partner: &str, kind: &str, start: NaiveDate, end: Option<NaiveDate>| {
            [
                ("id", text(&id)),
                ("account_id", text(&a.id)),
                ("partner_id", text(partner)),
                ("kind", text(kind)),
                ("start_date", text(&start.to_string())),
                ("end_date", opt_text(end.map(|e| e.to_string()).as_deref())),
                ("revision", "1".into()),
                ("create_time_us", now.to_owned()),
                ("update_time_us", now.to_owned()),
            ]
        };
    let row = row_of(
        format!("attr-{i:08}-s"),
        own,
        "ATTRIBUTION_KIND_SOURCED",
        a.start,
        None,
    );
    own_db.push("attributions", &row).await?;
    if a.start <= as_of {
        expected.entry(own.clone()).or_default().sourced += 1;
    }
    if partner_ids.len() > 1 && rng.random_bool(0.15) {
        let other = (a.partner + rng.random_range(1..partner_ids.len())) % partner_ids.len();
        let start = between(rng, "2025-01-01", "2026-09-30");
        let end = rng
            .random_bool(0.33)
            .then(|| start + Days::new(rng.random_range(1..200)));
        let row = row_of(
            format!("attr-{i:08}-i"),
            &partner_ids[other],
            "ATTRIBUTION_KIND_INFLUENCED",
            start,
            end,
        );
        own_db.push("attributions", &row).await?;
        if start <= as_of && end.is_none_or(|e| e > as_of) {
            expected
                .entry(partner_ids[other].clone())
                .or_default()
                .influenced += 1;
        }
    }
    Ok(())
}

/// The account's health: the latest score of 95% (a fifth with an older
/// one before it, 3% without data) and an open alert on 4%.
async fn scores(
    health: &mut Inserter,
    rng: &mut StdRng,
    a: &Account,
    figures: &mut Figures,
    now_us: i64,
) -> anyhow::Result<()> {
    if !rng.random_bool(0.95) {
        return Ok(());
    }
    let older = rng.random_bool(0.2);
    let mut grade_slot = 5;
    for latest in [!older, true] {
        let (score, grade, parts) = if rng.random_bool(0.03) {
            let part = |m: &str| {
                format!(
                    r#"{{"measure":"{m}","value":null,"stated_weight":50,"weight":0,"contribution":0}}"#
                )
            };
            (
                "NULL".to_owned(),
                None,
                format!("[{},{}]", part("BREADTH"), part("SEAT_USE")),
            )
        } else {
            let (v1, v2) = (
                2 * rng.random_range(0..=5_000),
                2 * rng.random_range(0..=5_000),
            );
            let score: i32 = v1 / 2 + v2 / 2;
            let slot = GRADES.iter().position(|&min| score >= min).unwrap_or(4);
            let part = |m: &str, v: i32| {
                format!(
                    r#"{{"measure":"{m}","value":{v},"stated_weight":50,"weight":5000,"contribution":{}}}"#,
                    v / 2
                )
            };
            (
                score.to_string(),
                Some(slot),
                format!("[{},{}]", part("BREADTH", v1), part("SEAT_USE", v2)),
            )
        };
        let letter = grade.map(|g| ["A", "B", "C", "D", "E"][g]);
        if latest {
            grade_slot = grade.unwrap_or(5);
        }
        health
            .push(
                "health_scores",
                &[
                    ("account_id", text(&a.id)),
                    ("product_key", text(PRODUCT)),
                    ("scorecard_key", text("default")),
                    ("scorecard_version", "1".into()),
                    ("score", score),
                    ("grade", opt_text(letter)),
                    ("trend", "NULL".into()),
                    ("parts", text(&parts)),
                    (
                        "compute_time_us",
                        (now_us - if latest { 3_600_000_000 } else { 30 * DAY_US }).to_string(),
                    ),
                    ("computed_by", text("system")),
                ],
            )
            .await?;
        if latest {
            break;
        }
    }
    figures.scored += 1;
    figures.grades[grade_slot] += 1;
    if rng.random_bool(0.04) {
        figures.open_alerts += 1;
        health
            .push(
                "health_alerts",
                &[
                    ("alert_id", text(&format!("alert-{}", a.id))),
                    ("account_id", text(&a.id)),
                    ("product_key", text(PRODUCT)),
                    ("kind", text("USAGE_DROP")),
                    ("detail", text("users fell")),
                    ("raise_time_us", (now_us - DAY_US).to_string()),
                    ("clear_time_us", "NULL".into()),
                    ("recent_users", "2".into()),
                    ("baseline_users", "9".into()),
                    ("grade_before", "NULL".into()),
                    ("grade_after", "NULL".into()),
                    ("since_date", "NULL".into()),
                    ("partner_id", "NULL".into()),
                    ("open_slot", text(&format!("{}/{PRODUCT}/USAGE_DROP", a.id))),
                ],
            )
            .await?;
    }
    Ok(())
}

/// The account's subscription: one term from its start, ending at its
/// churn, or for 30% of the others changing seats in the period.
async fn revenue(
    exp: &mut Inserter,
    rng: &mut StdRng,
    a: &Account,
    figures: &mut Figures,
    i: u64,
    now: &str,
) -> anyhow::Result<()> {
    let Tier { seats, price, .. } = TIERS[a.tier];
    let price_cents = rng.random_range(price.0..=price.1);
    let quantity = rng.random_range(seats.0..=seats.1);
    let subscription = format!("sub-{i:08}");
    exp.push(
        "subscriptions",
        &[
            ("id", text(&subscription)),
            ("external_id", text(&format!("SUB-{i:08}"))),
            ("account_id", text(&a.id)),
            ("product_key", text(PRODUCT)),
            ("plan_key", text("core-monthly")),
            ("currency_code", text("USD")),
            ("revision", "1".into()),
            ("create_time_us", now.to_owned()),
            ("update_time_us", now.to_owned()),
        ],
    )
    .await?;
    let change = (a.churn.is_none() && a.start < day(PERIOD.0) && rng.random_bool(0.3))
        .then(|| between(rng, "2026-02-01", "2026-08-31"));
    let mut terms = vec![(a.start, change.or(a.churn), quantity)];
    if let Some(change) = change {
        let changed = (quantity + rng.random_range(-quantity / 2..=quantity / 2 + 2)).max(1);
        terms.push((change, None, changed));
    }
    for (position, (start, end, quantity)) in terms.into_iter().enumerate() {
        exp.push(
            "subscription_terms",
            &[
                ("subscription_id", text(&subscription)),
                ("position", position.to_string()),
                ("account_id", text(&a.id)),
                ("product_key", text(PRODUCT)),
                ("currency_code", text("USD")),
                ("quantity", quantity.to_string()),
                ("price_units", (price_cents / 100).to_string()),
                ("price_nanos", (price_cents % 100 * 10_000_000).to_string()),
                ("billing_period", text("BILLING_PERIOD_MONTHLY")),
                ("start_date", text(&start.to_string())),
                ("end_date", opt_text(end.map(|e| e.to_string()).as_deref())),
                ("mrr_micros", (quantity * price_cents * 10_000).to_string()),
            ],
        )
        .await?;
    }
    if a.start <= day(COHORT_DAY) {
        figures.cohort.0 += 1;
        if a.churn.is_some_and(|c| c <= day(PERIOD.1)) {
            figures.cohort.1 += 1;
        }
    }
    Ok(())
}

/// CSQLs on 12% of the accounts raised in the period (and on 2% before it),
/// with the opportunities of the accepted ones.
async fn csqls(
    exp: &mut Inserter,
    rng: &mut StdRng,
    a: &Account,
    figures: &mut Figures,
    in_period: &impl Fn(NaiveDate) -> bool,
    i: u64,
    now: &str,
) -> anyhow::Result<()> {
    let mut raised = Vec::new();
    if rng.random_bool(0.12) {
        raised.push(between(rng, PERIOD.0, PERIOD.1));
    }
    if rng.random_bool(0.02) {
        raised.push(between(rng, "2025-09-01", "2025-12-31"));
    }
    for (n, on) in raised.into_iter().enumerate() {
        let id = format!("csql-{i:08}-{n}");
        let roll: f64 = rng.random();
        let status = if roll < 0.2 {
            "CSQL_STATUS_OPEN"
        } else if roll < 0.35 {
            "CSQL_STATUS_HANDED_OFF"
        } else if roll < 0.85 {
            "CSQL_STATUS_ACCEPTED"
        } else {
            "CSQL_STATUS_REJECTED"
        };
        let created = micros(on) + rng.random_range(0..DAY_US);
        let handed = (status != "CSQL_STATUS_OPEN").then_some(created + DAY_US);
        let decided = matches!(status, "CSQL_STATUS_ACCEPTED" | "CSQL_STATUS_REJECTED")
            .then_some(created + 2 * DAY_US);
        let estimate = rng.random_range(100..5_000).to_string();
        let opportunity = (status == "CSQL_STATUS_ACCEPTED").then(|| format!("opp-{i:08}-{n}"));
        let stage_roll: f64 = rng.random();
        let stage = if stage_roll < 0.4 {
            "OPPORTUNITY_STAGE_OPEN"
        } else if stage_roll < 0.75 {
            "OPPORTUNITY_STAGE_WON"
        } else {
            "OPPORTUNITY_STAGE_LOST"
        };
        exp.push(
            "csqls",
            &[
                ("id", text(&id)),
                ("account_id", text(&a.id)),
                ("kind", text("CSQL_KIND_UPSELL")),
                ("product_key", text(PRODUCT)),
                ("currency_code", text("USD")),
                ("estimated_units", estimate.clone()),
                ("estimated_nanos", "0".into()),
                ("reason", text("more seats")),
                ("csm_id", text("csm-1")),
                ("team_id", text("team-1")),
                ("tier", text(TIERS[a.tier].name)),
                ("qbr_id", "NULL".into()),
                ("status", text(status)),
                (
                    "rejection_reason",
                    if status == "CSQL_STATUS_REJECTED" {
                        text("no budget")
                    } else {
                        "NULL".into()
                    },
                ),
                ("opportunity_id", opt_text(opportunity.as_deref())),
                ("create_time_us", created.to_string()),
                ("hand_off_time_us", opt_int(handed)),
                ("decision_time_us", opt_int(decided)),
                ("revision", "1".into()),
            ],
        )
        .await?;
        if let Some(opportunity) = &opportunity {
            let closed = stage != "OPPORTUNITY_STAGE_OPEN";
            exp.push(
                "opportunities",
                &[
                    ("id", text(opportunity)),
                    ("csql_id", text(&id)),
                    ("account_id", text(&a.id)),
                    ("product_key", text(PRODUCT)),
                    ("currency_code", text("USD")),
                    ("estimated_units", estimate.clone()),
                    ("estimated_nanos", "0".into()),
                    ("owner_id", text("sales-1")),
                    ("stage", text(stage)),
                    (
                        "won_units",
                        if stage == "OPPORTUNITY_STAGE_WON" {
                            estimate.clone()
                        } else {
                            "NULL".into()
                        },
                    ),
                    (
                        "won_nanos",
                        if stage == "OPPORTUNITY_STAGE_WON" {
                            "0".into()
                        } else {
                            "NULL".into()
                        },
                    ),
                    ("subscription_id", "NULL".into()),
                    (
                        "lost_reason",
                        if stage == "OPPORTUNITY_STAGE_LOST" {
                            text("price")
                        } else {
                            "NULL".into()
                        },
                    ),
                    (
                        "close_date",
                        if closed {
                            text(&(on + Days::new(30)).to_string())
                        } else {
                            "NULL".into()
                        },
                    ),
                    ("create_time_us", (created + 2 * DAY_US).to_string()),
                    ("update_time_us", now.to_owned()),
                    ("revision", "1".into()),
                ],
            )
            .await?;
        }
        if in_period(on) {
            let c = &mut figures.csqls;
            c[0] += 1;
            match status {
                "CSQL_STATUS_HANDED_OFF" => c[1] += 1,
                "CSQL_STATUS_ACCEPTED" => {
                    c[1] += 1;
                    c[2] += 1;
                    match stage {
                        "OPPORTUNITY_STAGE_WON" => c[4] += 1,
                        "OPPORTUNITY_STAGE_LOST" => c[5] += 1,
                        _ => {}
                    }
                }
                "CSQL_STATUS_REJECTED" => {
                    c[1] += 1;
                    c[3] += 1;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The onboarding plan of 90% of the accounts, anchored on its start, its
/// partner's: three quarters set up and over half value-confirmed (some
/// late), a few cancelled.
async fn plan(
    onb: &mut Inserter,
    rng: &mut StdRng,
    a: &Account,
    partner_id: &str,
    figures: &mut Figures,
    in_period: &impl Fn(NaiveDate) -> bool,
    i: u64,
) -> anyhow::Result<()> {
    if !rng.random_bool(0.9) {
        return Ok(());
    }
    let Tier {
        name: tier,
        setup_days,
        value_days,
        ..
    } = TIERS[a.tier];
    let anchor = a.start;
    let setup_due = anchor + Days::new(setup_days);
    let value_due = anchor + Days::new(value_days);
    let (setup_days, value_days) = (setup_days as i64, value_days as i64);
    let cancelled = rng.random_bool(0.05);
    let at =
        |days: i64, rng: &mut StdRng| micros(anchor) + days * DAY_US + rng.random_range(0..DAY_US);
    let setup_at = (!cancelled && rng.random_bool(0.75)).then(|| {
        let days = if rng.random_bool(0.2) {
            setup_days + rng.random_range(1..30)
        } else {
            rng.random_range(1..=setup_days)
        };
        at(days, rng)
    });
    let value_at = match setup_at {
        Some(_) if rng.random_bool(0.73) => {
            let days = if rng.random_bool(0.25) {
                value_days + rng.random_range(1..60)
            } else {
                rng.random_range(setup_days..=value_days)
            };
            Some(at(days, rng))
        }
        _ => None,
    };
    let created = micros(anchor) + 3_600_000_000;
    let open = value_at.is_none() && !cancelled;
    let account_slot = format!("{}/{PRODUCT}", a.id);
    let self_success = onb.boolean(false);
    onb.push(
        "plans",
        &[
            ("id", text(&format!("plan-{i:08}"))),
            ("account_id", text(&a.id)),
            ("product_key", text(PRODUCT)),
            ("playbook_key", text("core-default")),
            ("playbook_version", "1".into()),
            ("tier", text(tier)),
            ("owner_csm_id", text(&format!("csm-{}", i % CSMS))),
            ("partner_id", text(partner_id)),
            ("contract_start", text(&anchor.to_string())),
            ("kickoff", "NULL".into()),
            ("anchor_date", text(&anchor.to_string())),
            ("setup_due", text(&setup_due.to_string())),
            ("value_due", text(&value_due.to_string())),
            ("setup_time_us", opt_int(setup_at)),
            ("value_time_us", opt_int(value_at)),
            (
                "cancel_time_us",
                opt_int(cancelled.then_some(created + DAY_US)),
            ),
            ("cancel_reason", text("")),
            ("create_time_us", created.to_string()),
            ("progress_time_us", created.to_string()),
            ("revision", "1".into()),
            ("open_slot", opt_text(open.then_some(account_slot.as_str()))),
            ("stall_days", "14".into()),
            ("self_success", self_success),
            ("rule_version", "0".into()),
            // Day numbers, where the schema has them.
            ("anchor_day", anchor.to_epoch_days().to_string()),
            ("setup_due_day", setup_due.to_epoch_days().to_string()),
            ("value_due_day", value_due.to_epoch_days().to_string()),
        ],
    )
    .await?;
    figures.setup_due += i64::from(in_period(setup_due));
    figures.value_due += i64::from(in_period(value_due));
    Ok(())
}
