//! Metrics shared by both proxy modes: each data path keeps its counters as prometheus-client
//! handles (atomics on its hot path) registered in its own
//! [`prometheus_client::registry::Registry`], and [`encode`] writes a registry in the
//! Prometheus text format. This module never decides what to count; it only formats.

use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`encode`] writes: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Default latency bucket upper bounds, in seconds (1 ms … 30 s).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric of `registry` in the Prometheus text format (version 0.0.4).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}
