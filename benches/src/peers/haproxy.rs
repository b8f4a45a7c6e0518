//! HAProxy 2.6 (Debian `haproxy`) in TCP mode as the userspace-proxy reference: one thread,
//! round-robin, frontends on loopback, the same backends as switchyard.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{Daemon, find_program};

/// One TCP frontend and its backend servers.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// Name (letters, digits, `-`).
    pub name: String,
    /// Listen address.
    pub bind: SocketAddr,
    /// Backend servers.
    pub servers: Vec<SocketAddr>,
}

/// The haproxy.cfg for `frontends`: `mode tcp`, `nbthread 1`, `balance roundrobin`.
pub fn config(frontends: &[Frontend]) -> String {
    let mut out = String::from(
        "global\n  nbthread 1\n  maxconn 8000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
         timeout client 120s\n  timeout server 120s\n  maxconn 8000\n",
    );
    for f in frontends {
        let _ = write!(
            out,
            "\nfrontend {n}\n  bind {b}\n  default_backend {n}-servers\n\nbackend {n}-servers\n  balance roundrobin\n",
            n = f.name,
            b = f.bind
        );
        for (i, s) in f.servers.iter().enumerate() {
            let _ = writeln!(out, "  server s{i} {s}");
        }
    }
    out
}

/// haproxy's version line.
pub fn version() -> String {
    find_program("haproxy").map_or_else(
        |e| e.to_string(),
        |p| {
            let v = crate::run_info::tool_version(&p.to_string_lossy(), &["-v"]);
            v.split_whitespace()
                .nth(2)
                .map_or_else(|| "HAProxy".to_string(), |ver| format!("HAProxy {ver}"))
        },
    )
}

/// Starts haproxy in the foreground with `frontends`, config and log in `dir`.
pub fn start(cpus: &str, frontends: &[Frontend], dir: &Path) -> anyhow::Result<Daemon> {
    let program = find_program("haproxy")?;
    let conf = dir.join("haproxy.cfg");
    std::fs::write(&conf, config(frontends))?;
    let args = vec!["-db".into(), "-f".into(), conf.display().to_string()];
    let mut d = Daemon::spawn("haproxy", cpus, &program, &args, dir)?;
    for f in frontends {
        d.wait_tcp(f.bind, Duration::from_secs(10))?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_tcp_mode_round_robin() -> anyhow::Result<()> {
        let cfg = config(&[Frontend {
            name: "web".into(),
            bind: "127.0.0.1:8080".parse()?,
            servers: vec!["127.0.0.1:9001".parse()?, "127.0.0.1:9002".parse()?],
        }]);
        assert!(cfg.contains("mode tcp"));
        assert!(cfg.contains("nbthread 1"));
        assert!(cfg.contains("bind 127.0.0.1:8080"));
        assert!(cfg.contains("server s1 127.0.0.1:9002"));
        Ok(())
    }
}
