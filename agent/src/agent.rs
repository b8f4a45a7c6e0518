//! [`NodeAgent`]: follows the watch snapshots, keeps one worker per probed Pod of this node,
//! and owns the status writer and the Event recorder.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use imbl::ordmap::DiffItem;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::error::AgentError;
use crate::events;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::worker::{self, PodWorker, Shared};
use crate::writer::{self, StatusSink};

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This node's name: Pods with this `spec.nodeName` are probed.
    pub node_name: String,
    /// Probes running at once, across every Pod (at least 1).
    pub max_probes_in_flight: usize,
    /// Pods probed at most; Pods beyond it wait (in name order) until others go.
    pub max_pods: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            node_name: String::new(),
            max_probes_in_flight: 128,
            max_pods: 5000,
        }
    }
}

/// The running agent. Dropping it stops every task.
#[derive(Debug)]
pub struct NodeAgent {
    metrics: Arc<Metrics>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl NodeAgent {
    /// Starts probing the Pods of `config.node_name` found in `snapshots` (a watch that
    /// includes Pods), writing through `client`.
    ///
    /// # Errors
    /// An empty node name, a zero cap, or an HTTP client that cannot be built.
    pub fn start(
        client: kube::Client,
        snapshots: watch::Receiver<Arc<ClusterState>>,
        config: AgentConfig,
    ) -> Result<NodeAgent, AgentError> {
        if config.node_name.is_empty() {
            return Err(AgentError::Config {
                field: "node name",
                reason: "must not be empty".into(),
            });
        }
        if config.max_probes_in_flight == 0 || config.max_pods == 0 {
            return Err(AgentError::Config {
                field: if config.max_pods == 0 {
                    "max pods"
                } else {
                    "max probes in flight"
                },
                reason: "must be at least 1".into(),
            });
        }
        let metrics = Arc::new(Metrics::new());
        let (events, recorder) =
            events::spawn(client.clone(), config.node_name.clone(), metrics.clone());
        let statuses = StatusSink::default();
        let shared = Arc::new(Shared {
            prober: Prober::new()?,
            permits: Arc::new(Semaphore::new(config.max_probes_in_flight)),
            metrics: metrics.clone(),
            events,
            statuses: statuses.clone(),
        });
        let writer = tokio::spawn(writer::run(
            client,
            statuses,
            snapshots.clone(),
            metrics.clone(),
        ));
        let manager = tokio::spawn(manage(shared, snapshots, config));
        Ok(NodeAgent {
            metrics,
            tasks: vec![manager, writer, recorder],
        })
    }

    /// The agent's metrics in the Prometheus text format 0.0.4.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }

    /// Stops probing and writing.
    pub async fn shutdown(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Whether the agent probes `pod` on `node`: bound to it, with an IP, not finished, not
/// being deleted.
pub(crate) fn probes(pod: &Pod, node: &str) -> bool {
    let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    on_node
        && worker::pod_ip(pod).is_some()
        && !matches!(phase, Some("Succeeded" | "Failed"))
        && pod.metadata.deletion_timestamp.is_none()
}

struct Probed {
    fingerprint: String,
    _worker: PodWorker,
}

async fn manage(
    shared: Arc<Shared>,
    mut snapshots: watch::Receiver<Arc<ClusterState>>,
    config: AgentConfig,
) {
    let mut workers: HashMap<ObjectKey, Probed> = HashMap::new();
    // Pods of this node left unprobed by the cap, started in name order as others go.
    let mut waiting: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut previous = Arc::new(ClusterState::default());
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.synced {
            for item in previous.pods.diff(&snapshot.pods) {
                let (key, pod) = match item {
                    DiffItem::Add(key, pod)
                    | DiffItem::Update {
                        new: (key, pod), ..
                    } => (key, Some(pod)),
                    DiffItem::Remove(key, _) => (key, None),
                };
                let wanted = pod.filter(|p| probes(p, &config.node_name));
                let Some(pod) = wanted else {
                    waiting.remove(key);
                    if workers.remove(key).is_some() {
                        shared.statuses.forget(key);
                    }
                    continue;
                };
                let fingerprint = worker::fingerprint(pod);
                match workers.get(key) {
                    Some(probed) if probed.fingerprint == fingerprint => {
                        shared.statuses.recheck(key);
                    }
                    Some(_) => start(&shared, &mut workers, key, pod, fingerprint),
                    None if workers.len() >= config.max_pods => {
                        if waiting.is_empty() {
                            tracing::warn!(max_pods = config.max_pods, pod = %key,
                                "too many Pods on this node; the rest wait until others go");
                        }
                        waiting.insert(key.clone());
                    }
                    None => start(&shared, &mut workers, key, pod, fingerprint),
                }
            }
            while workers.len() < config.max_pods {
                let Some(key) = waiting.pop_first() else {
                    break;
                };
                if let Some(pod) = snapshot.pods.get(&key)
                    && probes(pod, &config.node_name)
                {
                    start(&shared, &mut workers, &key, pod, worker::fingerprint(pod));
                }
            }
            shared.metrics.set_pods(workers.len());
            previous = snapshot;
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

fn start(
    shared: &Arc<Shared>,
    workers: &mut HashMap<ObjectKey, Probed>,
    key: &ObjectKey,
    pod: &Pod,
    fingerprint: String,
) {
    let worker = worker::spawn(shared.clone(), key.clone(), pod);
    workers.insert(
        key.clone(),
        Probed {
            fingerprint,
            _worker: worker,
        },
    );
}

#[cfg(test)]
mod tests;
