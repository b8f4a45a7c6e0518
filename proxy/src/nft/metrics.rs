//! Counters of the nftables sync loop and their Prometheus text rendering. Updated only by the
//! sync task (plain atomics and one short lock for the histograms); read by scrapes.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket bounds for sync durations, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The sync loop's metrics.
#[derive(Debug, Default)]
pub struct SyncMetrics {
    full: Mutex<Histogram>,
    partial: Mutex<Histogram>,
    /// Table changes seen but not yet applied.
    pub changes_pending: AtomicU64,
    /// Table changes the loop woke up for since start (changes arriving while it waits out
    /// `min_sync_period` are folded into the same one).
    pub changes_total: AtomicU64,
    /// Successful syncs since start.
    pub syncs_total: AtomicU64,
    /// Failed syncs since start.
    pub sync_failures: AtomicU64,
    /// Operations in the last applied transaction.
    pub last_ops: AtomicU64,
    /// Conntrack deletions that failed.
    pub conntrack_failures: AtomicU64,
    /// Unix time (seconds) of the last successful sync.
    pub last_success_unix: AtomicU64,
}

impl SyncMetrics {
    /// Records a successful sync's duration.
    pub fn observe(&self, full: bool, took: Duration) {
        let histogram = if full { &self.full } else { &self.partial };
        histogram
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(took.as_secs_f64());
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let name = "switchyard_nft_sync_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to compute and apply one nftables transaction."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (kind, histogram) in [("full", &self.full), ("partial", &self.partial)] {
            let snapshot = histogram.lock().unwrap_or_else(|p| p.into_inner()).clone();
            snapshot.render(&mut out, name, &format!("kind=\"{kind}\""));
        }
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let simple: [(&str, &str, &str, u64); 7] = [
            (
                "switchyard_nft_syncs_total",
                "counter",
                "nftables syncs that succeeded (including ones with nothing to change).",
                load(&self.syncs_total),
            ),
            (
                "switchyard_nft_changes_pending",
                "gauge",
                "Service table changes not yet applied.",
                load(&self.changes_pending),
            ),
            (
                "switchyard_nft_changes_total",
                "counter",
                "Service table changes the sync loop woke up for (bursts count once).",
                load(&self.changes_total),
            ),
            (
                "switchyard_nft_sync_failures_total",
                "counter",
                "nftables transactions that failed.",
                load(&self.sync_failures),
            ),
            (
                "switchyard_nft_last_transaction_ops",
                "gauge",
                "Operations in the last applied transaction.",
                load(&self.last_ops),
            ),
            (
                "switchyard_nft_conntrack_failures_total",
                "counter",
                "Stale UDP conntrack deletions that failed.",
                load(&self.conntrack_failures),
            ),
            (
                "switchyard_nft_last_sync_timestamp_seconds",
                "gauge",
                "Unix time of the last successful sync.",
                load(&self.last_success_unix),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histograms_and_counters() {
        let m = SyncMetrics::default();
        m.observe(true, Duration::from_millis(3));
        m.observe(false, Duration::from_millis(30));
        m.sync_failures.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(
            text.contains(
                "switchyard_nft_sync_duration_seconds_bucket{kind=\"full\",le=\"0.005\"} 1"
            )
        );
        assert!(text.contains(
            "switchyard_nft_sync_duration_seconds_bucket{kind=\"partial\",le=\"0.025\"} 0"
        ));
        assert!(text.contains("switchyard_nft_sync_duration_seconds_count{kind=\"partial\"} 1"));
        assert!(text.contains("switchyard_nft_sync_failures_total 2"));
    }
}
