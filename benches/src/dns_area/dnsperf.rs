//! Runs dnsperf pinned to the client CPUs and reads its results: throughput (queries per
//! second, lost queries) from a flat-out run, and per-reply latencies from a rate-limited `-v`
//! run, where each reply is printed as `> RCODE name type seconds`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::stats;

/// A flat-out run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// Queries per second.
    pub qps: f64,
    /// Queries sent but never answered.
    pub lost: u64,
    /// dnsperf's `Response codes:` line (`NOERROR 748 (74.95%), NXDOMAIN 250 (25.05%)`).
    pub codes: String,
}

/// dnsperf's version line.
pub fn version() -> String {
    let out = Command::new("dnsperf").arg("-h").output();
    out.ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).to_string()
                + &String::from_utf8_lossy(&o.stdout);
            text.lines()
                .find(|l| l.starts_with("Version"))
                .map(|l| format!("dnsperf {}", l.trim_start_matches("Version").trim()))
        })
        .unwrap_or_else(|| "dnsperf (version unknown)".into())
}

fn dnsperf(
    cpus: &str,
    server: SocketAddr,
    queries: &Path,
    extra: &[String],
) -> anyhow::Result<String> {
    let out = Command::new("taskset")
        .args(["-c", cpus, "dnsperf", "-s"])
        .arg(server.ip().to_string())
        .arg("-p")
        .arg(server.port().to_string())
        .arg("-d")
        .arg(queries)
        .args(extra)
        .output()
        .context("running dnsperf (scripts/bench installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    anyhow::ensure!(
        out.status.success(),
        "dnsperf failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    Ok(text)
}

/// Flat out for `seconds` with 4 clients and 200 queries outstanding.
pub fn throughput(
    cpus: &str,
    server: SocketAddr,
    queries: &Path,
    seconds: u32,
) -> anyhow::Result<Throughput> {
    let text = dnsperf(
        cpus,
        server,
        queries,
        &[
            "-l".into(),
            seconds.to_string(),
            "-c".into(),
            "4".into(),
            "-q".into(),
            "200".into(),
        ],
    )?;
    parse_throughput(&text)
}

/// At `qps` for `seconds`, one client; returns every reply's latency in milliseconds.
pub fn latencies(
    cpus: &str,
    server: SocketAddr,
    queries: &Path,
    seconds: u32,
    qps: u32,
) -> anyhow::Result<Vec<f64>> {
    let text = dnsperf(
        cpus,
        server,
        queries,
        &[
            "-l".into(),
            seconds.to_string(),
            "-Q".into(),
            qps.to_string(),
            "-c".into(),
            "1".into(),
            "-q".into(),
            "100".into(),
            "-v".into(),
        ],
    )?;
    let v = parse_latencies(&text);
    anyhow::ensure!(!v.is_empty(), "dnsperf -v printed no reply lines");
    Ok(v)
}

/// Parses `Queries per second:` and `Queries lost:`.
pub fn parse_throughput(text: &str) -> anyhow::Result<Throughput> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no `{key}` in dnsperf output"))
    };
    Ok(Throughput {
        qps: field("Queries per second:")?
            .parse()
            .context("queries per second")?,
        lost: field("Queries lost:")?.parse().context("queries lost")?,
        codes: text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Response codes:"))
            .unwrap_or("")
            .trim()
            .to_string(),
    })
}

/// Per-reply latencies (ms) from `dnsperf -v` lines `> RCODE name type seconds`.
pub fn parse_latencies(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("> ")?;
            let secs: f64 = rest.split_whitespace().nth(3)?.parse().ok()?;
            Some(secs * 1e3)
        })
        .collect()
}

/// (p50, p99) of latencies.
pub fn p50_p99(latencies: &[f64]) -> (f64, f64) {
    let s = stats::sorted(latencies);
    (
        stats::percentile_sorted(&s, 50.0).unwrap_or(f64::NAN),
        stats::percentile_sorted(&s, 99.0).unwrap_or(f64::NAN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnsperf_summary() -> anyhow::Result<()> {
        let text = "Statistics:\n\n  Queries sent:         1000\n  Queries completed:    998 (99.80%)\n  Queries lost:         2 (0.20%)\n\n  Response codes:       NOERROR 748 (74.95%), NXDOMAIN 250 (25.05%)\n  Queries per second:   12345.678901\n";
        let t = parse_throughput(text)?;
        assert_eq!(t.lost, 2);
        assert_eq!(t.codes, "NOERROR 748 (74.95%), NXDOMAIN 250 (25.05%)");
        assert!((t.qps - 12345.678901).abs() < 1e-6);
        assert!(parse_throughput("nothing").is_err());
        Ok(())
    }

    #[test]
    fn parses_verbose_reply_lines() {
        let text = "> NOERROR svc-1.default.svc.cluster.local A 0.000250\n> NXDOMAIN missing-1.default.svc.cluster.local A 0.001000\nWarning: something\n";
        assert_eq!(parse_latencies(text), vec![0.25, 1.0]);
    }
}
