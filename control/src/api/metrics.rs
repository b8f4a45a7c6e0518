//! The control plane's metrics registry: API requests by verb, resource and code, request
//! latency, open watches, the current resourceVersion, objects per kind, commit batch sizes,
//! commit latency and the controllers' counters, encoded in the Prometheus text format.
//!
//! Counting only; never blocks a request for longer than a counter update.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::object::Kind;
use crate::store::Store;

/// Upper bounds of the request-latency histogram buckets, in seconds.
const REQUEST_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Labels of `switchyard_apiserver_requests_total`. Every value comes from a fixed set (verbs,
/// known resources, HTTP codes), so the family stays bounded.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: &'static str,
    resource: String,
    code: u16,
}

/// Labels of `switchyard_apiserver_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabel {
    verb: &'static str,
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

/// The API's metrics and the registry that exposes them with the store's and the controllers'.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<VerbLabel, Histogram>,
    watches: Gauge,
    watches_total: Counter,
}

/// Decrements the open-watch gauge when the watch stream ends.
#[derive(Debug)]
pub(crate) struct WatchGuard<'a>(&'a Metrics);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.watches.dec();
    }
}

impl Metrics {
    /// The API's metrics, registered with the store's commit metrics, a scrape-time view of the
    /// store's contents and the controllers' counters.
    pub(crate) fn new(store: &Store) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "switchyard_apiserver_requests",
            "API requests by verb, resource and HTTP code",
            requests.clone(),
        );
        let latency =
            Family::<VerbLabel, Histogram>::new_with_constructor(request_histogram as fn() -> _);
        registry.register(
            "switchyard_apiserver_request_duration_seconds",
            "Time to answer a request (watches excluded), by verb",
            latency.clone(),
        );
        let watches = Gauge::default();
        registry.register(
            "switchyard_apiserver_watches",
            "Open watch streams",
            watches.clone(),
        );
        let watches_total = Counter::default();
        registry.register(
            "switchyard_apiserver_watches",
            "Watch streams opened",
            watches_total.clone(),
        );
        registry.register_collector(Box::new(StoreContents {
            store: store.clone(),
        }));
        let commits = store.metrics();
        registry.register(
            "switchyard_store_commit_batch_size",
            "Requests committed per transaction",
            commits.batch_size.clone(),
        );
        registry.register(
            "switchyard_store_commit_duration_seconds",
            "Time to commit one transaction durably",
            commits.commit_duration.clone(),
        );
        registry.register(
            "switchyard_store_commit_failures",
            "Commits that failed",
            commits.commit_failures.clone(),
        );
        crate::controllers::register_metrics(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            watches,
            watches_total,
        }
    }

    /// Counts one finished request.
    pub(crate) fn request(&self, verb: &'static str, resource: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                verb,
                resource: resource.to_string(),
                code,
            })
            .inc();
    }

    /// Records how long a (non-watch) request took to answer.
    pub(crate) fn latency(&self, verb: &'static str, seconds: f64) {
        self.latency
            .get_or_create(&VerbLabel { verb })
            .observe(seconds);
    }

    /// Counts an opened watch until the guard drops.
    pub(crate) fn watch_opened(&self) -> WatchGuard<'_> {
        self.watches.inc();
        self.watches_total.inc();
        WatchGuard(self)
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The store's newest resourceVersion and its objects per kind, read at scrape time.
#[derive(Debug)]
struct StoreContents {
    store: Store,
}

/// Labels of `switchyard_store_objects`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

impl Collector for StoreContents {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.store.snapshot();
        let revision = ConstGauge::new(i64::try_from(snapshot.revision).unwrap_or(i64::MAX));
        revision.encode(encoder.encode_descriptor(
            "switchyard_store_resource_version",
            "The newest committed resourceVersion.",
            None,
            revision.metric_type(),
        )?)?;
        let mut family = encoder.encode_descriptor(
            "switchyard_store_objects",
            "Stored objects by kind.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for kind in Kind::ALL {
            let count = i64::try_from(snapshot.of_kind(kind).len()).unwrap_or(i64::MAX);
            ConstGauge::new(count)
                .encode(family.encode_family(&KindLabel { kind: kind.name() })?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
