//! Starts and stops the daemons a benchmark compares: switchyard itself and its peers (etcd,
//! dnsmasq, unbound, knot, haproxy). Each runs pinned with `taskset` to the server CPUs, on
//! loopback, with a fresh temp directory, and is killed when its [`Daemon`] is dropped, so an
//! error or panic in an area never leaves a process behind; if sybench itself is killed, the
//! kernel kills the daemons too (parent-death signal via `setpriv`).
//!
//! This module never measures anything; areas do.

pub mod backends;
pub mod dns_servers;
pub mod etcd;
pub mod haproxy;
pub mod switchyard;

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A running daemon; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `program args` pinned to `cpus` (taskset list), stdout and stderr to
    /// `<log_dir>/<name>.log`.
    pub fn spawn(
        name: &str,
        cpus: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> anyhow::Result<Daemon> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        // `setpriv --pdeathsig KILL` (util-linux) makes the kernel kill the daemon if sybench
        // dies without running destructors (SIGTERM, a crash); taskset then pins it.
        let mut cmd = if find_program("setpriv").is_ok() {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "taskset"]);
            c
        } else {
            Command::new("taskset")
        };
        let child = cmd
            .arg("-c")
            .arg(cpus)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        tracing::debug!(name, pid = child.id(), "started");
        Ok(Daemon {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The process id (setpriv and taskset exec the program, so this is the daemon's pid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the process has exited, with the tail of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "{} exited ({status}); log tail: {}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
    }

    /// Waits (bounded by `timeout`) until `addr` accepts TCP connections; fails early if the
    /// daemon exits.
    pub fn wait_tcp(&mut self, addr: SocketAddr, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            self.check_alive()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        anyhow::bail!(
            "{} did not listen on {addr} within {timeout:?}; log tail: {}",
            self.name,
            self.log_tail()
        )
    }

    /// Resident set size in bytes (from `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid())
    }

    /// Stops the daemon now (SIGKILL) and reaps it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kb * 1024)
}

/// A loopback port free for both TCP and UDP right now (the kernel picks it).
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no loopback port free for both TCP and UDP after 50 tries")
}

/// Finds `name` on `PATH` or in `/usr/sbin`, `/sbin` (Debian puts daemons there).
pub fn find_program(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!("{name} is not installed (scripts/bench installs it from Debian)")
}
