//! Server processes for the scenarios: this binary re-executed with `serve
//! <kind>`, pinned to its own core, measured through /proc.

use std::{net::SocketAddr, process::Stdio, sync::OnceLock, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The core the servers run on; the load generator takes core 0.
pub const SERVER_CORE: usize = 1;

/// A running server process. It exits when this is dropped (its stdin closes).
pub struct ServerProc {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves Prometheus metrics, when started with `--metrics`.
    pub metrics: Option<SocketAddr>,
    pid: u32,
}

/// The cores of the machine, read before the load generator pins itself.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// True when the machine has the cores to pin client and server apart.
pub fn can_pin() -> bool {
    static CAN: OnceLock<bool> = OnceLock::new();
    *CAN.get_or_init(|| {
        cores() >= 2
            && std::process::Command::new("taskset")
                .arg("-V")
                .output()
                .is_ok()
    })
}

/// Pins this process (the load generator) to core 0.
pub fn pin_self() {
    if can_pin() {
        let _ = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

impl ServerProc {
    /// Starts `themodel-bench serve <args>` and waits for its `ready <addr>` line.
    pub async fn spawn(args: &[String]) -> anyhow::Result<ServerProc> {
        let exe = std::env::current_exe()?;
        let mut command = if can_pin() {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(SERVER_CORE.to_string()).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        command
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().context("spawning a server process")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut metrics = None;
        let line = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("metrics ") {
                    metrics = Some(addr.trim().parse().context("metrics address")?);
                }
                if let Some(addr) = line.strip_prefix("ready ") {
                    return Ok::<_, anyhow::Error>(addr.trim().to_owned());
                }
            }
            anyhow::bail!("server exited before it was ready: {args:?}")
        })
        .await
        .with_context(|| format!("server did not become ready: {args:?}"))??;
        let pid = child.id().context("server pid")?;
        Ok(ServerProc {
            addr: line.parse().context("server address")?,
            metrics,
            child,
            pid,
        })
    }

    /// CPU seconds (user + system) the process has used.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// Resident memory now, MiB.
    pub fn rss_mib(&self) -> f64 {
        status_kib(self.pid, "VmRSS:") / 1024.0
    }

    /// Peak resident memory, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_kib(self.pid, "VmHWM:") / 1024.0
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// CPU seconds this process (the load generator) has used.
pub fn self_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn cpu_seconds(stat_path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks()
}

fn status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0.0)
}
