//! Probe Events (`Warning`, reason `Unhealthy`, "Liveness probe failed: …" as kubelet words
//! them), written by one recorder task through a bounded queue.
//!
//! Like client-go's event recorder, a repeat of the same Event (same Pod, container, probe and
//! message) bumps `count` and `lastTimestamp` of the Event already written instead of writing
//! a new one. When the API does not store core/v1 Events (404, or 405 from a server that
//! lists them read-only), the Event is logged and counted in
//! `switchyard_agent_events_unrecorded_total{reason="not_served"}`, and the recorder asks the
//! API again a minute later. A full queue drops the Event (counted, `reason="queue_full"`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::{Metrics, Unrecorded};
use crate::probe::ProbeKind;

/// Events waiting for the recorder at most.
const QUEUE: usize = 1024;
/// Written Events remembered for counting repeats at most (forgotten all at once when full).
const REMEMBERED: usize = 4096;
/// How long the recorder trusts a 404 before asking the API again.
const NOT_SERVED_RETRY: Duration = Duration::from_secs(60);
/// The component named as the Events' source.
const COMPONENT: &str = "switchyard-agent";

/// A failed probe run, to be recorded.
#[derive(Debug, Clone)]
pub(crate) struct ProbeFailure {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub kind: ProbeKind,
    pub message: String,
}

/// Where probe failures are sent; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    tx: mpsc::Sender<ProbeFailure>,
    metrics: Arc<Metrics>,
}

impl EventSink {
    /// Queues `failure`; drops it (counted) when the queue is full.
    pub(crate) fn failed(&self, failure: ProbeFailure) {
        if self.tx.try_send(failure).is_err() {
            self.metrics.unrecorded(Unrecorded::QueueFull);
        }
    }
}

/// Starts the recorder task; it ends when every sink is dropped.
pub(crate) fn spawn(
    client: kube::Client,
    node: String,
    metrics: Arc<Metrics>,
) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let recorder = Recorder {
        client,
        node,
        metrics: metrics.clone(),
        written: HashMap::new(),
        not_served_until: None,
    };
    let task = tokio::spawn(recorder.run(rx));
    (EventSink { tx, metrics }, task)
}

type Key = (String, String, ProbeKind, String);

struct Recorder {
    client: kube::Client,
    node: String,
    metrics: Arc<Metrics>,
    /// Key → (Event name, count) of Events written.
    written: HashMap<Key, (String, i32)>,
    not_served_until: Option<Instant>,
}

impl Recorder {
    async fn run(mut self, mut rx: mpsc::Receiver<ProbeFailure>) {
        while let Some(failure) = rx.recv().await {
            self.record(failure).await;
        }
    }

    async fn record(&mut self, failure: ProbeFailure) {
        let message = format!("{} probe failed: {}", failure.kind.label(), failure.message);
        tracing::info!(pod = %format!("{}/{}", failure.namespace, failure.pod),
            container = %failure.container, %message, "probe failed");
        if self.not_served_until.is_some_and(|t| Instant::now() < t) {
            self.metrics.unrecorded(Unrecorded::NotServed);
            return;
        }
        let api: Api<Event> = Api::namespaced(self.client.clone(), &failure.namespace);
        let now = Time(jiff::Timestamp::now());
        let key: Key = (
            failure.uid.clone(),
            failure.container.clone(),
            failure.kind,
            failure.message.clone(),
        );
        if let Some((name, count)) = self.written.get(&key).cloned() {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": now});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.written.insert(key, (name, count + 1));
                    return;
                }
                // Gone (expired or deleted): write a new one below.
                Err(e) if cluster_watch::status_code(&e) == Some(404) => {
                    self.written.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "updating a probe Event");
                    self.metrics.unrecorded(Unrecorded::Failed);
                    return;
                }
            }
        }
        let name = format!(
            "{}.{:x}",
            failure.pod,
            jiff::Timestamp::now().as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(failure.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(failure.namespace.clone()),
                name: Some(failure.pod.clone()),
                uid: Some(failure.uid.clone()),
                field_path: Some(format!("spec.containers{{{}}}", failure.container)),
                ..ObjectReference::default()
            },
            reason: Some("Unhealthy".into()),
            message: Some(message),
            type_: Some("Warning".into()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: Some(self.node.clone()),
            }),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(self.node.clone()),
            ..Event::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                self.not_served_until = None;
                if self.written.len() >= REMEMBERED {
                    self.written.clear();
                }
                self.written.insert(key, (name, 1));
            }
            // 404: no such resource; 405: served read-only (listed for kubectl, not stored).
            Err(e) if matches!(cluster_watch::status_code(&e), Some(404 | 405)) => {
                if self.not_served_until.is_none() {
                    tracing::warn!(
                        "the API serves no core/v1 Events: probe failures are only logged and counted"
                    );
                }
                self.not_served_until = Some(Instant::now() + NOT_SERVED_RETRY);
                self.metrics.unrecorded(Unrecorded::NotServed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing a probe Event");
                self.metrics.unrecorded(Unrecorded::Failed);
            }
        }
    }
}
