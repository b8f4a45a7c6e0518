//! The running EndpointSlice / Endpoints controller: reflectors over Services, Pods,
//! EndpointSlices and Endpoints feed a [`WorkQueue`] of Service keys; each key is reconciled by
//! computing the desired state with the pure functions of [`super::endpoint_slices`] and
//! [`super::endpoints_mirror`] and writing only the differences through the API. Conflicts and
//! failures requeue the key. Slices not labelled as managed by these controllers are never
//! touched.

use std::collections::BTreeMap;
use std::sync::Arc;

use cluster_watch::status_code;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use rand::Rng;
use serde::de::DeserializeOwned;

use super::cache_index::{
    PodIndex, ServiceIndex, SliceIndex, pod_terms, service_terms, slice_terms,
};
use super::endpoint_slices::{
    CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SlicePlan, desired_slices, plan,
    selects_pods,
};
use super::endpoints_mirror::{
    MIRROR_CONTROLLER_NAME, SKIP_MIRROR_LABEL, endpoints_differ, endpoints_for, mirror_slices,
};
use super::metrics::counters;
use super::prune;
use super::queue::{ServiceKey, WorkQueue};
use super::reflect::AbortOnDrop;
use super::tracker::SliceTracker;
use crate::selector::Selector;

/// How soon a key whose cache lags the controller's own writes is looked at again (the watch
/// event that catches the cache up also queues it).
const STALE_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The reflector caches the controller reads, and the indexes kept beside them.
#[derive(Clone)]
struct Caches {
    services: Store<Service>,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
    endpoints: Store<Endpoints>,
    /// Pods by namespace and label, fed by the Pod reflector's events.
    pod_index: PodIndex,
    /// Slices by Service, fed by the EndpointSlice reflector's events.
    slice_index: SliceIndex,
    /// The controller's own slice writes the caches may not show yet.
    tracker: Arc<SliceTracker>,
}

/// Why one reconcile failed; the key is retried.
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("the cache does not show this controller's last EndpointSlice writes yet")]
    StaleCache,
    #[error("{verb} {kind} {namespace}/{name}: {source}")]
    Write {
        verb: &'static str,
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What happened to an object, as the `keys` function of [`reflect`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Created or updated.
    Applied,
    /// Deleted.
    Deleted,
    /// Seen in a (re)list; its Service keys are not enqueued (the first list enqueues every
    /// Service at once).
    Listed,
    /// A (re)list began; the objects it lists follow as [`Change::Listed`].
    ListStart,
    /// A (re)list ended.
    ListDone,
}

/// Starts one reflector for `K`; `prune` cuts each object down to what the controller reads
/// before it is cached, `keys` maps each event to the Service keys it affects (`None` for
/// [`Change::ListStart`] and [`Change::ListDone`]).
fn reflect<K>(
    client: &Client,
    queue: WorkQueue,
    prune: fn(&mut K),
    mut keys: impl FnMut(Option<&K>, Change) -> Vec<ServiceKey> + Send + 'static,
) -> (Store<K>, impl Stream<Item = ()> + Send + 'static)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(prune)
        .reflect(writer)
        .map(move |item| match item {
            Ok(Event::Apply(obj)) => {
                for key in keys(Some(&obj), Change::Applied) {
                    queue.add(key);
                }
            }
            Ok(Event::Delete(obj)) => {
                for key in keys(Some(&obj), Change::Deleted) {
                    queue.add(key);
                }
            }
            Ok(Event::InitApply(obj)) => {
                keys(Some(&obj), Change::Listed);
            }
            Ok(Event::InitDone) => {
                keys(None, Change::ListDone);
            }
            Ok(Event::Init) => {
                keys(None, Change::ListStart);
            }
            Err(error) => {
                tracing::warn!(kind = K::kind(&()).as_ref(), %error, "watch failed; retrying");
            }
        });
    (store, stream)
}

fn key_of(namespace: Option<String>, name: String) -> ServiceKey {
    ServiceKey {
        namespace: namespace.unwrap_or_default(),
        name,
    }
}

fn label<'a, K: Resource>(obj: &'a K, key: &str) -> Option<&'a str> {
    obj.meta().labels.as_ref()?.get(key).map(String::as_str)
}

fn enqueue_all(caches: &Caches, queue: &WorkQueue) {
    for svc in caches.services.state() {
        queue.add(key_of(svc.namespace(), svc.name_any()));
    }
    for ep in caches.endpoints.state() {
        queue.add(key_of(ep.namespace(), ep.name_any()));
    }
    for slice in caches.slices.state() {
        if let Some(name) = label(slice.as_ref(), SERVICE_NAME_LABEL) {
            queue.add(key_of(slice.namespace(), name.to_string()));
        }
    }
}

/// Which Services a Pod event concerns: those in the Pod's namespace whose selector matches the
/// Pod's labels now or matched the labels it had before (so a Pod that stops matching leaves
/// its old Services' slices), not every selector Service of the namespace. Candidates come from
/// the Service index (by the Pod's label pairs), not a scan of every Service. The labels a Pod
/// had are the ones the Pod index filed it under, read before this event is filed.
struct PodServices {
    services: Store<Service>,
    index: ServiceIndex,
    pods: PodIndex,
}

impl PodServices {
    fn new(services: Store<Service>, index: ServiceIndex, pods: PodIndex) -> PodServices {
        PodServices {
            services,
            index,
            pods,
        }
    }

    /// Files the event in the Pod index and returns the Services it concerns (none for the
    /// events of a relist: its end queues nothing, as before).
    fn observe(&mut self, pod: Option<&Pod>, change: Change) -> Vec<ServiceKey> {
        let event = pod.filter(|_| matches!(change, Change::Applied | Change::Deleted));
        let ns = pod.and_then(|pod| pod.namespace()).unwrap_or_default();
        let before = event.and_then(|pod| self.pods.labels_of(&ns, &pod.name_any()));
        self.pods.observe(pod, change, pod_terms);
        let Some(pod) = event else {
            return Vec::new();
        };
        let now = pod.metadata.labels.clone().unwrap_or_default();
        let mut names = self.index.candidates(&ns, &now);
        if let Some(before) = &before {
            names.extend(self.index.candidates(&ns, before));
        }
        names
            .into_iter()
            .filter_map(|name| self.services.get(&ObjectRef::new(&name).within(&ns)))
            .filter(|s| selects_pods(s))
            .filter(|s| {
                // The same matching rule as the reconcile's (`Selector::from_map`).
                let Some(map) = s.spec.as_ref().and_then(|spec| spec.selector.as_ref()) else {
                    return false;
                };
                let selector = Selector::from_map(map);
                selector.matches(&now) || before.as_ref().is_some_and(|b| selector.matches(b))
            })
            .map(|s| key_of(s.namespace(), s.name_any()))
            .collect()
    }
}

/// Runs the controller until aborted.
pub(super) async fn run(client: Client) {
    let queue = WorkQueue::default();
    let service_index = ServiceIndex::default();
    let feed_services = service_index.clone();
    let (services, service_events) = reflect::<Service>(
        &client,
        queue.clone(),
        cluster_watch::trim::bulk_metadata,
        move |svc, change| {
            feed_services.observe(svc, change, service_terms);
            svc.map(|svc| vec![key_of(svc.namespace(), svc.name_any())])
                .unwrap_or_default()
        },
    );
    let pod_index = PodIndex::default();
    let mut pod_services =
        PodServices::new(services.clone(), service_index.clone(), pod_index.clone());
    let (pods, pod_events) = reflect::<Pod>(
        &client,
        queue.clone(),
        prune::pod_for_endpoints,
        move |pod, change| pod_services.observe(pod, change),
    );
    let slice_index = SliceIndex::default();
    let feed_slices = slice_index.clone();
    let (slices, slice_events) = reflect::<EndpointSlice>(
        &client,
        queue.clone(),
        |_| {},
        move |slice, change| {
            feed_slices.observe(slice, change, slice_terms);
            let Some(slice) = slice else {
                return Vec::new();
            };
            let managed = matches!(
                label(slice, MANAGED_BY_LABEL),
                Some(CONTROLLER_NAME | MIRROR_CONTROLLER_NAME)
            );
            match label(slice, SERVICE_NAME_LABEL) {
                Some(name) if managed => vec![key_of(slice.namespace(), name.to_string())],
                _ => Vec::new(),
            }
        },
    );
    let (endpoints, endpoint_events) = reflect::<Endpoints>(
        &client,
        queue.clone(),
        |_| {},
        |ep, _| {
            ep.map(|ep| vec![key_of(ep.namespace(), ep.name_any())])
                .unwrap_or_default()
        },
    );
    let caches = Caches {
        services,
        pods,
        slices,
        endpoints,
        pod_index,
        slice_index,
        tracker: Arc::new(SliceTracker::default()),
    };
    let events = futures::stream::select_all([
        service_events.boxed(),
        pod_events.boxed(),
        slice_events.boxed(),
        endpoint_events.boxed(),
    ]);
    // The event streams run in their own task, aborted with this one (dropping the guard).
    let drive = AbortOnDrop(tokio::spawn(
        events.for_each(|()| futures::future::ready(())),
    ));
    let ready = async {
        caches.services.wait_until_ready().await?;
        caches.pods.wait_until_ready().await?;
        caches.slices.wait_until_ready().await?;
        caches.endpoints.wait_until_ready().await
    };
    if ready.await.is_err() {
        tracing::error!("endpointslice controller: reflectors stopped before the first list");
        return;
    }
    // The indexes take in each list right after their stores (in the same event).
    service_index.wait_until_listed().await;
    caches.pod_index.wait_until_listed().await;
    caches.slice_index.wait_until_listed().await;
    tracing::info!("endpointslice controller: caches synced");
    enqueue_all(&caches, &queue);
    let client = Arc::new(client);
    loop {
        for key in queue.next_batch().await {
            match reconcile(&client, &caches, &key).await {
                Ok(()) => {
                    counters().reconciles.inc();
                    queue.done(&key);
                }
                Err(ReconcileError::StaleCache) => {
                    counters().stale_retries.inc();
                    tracing::debug!(service = %key, "cache behind own writes; retrying");
                    queue.requeue_after(key, STALE_RETRY);
                }
                Err(error) => {
                    counters().reconcile_errors.inc();
                    tracing::warn!(service = %key, %error, "reconcile failed; will retry");
                    queue.retry(key);
                }
            }
        }
        if drive.0.is_finished() {
            tracing::error!("endpointslice controller: event streams ended");
            return;
        }
    }
}

/// Brings one Service's slices and Endpoints in line with its selector and Pods, or mirrors its
/// Endpoints when it has no selector.
async fn reconcile(
    client: &Client,
    caches: &Caches,
    key: &ServiceKey,
) -> Result<(), ReconcileError> {
    let svc = caches
        .services
        .get(&ObjectRef::new(&key.name).within(&key.namespace));
    let managed = service_slices(caches, key);
    if caches.tracker.is_stale(key, &managed) {
        return Err(ReconcileError::StaleCache);
    }
    let by = |who: &str| -> Vec<EndpointSlice> {
        managed
            .iter()
            .filter(|s| label(s.as_ref(), MANAGED_BY_LABEL) == Some(who))
            .map(|s| (**s).clone())
            .collect()
    };
    let ours = by(CONTROLLER_NAME);
    let mirrored = by(MIRROR_CONTROLLER_NAME);
    let stored_ep = caches
        .endpoints
        .get(&ObjectRef::new(&key.name).within(&key.namespace));
    let slices_api: Api<EndpointSlice> = Api::namespaced(client.clone(), &key.namespace);
    let endpoints_api: Api<Endpoints> = Api::namespaced(client.clone(), &key.namespace);
    let Some(svc) = svc else {
        // Service deleted: its slices go (there is no garbage collector), and so does the
        // Endpoints object a controller wrote for it.
        let delete_all = SlicePlan {
            delete: ours
                .iter()
                .chain(&mirrored)
                .filter_map(|s| s.metadata.name.clone())
                .collect(),
            ..SlicePlan::default()
        };
        apply(&slices_api, &caches.tracker, key, delete_all).await?;
        if let Some(ep) = stored_ep
            && label(ep.as_ref(), SKIP_MIRROR_LABEL) == Some("true")
            && key.name != "kubernetes"
        {
            delete(&endpoints_api, "Endpoints", key, &key.name).await?;
        }
        return Ok(());
    };
    if selects_pods(&svc) {
        let desired = desired_slices(&svc, &candidate_pods(caches, &svc, key));
        let mut changes = plan(&desired, &ours);
        changes
            .delete
            .extend(mirrored.iter().filter_map(|s| s.metadata.name.clone()));
        apply(&slices_api, &caches.tracker, key, changes).await?;
        let want = endpoints_for(&svc, &desired);
        match stored_ep {
            None => {
                create_named(&endpoints_api, key, want).await?;
                counters().endpoints_written.inc();
            }
            Some(stored) if endpoints_differ(&want, &stored) => {
                let mut next = (*stored).clone();
                next.subsets = want.subsets;
                let labels = next.metadata.labels.get_or_insert_with(Default::default);
                labels.extend(want.metadata.labels.into_iter().flatten());
                replace(&endpoints_api, "Endpoints", key, next).await?;
                counters().endpoints_written.inc();
            }
            Some(_) => {}
        }
    } else {
        let desired = match &stored_ep {
            Some(ep) => mirror_slices(&svc, ep),
            None => Vec::new(),
        };
        let mut changes = plan(&desired, &mirrored);
        changes
            .delete
            .extend(ours.iter().filter_map(|s| s.metadata.name.clone()));
        apply(&slices_api, &caches.tracker, key, changes).await?;
    }
    Ok(())
}

/// The cached slices labelled for `key`'s Service, found through the slice index and checked
/// against the label as the cache shows it.
fn service_slices(caches: &Caches, key: &ServiceKey) -> Vec<Arc<EndpointSlice>> {
    caches
        .slice_index
        .names(&key.namespace, &key.name)
        .into_iter()
        .filter_map(|name| {
            caches
                .slices
                .get(&ObjectRef::new(&name).within(&key.namespace))
        })
        .filter(|s| label(s.as_ref(), SERVICE_NAME_LABEL) == Some(key.name.as_str()))
        .collect()
}

/// The cached Pods of `key`'s namespace that may match `svc`'s selector (a superset: the Pod
/// index's smallest posting list); [`desired_slices`] checks each with the selector.
fn candidate_pods(caches: &Caches, svc: &Service, key: &ServiceKey) -> Vec<Arc<Pod>> {
    let empty = BTreeMap::new();
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .unwrap_or(&empty);
    caches
        .pod_index
        .candidates(&key.namespace, selector)
        .into_iter()
        .filter_map(|name| {
            caches
                .pods
                .get(&ObjectRef::new(&name).within(&key.namespace))
        })
        .collect()
}

fn write_error(
    verb: &'static str,
    kind: &'static str,
    key: &ServiceKey,
    name: &str,
    source: kube::Error,
) -> ReconcileError {
    ReconcileError::Write {
        verb,
        kind,
        namespace: key.namespace.clone(),
        name: name.to_string(),
        source,
    }
}

/// A random 5-character suffix, as generateName uses.
fn suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

async fn apply(
    api: &Api<EndpointSlice>,
    tracker: &SliceTracker,
    key: &ServiceKey,
    changes: SlicePlan,
) -> Result<(), ReconcileError> {
    if changes.is_empty() {
        return Ok(());
    }
    tracing::debug!(
        service = %key,
        create = changes.create.len(),
        update = changes.update.len(),
        delete = changes.delete.len(),
        "endpointslice writes"
    );
    for slice in changes.update {
        let written = replace(api, "EndpointSlice", key, slice).await?;
        counters().slices_updated.inc();
        if let Some(name) = &written.metadata.name {
            tracker.wrote(key, name, written.metadata.resource_version.clone());
        }
    }
    for mut slice in changes.create {
        let base = slice
            .metadata
            .generate_name
            .clone()
            .unwrap_or_else(|| format!("{}-", key.name));
        // Name it ourselves (generateName semantics), retrying on the rare clash.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let name = format!("{base}{}", suffix());
            slice.metadata.name = Some(name.clone());
            match api.create(&PostParams::default(), &slice).await {
                Ok(created) => {
                    counters().slices_created.inc();
                    tracker.wrote(key, &name, created.metadata.resource_version);
                    break;
                }
                Err(e) if status_code(&e) == Some(409) && attempt < 5 => continue,
                Err(e) => return Err(write_error("create", "EndpointSlice", key, &name, e)),
            }
        }
    }
    for name in changes.delete {
        delete(api, "EndpointSlice", key, &name).await?;
        counters().slices_deleted.inc();
        tracker.deleted(key, &name);
    }
    Ok(())
}

async fn replace<K>(
    api: &Api<K>,
    kind: &'static str,
    key: &ServiceKey,
    obj: K,
) -> Result<K, ReconcileError>
where
    K: Resource + Clone + serde::Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.replace(&name, &PostParams::default(), &obj)
        .await
        .map_err(|e| write_error("update", kind, key, &name, e))
}

async fn create_named<K>(api: &Api<K>, key: &ServiceKey, obj: K) -> Result<(), ReconcileError>
where
    K: Resource + Clone + serde::Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        // It exists already: the cache has not caught up; the retry will update it.
        Err(e) if status_code(&e) == Some(409) => Err(ReconcileError::StaleCache),
        Err(e) => Err(write_error("create", "Endpoints", key, &name, e)),
    }
}

async fn delete<K>(
    api: &Api<K>,
    kind: &'static str,
    key: &ServiceKey,
    name: &str,
) -> Result<(), ReconcileError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(write_error("delete", kind, key, name, e)),
    }
}

#[cfg(test)]
mod tests;
