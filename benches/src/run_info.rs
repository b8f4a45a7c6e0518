//! Identifies the run behind a result: host, date, git commit, mode, CPU, kernel, load.
//!
//! The report's banner is built from this so a page never shows numbers without saying which
//! machine and commit produced them. Reads `/proc` and runs `git`; never fails (unknown fields
//! say `unknown`).

use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::mode::Mode;

/// Where and when a result was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Host name.
    pub host: String,
    /// UTC start time, RFC 3339.
    pub date: String,
    /// `git rev-parse --short HEAD`, with `-dirty` when the tree had changes.
    pub commit: String,
    /// smoke / quick / full.
    pub mode: Mode,
    /// CPU model name.
    pub cpu: String,
    /// CPUs of the machine (not just those this process may use).
    pub cpus: usize,
    /// Build profile of `sybench` itself (`release` or `debug`; debug numbers are meaningless).
    #[serde(default)]
    pub build: String,
    /// Kernel release.
    pub kernel: String,
    /// 1-minute load average when the area started (a busy machine pollutes numbers).
    pub load_avg_1m: f64,
}

impl RunInfo {
    /// Collects the facts of this machine now.
    pub fn collect(mode: Mode) -> RunInfo {
        RunInfo {
            host: read_trimmed("/proc/sys/kernel/hostname"),
            date: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| "unknown".to_string(), |t| t.to_string()),
            commit: git_commit(),
            mode,
            cpu: cpu_model(),
            cpus: cpu_count(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            load_avg_1m: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(f64::NAN),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn cpu_count() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, |n| n.get()))
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = run(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_string();
    };
    match run(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

/// A tool's version line (`<cmd> <args>` output, first line), or `not installed`.
pub fn tool_version(cmd: &str, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("unknown")
                .trim()
                .to_string()
        }
        Err(_) => "not installed".to_string(),
    }
}
