//! `themodel-bench`: measures the suite's hot paths against their physical
//! baselines in the same run and rewrites `docs/benchmarks.md`.
//!
//! `cargo run --release -p themodel-bench -- all` (add `--quick` while developing).

mod baseline;
mod expansion;
mod health;
mod load;
mod onboarding;
mod partners;
mod procs;
mod recompute;
mod report;
mod rest;
mod rows;
mod scenarios;
mod segmentation;
mod server;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use themodel_platform::auth::{AuthConfig, Keys, Role};

/// The benchmark's own echo contract.
pub mod echo {
    tonic::include_proto!("themodel.bench.v1");
}

/// Token issuer the benchmark's servers accept.
pub const ISSUER: &str = "themodel-bench";
/// The published results.
const DOCUMENT: &str = "docs/benchmarks.md";
/// Token audience the benchmark's servers accept.
pub const AUDIENCE: &str = "themodel";

#[derive(Parser)]
#[command(
    name = "themodel-bench",
    about = "Benchmarks of the THE MODEL suite against their baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario and rewrite the benchmark document.
    All(AllArgs),
    /// Serve one kind of server (used by `all`, one process per server).
    Serve(server::ServeArgs),
}

#[derive(clap::Args)]
struct AllArgs {
    /// Short runs and 20,000 bulk rows and usage events instead of 1,000,000,
    /// for development and the CI smoke run.
    #[arg(long)]
    quick: bool,
    /// Where to write the results (default `docs/benchmarks.md` for a full
    /// run of every scenario).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these scenarios (comma-separated), for development; the
    /// document is then written only when `--out` is given explicitly.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<scenarios::Scenario>,
    /// Admin URL of the PostgreSQL server for the PostgreSQL scenarios.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(server::serve(args))
        }
        Command::All(args) => {
            procs::pin_self();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(all(args))
        }
    }
}

async fn all(args: AllArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir()?;
    let auth = AuthConfig {
        auth_key_file: dir.path().join("bench-key.pem"),
        auth_generate_dev_key: true,
        auth_issuer: ISSUER.into(),
        auth_audience: AUDIENCE.into(),
        ..AuthConfig::default()
    };
    let issuer = Keys::load(&auth)?
        .issuer
        .ok_or_else(|| anyhow::anyhow!("bench key must be private"))?;
    let lifetime = Duration::from_secs(24 * 3600);
    let token = issuer.mint("bench", Role::Service, None, lifetime)?;
    let admin = issuer.mint("bench-admin", Role::Admin, None, lifetime)?;
    let postgres = match sea_orm::Database::connect(args.postgres.as_str()).await {
        Ok(db) => {
            let _ = db.close().await;
            Some(args.postgres.clone())
        }
        Err(err) => {
            eprintln!("PostgreSQL not reachable ({err}); skipping its bulk scenario");
            None
        }
    };
    let mut bench = scenarios::Bench {
        plan: scenarios::Plan::new(args.quick),
        key_file: auth.auth_key_file.clone(),
        bearer: scenarios::Bearer(format!("Bearer {token}").parse()?),
        admin: scenarios::Bearer(format!("Bearer {admin}").parse()?),
        postgres,
        dir: dir.path().to_owned(),
        memory: Vec::new(),
    };

    let run = |scenario| args.only.is_empty() || args.only.contains(&scenario);
    let mut sections = Vec::new();
    for scenario in scenarios::Scenario::ALL {
        if run(scenario) {
            eprintln!("{} ...", scenario.title());
            sections.extend(bench.run(scenario).await?);
        }
    }

    let command = format!(
        "cargo run --release -p themodel-bench -- all{}",
        if args.quick { " --quick" } else { "" }
    );
    let machine = machine(args.quick, started.elapsed());
    let out = match (&args.out, args.only.is_empty() && !args.quick) {
        (Some(out), _) => Some(out.clone()),
        (None, true) => Some(PathBuf::from(DOCUMENT)),
        (None, false) => None,
    };
    // Only full runs enter the history: quick figures are not comparable.
    let history = if args.quick || !args.only.is_empty() {
        Vec::new()
    } else {
        let previous = std::fs::read_to_string(out.as_deref().unwrap_or(DOCUMENT.as_ref()))
            .unwrap_or_default();
        report::history(&previous, &report::headline(&sections))
    };
    let document = report::render(&machine, &command, &sections, &history);
    println!("{document}");
    if let Some(out) = out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&out, &document)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// The machine and run description at the top of the document.
fn machine(quick: bool, took: Duration) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = procs::cores();
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let pinned = if procs::can_pin() {
        "load generator pinned to core 0, servers to core 1"
    } else {
        "not pinned (fewer than 2 cores or no taskset)"
    };
    format!(
        "Run on {} UTC ({} mode, {:.0} s): {cpu}, {cores} cores, {memory_gib:.0} GiB, Linux {kernel}; {pinned}. \
         Release build; SQLite files in a temporary directory; PostgreSQL on the same machine.",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        if quick { "quick" } else { "full" },
        took.as_secs_f64()
    )
}
