//! Test support: a `switchyard run` child process on free loopback ports with its own data
//! directory, killed (SIGKILL) when dropped, plus small HTTP helpers.

#![allow(dead_code)]

mod process;

pub use process::{Switchyard, SwitchyardOptions, free_port, switchyard_bin};

use std::time::Duration;

/// Result type of the tests.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Polls `check` every 50 ms until it returns `Some`, at most `attempts` times.
pub async fn eventually<T, F, Fut>(attempts: usize, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Whether the test may use root-only facilities; in CI a missing root is a failure.
pub fn require_root(test: &str) -> bool {
    // SAFETY-free: geteuid via /proc is enough.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root and CI is set: run the suite as root");
    }
    eprintln!("skipping {test}: needs root");
    false
}

/// Whether a command exists on PATH; in CI a missing tool is a failure.
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs `{tool}` and CI is set: scripts/test installs it");
    }
    eprintln!("skipping {test}: `{tool}` is not installed");
    false
}
