//! Counters of the controllers' work, rendered in the Prometheus text format. Process-wide (all
//! control planes of one process add to the same counters). Only counts; never decides anything.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reconciles of one Service key that finished without error.
pub(crate) static RECONCILES: AtomicU64 = AtomicU64::new(0);
/// Reconciles that failed and were retried with backoff.
pub(crate) static RECONCILE_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Reconciles postponed because the cache did not show the controller's own writes yet.
pub(crate) static STALE_RETRIES: AtomicU64 = AtomicU64::new(0);
/// EndpointSlices created.
pub(crate) static SLICES_CREATED: AtomicU64 = AtomicU64::new(0);
/// EndpointSlices updated.
pub(crate) static SLICES_UPDATED: AtomicU64 = AtomicU64::new(0);
/// EndpointSlices deleted.
pub(crate) static SLICES_DELETED: AtomicU64 = AtomicU64::new(0);
/// Endpoints objects created or updated.
pub(crate) static ENDPOINTS_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Adds one to a counter.
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Every controller counter in the Prometheus text exposition format.
pub fn metrics_text() -> String {
    let mut out = String::new();
    let counters: [(&str, &str, &AtomicU64); 3] = [
        (
            "switchyard_endpointslice_reconciles_total",
            "Service keys reconciled by the EndpointSlice controller.",
            &RECONCILES,
        ),
        (
            "switchyard_endpointslice_reconcile_errors_total",
            "Reconciles that failed and were retried.",
            &RECONCILE_ERRORS,
        ),
        (
            "switchyard_endpointslice_stale_cache_retries_total",
            "Reconciles postponed until the cache showed the controller's own writes.",
            &STALE_RETRIES,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
    }
    let name = "switchyard_endpointslice_writes_total";
    let _ = writeln!(
        out,
        "# HELP {name} EndpointSlice and Endpoints writes by the controllers."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for (kind, verb, value) in [
        ("EndpointSlice", "create", &SLICES_CREATED),
        ("EndpointSlice", "update", &SLICES_UPDATED),
        ("EndpointSlice", "delete", &SLICES_DELETED),
        ("Endpoints", "write", &ENDPOINTS_WRITTEN),
    ] {
        let _ = writeln!(
            out,
            "{name}{{kind=\"{kind}\",verb=\"{verb}\"}} {}",
            value.load(Ordering::Relaxed)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        inc(&SLICES_CREATED);
        let text = metrics_text();
        assert!(text.contains("# TYPE switchyard_endpointslice_reconciles_total counter"));
        let line = text
            .lines()
            .find(|l| l.contains("verb=\"create\""))
            .unwrap_or_default();
        let n: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(n >= 1, "{line}");
    }
}
