//! The running collector: one dynamic watch per watched kind folded into the [`Graph`] by one
//! task, and one worker that takes queued [`Job`]s and acts through the API. Work per job is
//! bounded (an orphaning pass makes at most [`MAX_WRITES_PER_JOB`] writes, an object's owners
//! are looked at up to [`MAX_OWNERS`]); a failed job comes back after a per-job backoff.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::absent::AbsentOwners;
use super::decide::{
    Action, ForegroundStep, MAX_WRITES_PER_JOB, OwnerState, decide, foreground_step, owner_kind,
};
use super::graph::{Graph, Node};
use super::writes::{self, resource_of};
use super::{GcError, Job};
use crate::controllers::metrics::counters;
use crate::controllers::queue::WorkQueue;
use crate::controllers::reflect::AbortOnDrop;
use crate::object::Kind;
use crate::store::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// The kinds watched: every kind the server serves, as kube-controller-manager's collector
/// watches every deletable resource, so that an `orphan` or `foregroundDeletion` finalizer on
/// any object is carried out. An owner of another kind (a custom resource) is still looked up
/// live when a dependent names it.
pub(crate) const WATCHED: [Kind; Kind::ALL.len()] = Kind::ALL;

/// The most owner references of one object that are looked up; an object naming more is left
/// alone (and logged), so one object cannot make the collector spend without bound.
pub(super) const MAX_OWNERS: usize = 64;

/// The pause before the next pass of an orphaning owner with more dependents than one pass
/// writes (the graph catches up with the first pass meanwhile).
const NEXT_PASS: Duration = Duration::from_millis(500);

/// What a watch reported, cut down to the graph's needs.
enum Seen {
    Applied(Node),
    Deleted(String),
    ListStart,
    Listed(Node),
    ListDone,
}

fn lock(graph: &Mutex<Graph>) -> MutexGuard<'_, Graph> {
    graph.lock().unwrap_or_else(|p| p.into_inner())
}

/// The watch of one kind, cluster-wide, as [`Seen`] events.
fn watch(client: &Client, kind: Kind) -> impl Stream<Item = (Kind, Seen)> + Send + 'static {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource_of(kind));
    watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .filter_map(move |event| {
            let seen = match event {
                Ok(Event::Apply(o)) => Node::from_meta(kind, &o.metadata).map(Seen::Applied),
                Ok(Event::Delete(o)) => o.metadata.uid.map(Seen::Deleted),
                Ok(Event::Init) => Some(Seen::ListStart),
                Ok(Event::InitApply(o)) => Node::from_meta(kind, &o.metadata).map(Seen::Listed),
                Ok(Event::InitDone) => Some(Seen::ListDone),
                Err(error) => {
                    tracing::warn!(%kind, %error, "garbage collector: watch failed; retrying");
                    None
                }
            };
            futures::future::ready(seen.map(|s| (kind, s)))
        })
}

/// Folds every watch into the graph and queues the jobs each change calls for.
async fn fold(
    events: impl Stream<Item = (Kind, Seen)>,
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue<Job>,
) {
    let mut listed = HashSet::new();
    let mut events = std::pin::pin!(events);
    while let Some((kind, seen)) = events.next().await {
        let jobs = {
            let mut graph = lock(&graph);
            let mut jobs = match seen {
                Seen::Applied(node) | Seen::Listed(node) => graph.observe(node),
                Seen::Deleted(uid) => graph.forget(&uid),
                Seen::ListStart => {
                    graph.relist_start(kind);
                    Vec::new()
                }
                Seen::ListDone => {
                    listed.insert(kind);
                    graph.relist_done(kind)
                }
            };
            if !graph.synced() && listed.len() == WATCHED.len() {
                jobs.extend(graph.mark_synced());
                tracing::info!(objects = graph.len(), "garbage collector: graph synced");
            }
            jobs
        };
        for job in jobs {
            queue.add(job);
        }
    }
}

/// Runs the collector until aborted.
pub(crate) async fn run(client: Client) {
    let graph = Arc::new(Mutex::new(Graph::default()));
    let queue = WorkQueue::<Job>::default();
    let events = futures::stream::select_all(WATCHED.map(|kind| watch(&client, kind).boxed()));
    let mut folding = AbortOnDrop(tokio::spawn(fold(
        events,
        Arc::clone(&graph),
        queue.clone(),
    )));
    let mut worker = Worker {
        client,
        graph,
        queue,
        absent: AbsentOwners::default(),
    };
    loop {
        let batch = tokio::select! {
            batch = worker.queue.next_batch() => batch,
            _ = &mut folding.0 => {
                tracing::error!("garbage collector: watches ended");
                return;
            }
        };
        for job in batch {
            match worker.work(&job).await {
                Ok(()) => worker.queue.done(&job),
                Err(error) => {
                    counters().gc_errors.inc();
                    tracing::warn!(%job, %error, "garbage collector: job failed; will retry");
                    worker.queue.retry(job);
                }
            }
        }
    }
}

/// The worker's state: the client, the shared graph, the queue and the absent-owner memory.
struct Worker {
    client: Client,
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue<Job>,
    absent: AbsentOwners,
}

impl Worker {
    async fn work(&mut self, job: &Job) -> Result<(), GcError> {
        match job {
            Job::AttemptDelete(uid) => self.attempt_delete(uid).await,
            Job::Orphan(uid) => self.orphan(uid).await,
            Job::Foreground(uid) => self.foreground(uid).await,
        }
    }

    /// Looks at the live object and each owner it names, then keeps it, drops references to
    /// gone or waiting owners, or deletes it ([`decide`]).
    async fn attempt_delete(&mut self, uid: &str) -> Result<(), GcError> {
        let item = lock(&self.graph).node(uid).cloned();
        let Some(item) = item else {
            return Ok(());
        };
        let id = &item.identity;
        let Some(latest) =
            writes::get(&self.client, id.kind, id.namespace.as_deref(), &id.name).await?
        else {
            return Ok(());
        };
        let meta = latest.metadata;
        if meta.uid.as_deref() != Some(uid) {
            return Ok(());
        }
        let finalizers = meta.finalizers.unwrap_or_default();
        if meta.deletion_timestamp.is_some() {
            if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                self.queue.add(Job::Foreground(uid.to_string()));
            }
            return Ok(());
        }
        let references = meta.owner_references.unwrap_or_default();
        if references.len() > MAX_OWNERS {
            tracing::warn!(object = %id, owners = references.len(), max = MAX_OWNERS,
                "garbage collector: too many owner references; object left alone");
            return Ok(());
        }
        let mut owners = Vec::with_capacity(references.len());
        for reference in references {
            let state = self
                .owner_state(&reference, id.namespace.as_deref())
                .await?;
            owners.push((reference, state));
        }
        let has_dependents = lock(&self.graph).has_dependents(uid);
        match decide(&owners, has_dependents, &finalizers) {
            Action::Keep => {}
            Action::DropOwners(uids) => {
                writes::drop_owners(&self.client, id, &uids).await?;
                counters().gc_references_removed.inc_by(uids.len() as u64);
                tracing::debug!(object = %id, owners = ?uids, "garbage collector: dropped references to owners that are gone or waiting");
            }
            Action::Delete(policy) => {
                writes::delete(&self.client, id, meta.resource_version, policy).await?;
                counters().gc_deletes.inc();
                tracing::info!(object = %id, policy = policy.as_str(), "garbage collector: deleted an object whose owners are gone");
            }
        }
        Ok(())
    }

    /// What a live GET shows of `owner`, named by a dependent in `namespace`.
    async fn owner_state(
        &mut self,
        owner: &OwnerReference,
        namespace: Option<&str>,
    ) -> Result<OwnerState, GcError> {
        if self.absent.contains(&owner.uid) {
            return Ok(OwnerState::Absent);
        }
        let Some(kind) = owner_kind(owner) else {
            tracing::debug!(api_version = %owner.api_version, kind = %owner.kind,
                "garbage collector: owner of a kind this server does not know; kept");
            return Ok(OwnerState::Present);
        };
        let namespace = match (kind.namespaced(), namespace) {
            (false, _) => None,
            (true, Some(ns)) => Some(ns),
            // A cluster-scoped dependent cannot have a namespaced owner.
            (true, None) => return Ok(OwnerState::Absent),
        };
        let state = match writes::get(&self.client, kind, namespace, &owner.name).await? {
            None => OwnerState::Absent,
            Some(found) if found.metadata.uid.as_deref() != Some(owner.uid.as_str()) => {
                OwnerState::Absent
            }
            Some(found)
                if found.metadata.deletion_timestamp.is_some()
                    && found
                        .metadata
                        .finalizers
                        .iter()
                        .flatten()
                        .any(|f| f == FOREGROUND_FINALIZER) =>
            {
                OwnerState::WaitingForDependents
            }
            Some(_) => OwnerState::Present,
        };
        if state == OwnerState::Absent {
            self.absent.insert(&owner.uid);
        }
        Ok(state)
    }

    /// An owner with `orphan`: drops its reference from its dependents, then the finalizer.
    async fn orphan(&mut self, uid: &str) -> Result<(), GcError> {
        let (owner, dependents) = {
            let graph = lock(&self.graph);
            (graph.node(uid).cloned(), graph.dependents_of(uid))
        };
        let Some(owner) = owner.filter(|o| o.orphaning) else {
            return Ok(());
        };
        let owner_uid = [uid.to_string()];
        for dependent in dependents.iter().take(MAX_WRITES_PER_JOB) {
            writes::drop_owners(&self.client, &dependent.identity, &owner_uid).await?;
            counters().gc_references_removed.inc();
        }
        if dependents.len() > MAX_WRITES_PER_JOB {
            self.queue
                .requeue_after(Job::Orphan(uid.to_string()), NEXT_PASS);
            return Ok(());
        }
        writes::remove_finalizer(&self.client, &owner.identity, ORPHAN_FINALIZER).await?;
        counters().gc_finalizers_removed.inc();
        tracing::info!(owner = %owner.identity, dependents = dependents.len(), "garbage collector: orphaned the dependents");
        Ok(())
    }

    /// An owner with `foregroundDeletion`: deletes its dependents, and removes the finalizer
    /// once none with `blockOwnerDeletion` remains.
    async fn foreground(&mut self, uid: &str) -> Result<(), GcError> {
        let (owner, dependents) = {
            let graph = lock(&self.graph);
            (graph.node(uid).cloned(), graph.dependents_of(uid))
        };
        let Some(owner) = owner.filter(|o| o.foreground) else {
            return Ok(());
        };
        match foreground_step(uid, &dependents) {
            ForegroundStep::RemoveFinalizer => {
                writes::remove_finalizer(&self.client, &owner.identity, FOREGROUND_FINALIZER)
                    .await?;
                counters().gc_finalizers_removed.inc();
                tracing::info!(owner = %owner.identity, "garbage collector: dependents gone; owner released");
            }
            ForegroundStep::Wait { delete } => {
                for dependent in delete {
                    self.queue.add(Job::AttemptDelete(dependent));
                }
            }
        }
        Ok(())
    }
}
