//! The running controller: reflectors over ReplicationControllers, ReplicaSets and Pods feed
//! one [`WorkQueue`] of owner keys; each key is synced by reading the caches, deciding with
//! [`super::plan`] and [`super::status`], and writing through the API: adoptions and releases
//! (strategic-merge patches of `ownerReferences` with the Pod's uid as a precondition), creates
//! in slow-start batches, deletes, and the status subresource when it changed. One sync at a
//! time; no task per owner or Pod.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_watch::status_code;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Client, Resource, ResourceExt};

use super::SyncError;
use super::expectations::{Expectations, Seen};
use super::index::{OwnerIndex, PodFacts, PodIndex, owners_for_pod_event};
use super::owner::{Owner, OwnerKey, OwnerKind};
use super::plan::{self, Scale};
use super::prune::pod_for_replicas;
use super::status::{self, ManageError, ReplicaStatus};
use super::template::pod_for;
use crate::controllers::queue::WorkQueue;
use crate::controllers::reflect::{AbortOnDrop, reflect};

/// How soon an owner whose write met a conflict is synced again (the watch event that brings
/// the newer object also queues it).
const CONFLICT_RETRY: Duration = Duration::from_millis(100);

/// How soon an owner with unsettled expectations is looked at again, in case the event that
/// settles them never comes (they expire after [`super::expectations::EXPECTATIONS_TIMEOUT`]).
const EXPECTATIONS_RECHECK: Duration = Duration::from_secs(30);

/// The caches, indexes and bookkeeping a sync reads.
struct Context {
    client: Client,
    rcs: Store<ReplicationController>,
    rss: Store<ReplicaSet>,
    pods: Store<Pod>,
    pod_index: PodIndex,
    expectations: Expectations,
}

/// The cached owner object of either kind.
enum OwnerObject {
    Rc(Arc<ReplicationController>),
    Rs(Arc<ReplicaSet>),
}

impl OwnerObject {
    fn owner(&self) -> Result<Owner, SyncError> {
        match self {
            OwnerObject::Rc(rc) => Owner::from_rc(rc),
            OwnerObject::Rs(rs) => Owner::from_rs(rs),
        }
    }
}

/// A failed create or delete: what the status reports, and the error the sync returns.
struct ManageFailure {
    condition: ManageError,
    error: SyncError,
}

fn key_of<K: Resource>(kind: OwnerKind, obj: &K) -> OwnerKey {
    OwnerKey {
        kind,
        namespace: obj.meta().namespace.clone().unwrap_or_default(),
        name: obj.meta().name.clone().unwrap_or_default(),
    }
}

/// Takes in one owner event: the owner index and the queue.
fn on_owner_event<K: Resource>(
    kind: OwnerKind,
    view: fn(&K) -> Result<Owner, SyncError>,
    owners: &OwnerIndex,
    queue: &WorkQueue<OwnerKey>,
    event: Event<K>,
) {
    match event {
        Event::Apply(obj) => {
            match view(&obj) {
                Ok(owner) => owners.applied(&owner),
                Err(_) => owners.deleted(&key_of(kind, &obj)),
            }
            queue.add(key_of(kind, &obj));
        }
        Event::Delete(obj) => {
            let key = key_of(kind, &obj);
            owners.deleted(&key);
            queue.add(key);
        }
        Event::Init => owners.start_relist(kind),
        Event::InitApply(obj) => {
            if let Ok(owner) = view(&obj) {
                owners.relisted(&owner);
            }
            queue.add(key_of(kind, &obj));
        }
        Event::InitDone => owners.finish_relist(kind),
    }
}

/// Takes in one Pod event: the Pod index and the owners it concerns.
fn on_pod_event(
    pods: &PodIndex,
    owners: &OwnerIndex,
    queue: &WorkQueue<OwnerKey>,
    event: Event<Pod>,
) {
    match event {
        Event::Apply(pod) => {
            let before = pods.applied(&pod);
            let now = PodFacts::of(&pod);
            let ns = pod.namespace().unwrap_or_default();
            for key in owners_for_pod_event(owners, &ns, before.as_ref(), Some(&now)) {
                queue.add(key);
            }
        }
        Event::Delete(pod) => {
            let before = pods.deleted(&pod);
            let last = PodFacts::of(&pod);
            let ns = pod.namespace().unwrap_or_default();
            for key in owners_for_pod_event(owners, &ns, before.as_ref(), None)
                .into_iter()
                .chain(last.controller)
            {
                queue.add(key);
            }
        }
        Event::Init => pods.start_relist(),
        Event::InitApply(pod) => pods.relisted(&pod),
        Event::InitDone => {
            pods.finish_relist();
            // Events missed while the watch was down are covered by syncing every owner.
            for key in owners.all() {
                queue.add(key);
            }
        }
    }
}

/// Runs the controller until aborted.
pub(crate) async fn run(client: Client) {
    let queue: WorkQueue<OwnerKey> = WorkQueue::default();
    let owners = OwnerIndex::default();
    let pod_index = PodIndex::default();
    let (rc_owners, rc_queue) = (owners.clone(), queue.clone());
    let (rcs, rc_events) = reflect::<ReplicationController>(
        &client,
        "replicaset",
        |_| {},
        move |event| {
            on_owner_event(
                OwnerKind::ReplicationController,
                Owner::from_rc,
                &rc_owners,
                &rc_queue,
                event,
            )
        },
    );
    let (rs_owners, rs_queue) = (owners.clone(), queue.clone());
    let (rss, rs_events) = reflect::<ReplicaSet>(
        &client,
        "replicaset",
        |_| {},
        move |event| {
            on_owner_event(
                OwnerKind::ReplicaSet,
                Owner::from_rs,
                &rs_owners,
                &rs_queue,
                event,
            )
        },
    );
    let (pod_owners, pod_queue, pod_pods) = (owners.clone(), queue.clone(), pod_index.clone());
    let (pods, pod_events) =
        reflect::<Pod>(&client, "replicaset", pod_for_replicas, move |event| {
            on_pod_event(&pod_pods, &pod_owners, &pod_queue, event)
        });
    let events =
        futures::stream::select_all([rc_events.boxed(), rs_events.boxed(), pod_events.boxed()]);
    let drive = AbortOnDrop(tokio::spawn(
        events.for_each(|()| futures::future::ready(())),
    ));
    let ready = async {
        rcs.wait_until_ready().await?;
        rss.wait_until_ready().await?;
        pods.wait_until_ready().await
    };
    if ready.await.is_err() {
        tracing::error!("replicas controller: reflectors stopped before the first list");
        return;
    }
    tracing::info!("replicas controller: caches synced");
    let ctx = Context {
        client,
        rcs,
        rss,
        pods,
        pod_index,
        expectations: Expectations::default(),
    };
    loop {
        for key in queue.next_batch().await {
            match sync(&ctx, &key).await {
                Ok(None) => queue.done(&key),
                Ok(Some(after)) => {
                    queue.done(&key);
                    queue.requeue_after(key, after);
                }
                Err(error) if error.is_conflict() => {
                    tracing::debug!(owner = %key, %error, "conflict; syncing again");
                    queue.requeue_after(key, CONFLICT_RETRY);
                }
                Err(error) => {
                    tracing::warn!(owner = %key, %error, "sync failed; will retry");
                    queue.retry(key);
                }
            }
        }
        if drive.0.is_finished() {
            tracing::error!("replicas controller: event streams ended");
            return;
        }
    }
}

/// What the Pod cache holds under `name` in `namespace`.
fn seen(pods: &Store<Pod>, namespace: &str, name: &str) -> Seen {
    match pods.get(&ObjectRef::new(name).within(namespace)) {
        None => Seen::Absent,
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => Seen::Deleting,
        Some(_) => Seen::Present,
    }
}

/// Syncs one owner; returns when it should be synced again regardless of events.
async fn sync(ctx: &Context, key: &OwnerKey) -> Result<Option<Duration>, SyncError> {
    let object = match key.kind {
        OwnerKind::ReplicationController => ctx
            .rcs
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
            .map(OwnerObject::Rc),
        OwnerKind::ReplicaSet => ctx
            .rss
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
            .map(OwnerObject::Rs),
    };
    let Some(object) = object else {
        // Gone: its Pods are the garbage collector's.
        ctx.expectations.forget(key);
        return Ok(None);
    };
    let owner = match object.owner() {
        Ok(owner) => owner,
        Err(error) => {
            // As upstream: an owner that cannot be read as one (no uid, an invalid selector)
            // is left alone until it changes; retrying would not help.
            tracing::warn!(%error, "cannot sync");
            return Ok(None);
        }
    };
    let settled = ctx.expectations.satisfied(key, Instant::now(), |name| {
        seen(&ctx.pods, &key.namespace, name)
    });
    let cached: Vec<Arc<Pod>> = ctx
        .pod_index
        .names(&key.namespace)
        .iter()
        .filter_map(|name| ctx.pods.get(&ObjectRef::new(name).within(&key.namespace)))
        .collect();
    let all: Vec<&Pod> = cached.iter().map(|pod| &**pod).collect();
    let claim = plan::claim(&owner, &all);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let mut owned = claim.owned;
    if !claim.adopt.is_empty() && may_adopt(ctx, &owner).await? {
        for pod in claim.adopt {
            if adopt(&api, &owner, pod).await? {
                owned.push(pod);
            }
        }
    }
    for pod in claim.release {
        release(&api, &owner, pod).await?;
    }
    let failure = if settled && !owner.deleting {
        manage(ctx, &api, &owner, &owned).await.err()
    } else {
        None
    };
    let now = Timestamp::now();
    let desired = status::desired(&owner, &owned, failure.as_ref().map(|f| &f.condition), now);
    if desired != owner.status {
        write_status(ctx, &object, &owner, &desired).await?;
    }
    if let Some(failure) = failure {
        return Err(failure.error);
    }
    if !settled {
        return Ok(Some(EXPECTATIONS_RECHECK));
    }
    Ok(status::next_availability(&owner, &owned, now))
}

/// The API's message for a failed write (the `Status` message when the API answered).
fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn write_error(verb: &'static str, namespace: &str, name: &str, source: kube::Error) -> SyncError {
    SyncError::Write {
        verb,
        what: format!("Pod {namespace}/{name}"),
        source,
    }
}

/// Reads the owner fresh from the API before the first adoption, as upstream does, so an
/// owner deleted (or replaced by another of the same name) meanwhile adopts nothing.
async fn may_adopt(ctx: &Context, owner: &Owner) -> Result<bool, SyncError> {
    let key = &owner.key;
    let read = match key.kind {
        OwnerKind::ReplicationController => {
            Api::<ReplicationController>::namespaced(ctx.client.clone(), &key.namespace)
                .get_opt(&key.name)
                .await
                .map(|o| o.map(|o| o.metadata))
        }
        OwnerKind::ReplicaSet => Api::<ReplicaSet>::namespaced(ctx.client.clone(), &key.namespace)
            .get_opt(&key.name)
            .await
            .map(|o| o.map(|o| o.metadata)),
    };
    let meta = read.map_err(|source| SyncError::Write {
        verb: "read",
        what: key.to_string(),
        source,
    })?;
    Ok(meta.is_some_and(|m| {
        m.uid.as_deref() == Some(owner.uid.as_str()) && m.deletion_timestamp.is_none()
    }))
}

/// Adds `owner`'s controller ownerReference to the orphan `pod`; false when the Pod is gone or
/// is another Pod by now (the uid precondition failed).
async fn adopt(api: &Api<Pod>, owner: &Owner, pod: &Pod) -> Result<bool, SyncError> {
    let name = pod_name(pod);
    let reference = serde_json::to_value(owner.controller_ref()).unwrap_or_default();
    let patch = serde_json::json!({
        "metadata": {"ownerReferences": [reference], "uid": pod.metadata.uid}
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => {
            tracing::info!(owner = %owner.key, pod = %name, "adopted");
            Ok(true)
        }
        Err(e) if matches!(status_code(&e), Some(404 | 409 | 422)) => Ok(false),
        Err(e) => Err(write_error("adopt", &owner.key.namespace, &name, e)),
    }
}

/// Removes `owner`'s ownerReference from `pod`, which its selector no longer selects.
async fn release(api: &Api<Pod>, owner: &Owner, pod: &Pod) -> Result<(), SyncError> {
    let name = pod_name(pod);
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner.uid}],
            "uid": pod.metadata.uid,
        }
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => {
            tracing::info!(owner = %owner.key, pod = %name, "released");
            Ok(())
        }
        // Gone, replaced, or being deleted: nothing to release.
        Err(e) if matches!(status_code(&e), Some(404 | 409 | 422)) => Ok(()),
        Err(e) => Err(write_error("release", &owner.key.namespace, &name, e)),
    }
}

/// Creates or deletes Pods so that `owned` reaches `spec.replicas`.
async fn manage(
    ctx: &Context,
    api: &Api<Pod>,
    owner: &Owner,
    owned: &[&Pod],
) -> Result<(), ManageFailure> {
    match plan::scale(owner, owned) {
        Scale::Keep => Ok(()),
        Scale::Create(count) => create_pods(ctx, api, owner, count).await,
        Scale::Delete(names) => delete_pods(ctx, api, owner, owned, names).await,
    }
}

/// Creates `count` Pods in slow-start batches, stopping after a batch with a failure.
async fn create_pods(
    ctx: &Context,
    api: &Api<Pod>,
    owner: &Owner,
    count: usize,
) -> Result<(), ManageFailure> {
    let pod = pod_for(owner);
    let params = PostParams::default();
    for batch in plan::slow_start_batches(count) {
        let results =
            futures::future::join_all((0..batch).map(|_| api.create(&params, &pod))).await;
        let mut failed = None;
        for result in results {
            match result {
                Ok(created) => {
                    let name = pod_name(&created);
                    tracing::info!(owner = %owner.key, pod = %name, "created pod");
                    ctx.expectations.created(&owner.key, name, Instant::now());
                }
                Err(error) => {
                    failed.get_or_insert(error);
                }
            }
        }
        if let Some(error) = failed {
            return Err(ManageFailure {
                condition: ManageError {
                    reason: "FailedCreate",
                    message: api_message(&error),
                },
                error: write_error(
                    "create",
                    &owner.key.namespace,
                    &format!("{}-", owner.key.name),
                    error,
                ),
            });
        }
    }
    Ok(())
}

/// Deletes the Pods named in `names` (all at once, each with its uid as a precondition).
async fn delete_pods(
    ctx: &Context,
    api: &Api<Pod>,
    owner: &Owner,
    owned: &[&Pod],
    names: Vec<String>,
) -> Result<(), ManageFailure> {
    let uid_of = |name: &str| {
        owned
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .and_then(|p| p.metadata.uid.clone())
    };
    for name in &names {
        ctx.expectations
            .deleted(&owner.key, name.clone(), Instant::now());
    }
    let deletes = names.iter().map(|name| {
        let params = DeleteParams::default().preconditions(Preconditions {
            uid: uid_of(name),
            resource_version: None,
        });
        async move { (name, api.delete(name, &params).await) }
    });
    let mut failed = None;
    for (name, result) in futures::future::join_all(deletes).await {
        match result {
            Ok(_) => tracing::info!(owner = %owner.key, pod = %name, "deleted pod"),
            // Gone already, or another Pod by that name now: not ours to delete.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => {}
            Err(error) => {
                ctx.expectations.not_deleted(&owner.key, name);
                failed.get_or_insert((name.clone(), error));
            }
        }
    }
    match failed {
        None => Ok(()),
        Some((name, error)) => Err(ManageFailure {
            condition: ManageError {
                reason: "FailedDelete",
                message: api_message(&error),
            },
            error: write_error("delete", &owner.key.namespace, &name, error),
        }),
    }
}

/// Writes `desired` through the status subresource of the cached owner object.
async fn write_status(
    ctx: &Context,
    object: &OwnerObject,
    owner: &Owner,
    desired: &ReplicaStatus,
) -> Result<(), SyncError> {
    let key = &owner.key;
    let params = PostParams::default();
    let result = match object {
        OwnerObject::Rc(rc) => {
            let mut next = (**rc).clone();
            status::write_rc(&mut next, desired);
            Api::<ReplicationController>::namespaced(ctx.client.clone(), &key.namespace)
                .replace_status(&key.name, &params, &next)
                .await
                .map(drop)
        }
        OwnerObject::Rs(rs) => {
            let mut next = (**rs).clone();
            status::write_rs(&mut next, desired);
            Api::<ReplicaSet>::namespaced(ctx.client.clone(), &key.namespace)
                .replace_status(&key.name, &params, &next)
                .await
                .map(drop)
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(source) => Err(SyncError::Write {
            verb: "update status of",
            what: key.to_string(),
            source,
        }),
    }
}
