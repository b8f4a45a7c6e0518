//! The status writer: one task that brings each probed Pod's status to what its worker wants,
//! through the `pods/status` subresource (strategic merge patch), only when the Pod does not
//! show it already.
//!
//! Workers [`StatusSink::submit`] a desired status (the newest replaces an unwritten older
//! one); the agent [`StatusSink::recheck`]s a Pod when its object changed (someone else may
//! have overwritten the status). The queue holds at most one entry per probed Pod. Each write
//! compares with the newest Pod it knows (the watch snapshot, or the answer of its own last
//! write while the snapshot has not caught up), so a write is never repeated for a stale view.
//! A failed write is retried a second later.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_watch::{ClusterState, ObjectKey};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use crate::status::{self, DesiredStatus};

/// Pause before a failed write is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Queue {
    desired: HashMap<ObjectKey, DesiredStatus>,
    dirty: BTreeSet<ObjectKey>,
}

/// Where workers hand their Pods' desired statuses; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusSink {
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
}

impl StatusSink {
    fn with_queue<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        let mut queue = match self.queue.lock() {
            Ok(queue) => queue,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut queue)
    }

    /// Sets what `key` should show and queues a write.
    pub(crate) fn submit(&self, key: ObjectKey, desired: DesiredStatus) {
        self.with_queue(|q| {
            q.desired.insert(key.clone(), desired);
            q.dirty.insert(key);
        });
        self.wake.notify_one();
    }

    /// Queues a comparison of `key` with what it should show (its object changed).
    pub(crate) fn recheck(&self, key: &ObjectKey) {
        let queued =
            self.with_queue(|q| q.desired.contains_key(key) && q.dirty.insert(key.clone()));
        if queued {
            self.wake.notify_one();
        }
    }

    /// Forgets `key` (no longer probed).
    pub(crate) fn forget(&self, key: &ObjectKey) {
        self.with_queue(|q| {
            q.desired.remove(key);
            q.dirty.remove(key);
        });
    }

    fn take_dirty(&self) -> Vec<(ObjectKey, DesiredStatus)> {
        self.with_queue(|q| {
            let keys = std::mem::take(&mut q.dirty);
            keys.into_iter()
                .filter_map(|k| q.desired.get(&k).cloned().map(|d| (k, d)))
                .collect()
        })
    }

    fn requeue(&self, key: ObjectKey) {
        self.with_queue(|q| {
            if q.desired.contains_key(&key) {
                q.dirty.insert(key);
            }
        });
    }
}

/// Runs the writer until the task is aborted.
pub(crate) async fn run(
    client: kube::Client,
    sink: StatusSink,
    snapshots: watch::Receiver<Arc<ClusterState>>,
    metrics: Arc<Metrics>,
) {
    // Per Pod: the resourceVersion our last patch was based on, and what it returned.
    let mut written: HashMap<ObjectKey, (String, Arc<Pod>)> = HashMap::new();
    let mut retry = false;
    loop {
        if retry {
            let _ = tokio::time::timeout(RETRY_AFTER, sink.wake.notified()).await;
        } else {
            sink.wake.notified().await;
        }
        retry = false;
        let batch = sink.take_dirty();
        if written.len() > 2 * batch.len() + 1024 {
            written.retain(|k, _| sink.with_queue(|q| q.desired.contains_key(k)));
        }
        for (key, desired) in batch {
            let snapshot = snapshots.borrow().clone();
            let Some(current) = snapshot.pods.get(&key) else {
                continue;
            };
            if current.metadata.uid.as_deref() != Some(desired.uid.as_str()) {
                continue;
            }
            let pod = status::newest(current, written.get(&key));
            let Some(patch) = status::patch(pod, &desired, jiff::Timestamp::now()) else {
                continue;
            };
            let api: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
            match api
                .patch_status(
                    &key.name,
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
            {
                Ok(result) => {
                    metrics.status_write(true);
                    let base = current
                        .metadata
                        .resource_version
                        .clone()
                        .unwrap_or_default();
                    written.insert(key, (base, Arc::new(result)));
                }
                Err(e) if cluster_watch::status_code(&e) == Some(404) => {
                    written.remove(&key);
                }
                Err(e) => {
                    metrics.status_write(false);
                    tracing::warn!(pod = %key, error = %e, "writing the Pod's status; retrying");
                    sink.requeue(key);
                    retry = true;
                }
            }
        }
    }
}
