//! The nameserver under test as its own process: `switchyard dns --kubeconfig <admin
//! kubeconfig>`, watching over HTTPS the store started by `switchyard run`, so that its RSS is
//! the DNS daemon's alone.

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

/// Starts `switchyard dns` against the API `kubeconfig` names (the `switchyard run` instance's
/// admin kubeconfig: its HTTPS URL, CA and token) and waits until it answers the built-in
/// `kubernetes.default` service, i.e. has synced.
pub fn start(ctx: &Ctx, kubeconfig: &Path, log_dir: &Path) -> anyhow::Result<SwitchyardDns> {
    start_with(ctx, kubeconfig, log_dir, "switchyard-dns", &[])
}

/// [`start`] with `extra` flags after the usual ones, logging to `<log_dir>/<name>.log`.
pub fn start_with(
    ctx: &Ctx,
    kubeconfig: &Path,
    log_dir: &Path,
    name: &str,
    extra: &[String],
) -> anyhow::Result<SwitchyardDns> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut args = args(kubeconfig, addr);
    args.extend_from_slice(extra);
    let mut daemon = Daemon::spawn(name, &ctx.server_cpus, &ctx.switchyard, &args, log_dir)?;
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

/// The `switchyard dns` command line: credentials from `kubeconfig`, serving on `addr`.
fn args(kubeconfig: &Path, addr: SocketAddr) -> Vec<String> {
    vec![
        "dns".into(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "--dns-listen".into(),
        addr.to_string(),
        "--metrics-listen".into(),
        "none".into(),
        "--cluster-domain".into(),
        ZONE.into(),
        "--dns-ttl".into(),
        crate::peers::dns_servers::TTL.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_daemon_gets_the_kubeconfig_and_no_plain_server_url() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 5353));
        let args = args(Path::new("/tmp/sy/admin.kubeconfig"), addr);
        let at = args.iter().position(|a| a == "--kubeconfig");
        assert_eq!(
            at.and_then(|i| args.get(i + 1)).map(String::as_str),
            Some("/tmp/sy/admin.kubeconfig")
        );
        assert!(
            !args
                .iter()
                .any(|a| a == "--server" || a.starts_with("http://"))
        );
        assert_eq!(args.first().map(String::as_str), Some("dns"));
    }
}
