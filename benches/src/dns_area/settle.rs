//! Waits for the server CPUs to go idle before the measurements start. Setting the area up
//! leaves work behind on those CPUs (the store and the nameserver digest the watch events of
//! 10k new services, peers load their zones), and the rotation puts switchyard first in the
//! first repetition, so without this its first run shared the CPU with that work (its first
//! flat-out sample was about half the others in every run). Every server waits the same.
//!
//! This module never measures a server.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::pinning::parse_cpu_list;

/// How long the server CPUs waited and how idle they were at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settled {
    /// Time spent waiting.
    pub waited: Duration,
    /// Idle share of the last window (0 to 1).
    pub idle: f64,
    /// False when `timeout` passed first.
    pub quiet: bool,
}

/// Waits until the CPUs in `cpus` (a taskset list) are at least `min_idle` idle over one
/// `window`, or `timeout` passes.
///
/// # Errors
/// `cpus` does not parse, or `/proc/stat` cannot be read.
pub fn wait_until_idle(
    cpus: &str,
    min_idle: f64,
    window: Duration,
    timeout: Duration,
) -> anyhow::Result<Settled> {
    let cpus = parse_cpu_list(cpus).with_context(|| format!("server CPU list {cpus:?}"))?;
    let started = Instant::now();
    loop {
        let before = times(&read_stat()?, &cpus);
        std::thread::sleep(window);
        let after = times(&read_stat()?, &cpus);
        let total = after.0.saturating_sub(before.0);
        let idle = if total == 0 {
            1.0
        } else {
            after.1.saturating_sub(before.1) as f64 / total as f64
        };
        let quiet = idle >= min_idle;
        if quiet || started.elapsed() >= timeout {
            return Ok(Settled {
                waited: started.elapsed(),
                idle,
                quiet,
            });
        }
    }
}

fn read_stat() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/stat").context("reading /proc/stat")
}

/// (all ticks, idle ticks) summed over the `cpuN` lines of `stat` whose N is in `cpus`; idle
/// counts idle and iowait.
fn times(stat: &str, cpus: &std::collections::BTreeSet<u32>) -> (u64, u64) {
    let mut total = 0;
    let mut idle = 0;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let ticks: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
        total += ticks.iter().sum::<u64>();
        idle += ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    }
    (total, idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_cpus_count() {
        let stat = "cpu  9 9 9 9 9 9 9\ncpu0 1 0 1 10 0 0 0 0\ncpu1 5 0 3 2 0 0 0 0\nintr 5\n";
        assert_eq!(times(stat, &[1].into()), (10, 2));
        assert_eq!(times(stat, &[0, 1].into()), (22, 12));
    }
}
