//! The services of the suite by name and port: the one list that every
//! default address, the gateway's routing and health, and the `themodel`
//! binary's configuration come from. Adding a service is one line in
//! [`SERVICES`] and its [`Entry`] in the `themodel` binary.

use std::{fmt, net::SocketAddr, str::FromStr};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{AuthConfig, Keys},
    client::{ClientConfig, Clients},
    server::{Listen, Running, ServerConfig},
    store::StoreConfig,
};

/// A service of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its name: the `<service>` of its package `themodel.<service>.v1`, its
    /// events' `source`, its metrics label and its health name at the gateway.
    pub name: &'static str,
    /// Its default port on 127.0.0.1.
    pub port: u16,
}

/// The gateway's default port.
pub const GATEWAY_PORT: u16 = 50051;

/// The segmentation service.
pub const SEGMENTATION: ServiceInfo = ServiceInfo {
    name: "segmentation",
    port: 50052,
};

/// The expansion service.
pub const EXPANSION: ServiceInfo = ServiceInfo {
    name: "expansion",
    port: 50053,
};

/// The partner-success service.
pub const PARTNER_SUCCESS: ServiceInfo = ServiceInfo {
    name: "partner_success",
    port: 50054,
};

/// The health service.
pub const HEALTH: ServiceInfo = ServiceInfo {
    name: "health",
    port: 50055,
};

/// The onboarding service.
pub const ONBOARDING: ServiceInfo = ServiceInfo {
    name: "onboarding",
    port: 50056,
};

/// Every service of the suite.
pub const SERVICES: &[ServiceInfo] =
    &[SEGMENTATION, EXPANSION, PARTNER_SUCCESS, HEALTH, ONBOARDING];

impl ServiceInfo {
    /// Where it listens by default.
    pub fn default_listen(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its database by default: a SQLite file under `data/`.
    pub fn default_database_url(&self) -> String {
        format!("sqlite://data/{}.db?mode=rwc", self.name)
    }

    /// Its address as a client reaches it by default.
    pub fn default_address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment variable `<NAME>_<suffix>`, e.g. `SEGMENTATION_DATABASE_URL`.
    pub fn env_var(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.name.to_uppercase().replace('-', "_"))
    }

    /// A setting of this service: the value given for it in `given`, else its
    /// environment variable `<NAME>_<suffix>`, else `default`. A value that
    /// does not parse is an error naming the setting.
    pub fn setting<T>(
        &self,
        given: &[(String, T)],
        suffix: &str,
        default: impl FnOnce() -> T,
    ) -> anyhow::Result<T>
    where
        T: Clone + FromStr,
        T::Err: fmt::Display,
    {
        if let Some((_, value)) = given.iter().find(|(name, _)| name == self.name) {
            return Ok(value.clone());
        }
        let var = self.env_var(suffix);
        match std::env::var(&var) {
            Ok(text) => text
                .parse()
                .map_err(|e| anyhow::anyhow!("{var}={text:?} is not valid: {e}")),
            Err(_) => Ok(default()),
        }
    }
}

/// The service called `name`.
pub fn find(name: &str) -> Option<&'static ServiceInfo> {
    SERVICES.iter().find(|s| s.name == name)
}

/// How to set the address of the service called `name`, for error messages.
pub fn address_setting(name: &str) -> String {
    match find(name) {
        Some(info) => format!("{} or --backend {name}=URL", info.env_var("ADDR")),
        None => format!("--backend {name}=URL"),
    }
}

/// Parses `NAME=VALUE` (a command-line setting of one service).
pub fn named<T>(text: &str) -> Result<(String, T), String>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))?;
    let value = value
        .parse()
        .map_err(|e| format!("{name}: {value:?} is not valid: {e}"))?;
    Ok((name.to_owned(), value))
}

/// Refuses settings given for services that do not exist.
pub fn check_names<T>(setting: &str, given: &[(String, T)]) -> anyhow::Result<()> {
    for (name, _) in given {
        anyhow::ensure!(
            find(name).is_some(),
            "{setting} names {name:?}, which is not a service of the suite (known: {})",
            SERVICES
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// A service's settings: what the suite gives each service it starts in its
/// process, and what a service's own binary reads from its command line.
#[derive(Debug)]
pub struct Settings {
    /// Where to listen.
    pub listen: Listen,
    /// The service's own database.
    pub database_url: String,
    /// The URL of every other service of the suite, by name: where this one
    /// calls them and follows their events.
    pub peers: Vec<(String, String)>,
    /// How calls to those services behave.
    pub client: ClientConfig,
    /// Server settings.
    pub server: ServerConfig,
    /// Database settings.
    pub store: StoreConfig,
    /// Token verification.
    pub auth: AuthConfig,
}

/// The command line of a service run as its own process; every flag also
/// reads its environment variable.
#[derive(Debug, Clone, clap::Parser)]
struct ServiceArgs {
    /// Address the gRPC server listens on [default: 127.0.0.1 at the service's port].
    #[arg(long = "listen", env = "LISTEN_ADDR")]
    listen: Option<SocketAddr>,
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user@host/db`
    /// [default: sqlite://data/<service>.db?mode=rwc].
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Another service's URL, as NAME=URL (repeatable). A service not named
    /// here is reached at its `<NAME>_ADDR` (e.g. `SEGMENTATION_ADDR`), else
    /// at 127.0.0.1 on its own port.
    #[arg(long = "peer", value_parser = named::<String>)]
    peers: Vec<(String, String)>,
    /// Calls to other services.
    #[command(flatten)]
    client: ClientConfig,
    /// Server settings.
    #[command(flatten)]
    server: ServerConfig,
    /// Database maintenance settings.
    #[command(flatten)]
    store: StoreConfig,
    /// Token verification.
    #[command(flatten)]
    auth: AuthConfig,
}

impl Settings {
    /// The settings of `info`'s own binary `binary`, from the process's
    /// command line and environment; exits with the usage on a bad flag or
    /// `--help`.
    pub fn from_command_line(
        info: &ServiceInfo,
        binary: &'static str,
        about: &'static str,
    ) -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let mut command = ServiceArgs::command()
            .name(binary)
            .about(about)
            .version(env!("CARGO_PKG_VERSION"));
        let args = ServiceArgs::from_arg_matches(&command.clone().get_matches())
            .unwrap_or_else(|err| err.exit());
        let peers = check_names("--peer", &args.peers)
            .and_then(|()| peer_addresses(info, &args.peers))
            .unwrap_or_else(|err| {
                command
                    .error(clap::error::ErrorKind::ValueValidation, format!("{err:#}"))
                    .exit()
            });
        Self {
            listen: args.listen.unwrap_or_else(|| info.default_listen()).into(),
            database_url: args
                .database_url
                .unwrap_or_else(|| info.default_database_url()),
            peers,
            client: args.client,
            server: args.server,
            store: args.store,
            auth: args.auth,
        }
    }

    /// Clients of the service `name` to its peers, calling as `name` with
    /// the service key in `keys`.
    pub fn peer_clients(&self, name: &'static str, keys: &Keys) -> anyhow::Result<Clients> {
        let identity = std::sync::Arc::new(keys.service_identity(name)?);
        Clients::new(name, identity, &self.client, &self.peers)
    }
}

/// The URL of every service of the suite but `info`: the one `given`, else
/// its `<NAME>_ADDR`, else its default address.
pub fn peer_addresses(
    info: &ServiceInfo,
    given: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    SERVICES
        .iter()
        .filter(|peer| peer.name != info.name)
        .map(|peer| {
            let url = peer.setting(given, "ADDR", || peer.default_address())?;
            Ok((peer.name.to_owned(), url))
        })
        .collect()
}

/// How the `themodel` binary starts a service and migrates its database.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Which service.
    pub info: ServiceInfo,
    /// Applies its migrations to the database at the URL.
    pub migrate: fn(String) -> BoxFuture<'static, anyhow::Result<()>>,
    /// Starts it until the token is cancelled.
    pub start: fn(Settings, CancellationToken) -> BoxFuture<'static, anyhow::Result<Running>>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("info", &self.info).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_flags_then_environment_then_defaults() {
        let given = vec![("segmentation".to_owned(), "x".to_owned())];
        assert_eq!(
            SEGMENTATION
                .setting(&given, "DATABASE_URL", || "d".into())
                .ok(),
            Some("x".to_owned())
        );
        assert_eq!(
            SEGMENTATION.env_var("LISTEN_ADDR"),
            "SEGMENTATION_LISTEN_ADDR"
        );
        assert_eq!(
            named::<SocketAddr>("segmentation=127.0.0.1:1"),
            Ok(("segmentation".into(), "127.0.0.1:1".parse().expect("addr")))
        );
        assert!(named::<SocketAddr>("segmentation").is_err());
        assert!(named::<SocketAddr>("segmentation=nope").is_err());
        assert!(check_names("--listen", &[("nope".to_owned(), 1)]).is_err());
        assert!(check_names("--listen", &[("segmentation".to_owned(), 1)]).is_ok());
    }
}
