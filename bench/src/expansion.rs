//! Revenue movements and retention at scale: GetRevenueReport over 24 months
//! grouped by tier, through the expansion service, against one set-based SQL
//! statement computing the same figures in the same database.
//!
//! The data is loaded straight into the service's tables (setup, not what is
//! measured): accounts projected with a tier, and subscriptions whose terms
//! start before the range or in it, change price or seats (a new term
//! starting where the previous one ends), gain add-ons, end (churn) and come
//! back after a gap (reactivation). Deterministic: a seeded generator.

use std::{collections::BTreeMap, ops::RangeInclusive, time::Instant};

use chrono::NaiveDate;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Statement};
use themodel_platform::store::Db;
use themodel_proto::{
    common,
    expansion::{self as pb, expansion_service_client::ExpansionServiceClient},
};

use crate::{
    report::{Row, Section, Verdict, best, times},
    scenarios::Bench,
};

/// The goals: within 2x of the SQL, under 512 MiB at peak.
const MAX_RATIO: f64 = 2.0;
const MAX_PEAK_MIB: f64 = 512.0;
/// The report's range: January 2024 and the 23 months after it.
const FIRST_YEAR: i32 = 2024;
const MONTHS: i32 = 24;
/// Subscription terms per account, on average (exactly, in total).
const TERMS_PER_ACCOUNT: u64 = 3;
/// Timed runs of each side; the best counts.
const RUNS: usize = 3;
/// Rows per INSERT statement while loading.
const INSERT_ROWS: usize = 500;
/// The tiers, 10% / 30% / 60% of the accounts.
const TIERS: [&str; 3] = ["TIER_HIGH_TOUCH", "TIER_LOW_TOUCH", "TIER_TECH_TOUCH"];
/// Seats and monthly unit price (cents) of the main product, per tier.
const PRICING: [(RangeInclusive<i64>, RangeInclusive<i64>); 3] = [
    (20..=80, 10_000..=30_000),
    (5..=25, 5_000..=12_000),
    (1..=5, 2_000..=6_000),
];

impl Bench {
    /// The revenue report on SQLite and, when it answers, PostgreSQL.
    pub async fn expansion(&mut self) -> anyhow::Result<Vec<Section>> {
        let url = self.sqlite_url("revenue");
        let mut sections = vec![self.expansion_on("SQLite", &url).await?];
        if let Some(admin) = self.postgres.clone() {
            let db = crate::baseline::PgDatabase::create(&admin).await?;
            let section = self.expansion_on("PostgreSQL", &db.url).await;
            db.drop_database().await?;
            sections.push(section?);
        }
        Ok(sections)
    }

    async fn expansion_on(&mut self, backend: &str, url: &str) -> anyhow::Result<Section> {
        let accounts = self.plan.revenue_accounts;
        themodel_platform::store::migrate::<themodel_expansion::store::migration::Migrator>(url)
            .await?;
        let started = Instant::now();
        let loaded = load(url, accounts).await?;
        let load_s = started.elapsed().as_secs_f64();

        let (sql_s, sql_runs, sql_figures) = sql_report(url, &events_sql()).await?;
        let (grid_s, grid_runs, grid_figures) = sql_report(url, &grid_sql()).await?;

        let svc = self.spawn("expansion", &["--database-url", url]).await?;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let idle = svc.rss_mib();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", svc.addr))?
            .connect()
            .await?;
        let mut client = ExpansionServiceClient::with_interceptor(channel, self.admin.clone())
            .max_decoding_message_size(64 << 20);
        let request = pb::GetRevenueReportRequest {
            start_month: Some(month_date(first_month())),
            end_month: Some(month_date(first_month() + MONTHS - 1)),
            group_by: pb::RevenueGrouping::Tier as i32,
            currency_code: "USD".into(),
            partner_id: String::new(),
        };
        let mut ours_runs = Vec::with_capacity(RUNS);
        let mut response = None;
        for _ in 0..RUNS {
            let start = Instant::now();
            let report = client
                .get_revenue_report(request.clone())
                .await?
                .into_inner();
            ours_runs.push(start.elapsed().as_secs_f64());
            response = Some(report);
        }
        let peak = svc.peak_rss_mib();
        svc.stop().await;
        if backend == "SQLite" {
            self.memory.push(("themodel-expansion".into(), idle, peak));
        }
        let response = response.ok_or_else(|| anyhow::anyhow!("no report"))?;
        anyhow::ensure!(
            response.currency_code == "USD",
            "the report is in {:?}, not USD",
            response.currency_code
        );
        let ours_figures = service_figures(&response)?;
        agree(&ours_figures, &sql_figures, backend, "change-event")?;
        agree(&ours_figures, &grid_figures, backend, "month-end grid")?;
        let ours_s = best(&ours_runs);

        let total = |month: i64, f: fn(&Figures) -> i128| -> i128 {
            ours_figures
                .iter()
                .filter(|((_, m), _)| *m == month)
                .map(|(_, v)| f(v))
                .sum()
        };
        let sum_months = |f: fn(&Figures) -> i128| -> i128 { (1..=24).map(|m| total(m, f)).sum() };
        let (new, expansion, contraction, churn, reactivation) = (
            sum_months(|f| f.new),
            sum_months(|f| f.expansion),
            sum_months(|f| f.contraction),
            sum_months(|f| f.churn),
            sum_months(|f| f.reactivation),
        );
        anyhow::ensure!(
            [new, expansion, contraction, churn, reactivation]
                .iter()
                .all(|&v| v > 0),
            "the data does not exercise every movement"
        );
        let retention: Vec<String> = response
            .groups
            .iter()
            .filter_map(|g| {
                let r = g.retention.as_ref()?;
                let bp =
                    |v: Option<i64>| v.map_or("-".into(), |v| format!("{:.1}%", v as f64 / 100.0));
                Some(format!(
                    "{} NRR {} GRR {} logo churn {} ({} accounts)",
                    g.group,
                    bp(r.nrr_basis_points),
                    bp(r.grr_basis_points),
                    bp(r.logo_churn_basis_points),
                    r.cohort_accounts
                ))
            })
            .collect();
        let usd = |nanos: i128| format!("{:.1}M", nanos as f64 / 1e15);
        let runs = |r: &[f64]| {
            r.iter()
                .map(|s| format!("{s:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ratio = ours_s / sql_s;
        Ok(Section {
            title: format!("Revenue movements and retention: {backend}"),
            setup: format!(
                "GetRevenueReport for {MONTHS} months ({FIRST_YEAR}-01 to {}-12) grouped by tier, over \
                 {accounts} accounts (tiers 10/30/60%) with {} subscriptions and {} subscription terms \
                 in USD (accounts starting before the range or in it, seat and price changes as new \
                 terms, add-ons, churn, and reactivation after a gap; account ids in random order to \
                 the rows), through the service with an admin token, against one set-based SQL \
                 statement in the same database computing the same movements and retention per tier \
                 from change events: each term's start and end as +MRR and -MRR at a month number, \
                 summed per account and month, a running sum over each account's months (`SUM`/`MAX` \
                 window functions) for its MRR after each change and whether it paid before, then \
                 the movements per tier and month and the tier totals as running sums. For reference, \
                 the month-end grid formulation: the {} month ends as a `VALUES` list joined to the \
                 terms in force, summed per account and month (one row per paying account and \
                 month), `LAG`/`LEAD` over each account's months. Best of {RUNS} runs each; the \
                 service and both statements agree on every figure (checked).",
                FIRST_YEAR + 1,
                loaded.subscriptions,
                loaded.terms,
                MONTHS + 1,
            ),
            rows: vec![
                Row {
                    measure: format!(
                        "GetRevenueReport, {MONTHS} months by tier, {} terms (s)",
                        loaded.terms
                    ),
                    ours: format!("{ours_s:.3}"),
                    baseline: format!("{sql_s:.3}"),
                    ratio: times(ratio),
                    goal: format!("<= {MAX_RATIO:.0}x"),
                    verdict: Verdict::of(ratio <= MAX_RATIO),
                },
                Row {
                    measure: "the same against the month-end grid SQL (s)".into(),
                    ours: format!("{ours_s:.3}"),
                    baseline: format!("{grid_s:.3}"),
                    ratio: times(ours_s / grid_s),
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
                    "runs (s): service {}; change-event SQL {}; month-end grid SQL {}; loading the \
                     data took {load_s:.1} s",
                    runs(&ours_runs),
                    runs(&sql_runs),
                    runs(&grid_runs)
                ),
                format!(
                    "MRR (USD) at the start {}, at the end {}; over the range new {}, expansion {}, \
                     contraction {}, churn {}, reactivation {}",
                    usd(total(1, |f| f.starting)),
                    usd(total(24, |f| f.ending)),
                    usd(new),
                    usd(expansion),
                    usd(contraction),
                    usd(churn),
                    usd(reactivation)
                ),
                format!("retention: {}", retention.join("; ")),
            ],
        })
    }
}

/// Months since January of year 0.
fn first_month() -> i32 {
    FIRST_YEAR * 12
}

/// Day `day` of month number `month`.
fn day_of(month: i32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(month.div_euclid(12), month.rem_euclid(12) as u32 + 1, day)
        .unwrap_or_default()
}

/// The last day of month number `month`.
fn last_day(month: i32) -> NaiveDate {
    day_of(month + 1, 1).pred_opt().unwrap_or_default()
}

fn month_date(month: i32) -> common::Date {
    common::Date {
        year: month.div_euclid(12),
        month: month.rem_euclid(12) + 1,
        day: 1,
    }
}

/// One term as the table stores it.
struct Term {
    start: NaiveDate,
    end: Option<NaiveDate>,
    quantity: i64,
    /// Price of one unit per billing period, in cents.
    price_cents: i64,
    annual: bool,
}

impl Term {
    /// quantity x price a month, rounded half up to the cent, in micros.
    fn mrr_micros(&self) -> i64 {
        let total = self.quantity * self.price_cents;
        let cents = if self.annual {
            (2 * total + 12) / 24
        } else {
            total
        };
        cents * 10_000
    }
}

/// One subscription: a product and its terms.
struct Subscription {
    product: &'static str,
    terms: Vec<Term>,
}

/// A day in the month `months` after the month of `from`: the 1st half of
/// the time, else any day up to the 28th.
fn months_after(rng: &mut StdRng, from: NaiveDate, months: RangeInclusive<i32>) -> NaiveDate {
    use chrono::Datelike;
    let month = from.year() * 12 + from.month0() as i32 + rng.random_range(months);
    let day = if rng.random_bool(0.5) {
        1
    } else {
        rng.random_range(2..=28)
    };
    day_of(month, day)
}

/// Per billing period, from a monthly unit price: annual terms pay 12
/// months less 10%.
fn period_price(monthly_cents: i64, annual: bool) -> i64 {
    if annual {
        monthly_cents * 108 / 10
    } else {
        monthly_cents
    }
}

/// One account's subscriptions, `terms` terms in all.
fn history(rng: &mut StdRng, tier: usize, terms: usize) -> Vec<Subscription> {
    let (seats, price) = PRICING[tier].clone();
    // 55% were customers before the range; the rest start in it.
    let offset = if rng.random_bool(0.55) {
        rng.random_range(-24..0)
    } else {
        rng.random_range(0..MONTHS - 1)
    };
    let start = months_after(rng, day_of(first_month(), 1), offset..=offset);
    let addon_terms = match terms {
        0 | 1 => 0,
        2 | 3 => usize::from(rng.random_bool(0.4)),
        _ if rng.random_bool(0.5) => 2,
        _ => usize::from(rng.random_bool(0.4)),
    };
    let main_terms = terms - addon_terms;
    let annual = rng.random_bool(0.3);
    let mut quantity = rng.random_range(seats.clone());
    let mut unit = rng.random_range(price);
    let mut main = Vec::with_capacity(main_terms);
    let mut from = start;
    for j in 0..main_terms {
        let last = j + 1 == main_terms;
        let end = months_after(rng, from, 3..=15);
        // The last term stays open 70% of the time; else the account churns.
        let end = (!last || rng.random_bool(0.3)).then_some(end);
        main.push(Term {
            start: from,
            end,
            quantity,
            price_cents: period_price(unit, annual),
            annual,
        });
        if let Some(end) = end {
            // 15% of renewals come after a gap: churn, then reactivation.
            from = if rng.random_bool(0.15) {
                months_after(rng, end, 1..=8)
            } else {
                end
            };
        }
        quantity = (quantity + rng.random_range(-(quantity / 3)..=(quantity / 2 + 1))).max(1);
        if rng.random_bool(0.2) {
            unit = unit * rng.random_range(90..=115) / 100;
        }
    }
    let mut subscriptions = vec![Subscription {
        product: "core",
        terms: main,
    }];
    if addon_terms > 0 {
        let mut quantity = (rng.random_range(seats) / 2).max(1);
        let unit = PRICING[tier].1.start() / 4;
        let mut from = months_after(rng, start, 1..=12);
        let mut terms = Vec::with_capacity(addon_terms);
        for j in 0..addon_terms {
            let last = j + 1 == addon_terms;
            let end = months_after(rng, from, 2..=12);
            let end = (!last || rng.random_bool(0.4)).then_some(end);
            terms.push(Term {
                start: from,
                end,
                quantity,
                price_cents: unit,
                annual: false,
            });
            if let Some(end) = end {
                from = end;
            }
            quantity = (quantity + rng.random_range(-1..=3)).max(1);
        }
        subscriptions.push(Subscription {
            product: "addon",
            terms,
        });
    }
    subscriptions
}

/// Terms per account: 1 to 5, exactly `TERMS_PER_ACCOUNT` on average.
fn term_counts(rng: &mut StdRng, accounts: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = (0..accounts).map(|_| rng.random_range(1..=5)).collect();
    let target = accounts * TERMS_PER_ACCOUNT as usize;
    let mut sum: usize = counts.iter().sum();
    while sum != target && accounts > 0 {
        let c = &mut counts[rng.random_range(0..accounts)];
        if sum > target && *c > 1 {
            *c -= 1;
            sum -= 1;
        } else if sum < target && *c < 5 {
            *c += 1;
            sum += 1;
        }
    }
    counts
}

/// What was loaded.
struct Loaded {
    subscriptions: u64,
    terms: u64,
}

/// Multi-row INSERTs into the three tables, parents first (terms reference
/// their subscription), each statement committed on its own. Through the
/// suite's own connections: they set `TCP_NODELAY`, without which every
/// statement larger than a segment waits for PostgreSQL's delayed ACK. Each table gets the columns
/// this file knows of that it has (other engineers add columns to these
/// tables; a new NOT NULL column fails the load loudly).
struct Inserter<'a> {
    db: &'a Db,
    tables: Vec<Table>,
}

struct Table {
    head: String,
    /// Each column, with the literal written to it when this file does not
    /// know it (a NOT NULL column without a default added since).
    columns: Vec<(String, Option<&'static str>)>,
    rows: Vec<String>,
}

/// The tables [`Inserter`] writes, in order, with the columns it can fill.
const PROJECTED: usize = 0;
const SUBSCRIPTIONS: usize = 1;
const TERMS: usize = 2;
const TABLES: [(&str, &[&str]); 3] = [
    (
        "projected_accounts",
        &[
            "account_id",
            "external_id",
            "name",
            "domain",
            "partner_id",
            "owner_csm_id",
            "tier",
            "lifecycle_status",
            "version_us",
        ],
    ),
    (
        "subscriptions",
        &[
            "id",
            "external_id",
            "account_id",
            "product_key",
            "plan_key",
            "currency_code",
            "revision",
            "create_time_us",
            "update_time_us",
        ],
    ),
    (
        "subscription_terms",
        &[
            "subscription_id",
            "position",
            "account_id",
            "product_key",
            "currency_code",
            "quantity",
            "price_units",
            "price_nanos",
            "billing_period",
            "start_date",
            "end_date",
            "mrr_micros",
        ],
    ),
];

/// A SQL string literal.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl<'a> Inserter<'a> {
    async fn new(db: &'a Db) -> anyhow::Result<Self> {
        let mut tables = Vec::with_capacity(TABLES.len());
        for (table, known) in TABLES {
            let backend = db.get_database_backend();
            let query = match backend {
                sea_orm::DbBackend::Postgres => format!(
                    "SELECT column_name::text, data_type::text, \
                       CASE WHEN is_nullable = 'NO' AND column_default IS NULL THEN 1 ELSE 0 END \
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
            for row in db
                .query_all_raw(Statement::from_string(backend, query))
                .await?
            {
                let name: String = row.try_get_by_index(0)?;
                let ty = row.try_get_by_index::<String>(1)?.to_lowercase();
                let required = row.try_get_by_index::<i32>(2)? == 1;
                if known.contains(&name.as_str()) {
                    columns.push((name, None));
                } else if required {
                    let filler = if ty.contains("int") || ty.contains("num") || ty.contains("real")
                    {
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
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            tables.push(Table {
                head: format!("INSERT INTO {table} ({})", names.join(", ")),
                columns,
                rows: Vec::with_capacity(INSERT_ROWS),
            });
        }
        Ok(Self { db, tables })
    }

    /// Queues a row of `table` given as (column, SQL literal).
    async fn push(&mut self, table: usize, values: &[(&str, String)]) -> anyhow::Result<()> {
        let t = &mut self.tables[table];
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
        if t.rows.len() >= INSERT_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        for t in &mut self.tables {
            if !t.rows.is_empty() {
                let sql = format!("{} VALUES {}", t.head, t.rows.join(", "));
                self.db.execute_unprepared(&sql).await?;
                t.rows.clear();
            }
        }
        Ok(())
    }
}

/// Loads `accounts` projected accounts and their subscriptions into `url`.
async fn load(url: &str, accounts: u64) -> anyhow::Result<Loaded> {
    let db = themodel_platform::store::connect(url).await?;
    let mut rng = StdRng::seed_from_u64(0x5eed_2024);
    let counts = term_counts(&mut rng, accounts as usize);
    let now_us = chrono::Utc::now().timestamp_micros().to_string();
    let mut insert = Inserter::new(&db).await?;
    let mut loaded = Loaded {
        subscriptions: 0,
        terms: 0,
    };
    for (i, &count) in counts.iter().enumerate() {
        let tier = match i % 10 {
            0 => 0,
            1..=3 => 1,
            _ => 2,
        };
        let account = text(&uuid::Uuid::from_u128(rng.random::<u128>()).to_string());
        insert
            .push(
                PROJECTED,
                &[
                    ("account_id", account.clone()),
                    ("external_id", text(&format!("SF-{i:08}"))),
                    ("name", text(&format!("Account {i}"))),
                    ("domain", text(&format!("account{i}.example.com"))),
                    ("partner_id", text("")),
                    ("owner_csm_id", text(&format!("csm-{}", i % 50))),
                    ("tier", text(TIERS[tier])),
                    ("lifecycle_status", text("LIFECYCLE_STATUS_ACTIVE")),
                    ("version_us", now_us.clone()),
                ],
            )
            .await?;
        for subscription in history(&mut rng, tier, count) {
            let id = text(&uuid::Uuid::from_u128(rng.random::<u128>()).to_string());
            let annual = subscription.terms.first().is_some_and(|t| t.annual);
            let plan = if annual { "annual" } else { "monthly" };
            let product = text(subscription.product);
            insert
                .push(
                    SUBSCRIPTIONS,
                    &[
                        ("id", id.clone()),
                        (
                            "external_id",
                            text(&format!("SUB-{}", loaded.subscriptions)),
                        ),
                        ("account_id", account.clone()),
                        ("product_key", product.clone()),
                        (
                            "plan_key",
                            text(&format!("{}-{plan}", subscription.product)),
                        ),
                        ("currency_code", text("USD")),
                        ("revision", "1".into()),
                        ("create_time_us", now_us.clone()),
                        ("update_time_us", now_us.clone()),
                    ],
                )
                .await?;
            loaded.subscriptions += 1;
            for (position, t) in subscription.terms.iter().enumerate() {
                let period = if t.annual {
                    "BILLING_PERIOD_ANNUAL"
                } else {
                    "BILLING_PERIOD_MONTHLY"
                };
                insert
                    .push(
                        TERMS,
                        &[
                            ("subscription_id", id.clone()),
                            ("position", position.to_string()),
                            ("account_id", account.clone()),
                            ("product_key", product.clone()),
                            ("currency_code", text("USD")),
                            ("quantity", t.quantity.to_string()),
                            ("price_units", (t.price_cents / 100).to_string()),
                            (
                                "price_nanos",
                                (t.price_cents % 100 * 10_000_000).to_string(),
                            ),
                            ("billing_period", text(period)),
                            ("start_date", text(&t.start.to_string())),
                            (
                                "end_date",
                                t.end.map_or("NULL".into(), |e| text(&e.to_string())),
                            ),
                            ("mrr_micros", t.mrr_micros().to_string()),
                        ],
                    )
                    .await?;
                loaded.terms += 1;
            }
        }
    }
    insert.flush().await?;
    anyhow::ensure!(
        loaded.terms == accounts * TERMS_PER_ACCOUNT,
        "loaded {} terms, not {}",
        loaded.terms,
        accounts * TERMS_PER_ACCOUNT
    );
    // Statistics, as a database in service would have.
    let analyze = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await?;
    db.close().await;
    Ok(loaded)
}

/// One group's figures in one month (months 1..=24) or its retention over
/// the range (month 0), amounts in nanos.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Figures {
    starting: i128,
    ending: i128,
    new: i128,
    expansion: i128,
    contraction: i128,
    churn: i128,
    reactivation: i128,
    /// Accounts with MRR at the start (the cohort, for retention).
    accounts_start: i64,
    /// Accounts with MRR at the end (the cohort's still paying).
    accounts_end: i64,
    new_accounts: i64,
    churned_accounts: i64,
    reactivated_accounts: i64,
}

type ByGroupMonth = BTreeMap<(String, i64), Figures>;

/// The columns both SQL formulations return, per group and month (1..=24)
/// or for the retention (month 0), amounts in micros.
const SQL_COLUMNS: &str = "starting, ending, new_mrr, expansion, contraction, churn, \
     reactivation, n_start, n_end, n_new, n_churned, n_reactivated";

/// `CAST(column AS BIGINT)` of each comma-separated column (PostgreSQL sums
/// BIGINTs as NUMERIC).
fn bigints(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("CAST({} AS BIGINT)", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The month-end grid: the window's 25 month ends as a `VALUES` list joined
/// to the terms in force, summed per account and month (one row per account
/// and month with MRR), then `LAG`/`LEAD` over each account's months.
fn grid_sql() -> String {
    let first = first_month();
    let months = (0..=MONTHS)
        .map(|i| format!("({i}, '{}')", last_day(first - 1 + i)))
        .collect::<Vec<_>>()
        .join(", ");
    let range_start = day_of(first, 1);
    format!(
        "WITH months(i, d) AS (VALUES {months}), \
         earlier AS (\
           SELECT DISTINCT account_id AS a FROM subscription_terms \
           WHERE currency_code = 'USD' AND mrr_micros > 0 AND start_date < '{range_start}' \
             AND (end_date IS NULL OR substr(end_date, 1, 7) > substr(start_date, 1, 7))), \
         mrr AS (\
           SELECT t.account_id AS a, m.i AS i, CAST(SUM(t.mrr_micros) AS BIGINT) AS v \
           FROM subscription_terms t JOIN months m \
             ON t.start_date <= m.d AND (t.end_date IS NULL OR t.end_date > m.d) \
           WHERE t.currency_code = 'USD' AND t.mrr_micros > 0 \
           GROUP BY t.account_id, m.i), \
         seq AS (\
           SELECT COALESCE(p.tier, '') AS g, s.i AS i, s.v AS v, \
                  LAG(s.i) OVER w AS pi, LAG(s.v) OVER w AS pv, LEAD(s.i) OVER w AS ni, \
                  MAX(CASE WHEN s.i = {MONTHS} THEN s.v ELSE 0 END) OVER (PARTITION BY s.a) AS e, \
                  CASE WHEN x.a IS NULL THEN 0 ELSE 1 END AS before \
           FROM mrr s \
           LEFT JOIN projected_accounts p ON p.account_id = s.a \
           LEFT JOIN earlier x ON x.a = s.a \
           WINDOW w AS (PARTITION BY s.a ORDER BY s.i)), \
         per AS (\
           SELECT g, i, SUM(v) AS ending, COUNT(*) AS n_end, \
             SUM(CASE WHEN pi IS NULL AND before = 0 THEN v ELSE 0 END) AS new_mrr, \
             SUM(CASE WHEN pi IS NULL AND before = 0 THEN 1 ELSE 0 END) AS n_new, \
             SUM(CASE WHEN pi = i - 1 AND v > pv THEN v - pv ELSE 0 END) AS expansion, \
             SUM(CASE WHEN pi = i - 1 AND v < pv THEN pv - v ELSE 0 END) AS contraction, \
             SUM(CASE WHEN (pi IS NULL AND before = 1) OR pi < i - 1 THEN v ELSE 0 END) AS reactivation, \
             SUM(CASE WHEN (pi IS NULL AND before = 1) OR pi < i - 1 THEN 1 ELSE 0 END) AS n_reactivated, \
             SUM(CASE WHEN ni IS NULL OR ni > i + 1 THEN v ELSE 0 END) AS churn_next, \
             SUM(CASE WHEN ni IS NULL OR ni > i + 1 THEN 1 ELSE 0 END) AS n_churn_next, \
             SUM(CASE WHEN i = 0 THEN e ELSE 0 END) AS r_ending, \
             SUM(CASE WHEN i = 0 AND e > v THEN e - v ELSE 0 END) AS r_expansion, \
             SUM(CASE WHEN i = 0 AND e > 0 AND e <= v THEN v - e ELSE 0 END) AS r_contraction, \
             SUM(CASE WHEN i = 0 AND e = 0 THEN v ELSE 0 END) AS r_churn, \
             SUM(CASE WHEN i = 0 AND e = 0 THEN 1 ELSE 0 END) AS r_churned \
           FROM seq GROUP BY g, i), \
         grid AS (\
           SELECT gs.g AS g, m.i AS i FROM (SELECT DISTINCT g FROM per) gs CROSS JOIN months m \
           WHERE m.i >= 1), \
         result AS (\
           SELECT x.g AS g, x.i AS month, COALESCE(p.ending, 0) AS starting, \
             COALESCE(c.ending, 0) AS ending, COALESCE(c.new_mrr, 0) AS new_mrr, \
             COALESCE(c.expansion, 0) AS expansion, COALESCE(c.contraction, 0) AS contraction, \
             COALESCE(p.churn_next, 0) AS churn, COALESCE(c.reactivation, 0) AS reactivation, \
             COALESCE(p.n_end, 0) AS n_start, COALESCE(c.n_end, 0) AS n_end, \
             COALESCE(c.n_new, 0) AS n_new, COALESCE(p.n_churn_next, 0) AS n_churned, \
             COALESCE(c.n_reactivated, 0) AS n_reactivated \
           FROM grid x LEFT JOIN per c ON c.g = x.g AND c.i = x.i \
           LEFT JOIN per p ON p.g = x.g AND p.i = x.i - 1 \
           UNION ALL \
           SELECT g, 0, ending, r_ending, 0, r_expansion, r_contraction, r_churn, 0, n_end, \
             n_end - r_churned, 0, r_churned, 0 \
           FROM per WHERE i = 0) \
         SELECT g, CAST(month AS BIGINT), {} FROM result",
        bigints(SQL_COLUMNS)
    )
}

/// Change events: each term's start (+MRR) and end (-MRR) as month numbers
/// in the window (0 is the month before the range; earlier starts count at
/// 0), summed per account and month, a running sum over each account's
/// months for its MRR after each change, then the tier totals as running
/// sums over the months. Only months where an account's MRR changes make
/// rows, not every month it pays.
fn events_sql() -> String {
    let months = (1..=MONTHS)
        .map(|i| format!("({i})"))
        .collect::<Vec<_>>()
        .join(", ");
    // Month number of a 'YYYY-MM-DD' column, 0 at the month before the range.
    let base = first_month();
    let month = |column: &str| {
        format!(
            "(CAST(substr({column}, 1, 4) AS INTEGER) * 12 \
             + CAST(substr({column}, 6, 2) AS INTEGER) - {base})"
        )
    };
    format!(
        "WITH months(i) AS (VALUES {months}), \
         spans AS (\
           SELECT account_id AS a, mrr_micros AS v, {} AS sm, \
             CASE WHEN end_date IS NULL THEN 999999 ELSE {} END AS em \
           FROM subscription_terms WHERE currency_code = 'USD' AND mrr_micros > 0), \
         live AS (SELECT a, v, sm, em FROM spans WHERE em > sm), \
         earlier AS (SELECT DISTINCT a FROM live WHERE sm < 1), \
         deltas AS (\
           SELECT a, CASE WHEN sm < 0 THEN 0 ELSE sm END AS m, v AS dv FROM live \
           WHERE sm <= {MONTHS} AND em > 0 \
           UNION ALL \
           SELECT a, em, -v FROM live WHERE sm <= {MONTHS} AND em > 0 AND em <= {MONTHS}), \
         changes AS (SELECT a, m, CAST(SUM(dv) AS BIGINT) AS dv FROM deltas GROUP BY a, m), \
         levels AS (\
           SELECT COALESCE(p.tier, '') AS g, c.a AS a, c.m AS m, c.dv AS dv, \
             SUM(c.dv) OVER (PARTITION BY c.a ORDER BY c.m ROWS UNBOUNDED PRECEDING) AS cur, \
             SUM(c.dv) OVER (PARTITION BY c.a) AS e, \
             CASE WHEN x.a IS NULL THEN 0 ELSE 1 END AS before \
           FROM changes c LEFT JOIN projected_accounts p ON p.account_id = c.a \
           LEFT JOIN earlier x ON x.a = c.a), \
         moves AS (\
           SELECT g, m, dv, cur, cur - dv AS prev, e, \
             CASE WHEN before = 1 OR MAX(CASE WHEN cur > 0 THEN 1 ELSE 0 END) OVER (\
               PARTITION BY a ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) = 1 \
             THEN 1 ELSE 0 END AS had \
           FROM levels), \
         per AS (\
           SELECT g, m, SUM(dv) AS dv, \
             SUM(CASE WHEN cur > 0 THEN 1 ELSE 0 END - CASE WHEN prev > 0 THEN 1 ELSE 0 END) AS dn, \
             SUM(CASE WHEN prev = 0 AND cur > 0 AND had = 0 THEN cur ELSE 0 END) AS new_mrr, \
             SUM(CASE WHEN prev = 0 AND cur > 0 AND had = 0 THEN 1 ELSE 0 END) AS n_new, \
             SUM(CASE WHEN prev = 0 AND cur > 0 AND had = 1 THEN cur ELSE 0 END) AS reactivation, \
             SUM(CASE WHEN prev = 0 AND cur > 0 AND had = 1 THEN 1 ELSE 0 END) AS n_reactivated, \
             SUM(CASE WHEN prev > 0 AND cur = 0 THEN prev ELSE 0 END) AS churn, \
             SUM(CASE WHEN prev > 0 AND cur = 0 THEN 1 ELSE 0 END) AS n_churned, \
             SUM(CASE WHEN prev > 0 AND cur > prev THEN cur - prev ELSE 0 END) AS expansion, \
             SUM(CASE WHEN cur > 0 AND cur < prev THEN prev - cur ELSE 0 END) AS contraction, \
             SUM(CASE WHEN m = 0 THEN e ELSE 0 END) AS r_ending, \
             SUM(CASE WHEN m = 0 AND e > cur THEN e - cur ELSE 0 END) AS r_expansion, \
             SUM(CASE WHEN m = 0 AND e > 0 AND e <= cur THEN cur - e ELSE 0 END) AS r_contraction, \
             SUM(CASE WHEN m = 0 AND e = 0 THEN cur ELSE 0 END) AS r_churn, \
             SUM(CASE WHEN m = 0 AND e = 0 THEN 1 ELSE 0 END) AS r_churned \
           FROM moves GROUP BY g, m), \
         totals AS (\
           SELECT x.g AS g, x.i AS i, \
             SUM(CASE WHEN p.m < x.i THEN p.dv ELSE 0 END) AS starting, SUM(p.dv) AS ending, \
             SUM(CASE WHEN p.m < x.i THEN p.dn ELSE 0 END) AS n_start, SUM(p.dn) AS n_end \
           FROM (SELECT gs.g AS g, months.i AS i FROM (SELECT DISTINCT g FROM per) gs \
                 CROSS JOIN months) x \
           JOIN per p ON p.g = x.g AND p.m <= x.i \
           GROUP BY x.g, x.i), \
         result AS (\
           SELECT t.g AS g, t.i AS month, t.starting AS starting, t.ending AS ending, \
             COALESCE(c.new_mrr, 0) AS new_mrr, COALESCE(c.expansion, 0) AS expansion, \
             COALESCE(c.contraction, 0) AS contraction, COALESCE(c.churn, 0) AS churn, \
             COALESCE(c.reactivation, 0) AS reactivation, t.n_start AS n_start, t.n_end AS n_end, \
             COALESCE(c.n_new, 0) AS n_new, COALESCE(c.n_churned, 0) AS n_churned, \
             COALESCE(c.n_reactivated, 0) AS n_reactivated \
           FROM totals t LEFT JOIN per c ON c.g = t.g AND c.m = t.i \
           UNION ALL \
           SELECT g, 0, dv, r_ending, 0, r_expansion, r_contraction, r_churn, 0, dn, \
             dn - r_churned, 0, r_churned, 0 \
           FROM per WHERE m = 0) \
         SELECT g, CAST(month AS BIGINT), {} FROM result",
        month("start_date"),
        month("end_date"),
        bigints(SQL_COLUMNS)
    )
}

/// Runs `sql` `RUNS` times over the suite's own connections (as the service
/// reads): (best seconds, every run's seconds, the figures).
async fn sql_report(url: &str, sql: &str) -> anyhow::Result<(f64, Vec<f64>, ByGroupMonth)> {
    let db = themodel_platform::store::connect(url).await?;
    let backend = db.get_database_backend();
    let mut runs = Vec::with_capacity(RUNS);
    let mut rows = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        rows = db
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await?;
        runs.push(start.elapsed().as_secs_f64());
    }
    db.close().await;
    let mut figures = ByGroupMonth::new();
    for row in rows {
        let n = |i: usize| row.try_get_by_index::<i64>(i);
        let micros = |i: usize| n(i).map(|v| i128::from(v) * 1000);
        figures.insert(
            (row.try_get_by_index::<String>(0)?, n(1)?),
            Figures {
                starting: micros(2)?,
                ending: micros(3)?,
                new: micros(4)?,
                expansion: micros(5)?,
                contraction: micros(6)?,
                churn: micros(7)?,
                reactivation: micros(8)?,
                accounts_start: n(9)?,
                accounts_end: n(10)?,
                new_accounts: n(11)?,
                churned_accounts: n(12)?,
                reactivated_accounts: n(13)?,
            },
        );
    }
    Ok((best(&runs), runs, figures))
}

fn nanos(money: Option<&common::Money>) -> i128 {
    money.map_or(0, |m| {
        i128::from(m.units) * 1_000_000_000 + i128::from(m.nanos)
    })
}

/// The service's report in the same shape as the SQL's.
fn service_figures(response: &pb::GetRevenueReportResponse) -> anyhow::Result<ByGroupMonth> {
    let mut figures = ByGroupMonth::new();
    for group in &response.groups {
        anyhow::ensure!(
            group.months.len() == MONTHS as usize,
            "group {:?} has {} months",
            group.group,
            group.months.len()
        );
        for (k, m) in group.months.iter().enumerate() {
            let expected = month_date(first_month() + k as i32);
            anyhow::ensure!(
                m.month
                    .as_ref()
                    .is_some_and(|d| (d.year, d.month) == (expected.year, expected.month)),
                "group {:?}: month {k} is {:?}",
                group.group,
                m.month
            );
            figures.insert(
                (group.group.clone(), k as i64 + 1),
                Figures {
                    starting: nanos(m.starting_mrr.as_ref()),
                    ending: nanos(m.ending_mrr.as_ref()),
                    new: nanos(m.new_mrr.as_ref()),
                    expansion: nanos(m.expansion_mrr.as_ref()),
                    contraction: nanos(m.contraction_mrr.as_ref()),
                    churn: nanos(m.churn_mrr.as_ref()),
                    reactivation: nanos(m.reactivation_mrr.as_ref()),
                    accounts_start: m.starting_accounts,
                    accounts_end: m.ending_accounts,
                    new_accounts: m.new_accounts,
                    churned_accounts: m.churned_accounts,
                    reactivated_accounts: m.reactivated_accounts,
                },
            );
        }
        let r = group
            .retention
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("group {:?} has no retention", group.group))?;
        figures.insert(
            (group.group.clone(), 0),
            Figures {
                starting: nanos(r.starting_mrr.as_ref()),
                ending: nanos(r.ending_mrr.as_ref()),
                new: 0,
                expansion: nanos(r.expansion_mrr.as_ref()),
                contraction: nanos(r.contraction_mrr.as_ref()),
                churn: nanos(r.churn_mrr.as_ref()),
                reactivation: 0,
                accounts_start: r.cohort_accounts,
                accounts_end: r.cohort_accounts - r.churned_accounts,
                new_accounts: 0,
                churned_accounts: r.churned_accounts,
                reactivated_accounts: 0,
            },
        );
    }
    Ok(figures)
}

/// Fails unless the service and the SQL computed the same figures (a
/// group-month one side lacks counts as all zero).
fn agree(
    ours: &ByGroupMonth,
    sql: &ByGroupMonth,
    backend: &str,
    formulation: &str,
) -> anyhow::Result<()> {
    let zero = Figures::default();
    let mismatches: Vec<String> = ours
        .keys()
        .chain(sql.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|key| {
            let (a, b) = (
                ours.get(key).unwrap_or(&zero),
                sql.get(key).unwrap_or(&zero),
            );
            (a != b).then(|| format!("{key:?}: service {a:?}, SQL {b:?}"))
        })
        .collect();
    anyhow::ensure!(
        mismatches.is_empty(),
        "{backend}: the service and the {formulation} SQL disagree on {} group-months (month 0 is \
         retention); first: {}",
        mismatches.len(),
        mismatches
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    anyhow::ensure!(
        ours.keys().any(|(_, m)| *m == 0) && sql.len() > 1,
        "{backend}: the report is empty"
    );
    Ok(())
}
