//! Counters of the controllers' work. Process-wide (all control planes of one process add to
//! the same counters); each control plane's registry registers clones of them. Only counts;
//! never decides anything.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of `switchyard_endpointslice_writes_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: &'static str,
    verb: &'static str,
}

/// The controllers' counters.
#[derive(Debug)]
pub(crate) struct ControllerMetrics {
    /// Reconciles of one Service key that finished without error.
    pub(crate) reconciles: Counter,
    /// Reconciles that failed and were retried with backoff.
    pub(crate) reconcile_errors: Counter,
    /// Reconciles postponed because the cache did not show the controller's own writes yet.
    pub(crate) stale_retries: Counter,
    /// EndpointSlices created.
    pub(crate) slices_created: Counter,
    /// EndpointSlices updated.
    pub(crate) slices_updated: Counter,
    /// EndpointSlices deleted.
    pub(crate) slices_deleted: Counter,
    /// Endpoints objects created or updated.
    pub(crate) endpoints_written: Counter,
    /// The four write counters above as one labelled family (clones share the values).
    writes: Family<WriteLabels, Counter>,
    /// Objects the garbage collector deleted because their owners were gone.
    pub(crate) gc_deletes: Counter,
    /// Owner references the garbage collector removed (orphaning, gone or waiting owners).
    pub(crate) gc_references_removed: Counter,
    /// `orphan` and `foregroundDeletion` finalizers the garbage collector removed.
    pub(crate) gc_finalizers_removed: Counter,
    /// Garbage-collector jobs that failed and were retried.
    pub(crate) gc_errors: Counter,
}

impl ControllerMetrics {
    fn new() -> ControllerMetrics {
        let writes = Family::<WriteLabels, Counter>::default();
        let slot = |kind, verb| writes.get_or_create_owned(&WriteLabels { kind, verb });
        ControllerMetrics {
            reconciles: Counter::default(),
            reconcile_errors: Counter::default(),
            stale_retries: Counter::default(),
            slices_created: slot("EndpointSlice", "create"),
            slices_updated: slot("EndpointSlice", "update"),
            slices_deleted: slot("EndpointSlice", "delete"),
            endpoints_written: slot("Endpoints", "write"),
            writes,
            gc_deletes: Counter::default(),
            gc_references_removed: Counter::default(),
            gc_finalizers_removed: Counter::default(),
            gc_errors: Counter::default(),
        }
    }
}

static METRICS: LazyLock<ControllerMetrics> = LazyLock::new(ControllerMetrics::new);

/// The process-wide controller counters.
pub(crate) fn counters() -> &'static ControllerMetrics {
    &METRICS
}

/// Registers every controller counter in `registry`.
pub(crate) fn register(registry: &mut Registry) {
    let m = counters();
    registry.register(
        "switchyard_endpointslice_reconciles",
        "Service keys reconciled by the EndpointSlice controller",
        m.reconciles.clone(),
    );
    registry.register(
        "switchyard_endpointslice_reconcile_errors",
        "Reconciles that failed and were retried",
        m.reconcile_errors.clone(),
    );
    registry.register(
        "switchyard_endpointslice_stale_cache_retries",
        "Reconciles postponed until the cache showed the controller's own writes",
        m.stale_retries.clone(),
    );
    registry.register(
        "switchyard_endpointslice_writes",
        "EndpointSlice and Endpoints writes by the controllers",
        m.writes.clone(),
    );
    registry.register(
        "switchyard_gc_deletes",
        "Objects the garbage collector deleted because their owners were gone",
        m.gc_deletes.clone(),
    );
    registry.register(
        "switchyard_gc_owner_references_removed",
        "Owner references the garbage collector removed from dependents",
        m.gc_references_removed.clone(),
    );
    registry.register(
        "switchyard_gc_finalizers_removed",
        "Orphan and foregroundDeletion finalizers the garbage collector removed",
        m.gc_finalizers_removed.clone(),
    );
    registry.register(
        "switchyard_gc_errors",
        "Garbage-collector jobs that failed and were retried",
        m.gc_errors.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line starting with `prefix` in a text exposition.
    fn sample(text: &str, prefix: &str) -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(prefix))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    #[test]
    fn encodes_the_shared_counters_in_the_text_format() {
        let mut registry = Registry::default();
        register(&mut registry);
        counters().slices_created.inc();
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains("# TYPE switchyard_endpointslice_reconciles_total counter\n")
                && text.contains(
                    "# HELP switchyard_endpointslice_reconcile_errors_total Reconciles that failed and were retried.\n"
                ),
            "{text}"
        );
        let created = sample(
            &text,
            "switchyard_endpointslice_writes_total{kind=\"EndpointSlice\",verb=\"create\"} ",
        );
        assert!(created.is_some_and(|n| n >= 1), "{text}");
        assert!(
            sample(
                &text,
                "switchyard_endpointslice_writes_total{kind=\"Endpoints\",verb=\"write\"} "
            )
            .is_some(),
            "{text}"
        );
        assert!(text.ends_with('\n'), "{text}");
    }
}
