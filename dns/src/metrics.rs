//! The nameserver's counters, rendered in the Prometheus text format. Every update is a relaxed
//! atomic add on a fixed slot, so the query path never locks or allocates for metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

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

/// All counters of one server.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: [[[AtomicU64; RCODE_SLOTS]; QTYPE_SLOTS]; 2],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    upstream_errors: AtomicU64,
    tcp_retries: AtomicU64,
    recursion_refused: AtomicU64,
    upstream_over_cap: AtomicU64,
    upstream_coalesced: AtomicU64,
    rate_limited_dropped: AtomicU64,
    rate_limited_slipped: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    table_builds: AtomicU64,
    table_names: AtomicU64,
    table_revision: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            }),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            upstream_errors: AtomicU64::new(0),
            tcp_retries: AtomicU64::new(0),
            recursion_refused: AtomicU64::new(0),
            upstream_over_cap: AtomicU64::new(0),
            upstream_coalesced: AtomicU64::new(0),
            rate_limited_dropped: AtomicU64::new(0),
            rate_limited_slipped: AtomicU64::new(0),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            table_builds: AtomicU64::new(0),
            table_names: AtomicU64::new(0),
            table_revision: AtomicU64::new(0),
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
        let source = usize::from(source == Source::Forward);
        self.requests[source][qtype_slot(qtype)][rcode_slot(rcode)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a cache lookup.
    pub(crate) fn cache(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an upstream exchange that failed (timeout, I/O, bad reply).
    pub(crate) fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a truncated UDP reply retried over TCP.
    pub(crate) fn tcp_retry(&self) {
        self.tcp_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a question outside the zone refused because the client may not recurse.
    pub(crate) fn recursion_refused(&self) {
        self.recursion_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a question answered SERVFAIL because the upstream in-flight cap was reached.
    pub(crate) fn upstream_over_cap(&self) {
        self.upstream_over_cap.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a question that shared an upstream exchange already in flight.
    pub(crate) fn upstream_coalesced(&self) {
        self.upstream_coalesced.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a UDP response held back by response-rate limiting: dropped, or sent truncated
    /// (`slipped`).
    pub(crate) fn rate_limited(&self, slipped: bool) {
        let counter = if slipped {
            &self.rate_limited_slipped
        } else {
            &self.rate_limited_dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the duration of one successful upstream exchange.
    pub(crate) fn upstream_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records a newly published name table.
    pub(crate) fn table_built(&self, names: usize, revision: u64) {
        self.table_builds.fetch_add(1, Ordering::Relaxed);
        self.table_names
            .store(u64::try_from(names).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.table_revision.store(revision, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric; `cache_entries` is the cache's size now.
    pub(crate) fn render(&self, cache_entries: usize, ready: bool) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP switchyard_dns_requests_total DNS requests answered, by source, query type and response code.\n");
        out.push_str("# TYPE switchyard_dns_requests_total counter\n");
        for (source_index, source) in ["zone", "forward"].iter().enumerate() {
            for q in 0..QTYPE_SLOTS {
                let qname = QTYPES.get(q).map_or("other", |(_, n)| n);
                for r in 0..RCODE_SLOTS {
                    let value = load(&self.requests[source_index][q][r]);
                    if value == 0 {
                        continue;
                    }
                    let rname = RCODES.get(r).map_or("other", |(_, n)| n);
                    let _ = writeln!(
                        out,
                        "switchyard_dns_requests_total{{source=\"{source}\",qtype=\"{qname}\",rcode=\"{rname}\"}} {value}"
                    );
                }
            }
        }
        let counters = [
            (
                "switchyard_dns_cache_hits_total",
                "Upstream answers served from the cache.",
                load(&self.cache_hits),
            ),
            (
                "switchyard_dns_cache_misses_total",
                "Cache lookups that went upstream.",
                load(&self.cache_misses),
            ),
            (
                "switchyard_dns_upstream_errors_total",
                "Upstream exchanges that failed (timeout, I/O, bad reply).",
                load(&self.upstream_errors),
            ),
            (
                "switchyard_dns_upstream_tcp_retries_total",
                "Truncated upstream UDP replies retried over TCP.",
                load(&self.tcp_retries),
            ),
            (
                "switchyard_dns_recursion_refused_total",
                "Questions outside the cluster zone refused: the client is not allowed recursion.",
                load(&self.recursion_refused),
            ),
            (
                "switchyard_dns_upstream_over_cap_total",
                "Questions answered SERVFAIL: too many upstream queries in flight.",
                load(&self.upstream_over_cap),
            ),
            (
                "switchyard_dns_upstream_coalesced_total",
                "Questions that shared an identical upstream query already in flight.",
                load(&self.upstream_coalesced),
            ),
            (
                "switchyard_dns_table_builds_total",
                "Name tables built from cluster snapshots.",
                load(&self.table_builds),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out.push_str("# HELP switchyard_dns_rate_limited_total UDP responses held back by response-rate limiting, by action (drop, or slip: sent truncated).\n");
        out.push_str("# TYPE switchyard_dns_rate_limited_total counter\n");
        for (action, counter) in [
            ("drop", &self.rate_limited_dropped),
            ("slip", &self.rate_limited_slipped),
        ] {
            let _ = writeln!(
                out,
                "switchyard_dns_rate_limited_total{{action=\"{action}\"}} {}",
                load(counter)
            );
        }
        let gauges = [
            (
                "switchyard_dns_cache_entries",
                "Upstream answers held in the cache.",
                u64::try_from(cache_entries).unwrap_or(u64::MAX),
            ),
            (
                "switchyard_dns_table_names",
                "Owner names in the current name table.",
                load(&self.table_names),
            ),
            (
                "switchyard_dns_table_revision",
                "Cluster snapshot revision of the current name table.",
                load(&self.table_revision),
            ),
            (
                "switchyard_dns_ready",
                "1 once the first full cluster list has been served.",
                u64::from(ready),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let name = "switchyard_dns_upstream_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Duration of successful upstream exchanges.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", load(bucket));
        }
        let count = load(&self.latency_count);
        let sum = load(&self.latency_sum_micros) as f64 / 1_000_000.0;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
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
