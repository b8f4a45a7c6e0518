//! Prometheus text exposition shared by both proxy modes.
//!
//! A data path keeps its own counters (plain atomics on its hot path) and implements
//! [`Collector`] to write them out; a [`Registry`] renders every registered collector into the
//! text format. [`Histogram`] is a fixed-bucket histogram for latencies. Rendering never blocks
//! the data path: collectors only read atomics or briefly lock a map of handles.
//!
//! This module never decides what to count; it only formats.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The kind of a metric family, as the `# TYPE` line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Bucketed distribution.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A text exposition being written: families (`# HELP`/`# TYPE`) followed by their samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family. Every sample written until the next `family` call must belong to it.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// Writes one sample `name{labels} value`; label values are escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                for c in val.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// Writes a whole histogram family's samples (`_bucket`, `_sum`, `_count`) for `hist`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], hist: &Histogram) {
        let snapshot = hist.snapshot();
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in hist.bounds.iter().zip(&snapshot.counts) {
            cumulative += count;
            let le = format_value(*bound);
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, snapshot.count as f64);
        self.sample(&format!("{name}_sum"), labels, snapshot.sum);
        self.sample(&format!("{name}_count"), labels, snapshot.count as f64);
    }

    /// The rendered text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn format_value(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if value.is_nan() {
        return "NaN".into();
    }
    format!("{value}")
}

/// Something that writes its metric families into an [`Exposition`].
pub trait Collector: Send + Sync {
    /// Appends this collector's families and samples.
    fn collect(&self, out: &mut Exposition);
}

/// The set of collectors one process exposes; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Registry {
    collectors: Arc<RwLock<Vec<Arc<dyn Collector>>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Registry").field("collectors", &n).finish()
    }
}

impl Registry {
    /// Adds a collector; it is rendered after those registered before it.
    pub fn register(&self, collector: Arc<dyn Collector>) {
        self.collectors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(collector);
    }

    /// Renders every collector in the Prometheus text format.
    pub fn render(&self) -> String {
        let collectors = self
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = Exposition::default();
        for collector in collectors {
            collector.collect(&mut out);
        }
        out.finish()
    }
}

/// Default latency bucket upper bounds, in seconds (1 ms … 30 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A lock-free fixed-bucket histogram (observations in seconds or any unit).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observations, in millionths of the unit.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A consistent-enough copy of a [`Histogram`]'s state.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Per-bucket (non-cumulative) counts, one per bound.
    pub counts: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations (including those above the last bound).
    pub count: u64,
}

impl Histogram {
    /// A histogram with these ascending upper bounds (`+Inf` is implicit).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation of `value` (negative values count as 0).
    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, value: Duration) {
        self.observe(value.as_secs_f64());
    }

    /// Reads the current state.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Collector for Fixed {
        fn collect(&self, out: &mut Exposition) {
            out.family("demo_total", "A demo\ncounter.", Kind::Counter);
            out.sample("demo_total", &[("service", "ns/a\"b\\")], 3.0);
            out.sample("demo_total", &[], 0.5);
        }
    }

    #[test]
    fn renders_families_and_escapes_labels() {
        let registry = Registry::default();
        registry.register(Arc::new(Fixed));
        let text = registry.render();
        assert_eq!(
            text,
            "# HELP demo_total A demo\\ncounter.\n# TYPE demo_total counter\n\
             demo_total{service=\"ns/a\\\"b\\\\\"} 3\ndemo_total 0.5\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        static BOUNDS: &[f64] = &[0.1, 1.0];
        let hist = Histogram::new(BOUNDS);
        hist.observe(0.05);
        hist.observe(0.5);
        hist.observe(7.0);
        let mut out = Exposition::default();
        out.histogram("lat_seconds", &[("mode", "x")], &hist);
        let text = out.finish();
        assert!(
            text.contains("lat_seconds_bucket{mode=\"x\",le=\"0.1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{mode=\"x\",le=\"1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{mode=\"x\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_sum{mode=\"x\"} 7.55\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_count{mode=\"x\"} 3\n"), "{text}");
    }
}
