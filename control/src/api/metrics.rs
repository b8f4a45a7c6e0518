//! Prometheus text exposition of the API and the store: requests by verb, resource and code,
//! open watches, the current resourceVersion, objects per kind, commit batch sizes and commit
//! latency.
//!
//! Counting only; never blocks a request for longer than a counter update.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::object::Kind;
use crate::store::{BATCH_BUCKETS, LATENCY_BUCKETS, Store};

/// Upper bounds of the request-latency histogram buckets, in seconds.
const REQUEST_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// One verb's request-latency histogram.
#[derive(Debug, Default, Clone)]
struct Latency {
    buckets: [u64; REQUEST_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The API's request counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Latency>>,
    watches: AtomicI64,
    watches_total: AtomicU64,
}

/// Decrements the open-watch gauge when the watch stream ends.
#[derive(Debug)]
pub(crate) struct WatchGuard<'a>(&'a Metrics);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.watches.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts one finished request.
    pub(crate) fn request(&self, verb: &'static str, resource: &str, code: u16) {
        let mut map = match self.requests.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        *map.entry((verb, resource.to_string(), code)).or_default() += 1;
    }

    /// Records how long a (non-watch) request took to answer.
    pub(crate) fn latency(&self, verb: &'static str, seconds: f64) {
        let mut map = match self.latency.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = map.entry(verb).or_default();
        if let Some(i) = REQUEST_BUCKETS.iter().position(|b| seconds <= *b) {
            entry.buckets[i] += 1;
        }
        entry.count += 1;
        entry.sum += seconds;
    }

    /// Counts an opened watch until the guard drops.
    pub(crate) fn watch_opened(&self) -> WatchGuard<'_> {
        self.watches.fetch_add(1, Ordering::Relaxed);
        self.watches_total.fetch_add(1, Ordering::Relaxed);
        WatchGuard(self)
    }

    /// Open watch streams now.
    pub(crate) fn open_watches(&self) -> i64 {
        self.watches.load(Ordering::Relaxed)
    }

    /// Renders every metric in the Prometheus text format.
    pub(crate) fn render(&self, store: &Store) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP switchyard_apiserver_requests_total API requests by verb, resource and HTTP code.\n\
             # TYPE switchyard_apiserver_requests_total counter\n",
        );
        {
            let map = match self.requests.lock() {
                Ok(m) => m,
                Err(poisoned) => poisoned.into_inner(),
            };
            for ((verb, resource, code), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "switchyard_apiserver_requests_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP switchyard_apiserver_request_duration_seconds Time to answer a request (watches excluded), by verb.\n\
             # TYPE switchyard_apiserver_request_duration_seconds histogram\n",
        );
        {
            let map = match self.latency.lock() {
                Ok(m) => m.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            for (verb, l) in &map {
                let mut cumulative = 0;
                for (bound, n) in REQUEST_BUCKETS.iter().zip(&l.buckets) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "switchyard_apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = write!(
                    out,
                    "switchyard_apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"+Inf\"}} {count}\n\
                     switchyard_apiserver_request_duration_seconds_sum{{verb=\"{verb}\"}} {sum}\n\
                     switchyard_apiserver_request_duration_seconds_count{{verb=\"{verb}\"}} {count}\n",
                    count = l.count,
                    sum = l.sum
                );
            }
        }
        let _ = write!(
            out,
            "# HELP switchyard_apiserver_watches Open watch streams.\n\
             # TYPE switchyard_apiserver_watches gauge\n\
             switchyard_apiserver_watches {}\n\
             # HELP switchyard_apiserver_watches_total Watch streams opened.\n\
             # TYPE switchyard_apiserver_watches_total counter\n\
             switchyard_apiserver_watches_total {}\n",
            self.open_watches(),
            self.watches_total.load(Ordering::Relaxed)
        );
        let snapshot = store.snapshot();
        let _ = write!(
            out,
            "# HELP switchyard_store_resource_version The newest committed resourceVersion.\n\
             # TYPE switchyard_store_resource_version gauge\n\
             switchyard_store_resource_version {}\n\
             # HELP switchyard_store_objects Stored objects by kind.\n\
             # TYPE switchyard_store_objects gauge\n",
            snapshot.revision
        );
        for kind in Kind::ALL {
            let _ = writeln!(
                out,
                "switchyard_store_objects{{kind=\"{}\"}} {}",
                kind.name(),
                snapshot.of_kind(kind).len()
            );
        }
        let m = store.metrics();
        out.push_str(
            "# HELP switchyard_store_commit_batch_size Requests committed per transaction.\n\
             # TYPE switchyard_store_commit_batch_size histogram\n",
        );
        let mut cumulative = 0;
        for (bound, count) in BATCH_BUCKETS.iter().zip(&m.batch_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "switchyard_store_commit_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let commits = m.commits.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "switchyard_store_commit_batch_size_bucket{{le=\"+Inf\"}} {commits}\n\
             switchyard_store_commit_batch_size_sum {}\n\
             switchyard_store_commit_batch_size_count {commits}\n",
            m.committed_requests.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP switchyard_store_commit_duration_seconds Time to commit one transaction durably.\n\
             # TYPE switchyard_store_commit_duration_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&m.latency_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "switchyard_store_commit_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = write!(
            out,
            "switchyard_store_commit_duration_seconds_bucket{{le=\"+Inf\"}} {commits}\n\
             switchyard_store_commit_duration_seconds_sum {}\n\
             switchyard_store_commit_duration_seconds_count {commits}\n\
             # HELP switchyard_store_commit_failures_total Commits that failed.\n\
             # TYPE switchyard_store_commit_failures_total counter\n\
             switchyard_store_commit_failures_total {}\n",
            m.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            m.commit_failures.load(Ordering::Relaxed)
        );
        out
    }
}
