//! etcd 3.4 (Debian `etcd-server`) as the control-store reference: one member on loopback with
//! a temp data dir, driven through its gRPC-gateway JSON API (`/v3/kv/txn`, `/v3/watch`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{Daemon, find_program, free_port};

/// A running single-member etcd.
#[derive(Debug)]
pub struct Etcd {
    /// The process.
    pub daemon: Daemon,
    /// Client URL address (HTTP, gRPC-gateway JSON under `/v3/`).
    pub client: SocketAddr,
    /// Time from spawn until the client port accepted connections.
    pub startup: Duration,
}

/// etcd's version line.
pub fn version() -> String {
    find_program("etcd").map_or_else(
        |e| e.to_string(),
        |p| crate::run_info::tool_version(&p.to_string_lossy(), &["--version"]),
    )
}

/// Starts etcd with its data in `data_dir` (reusing what is there) and logs in `log_dir`.
pub fn start(cpus: &str, data_dir: &Path, log_dir: &Path) -> anyhow::Result<Etcd> {
    let program = find_program("etcd")?;
    let client_port = free_port()?;
    let peer_port = free_port()?;
    let client = SocketAddr::from(([127, 0, 0, 1], client_port));
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let args = vec![
        "--name".into(),
        "bench".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        client_url.clone(),
        "--advertise-client-urls".into(),
        client_url,
        "--listen-peer-urls".into(),
        peer_url.clone(),
        "--initial-advertise-peer-urls".into(),
        peer_url.clone(),
        "--initial-cluster".into(),
        format!("bench={peer_url}"),
        "--log-level".into(),
        "warn".into(),
        "--logger".into(),
        "zap".into(),
        // Room for 100k Pods and their history.
        "--quota-backend-bytes".into(),
        (8u64 << 30).to_string(),
    ];
    let mut daemon = Daemon::spawn("etcd", cpus, &program, &args, log_dir)?;
    let startup = daemon.wait_tcp(client, Duration::from_secs(30))?;
    Ok(Etcd {
        daemon,
        client,
        startup,
    })
}
