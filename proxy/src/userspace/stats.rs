//! The userspace proxy's metrics: per service port (connections, bytes, connect failures,
//! retries, rejections, UDP flows) and for the proxy as a whole (listeners, sync latency, last
//! sync), all in one prometheus-client registry. Each port's handles are looked up in their
//! families once, when the port appears, and kept in its [`PortMetrics`]: the data path only
//! bumps atomics.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::LATENCY_BUCKETS;
use crate::model::ServicePortId;

/// A gauge of a non-negative count whose atomic [`Held`] can hold.
pub(crate) type CountGauge = Gauge<u64, AtomicU64>;

/// Metric handles of one service port, held by its listeners and every connection through it.
#[derive(Debug, Default)]
pub(crate) struct PortMetrics {
    /// TCP connections currently open (accepted and not yet closed).
    pub(crate) active: CountGauge,
    /// TCP connections accepted.
    pub(crate) total: Counter,
    /// Bytes client → endpoint (TCP and UDP).
    pub(crate) bytes_to_endpoint: Counter,
    /// Bytes endpoint → client (TCP and UDP).
    pub(crate) bytes_to_client: Counter,
    /// Endpoint connects that failed (refused, timed out, unreachable).
    pub(crate) connect_failures: Counter,
    /// Connects retried on another endpoint after a failure.
    pub(crate) retries: Counter,
    /// Connections reset / datagrams dropped because no endpoint could take them.
    pub(crate) rejected: Counter,
    /// UDP flows currently tracked.
    pub(crate) udp_flows: CountGauge,
    /// TCP connections closed at accept / UDP datagrams dropped on an LB IP because their
    /// source is outside the service's `loadBalancerSourceRanges`.
    pub(crate) source_refused: Counter,
}

/// Decrements a gauge when dropped (after it was incremented by [`Held::new`]).
#[derive(Debug)]
pub(crate) struct Held<'a>(&'a AtomicU64);

impl<'a> Held<'a> {
    /// Increments `gauge` now, decrements it on drop.
    pub(crate) fn new(gauge: &'a AtomicU64) -> Held<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Held(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Like [`Held`] for a shared counter: one connection (in progress or open) to an endpoint.
#[derive(Debug)]
pub(crate) struct HeldArc(Arc<AtomicU64>);

impl HeldArc {
    /// Increments `gauge` now, decrements it on drop.
    pub(crate) fn new(gauge: Arc<AtomicU64>) -> HeldArc {
        gauge.fetch_add(1, Ordering::Relaxed);
        HeldArc(gauge)
    }
}

impl Drop for HeldArc {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Labels of the per-port families.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    namespace: String,
    service: String,
    port: String,
    protocol: String,
}

impl PortLabels {
    fn of(id: &ServicePortId) -> PortLabels {
        PortLabels {
            namespace: id.namespace.clone(),
            service: id.name.clone(),
            port: id.port_name.clone(),
            protocol: id.protocol.to_string(),
        }
    }
}

/// Labels of `switchyard_userspace_bytes_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    namespace: String,
    service: String,
    port: String,
    protocol: String,
    direction: &'static str,
}

fn bytes_labels(port: &PortLabels, direction: &'static str) -> BytesLabels {
    BytesLabels {
        namespace: port.namespace.clone(),
        service: port.service.clone(),
        port: port.port.clone(),
        protocol: port.protocol.clone(),
        direction,
    }
}

/// The per-port families; a port's entries exist while the port is in the table.
#[derive(Debug, Default)]
struct PortFamilies {
    active: Family<PortLabels, CountGauge>,
    total: Family<PortLabels, Counter>,
    connect_failures: Family<PortLabels, Counter>,
    retries: Family<PortLabels, Counter>,
    rejected: Family<PortLabels, Counter>,
    udp_flows: Family<PortLabels, CountGauge>,
    source_refused: Family<PortLabels, Counter>,
    bytes: Family<BytesLabels, Counter>,
}

impl PortFamilies {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "switchyard_userspace_connections_active",
            "TCP connections currently open through the service port",
            self.active.clone(),
        );
        registry.register(
            "switchyard_userspace_connections",
            "TCP connections accepted on the service port",
            self.total.clone(),
        );
        registry.register(
            "switchyard_userspace_connect_failures",
            "Connects to endpoints that failed (refused, timed out, unreachable)",
            self.connect_failures.clone(),
        );
        registry.register(
            "switchyard_userspace_connect_retries",
            "Connects retried on another endpoint after a failure",
            self.retries.clone(),
        );
        registry.register(
            "switchyard_userspace_rejected",
            "TCP connections reset or UDP datagrams dropped because no endpoint could take them",
            self.rejected.clone(),
        );
        registry.register(
            "switchyard_userspace_udp_flows_active",
            "UDP client flows currently tracked",
            self.udp_flows.clone(),
        );
        registry.register(
            "switchyard_userspace_source_refused",
            "TCP connections closed or UDP datagrams dropped on a LoadBalancer IP because the \
             source is outside the service's loadBalancerSourceRanges",
            self.source_refused.clone(),
        );
        registry.register(
            "switchyard_userspace_bytes",
            "Bytes forwarded, by direction",
            self.bytes.clone(),
        );
    }

    fn handles(&self, id: &ServicePortId) -> PortMetrics {
        let l = PortLabels::of(id);
        PortMetrics {
            active: self.active.get_or_create_owned(&l),
            total: self.total.get_or_create_owned(&l),
            bytes_to_endpoint: self
                .bytes
                .get_or_create_owned(&bytes_labels(&l, "to_endpoint")),
            bytes_to_client: self
                .bytes
                .get_or_create_owned(&bytes_labels(&l, "to_client")),
            connect_failures: self.connect_failures.get_or_create_owned(&l),
            retries: self.retries.get_or_create_owned(&l),
            rejected: self.rejected.get_or_create_owned(&l),
            udp_flows: self.udp_flows.get_or_create_owned(&l),
            source_refused: self.source_refused.get_or_create_owned(&l),
        }
    }

    fn remove(&self, id: &ServicePortId) {
        let l = PortLabels::of(id);
        self.active.remove(&l);
        self.total.remove(&l);
        self.connect_failures.remove(&l);
        self.retries.remove(&l);
        self.rejected.remove(&l);
        self.udp_flows.remove(&l);
        self.source_refused.remove(&l);
        self.bytes.remove(&bytes_labels(&l, "to_endpoint"));
        self.bytes.remove(&bytes_labels(&l, "to_client"));
    }
}

/// The proxy's registry: per-port families plus process-wide counters.
#[derive(Debug)]
pub(crate) struct ProxyStats {
    registry: Registry,
    families: PortFamilies,
    /// The ports whose entries the families hold.
    ports: Mutex<BTreeSet<ServicePortId>>,
    /// From the newest event behind a table to its listener state being applied (seconds).
    pub(crate) sync_latency: Histogram,
    /// Tables applied.
    pub(crate) syncs: Counter,
    /// Open listeners (TCP and UDP sockets).
    pub(crate) listeners: CountGauge,
    /// Listener binds that failed.
    pub(crate) listener_errors: Counter,
    /// `ip` address or interface changes that failed.
    pub(crate) interface_errors: Counter,
    /// Unix time (seconds) of the last applied table.
    pub(crate) last_sync: Gauge<f64, AtomicU64>,
}

impl Default for ProxyStats {
    fn default() -> ProxyStats {
        let mut registry = Registry::default();
        let families = PortFamilies::default();
        families.register(&mut registry);
        let sync_latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "switchyard_userspace_sync_latency_seconds",
            "Time from the newest watched event behind a table to its listeners being applied",
            sync_latency.clone(),
        );
        let syncs = Counter::default();
        registry.register(
            "switchyard_userspace_syncs",
            "Service tables applied",
            syncs.clone(),
        );
        let listeners = CountGauge::default();
        registry.register(
            "switchyard_userspace_listeners",
            "Open listening sockets (TCP and UDP)",
            listeners.clone(),
        );
        let listener_errors = Counter::default();
        registry.register(
            "switchyard_userspace_listener_errors",
            "Listening sockets that could not be opened",
            listener_errors.clone(),
        );
        let interface_errors = Counter::default();
        registry.register(
            "switchyard_userspace_interface_errors",
            "Failed changes to the managed interface or its addresses",
            interface_errors.clone(),
        );
        let last_sync = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "switchyard_userspace_last_sync_timestamp_seconds",
            "Unix time the last service table was applied",
            last_sync.clone(),
        );
        ProxyStats {
            registry,
            families,
            ports: Mutex::default(),
            sync_latency,
            syncs,
            listeners,
            listener_errors,
            interface_errors,
            last_sync,
        }
    }
}

impl ProxyStats {
    /// The metric handles of a service port that has just appeared in the table.
    pub(crate) fn port_metrics(&self, id: &ServicePortId) -> Arc<PortMetrics> {
        self.ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone());
        Arc::new(self.families.handles(id))
    }

    /// Drops the series of every port not in `live`, so only the table's ports are exposed.
    pub(crate) fn retain_ports<'a>(&self, live: impl IntoIterator<Item = &'a ServicePortId>) {
        let live: BTreeSet<&ServicePortId> = live.into_iter().collect();
        let mut ports = self.ports.lock().unwrap_or_else(PoisonError::into_inner);
        ports.retain(|id| {
            let keep = live.contains(id);
            if !keep {
                self.families.remove(id);
            }
            keep
        });
    }

    /// Every metric in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        crate::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests;
