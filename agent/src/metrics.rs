//! The agent's metrics in one prometheus-client registry: kubelet's prober metrics
//! (`prober_probe_total{probe_type,result}`, `prober_probe_duration_seconds{probe_type}`;
//! kubelet also labels them by Pod and container, which this agent leaves out so the series
//! stay bounded) and the agent's own `switchyard_agent_*`. Handles per label set are made once
//! and kept, so a probe run only bumps atomics.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::probe::{Outcome, ProbeKind};

/// Upper bounds (seconds) of the probe duration buckets.
const DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    probe_type: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    probe_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Why an Event was not written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unrecorded {
    /// The API serves no core/v1 Event.
    NotServed,
    /// The queue to the recorder was full.
    QueueFull,
    /// The API refused or failed the write.
    Failed,
}

/// Every metric of the agent.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// `[kind][result]`, kinds in [`ProbeKind::ALL`] order, results successful/failed/unknown.
    probes: [[Counter; 3]; 3],
    durations: [Histogram; 3],
    pods: Gauge<i64, AtomicI64>,
    unrecorded: [Counter; 3],
    writes: [Counter; 2],
}

fn kind_index(kind: ProbeKind) -> usize {
    match kind {
        ProbeKind::Readiness => 0,
        ProbeKind::Liveness => 1,
        ProbeKind::Startup => 2,
    }
}

impl Metrics {
    /// A registry with every series created (at zero).
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "prober_probe",
            "Cumulative number of a liveness, readiness or startup probe for a container by result",
            probes.clone(),
        );
        let durations = Family::<TypeLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        registry.register(
            "prober_probe_duration_seconds",
            "Duration in seconds for a probe response",
            durations.clone(),
        );
        let pods = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "switchyard_agent_pods_probed",
            "Pods on this node the agent probes",
            pods.clone(),
        );
        let unrecorded = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "switchyard_agent_events_unrecorded",
            "Probe Events the agent logged but could not write to the API, by reason",
            unrecorded.clone(),
        );
        let writes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "switchyard_agent_status_writes",
            "Pod status writes by result",
            writes.clone(),
        );
        let results = ["successful", "failed", "unknown"];
        let probe_counters = ProbeKind::ALL.map(|kind| {
            results.map(|result| {
                probes
                    .get_or_create(&ProbeLabels {
                        probe_type: kind.label(),
                        result,
                    })
                    .clone()
            })
        });
        Metrics {
            probes: probe_counters,
            durations: ProbeKind::ALL.map(|kind| {
                durations
                    .get_or_create(&TypeLabel {
                        probe_type: kind.label(),
                    })
                    .clone()
            }),
            pods,
            unrecorded: ["not_served", "queue_full", "failed"]
                .map(|reason| unrecorded.get_or_create(&ReasonLabel { reason }).clone()),
            writes: ["ok", "error"]
                .map(|result| writes.get_or_create(&ResultLabel { result }).clone()),
            registry,
        }
    }

    /// Counts one probe run and its duration.
    pub(crate) fn probed(&self, kind: ProbeKind, outcome: &Outcome, took: Duration) {
        let result = match outcome {
            Outcome::Success => 0,
            Outcome::Failure(_) => 1,
            Outcome::Unknown(_) => 2,
        };
        let k = kind_index(kind);
        self.probes[k][result].inc();
        self.durations[k].observe(took.as_secs_f64());
    }

    /// Sets the number of Pods probed.
    pub(crate) fn set_pods(&self, count: usize) {
        self.pods.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts an Event that was not written.
    pub(crate) fn unrecorded(&self, why: Unrecorded) {
        self.unrecorded[why as usize].inc();
    }

    /// Counts a status write.
    pub(crate) fn status_write(&self, ok: bool) {
        self.writes[usize::from(!ok)].inc();
    }

    /// The Prometheus text format 0.0.4 of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(error = %e, "encoding the agent's metrics");
        }
        text
    }
}
