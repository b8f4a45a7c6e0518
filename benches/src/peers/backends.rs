//! Starts the HTTP backends (`sybench backend`, see [`crate::backend`]) as a separate process
//! pinned to the server CPUs, on free loopback ports.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::{Daemon, free_port};

/// Running backends.
#[derive(Debug)]
pub struct Backends {
    /// The process.
    pub daemon: Daemon,
    /// One address per backend, in index order.
    pub addrs: Vec<SocketAddr>,
}

/// Starts one backend per delay.
pub fn start(cpus: &str, delays: &[Duration], dir: &Path) -> anyhow::Result<Backends> {
    let exe = std::env::current_exe().context("finding sybench's own path")?;
    let mut addrs = Vec::new();
    let mut args = vec!["backend".to_string()];
    for d in delays {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        addrs.push(addr);
        args.push("--serve".into());
        args.push(format!("{addr}={}", d.as_micros()));
    }
    let mut daemon = Daemon::spawn("backends", cpus, &exe, &args, dir)?;
    for a in &addrs {
        daemon.wait_tcp(*a, Duration::from_secs(10))?;
    }
    Ok(Backends { daemon, addrs })
}

/// Parses `ADDR=MICROS` (one `--serve` value).
pub fn parse_serve(s: &str) -> anyhow::Result<(SocketAddr, Duration)> {
    let (addr, micros) = s
        .split_once('=')
        .with_context(|| format!("--serve {s:?}: expected ADDR=MICROSECONDS"))?;
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("--serve {s:?}: bad address"))?;
    let micros: u64 = micros
        .parse()
        .with_context(|| format!("--serve {s:?}: bad delay"))?;
    Ok((addr, Duration::from_micros(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_values_parse_or_name_the_problem() -> anyhow::Result<()> {
        let (a, d) = parse_serve("127.0.0.1:9000=1500")?;
        assert_eq!((a.port(), d), (9000, Duration::from_micros(1500)));
        let e = parse_serve("127.0.0.1:9000").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("ADDR=MICROSECONDS")));
        Ok(())
    }
}
