//! The nftables sync loop's metrics in one prometheus-client registry. Updated only by the sync
//! task (atomics, and one short lock per sync for a histogram); read by scrapes.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Histogram bucket bounds for sync durations, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A gauge of a non-negative count.
pub type CountGauge = Gauge<u64, AtomicU64>;

/// Labels of `switchyard_nft_sync_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

fn sync_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The sync loop's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct SyncMetrics {
    registry: Registry,
    full: Histogram,
    partial: Histogram,
    /// Table changes seen but not yet applied.
    pub changes_pending: CountGauge,
    /// Table changes the loop woke up for since start (changes arriving while it waits out
    /// `min_sync_period` are folded into the same one).
    pub changes_total: Counter,
    /// Successful syncs since start.
    pub syncs_total: Counter,
    /// Failed syncs since start.
    pub sync_failures: Counter,
    /// Operations in the last applied transaction.
    pub last_ops: CountGauge,
    /// Conntrack deletions that failed.
    pub conntrack_failures: Counter,
    /// Unix time (seconds) of the last successful sync.
    pub last_success_unix: CountGauge,
}

impl Default for SyncMetrics {
    fn default() -> SyncMetrics {
        let mut registry = Registry::default();
        let durations =
            Family::<KindLabel, Histogram>::new_with_constructor(sync_histogram as fn() -> _);
        let full = durations.get_or_create_owned(&KindLabel { kind: "full" });
        let partial = durations.get_or_create_owned(&KindLabel { kind: "partial" });
        registry.register(
            "switchyard_nft_sync_duration_seconds",
            "Time to compute and apply one nftables transaction",
            durations,
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let syncs_total = counter(
            "switchyard_nft_syncs",
            "nftables syncs that succeeded (including ones with nothing to change)",
        );
        let changes_total = counter(
            "switchyard_nft_changes",
            "Service table changes the sync loop woke up for (bursts count once)",
        );
        let sync_failures = counter(
            "switchyard_nft_sync_failures",
            "nftables transactions that failed",
        );
        let conntrack_failures = counter(
            "switchyard_nft_conntrack_failures",
            "Stale UDP conntrack deletions that failed",
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = CountGauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let changes_pending = gauge(
            "switchyard_nft_changes_pending",
            "Service table changes not yet applied",
        );
        let last_ops = gauge(
            "switchyard_nft_last_transaction_ops",
            "Operations in the last applied transaction",
        );
        let last_success_unix = gauge(
            "switchyard_nft_last_sync_timestamp_seconds",
            "Unix time of the last successful sync",
        );
        SyncMetrics {
            registry,
            full,
            partial,
            changes_pending,
            changes_total,
            syncs_total,
            sync_failures,
            last_ops,
            conntrack_failures,
            last_success_unix,
        }
    }
}

impl SyncMetrics {
    /// Records a successful sync's duration.
    pub fn observe(&self, full: bool, took: Duration) {
        let histogram = if full { &self.full } else { &self.partial };
        histogram.observe(took.as_secs_f64());
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        crate::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_histograms_and_counters() {
        let m = SyncMetrics::default();
        m.observe(true, Duration::from_millis(3));
        m.observe(false, Duration::from_millis(30));
        m.sync_failures.inc_by(2);
        m.changes_pending.set(4);
        let text = m.render();
        let samples = testkit::parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let value = |name: &str, labels: &[(&str, &str)]| testkit::value_of(&samples, name, labels);
        assert_eq!(
            value(
                "switchyard_nft_sync_duration_seconds_bucket",
                &[("kind", "full"), ("le", "0.005")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                "switchyard_nft_sync_duration_seconds_bucket",
                &[("kind", "partial"), ("le", "0.025")]
            ),
            Some(0.0)
        );
        assert!(text.contains("switchyard_nft_sync_duration_seconds_count{kind=\"partial\"} 1\n"));
        assert!(text.contains("switchyard_nft_sync_failures_total 2\n"));
        assert!(text.contains("# TYPE switchyard_nft_syncs_total counter\n"));
        assert!(text.contains(
            "# HELP switchyard_nft_sync_failures_total nftables transactions that failed.\n"
        ));
        assert_eq!(value("switchyard_nft_changes_pending", &[]), Some(4.0));
        assert_eq!(value("switchyard_nft_changes_total", &[]), Some(0.0));
    }
}
