//! switchyard itself, as the benchmarks' subject: the real release binary (`switchyard run`),
//! started with only the parts an area needs, on loopback ports, with a temp data dir.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::{Daemon, free_port};

/// A running `switchyard run`.
#[derive(Debug)]
pub struct Switchyard {
    /// The process.
    pub daemon: Daemon,
    /// The Kubernetes-style API address.
    pub api: SocketAddr,
    /// The DNS address, when DNS is on.
    pub dns: Option<SocketAddr>,
}

/// Which parts to run.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// Serve DNS on a free loopback port.
    pub dns: bool,
    /// `--proxy-mode` value (`none`, `userspace`, `nftables`).
    pub proxy_mode: Option<String>,
    /// Extra flags, appended last.
    pub extra: Vec<String>,
}

/// Starts `binary run` with its store in `data_dir`, waiting until the API listens.
pub fn start(
    binary: &Path,
    cpus: &str,
    data_dir: &Path,
    log_dir: &Path,
    parts: &Parts,
) -> anyhow::Result<Switchyard> {
    anyhow::ensure!(
        binary.is_file(),
        "{} not found: build it with `cargo build --release -p switchyard` (scripts/bench does)",
        binary.display()
    );
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let dns = if parts.dns {
        Some(SocketAddr::from(([127, 0, 0, 1], free_port()?)))
    } else {
        None
    };
    let mut args: Vec<String> = vec![
        "run".into(),
        "--proxy-mode".into(),
        parts.proxy_mode.clone().unwrap_or_else(|| "none".into()),
        "--dns-listen".into(),
        dns.map_or_else(|| "none".into(), |a| a.to_string()),
        "--metrics-listen".into(),
        "none".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--api-listen".into(),
        api.to_string(),
    ];
    args.extend(parts.extra.iter().cloned());
    let mut daemon = Daemon::spawn("switchyard", cpus, binary, &args, log_dir)?;
    daemon.wait_tcp(api, Duration::from_secs(60))?;
    Ok(Switchyard { daemon, api, dns })
}

/// Makes sure namespace `name` exists (creating it if the server has not bootstrapped it yet);
/// retries for up to 30 s while the API is still starting.
pub async fn ensure_namespace(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = http
            .get(format!("{base}/api/v1/namespaces/{name}"))
            .send()
            .await;
        if got.as_ref().is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let created = http
            .post(format!("{base}/api/v1/namespaces"))
            .json(&body)
            .send()
            .await;
        match created {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => {
                return Ok(());
            }
            Ok(r) if std::time::Instant::now() > deadline => {
                anyhow::bail!("creating namespace {name}: HTTP {}", r.status())
            }
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(e).context(format!("creating namespace {name}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
