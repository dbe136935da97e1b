//! `themodel`: run the whole suite, mint dev tokens, run migrations.

use std::time::Duration;

use clap::{Parser, Subcommand};
use themodel::{Suite, SuiteConfig};
use themodel_platform::auth::{AuthConfig, Keys, Role};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "themodel", version, about = "THE MODEL customer-success suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service and the gateway in one process (SQLite under ./data by default).
    Serve(SuiteConfig),
    /// Mint a bearer token signed with the dev key.
    Token(TokenArgs),
    /// Apply a service's database migrations and exit.
    Migrate(MigrateArgs),
    /// Print the gateway's OpenAPI 3.1 document of the JSON/REST API (what
    /// `docs/openapi.json` holds and `GET /openapi.json` serves).
    Openapi,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// Role of the caller.
    #[arg(long, value_enum)]
    role: Role,
    /// Partner id (required for, and only for, partner_user).
    #[arg(long)]
    partner: Option<String>,
    /// Subject (user or service id).
    #[arg(long, default_value = "dev-user")]
    subject: String,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
    #[command(flatten)]
    auth: AuthConfig,
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// The service whose schema to apply (e.g. segmentation).
    service: String,
    /// The service's database.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(config) => serve(config).await,
        Command::Token(args) => token(args),
        Command::Openapi => {
            print!("{}", themodel_gateway::openapi::generate()?);
            Ok(())
        }
        Command::Migrate(args) => migrate(args).await,
    }
}

async fn serve(config: SuiteConfig) -> anyhow::Result<()> {
    let _telemetry = themodel_platform::telemetry::init("themodel")?;
    let shutdown = CancellationToken::new();
    tokio::spawn(themodel_platform::cancel_on_signal(shutdown.clone()));
    let key_file = config.auth.auth_key_file.display().to_string();
    let suite = Suite::start(config, shutdown).await?;
    println!("THE MODEL suite is running.");
    println!("  gateway        {}", suite.gateway);
    for (name, addr) in &suite.services {
        println!("  {name:<14} {addr}");
    }
    if let Some(metrics) = suite.metrics {
        println!("  metrics        http://{metrics}/metrics");
    }
    println!();
    println!("Get a token (signed with {key_file}):");
    println!("  TOKEN=$(cargo run -q -p themodel -- token --role admin)");
    println!("Then call the gateway:");
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" {} list",
        suite.gateway
    );
    println!("Stop with Ctrl-C.");
    suite.run.await
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let keys = Keys::load(&args.auth)?;
    let issuer = keys.issuer.ok_or_else(|| {
        anyhow::anyhow!(
            "{} holds a public key; tokens are minted with a private key",
            args.auth.auth_key_file.display()
        )
    })?;
    let token = issuer.mint(
        &args.subject,
        args.role,
        args.partner.as_deref(),
        Duration::from_secs(args.ttl_hours * 3600),
    )?;
    println!("{token}");
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let entry = themodel::entry(&args.service).ok_or_else(|| {
        anyhow::anyhow!(
            "{:?} is not a service of the suite (known: {})",
            args.service,
            themodel::SERVICES
                .iter()
                .map(|e| e.info.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    (entry.migrate)(args.database_url.clone()).await?;
    println!(
        "migrations applied to {}",
        themodel_platform::store::redact(&args.database_url)
    );
    Ok(())
}
