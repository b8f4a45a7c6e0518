//! The userspace proxy's counters: per service port (connections, bytes, connect failures,
//! retries, rejections, UDP flows) and for the proxy as a whole (listeners, sync latency, last
//! sync). The data path only bumps atomics; [`ProxyStats`] renders them as a
//! [`crate::metrics::Collector`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::metrics::{Collector, Exposition, Histogram, Kind, LATENCY_BUCKETS};
use crate::model::ServicePortId;

/// Counters of one service port, held by its listeners and every connection through it.
#[derive(Debug, Default)]
pub(crate) struct PortMetrics {
    /// TCP connections currently open (accepted and not yet closed).
    pub(crate) active: AtomicU64,
    /// TCP connections accepted.
    pub(crate) total: AtomicU64,
    /// Bytes client → endpoint (TCP and UDP).
    pub(crate) bytes_to_endpoint: AtomicU64,
    /// Bytes endpoint → client (TCP and UDP).
    pub(crate) bytes_to_client: AtomicU64,
    /// Endpoint connects that failed (refused, timed out, unreachable).
    pub(crate) connect_failures: AtomicU64,
    /// Connects retried on another endpoint after a failure.
    pub(crate) retries: AtomicU64,
    /// Connections reset / datagrams dropped because no endpoint could take them.
    pub(crate) rejected: AtomicU64,
    /// UDP flows currently tracked.
    pub(crate) udp_flows: AtomicU64,
    /// TCP connections closed at accept / UDP datagrams dropped on an LB IP because their
    /// source is outside the service's `loadBalancerSourceRanges`.
    pub(crate) source_refused: AtomicU64,
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

/// Process-wide counters plus the live per-port set.
#[derive(Debug)]
pub(crate) struct ProxyStats {
    ports: RwLock<BTreeMap<ServicePortId, Arc<PortMetrics>>>,
    /// From the newest event behind a table to its listener state being applied.
    pub(crate) sync_latency: Histogram,
    /// Tables applied.
    pub(crate) syncs: AtomicU64,
    /// Open listeners (TCP and UDP sockets).
    pub(crate) listeners: AtomicU64,
    /// Listener binds that failed.
    pub(crate) listener_errors: AtomicU64,
    /// `ip` address or interface changes that failed.
    pub(crate) interface_errors: AtomicU64,
    /// Unix time (ms) of the last applied table.
    pub(crate) last_sync_ms: AtomicU64,
}

impl Default for ProxyStats {
    fn default() -> ProxyStats {
        ProxyStats {
            ports: RwLock::default(),
            sync_latency: Histogram::new(LATENCY_BUCKETS),
            syncs: AtomicU64::new(0),
            listeners: AtomicU64::new(0),
            listener_errors: AtomicU64::new(0),
            interface_errors: AtomicU64::new(0),
            last_sync_ms: AtomicU64::new(0),
        }
    }
}

impl ProxyStats {
    /// Replaces the set of rendered service ports.
    pub(crate) fn set_ports(&self, ports: BTreeMap<ServicePortId, Arc<PortMetrics>>) {
        *self.ports.write().unwrap_or_else(PoisonError::into_inner) = ports;
    }
}

type PortField = fn(&PortMetrics) -> &AtomicU64;

const PORT_FAMILIES: &[(&str, &str, Kind, PortField)] = &[
    (
        "switchyard_userspace_connections_active",
        "TCP connections currently open through the service port.",
        Kind::Gauge,
        |m| &m.active,
    ),
    (
        "switchyard_userspace_connections_total",
        "TCP connections accepted on the service port.",
        Kind::Counter,
        |m| &m.total,
    ),
    (
        "switchyard_userspace_connect_failures_total",
        "Connects to endpoints that failed (refused, timed out, unreachable).",
        Kind::Counter,
        |m| &m.connect_failures,
    ),
    (
        "switchyard_userspace_connect_retries_total",
        "Connects retried on another endpoint after a failure.",
        Kind::Counter,
        |m| &m.retries,
    ),
    (
        "switchyard_userspace_rejected_total",
        "TCP connections reset or UDP datagrams dropped because no endpoint could take them.",
        Kind::Counter,
        |m| &m.rejected,
    ),
    (
        "switchyard_userspace_udp_flows_active",
        "UDP client flows currently tracked.",
        Kind::Gauge,
        |m| &m.udp_flows,
    ),
    (
        "switchyard_userspace_source_refused_total",
        "TCP connections closed or UDP datagrams dropped on a LoadBalancer IP because the \
         source is outside the service's loadBalancerSourceRanges.",
        Kind::Counter,
        |m| &m.source_refused,
    ),
];

impl Collector for ProxyStats {
    fn collect(&self, out: &mut Exposition) {
        let ports = self.ports.read().unwrap_or_else(PoisonError::into_inner);
        let labels = |id: &ServicePortId| {
            [
                ("namespace", id.namespace.clone()),
                ("service", id.name.clone()),
                ("port", id.port_name.clone()),
                ("protocol", id.protocol.to_string()),
            ]
        };
        for (name, help, kind, field) in PORT_FAMILIES {
            out.family(name, help, *kind);
            for (id, metrics) in ports.iter() {
                let owned = labels(id);
                let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                out.sample(name, &refs, field(metrics).load(Ordering::Relaxed) as f64);
            }
        }
        let name = "switchyard_userspace_bytes_total";
        out.family(name, "Bytes forwarded, by direction.", Kind::Counter);
        for (id, metrics) in ports.iter() {
            let owned = labels(id);
            for (direction, counter) in [
                ("to_endpoint", &metrics.bytes_to_endpoint),
                ("to_client", &metrics.bytes_to_client),
            ] {
                let mut refs: Vec<(&str, &str)> =
                    owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                refs.push(("direction", direction));
                out.sample(name, &refs, counter.load(Ordering::Relaxed) as f64);
            }
        }
        drop(ports);
        let name = "switchyard_userspace_sync_latency_seconds";
        out.family(
            name,
            "Time from the newest watched event behind a table to its listeners being applied.",
            Kind::Histogram,
        );
        out.histogram(name, &[], &self.sync_latency);
        let globals: [(&str, &str, Kind, &AtomicU64); 4] = [
            (
                "switchyard_userspace_syncs_total",
                "Service tables applied.",
                Kind::Counter,
                &self.syncs,
            ),
            (
                "switchyard_userspace_listeners",
                "Open listening sockets (TCP and UDP).",
                Kind::Gauge,
                &self.listeners,
            ),
            (
                "switchyard_userspace_listener_errors_total",
                "Listening sockets that could not be opened.",
                Kind::Counter,
                &self.listener_errors,
            ),
            (
                "switchyard_userspace_interface_errors_total",
                "Failed changes to the managed interface or its addresses.",
                Kind::Counter,
                &self.interface_errors,
            ),
        ];
        for (name, help, kind, value) in globals {
            out.family(name, help, kind);
            out.sample(name, &[], value.load(Ordering::Relaxed) as f64);
        }
        let name = "switchyard_userspace_last_sync_timestamp_seconds";
        out.family(
            name,
            "Unix time the last service table was applied.",
            Kind::Gauge,
        );
        out.sample(
            name,
            &[],
            self.last_sync_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        );
    }
}
