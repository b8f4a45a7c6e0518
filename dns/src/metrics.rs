//! The nameserver's metrics in one prometheus-client registry, encoded in the Prometheus text
//! format. Every update on the query path is a relaxed atomic add: the per-label request
//! counters are looked up in their family once per label set and kept in fixed slots, so the
//! query path never locks or allocates for metrics after the first query of a kind.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Query types with their own label value; the rest count as `other`.
const QTYPES: [(RecordType, &str); 10] = [
    (RecordType::A, "A"),
    (RecordType::AAAA, "AAAA"),
    (RecordType::SRV, "SRV"),
    (RecordType::PTR, "PTR"),
    (RecordType::TXT, "TXT"),
    (RecordType::SOA, "SOA"),
    (RecordType::NS, "NS"),
    (RecordType::CNAME, "CNAME"),
    (RecordType::ANY, "ANY"),
    (RecordType::MX, "MX"),
];
const QTYPE_SLOTS: usize = QTYPES.len() + 1;

/// Response codes with their own label value; the rest count as `other`.
const RCODES: [(ResponseCode, &str); 6] = [
    (ResponseCode::NoError, "NOERROR"),
    (ResponseCode::FormErr, "FORMERR"),
    (ResponseCode::ServFail, "SERVFAIL"),
    (ResponseCode::NXDomain, "NXDOMAIN"),
    (ResponseCode::NotImp, "NOTIMP"),
    (ResponseCode::Refused, "REFUSED"),
];
const RCODE_SLOTS: usize = RCODES.len() + 1;

/// Upper bounds (seconds) of the upstream latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

/// Where a response came from, for the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The cluster name table.
    Zone,
    /// The upstream resolvers or the cache.
    Forward,
}

/// Labels of `switchyard_dns_requests_total`; every value comes from a fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    source: &'static str,
    qtype: &'static str,
    rcode: &'static str,
}

/// Labels of `switchyard_dns_rate_limited_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// A gauge of a non-negative count.
type CountGauge = Gauge<u64, AtomicU64>;

/// Every metric of one server and the registry that exposes them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// The family's handle per (source, qtype, rcode) slot, made on first use.
    request_slots: [[[OnceLock<Counter>; RCODE_SLOTS]; QTYPE_SLOTS]; 2],
    cache_hits: Counter,
    cache_misses: Counter,
    upstream_errors: Counter,
    tcp_retries: Counter,
    recursion_refused: Counter,
    autopath_success: Counter,
    upstream_over_cap: Counter,
    upstream_coalesced: Counter,
    rate_limited_dropped: Counter,
    rate_limited_slipped: Counter,
    upstream_latency: Histogram,
    table_builds: Counter,
    table_names: CountGauge,
    table_revision: CountGauge,
    cache_entries: CountGauge,
    ready: CountGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "switchyard_dns_requests",
            "DNS requests answered, by source, query type and response code",
            requests.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let cache_hits = counter(
            "switchyard_dns_cache_hits",
            "Upstream answers served from the cache",
        );
        let cache_misses = counter(
            "switchyard_dns_cache_misses",
            "Cache lookups that went upstream",
        );
        let upstream_errors = counter(
            "switchyard_dns_upstream_errors",
            "Upstream exchanges that failed (timeout, I/O, bad reply)",
        );
        let tcp_retries = counter(
            "switchyard_dns_upstream_tcp_retries",
            "Truncated upstream UDP replies retried over TCP",
        );
        let recursion_refused = counter(
            "switchyard_dns_recursion_refused",
            "Questions outside the cluster zone refused: the client is not allowed recursion",
        );
        let autopath_success = counter(
            "switchyard_dns_autopath_success",
            "Questions autopath answered for a later search-path expansion (CoreDNS's coredns_autopath_success_total)",
        );
        let upstream_over_cap = counter(
            "switchyard_dns_upstream_over_cap",
            "Questions answered SERVFAIL: too many upstream queries in flight",
        );
        let upstream_coalesced = counter(
            "switchyard_dns_upstream_coalesced",
            "Questions that shared an identical upstream query already in flight",
        );
        let table_builds = counter(
            "switchyard_dns_table_builds",
            "Name tables built from cluster snapshots",
        );
        let rate_limited = Family::<ActionLabel, Counter>::default();
        let rate_limited_dropped =
            rate_limited.get_or_create_owned(&ActionLabel { action: "drop" });
        let rate_limited_slipped =
            rate_limited.get_or_create_owned(&ActionLabel { action: "slip" });
        registry.register(
            "switchyard_dns_rate_limited",
            "UDP responses held back by response-rate limiting, by action (drop, or slip: sent truncated)",
            rate_limited,
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = CountGauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let cache_entries = gauge(
            "switchyard_dns_cache_entries",
            "Upstream answers held in the cache",
        );
        let table_names = gauge(
            "switchyard_dns_table_names",
            "Owner names in the current name table",
        );
        let table_revision = gauge(
            "switchyard_dns_table_revision",
            "Cluster snapshot revision of the current name table",
        );
        let ready = gauge(
            "switchyard_dns_ready",
            "1 once the first full cluster list has been served",
        );
        let upstream_latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "switchyard_dns_upstream_duration_seconds",
            "Duration of successful upstream exchanges",
            upstream_latency.clone(),
        );
        Metrics {
            registry,
            requests,
            request_slots: Default::default(),
            cache_hits,
            cache_misses,
            upstream_errors,
            tcp_retries,
            recursion_refused,
            autopath_success,
            upstream_over_cap,
            upstream_coalesced,
            rate_limited_dropped,
            rate_limited_slipped,
            upstream_latency,
            table_builds,
            table_names,
            table_revision,
            cache_entries,
            ready,
        }
    }
}

fn qtype_slot(qtype: RecordType) -> usize {
    QTYPES
        .iter()
        .position(|(t, _)| *t == qtype)
        .unwrap_or(QTYPES.len())
}

fn rcode_slot(rcode: ResponseCode) -> usize {
    RCODES
        .iter()
        .position(|(c, _)| *c == rcode)
        .unwrap_or(RCODES.len())
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn request(&self, source: Source, qtype: RecordType, rcode: ResponseCode) {
        let (q, r) = (qtype_slot(qtype), rcode_slot(rcode));
        let s = usize::from(source == Source::Forward);
        let counter = self.request_slots[s][q][r].get_or_init(|| {
            self.requests.get_or_create_owned(&RequestLabels {
                source: ["zone", "forward"][s],
                qtype: QTYPES.get(q).map_or("other", |(_, n)| n),
                rcode: RCODES.get(r).map_or("other", |(_, n)| n),
            })
        });
        counter.inc();
    }

    /// Counts a cache lookup.
    pub(crate) fn cache(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    /// Counts an upstream exchange that failed (timeout, I/O, bad reply).
    pub(crate) fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// Counts a truncated UDP reply retried over TCP.
    pub(crate) fn tcp_retry(&self) {
        self.tcp_retries.inc();
    }

    /// Counts a question outside the zone refused because the client may not recurse.
    pub(crate) fn recursion_refused(&self) {
        self.recursion_refused.inc();
    }

    /// Counts a question autopath answered for a later search-path expansion.
    pub(crate) fn autopath_success(&self) {
        self.autopath_success.inc();
    }

    /// Counts a question answered SERVFAIL because the upstream in-flight cap was reached.
    pub(crate) fn upstream_over_cap(&self) {
        self.upstream_over_cap.inc();
    }

    /// Counts a question that shared an upstream exchange already in flight.
    pub(crate) fn upstream_coalesced(&self) {
        self.upstream_coalesced.inc();
    }

    /// Counts a UDP response held back by response-rate limiting: dropped, or sent truncated
    /// (`slipped`).
    pub(crate) fn rate_limited(&self, slipped: bool) {
        if slipped {
            self.rate_limited_slipped.inc();
        } else {
            self.rate_limited_dropped.inc();
        }
    }

    /// Records the duration of one successful upstream exchange.
    pub(crate) fn upstream_latency(&self, elapsed: Duration) {
        self.upstream_latency.observe(elapsed.as_secs_f64());
    }

    /// Records a newly published name table.
    pub(crate) fn table_built(&self, names: usize, revision: u64) {
        self.table_builds.inc();
        self.table_names
            .set(u64::try_from(names).unwrap_or(u64::MAX));
        self.table_revision.set(revision);
    }

    /// The Prometheus text exposition (version 0.0.4) of every metric; `cache_entries` is the
    /// cache's size now.
    pub(crate) fn render(&self, cache_entries: usize, ready: bool) -> String {
        self.cache_entries
            .set(u64::try_from(cache_entries).unwrap_or(u64::MAX));
        self.ready.set(u64::from(ready));
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.request(Source::Zone, RecordType::A, ResponseCode::NoError);
        metrics.request(Source::Zone, RecordType::A, ResponseCode::NoError);
        metrics.request(
            Source::Forward,
            RecordType::HINFO,
            ResponseCode::Unknown(3000),
        );
        metrics.upstream_latency(Duration::from_millis(3));
        metrics.cache(true);
        metrics.recursion_refused();
        metrics.upstream_over_cap();
        metrics.upstream_coalesced();
        metrics.upstream_coalesced();
        metrics.rate_limited(true);
        let text = metrics.render(7, true);
        let samples = testkit::parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            testkit::value_of(
                &samples,
                "switchyard_dns_upstream_duration_seconds_count",
                &[]
            ),
            Some(1.0)
        );
        assert!(text.contains("# TYPE switchyard_dns_requests_total counter\n"));
        assert!(text.contains(
            "# HELP switchyard_dns_ready 1 once the first full cluster list has been served.\n"
        ));
        assert!(text.contains("switchyard_dns_recursion_refused_total 1\n"));
        assert!(text.contains("switchyard_dns_upstream_over_cap_total 1\n"));
        assert!(text.contains("switchyard_dns_upstream_coalesced_total 2\n"));
        assert!(text.contains("switchyard_dns_rate_limited_total{action=\"drop\"} 0\n"));
        assert!(text.contains("switchyard_dns_rate_limited_total{action=\"slip\"} 1\n"));
        assert!(text.contains(
            "switchyard_dns_requests_total{source=\"zone\",qtype=\"A\",rcode=\"NOERROR\"} 2\n"
        ));
        assert!(text.contains(
            "switchyard_dns_requests_total{source=\"forward\",qtype=\"other\",rcode=\"other\"} 1\n"
        ));
        assert!(
            text.contains("switchyard_dns_upstream_duration_seconds_bucket{le=\"0.0025\"} 0\n")
        );
        assert!(text.contains("switchyard_dns_upstream_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("switchyard_dns_upstream_duration_seconds_count 1\n"));
        assert!(text.contains("switchyard_dns_cache_hits_total 1\n"));
        assert!(text.contains("switchyard_dns_cache_entries 7\n"));
        assert!(text.contains("switchyard_dns_ready 1\n"));
    }
}
