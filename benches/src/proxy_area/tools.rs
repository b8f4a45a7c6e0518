//! Runs the load generators of the proxy area pinned to the client CPUs and parses their
//! output: wrk (requests/s and the `--latency` percentiles) and iperf3 (`-J` JSON); reads a
//! proxy's CPU time and threads from `/proc`.

use std::net::SocketAddr;
use std::process::Command;

use anyhow::Context;

/// What one wrk run reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkResult {
    /// Requests per second.
    pub rps: f64,
    /// Requests completed.
    pub requests: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Connect, read, write and timeout errors plus non-2xx replies.
    pub errors: u64,
}

/// `wrk -t1 -c<conns> -d<secs>s --latency http://addr/`, with `Connection: close` when
/// `new_connection_each` (then requests/s is the connection rate).
pub fn wrk(
    cpus: &str,
    addr: SocketAddr,
    conns: u32,
    seconds: u32,
    new_connection_each: bool,
) -> anyhow::Result<WrkResult> {
    wrk_in(None, cpus, addr, conns, seconds, new_connection_each)
}

/// [`wrk`] run inside network namespace `netns` (`ip netns exec`) when one is given.
pub fn wrk_in(
    netns: Option<&str>,
    cpus: &str,
    addr: SocketAddr,
    conns: u32,
    seconds: u32,
    new_connection_each: bool,
) -> anyhow::Result<WrkResult> {
    let mut cmd = pinned(netns, cpus);
    cmd.args(["wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    if new_connection_each {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(format!("http://{addr}/"));
    let out = cmd
        .output()
        .context("running wrk (scripts/bench installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_wrk(&text)
}

/// Parses wrk's `--latency` output.
pub fn parse_wrk(text: &str) -> anyhow::Result<WrkResult> {
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(p)).then(|| w.next()).flatten()
            })
            .with_context(|| format!("no {p} line in wrk output"))
            .and_then(parse_duration_ms)
    };
    let rps: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .context("no Requests/sec in wrk output")?
        .trim()
        .parse()
        .context("Requests/sec")?;
    let requests: u64 = text
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let n = w.next()?;
            (w.next() == Some("requests") && w.next() == Some("in")).then_some(n)
        })
        .context("no `N requests in` line in wrk output")?
        .parse()
        .context("requests")?;
    let mut errors = 0;
    for l in text.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = l.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok(WrkResult {
        rps,
        requests,
        p50_ms: pct("50%")?,
        p99_ms: pct("99%")?,
        errors,
    })
}

/// `123.45us`, `1.20ms`, `2.00s` → milliseconds.
fn parse_duration_ms(s: &str) -> anyhow::Result<f64> {
    let (num, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e3)
    } else {
        anyhow::bail!("unknown duration {s:?} in wrk output")
    };
    Ok(num
        .parse::<f64>()
        .with_context(|| format!("duration {s:?}"))?
        * factor)
}

/// What one iperf3 run reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IperfResult {
    /// Received throughput, Gbit/s.
    pub gbps: f64,
    /// Bytes received.
    pub bytes: f64,
}

/// `iperf3 -c addr -t secs -J`: received throughput and bytes.
pub fn iperf3(cpus: &str, addr: SocketAddr, seconds: u32) -> anyhow::Result<IperfResult> {
    iperf3_in(None, cpus, addr, seconds)
}

/// [`iperf3`] run inside network namespace `netns` (`ip netns exec`) when one is given.
pub fn iperf3_in(
    netns: Option<&str>,
    cpus: &str,
    addr: SocketAddr,
    seconds: u32,
) -> anyhow::Result<IperfResult> {
    let out = pinned(netns, cpus)
        .args(["iperf3", "-J", "-c"])
        .arg(addr.ip().to_string())
        .arg("-p")
        .arg(addr.port().to_string())
        .arg("-t")
        .arg(seconds.to_string())
        .output()
        .context("running iperf3 (scripts/bench installs it)")?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("iperf3 JSON")?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        anyhow::bail!("iperf3: {e}");
    }
    let received = |field: &str| {
        v.pointer(&format!("/end/sum_received/{field}"))
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("iperf3 JSON without end.sum_received.{field}"))
    };
    Ok(IperfResult {
        gbps: received("bits_per_second")? / 1e9,
        bytes: received("bytes")?,
    })
}

/// `taskset -c <cpus> [ip netns exec <netns>]`, to which the tool and its arguments are added
/// (the pinning is inherited through `ip`'s exec).
fn pinned(netns: Option<&str>, cpus: &str) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpus]);
    if let Some(ns) = netns {
        cmd.args(["ip", "netns", "exec", ns]);
    }
    cmd
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// CPU seconds `pid` has used so far, all threads, user plus system (from `/proc/<pid>/stat`;
/// system time includes the loopback receive work the kernel does while the process sends).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_seconds(&stat)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds.
pub fn parse_cpu_seconds(stat: &str) -> anyhow::Result<f64> {
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')').context("no `)` in /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let field = fields.get(i).context("short /proc stat line")?;
        Ok(field.parse::<u64>().context("/proc stat time")? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / USER_HZ)
}

/// Names of `pid`'s threads (`/proc/<pid>/task/*/comm`).
pub fn thread_names(pid: u32) -> anyhow::Result<Vec<String>> {
    let dir = format!("/proc/{pid}/task");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let comm = std::fs::read_to_string(entry?.path().join("comm")).unwrap_or_default();
        names.push(comm.trim().to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_latency_output() -> anyhow::Result<()> {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 50 connections\n  Latency Distribution\n     50%  180.00us\n     75%  250.00us\n     90%  400.00us\n     99%    1.20ms\n  100000 requests in 5.00s, 10.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:  20000.50\nTransfer/sec:      2.00MB\n";
        let r = parse_wrk(text)?;
        assert!((r.rps - 20000.5).abs() < 1e-9);
        assert_eq!(r.requests, 100000);
        assert!((r.p50_ms - 0.18).abs() < 1e-9);
        assert!((r.p99_ms - 1.2).abs() < 1e-9);
        assert_eq!(r.errors, 7);
        assert!(parse_wrk("garbage").is_err());
        Ok(())
    }

    #[test]
    fn parses_proc_stat_cpu_times() -> anyhow::Result<()> {
        let stat = "4242 (tokio worker) S 1 4242 4242 0 -1 4194560 1061 0 0 0 250 125 0 0 20 0 3 0 1234 0 0";
        assert!((parse_cpu_seconds(stat)? - 3.75).abs() < 1e-9);
        assert!(parse_cpu_seconds("4242 (x) S 1 2").is_err());
        assert!(cpu_seconds(std::process::id())? >= 0.0);
        assert!(!thread_names(std::process::id())?.is_empty());
        Ok(())
    }
}
