//! The running scheduler: kube-rs reflectors over Pods and Nodes, a [`WorkQueue`] of Pod keys,
//! and one loop that takes one Pod at a time, decides ([`super::pick::decide`]) and writes the
//! result through the API: a `pods/binding`, or the `PodScheduled=False/Unschedulable`
//! condition when its message changed. Unschedulable Pods wait in a set and are queued again
//! when a Node changes or a Pod gives up its place. No task per Pod; the per-node totals are
//! kept from the Pod events ([`super::usage`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use cluster_watch::status_code;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;

use super::pick::{Decision, decide};
use super::prune::pod_for_scheduling;
use super::usage::{PodKey, Usage, placement_of};
use crate::admission::pod::DEFAULT_SCHEDULER;
use crate::controllers::queue::WorkQueue;
use crate::controllers::reflect::{AbortOnDrop, reflect};

/// Why one Pod could not be handled; it is retried after a backoff.
#[derive(Debug, thiserror::Error)]
enum ScheduleError {
    #[error("{what} pod {pod}: {source}")]
    Write {
        what: &'static str,
        pod: PodKey,
        #[source]
        source: kube::Error,
    },
}

/// State shared by the event handlers and the loop (locks never held across `.await`).
#[derive(Clone, Default)]
struct Shared {
    usage: Arc<Mutex<Usage>>,
    /// A relist's placements, swapped in whole when it ends.
    relist: Arc<Mutex<Option<Usage>>>,
    /// Pods no node fits, queued again when the cluster changes.
    waiting: Arc<Mutex<HashSet<PodKey>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn requeue_waiting(&self, queue: &WorkQueue<PodKey>) {
        for key in lock(&self.waiting).iter() {
            queue.add(key.clone());
        }
    }
}

/// Whether the Pod is this scheduler's to place: no node yet, our scheduler name, not being
/// deleted, not finished.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    spec.node_name.as_deref().is_none_or(str::is_empty)
        && spec.scheduler_name.as_deref().unwrap_or(DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Takes in one Pod event: the totals, the queue and the waiting set.
fn on_pod_event(shared: &Shared, queue: &WorkQueue<PodKey>, event: Event<Pod>) {
    match event {
        Event::Apply(pod) => {
            let freed = lock(&shared.usage).observe(&pod);
            let key = PodKey::of(&pod);
            if wants_scheduling(&pod) {
                queue.add(key);
            } else {
                lock(&shared.waiting).remove(&key);
            }
            if freed {
                shared.requeue_waiting(queue);
            }
        }
        Event::Delete(pod) => {
            let key = PodKey::of(&pod);
            lock(&shared.waiting).remove(&key);
            if lock(&shared.usage).remove(&key).is_some() {
                shared.requeue_waiting(queue);
            }
        }
        Event::Init => *lock(&shared.relist) = Some(Usage::default()),
        Event::InitApply(pod) => {
            if let Some(relist) = lock(&shared.relist).as_mut()
                && let Some(placement) = placement_of(&pod)
            {
                relist.place(PodKey::of(&pod), placement);
            }
            if wants_scheduling(&pod) {
                queue.add(PodKey::of(&pod));
            }
        }
        Event::InitDone => {
            if let Some(fresh) = lock(&shared.relist).take() {
                *lock(&shared.usage) = fresh;
            }
            shared.requeue_waiting(queue);
        }
    }
}

/// Runs the scheduler until aborted.
pub(super) async fn run(client: Client) {
    let queue: WorkQueue<PodKey> = WorkQueue::default();
    let shared = Shared::default();
    let (pod_shared, pod_queue) = (shared.clone(), queue.clone());
    let (pods, pod_events) =
        reflect::<Pod>(&client, "scheduler", pod_for_scheduling, move |event| {
            on_pod_event(&pod_shared, &pod_queue, event)
        });
    let (node_shared, node_queue) = (shared.clone(), queue.clone());
    let (nodes, node_events) = reflect::<Node>(
        &client,
        "scheduler",
        |node: &mut Node| node.metadata.managed_fields = None,
        move |event| {
            if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitDone) {
                node_shared.requeue_waiting(&node_queue);
            }
        },
    );
    let events = futures::stream::select_all([pod_events.boxed(), node_events.boxed()]);
    let drive = AbortOnDrop(tokio::spawn(
        events.for_each(|()| futures::future::ready(())),
    ));
    if pods.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
        tracing::error!("scheduler: reflectors stopped before the first list");
        return;
    }
    tracing::info!("scheduler: caches synced");
    loop {
        for key in queue.next_batch().await {
            match schedule_one(&client, &pods, &nodes, &shared, &key).await {
                Ok(()) => queue.done(&key),
                Err(error) => {
                    tracing::warn!(%error, "scheduling failed; will retry");
                    queue.retry(key);
                }
            }
        }
        if drive.0.is_finished() {
            tracing::error!("scheduler: event streams ended");
            return;
        }
    }
}

/// Decides for one Pod and writes the outcome.
async fn schedule_one(
    client: &Client,
    pods: &Store<Pod>,
    nodes: &Store<Node>,
    shared: &Shared,
    key: &PodKey,
) -> Result<(), ScheduleError> {
    let Some(pod) = pods.get(&ObjectRef::new(&key.name).within(&key.namespace)) else {
        lock(&shared.waiting).remove(key);
        return Ok(());
    };
    if !wants_scheduling(&pod) || lock(&shared.usage).is_placed(key) {
        lock(&shared.waiting).remove(key);
        return Ok(());
    }
    let mut candidates = nodes.state();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let decision = decide(&pod, &candidates, &lock(&shared.usage));
    let api: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
    match decision {
        Decision::Bind(node) => {
            bind(&api, &pod, key, &node).await?;
            lock(&shared.waiting).remove(key);
            let mut bound = (*pod).clone();
            if let Some(spec) = bound.spec.as_mut() {
                spec.node_name = Some(node.clone());
            }
            if let Some(placement) = placement_of(&bound) {
                // Counted now, before the watch shows the binding.
                lock(&shared.usage).place(key.clone(), placement);
            }
            tracing::info!(pod = %key, %node, "scheduled");
        }
        Decision::Unschedulable(message) => {
            lock(&shared.waiting).insert(key.clone());
            if scheduled_condition(&pod) != Some(("False", "Unschedulable", message.as_str())) {
                mark_unschedulable(&api, &pod, key, &message).await?;
                tracing::info!(pod = %key, %message, "unschedulable");
            }
        }
    }
    Ok(())
}

/// The Pod's `PodScheduled` condition as (status, reason, message).
fn scheduled_condition(pod: &Pod) -> Option<(&str, &str, &str)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some((
        c.status.as_str(),
        c.reason.as_deref().unwrap_or_default(),
        c.message.as_deref().unwrap_or_default(),
    ))
}

async fn bind(api: &Api<Pod>, pod: &Pod, key: &PodKey, node: &str) -> Result<(), ScheduleError> {
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Node".to_string()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    };
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &key.name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => Ok(()),
        // Bound meanwhile (or gone): the watch event settles it.
        Err(e) if matches!(status_code(&e), Some(404 | 409)) => Ok(()),
        Err(source) => Err(ScheduleError::Write {
            what: "binding",
            pod: key.clone(),
            source,
        }),
    }
}

async fn mark_unschedulable(
    api: &Api<Pod>,
    pod: &Pod,
    key: &PodKey,
    message: &str,
) -> Result<(), ScheduleError> {
    let mut condition = serde_json::json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
    });
    if scheduled_condition(pod).is_none_or(|(status, _, _)| status != "False") {
        condition["lastTransitionTime"] = serde_json::json!(
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        );
    }
    let patch = serde_json::json!({"status": {"conditions": [condition]}});
    match api
        .patch_status(&key.name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(source) => Err(ScheduleError::Write {
            what: "status of",
            pod: key.clone(),
            source,
        }),
    }
}
