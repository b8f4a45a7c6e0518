//! The nameserver under test as its own process: `switchyard dns --server <API>`, watching the
//! store started by `switchyard run`, so that its RSS is the DNS daemon's alone.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::probe::{self, QType};
use super::{NAMESPACE, ZONE};
use crate::Ctx;
use crate::peers::{Daemon, free_port};

/// A running `switchyard dns`.
#[derive(Debug)]
pub struct SwitchyardDns {
    /// The process.
    pub daemon: Daemon,
    /// UDP/TCP address.
    pub addr: SocketAddr,
}

/// Starts `switchyard dns` against the API at `api_base` (`http://host:port`) and waits until
/// it answers the built-in `kubernetes.default` service, i.e. has synced.
pub fn start(ctx: &Ctx, api_base: &str, log_dir: &Path) -> anyhow::Result<SwitchyardDns> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let args: Vec<String> = vec![
        "dns".into(),
        "--server".into(),
        api_base.into(),
        "--dns-listen".into(),
        addr.to_string(),
        "--metrics-listen".into(),
        "none".into(),
        "--cluster-domain".into(),
        ZONE.into(),
        "--dns-ttl".into(),
        crate::peers::dns_servers::TTL.to_string(),
    ];
    let mut daemon = Daemon::spawn(
        "switchyard-dns",
        &ctx.server_cpus,
        &ctx.switchyard,
        &args,
        log_dir,
    )?;
    let probe_name = format!("kubernetes.{NAMESPACE}.svc.{ZONE}");
    let started = std::time::Instant::now();
    loop {
        daemon.check_alive()?;
        if probe::query(addr, &probe_name, QType::A, Duration::from_millis(200))
            .is_ok_and(|r| r.rcode == 0 && r.answers > 0)
        {
            return Ok(SwitchyardDns { daemon, addr });
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "switchyard dns did not answer {probe_name} within 60 s; log: {}",
            daemon.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
