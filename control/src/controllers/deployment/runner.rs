//! The running Deployment controller: reflectors over Deployments and ReplicaSets feed a
//! [`WorkQueue`] of Deployment keys (a ReplicaSet event queues its controlling Deployment, or,
//! for an orphan, the Deployments of its namespace whose selector matches it); one loop syncs
//! one Deployment at a time ([`super::sync`]). Conflicts come back quickly, other failures
//! after a backoff; a rollout in progress comes back at its progress deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Client, Resource, ResourceExt};

use super::DeploymentKey;
use super::claim::controller_of;
use super::status::now_seconds;
use super::sync::{Outcome, sync};
use crate::controllers::queue::WorkQueue;
use crate::controllers::reflect::{AbortOnDrop, reflect};
use crate::selector::Selector;

/// How soon a Deployment whose write met newer state is synced again (the watch event that
/// brings the newer state usually queues it first).
const CONFLICT_RETRY: Duration = Duration::from_millis(100);

/// Progress-deadline rechecks, at most one waiting per Deployment: a later deadline waits for
/// the earlier wake-up (whose sync schedules the next), so a busy rollout does not pile up
/// sleeping tasks.
#[derive(Clone, Default)]
struct Rechecks(Arc<Mutex<HashMap<DeploymentKey, jiff::Timestamp>>>);

impl Rechecks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentKey, jiff::Timestamp>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `key` again just after `at`, unless an earlier wake-up is already waiting.
    fn schedule(&self, queue: &WorkQueue<DeploymentKey>, key: DeploymentKey, at: jiff::Timestamp) {
        {
            let mut waiting = self.lock();
            if waiting.get(&key).is_some_and(|earlier| *earlier <= at) {
                return;
            }
            waiting.insert(key.clone(), at);
        }
        let wait = Duration::try_from(jiff::Timestamp::now().duration_until(at))
            .unwrap_or_default()
            + Duration::from_secs(1);
        let (this, queue) = (self.clone(), queue.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            {
                let mut waiting = this.lock();
                if waiting.get(&key) == Some(&at) {
                    waiting.remove(&key);
                }
            }
            queue.add(key);
        });
    }
}

fn key_of<K: Resource>(obj: &K) -> DeploymentKey {
    DeploymentKey {
        namespace: obj.meta().namespace.clone().unwrap_or_default(),
        name: obj.meta().name.clone().unwrap_or_default(),
    }
}

/// The Deployments a ReplicaSet event concerns: its controller when that is a Deployment; for
/// an orphan, those of its namespace whose selector matches its labels (they may adopt it).
fn deployments_for(rs: &ReplicaSet, deployments: &Store<Deployment>) -> Vec<DeploymentKey> {
    let namespace = rs.namespace().unwrap_or_default();
    if let Some(owner) = controller_of(rs) {
        if owner.kind == "Deployment" && owner.api_version.starts_with("apps/") {
            return vec![DeploymentKey {
                namespace,
                name: owner.name.clone(),
            }];
        }
        return Vec::new();
    }
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|d| {
            d.spec
                .as_ref()
                .and_then(|s| Selector::from_label_selector(&s.selector).ok())
                .is_some_and(|s| !s.is_empty() && s.matches(&labels))
        })
        .map(|d| key_of(d.as_ref()))
        .collect()
}

/// Runs the controller until aborted.
pub(crate) async fn run(client: Client) {
    let queue: WorkQueue<DeploymentKey> = WorkQueue::default();
    let deployment_queue = queue.clone();
    let (deployments, deployment_events) = reflect::<Deployment>(
        &client,
        "deployment",
        cluster_watch::trim::bulk_metadata,
        move |event| match event {
            Event::Apply(d) | Event::Delete(d) | Event::InitApply(d) => {
                deployment_queue.add(key_of(&d));
            }
            Event::Init | Event::InitDone => {}
        },
    );
    let set_queue = queue.clone();
    let owners = deployments.clone();
    let (sets, set_events) = reflect::<ReplicaSet>(
        &client,
        "deployment",
        |rs: &mut ReplicaSet| rs.metadata.managed_fields = None,
        move |event| match event {
            Event::Apply(rs) | Event::Delete(rs) => {
                for key in deployments_for(&rs, &owners) {
                    set_queue.add(key);
                }
            }
            Event::Init | Event::InitApply(_) | Event::InitDone => {}
        },
    );
    let events = futures::stream::select_all([deployment_events.boxed(), set_events.boxed()]);
    let drive = AbortOnDrop(tokio::spawn(
        events.for_each(|()| futures::future::ready(())),
    ));
    if deployments.wait_until_ready().await.is_err() || sets.wait_until_ready().await.is_err() {
        tracing::error!("deployment controller: reflectors stopped before the first list");
        return;
    }
    tracing::info!("deployment controller: caches synced");
    let rechecks = Rechecks::default();
    for d in deployments.state() {
        queue.add(key_of(d.as_ref()));
    }
    loop {
        for key in queue.next_batch().await {
            let Some(d) = deployments.get(&ObjectRef::new(&key.name).within(&key.namespace)) else {
                queue.done(&key);
                continue;
            };
            let in_namespace: Vec<ReplicaSet> = sets
                .state()
                .iter()
                .filter(|rs| rs.namespace().as_deref() == Some(key.namespace.as_str()))
                .map(|rs| (**rs).clone())
                .collect();
            match sync(&client, &d, in_namespace, now_seconds()).await {
                Ok(Outcome::Done) => queue.done(&key),
                Ok(Outcome::RecheckAt(at)) => {
                    queue.done(&key);
                    rechecks.schedule(&queue, key, at);
                }
                Err(error) if error.is_conflict() => {
                    tracing::debug!(deployment = %key, %error, "newer state; retrying");
                    queue.requeue_after(key, CONFLICT_RETRY);
                }
                Err(error) => {
                    tracing::warn!(deployment = %key, %error, "sync failed; will retry");
                    queue.retry(key);
                }
            }
        }
        if drive.0.is_finished() {
            tracing::error!("deployment controller: event streams ended");
            return;
        }
    }
}
