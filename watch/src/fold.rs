//! The list+watch tasks and the single folding task that publishes [`ClusterState`] snapshots.

use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, Stream, StreamExt, stream::BoxStream};
use imbl::OrdMap;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::slices::EndpointSlices;
use crate::state::{ClusterState, ObjectKey};
use crate::trim;

/// Which kinds to watch besides Services and EndpointSlices (always watched).
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchConfig {
    /// Also watch Pods (DNS pod records in `verified` mode, pod hostnames).
    pub pods: bool,
    /// Also watch Nodes.
    pub nodes: bool,
}

/// The running watch: a receiver of snapshots. Dropping the handle stops the watch tasks.
#[derive(Debug)]
pub struct WatchHandle {
    receiver: watch::Receiver<Arc<ClusterState>>,
    task: JoinHandle<()>,
}

impl WatchHandle {
    /// A new receiver of snapshots; the current value is the newest snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.receiver.clone()
    }

    /// The newest snapshot.
    pub fn current(&self) -> Arc<ClusterState> {
        self.receiver.borrow().clone()
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching through `client` and returns the handle whose receiver gets every new
/// snapshot. Events that arrive together are folded into one snapshot.
pub fn spawn(client: Client, config: WatchConfig) -> WatchHandle {
    let (tx, receiver) = watch::channel(Arc::new(ClusterState::default()));
    let mut streams: Vec<BoxStream<'static, Change>> = vec![
        kind_stream::<Service>(&client, Change::Service),
        kind_stream::<EndpointSlice>(&client, Change::Slice),
    ];
    if config.pods {
        streams.push(kind_stream::<Pod>(&client, Change::Pod));
    }
    if config.nodes {
        streams.push(kind_stream::<Node>(&client, Change::Node));
    }
    let expected = streams.len();
    let task = tokio::spawn(fold_loop(
        futures::stream::select_all(streams),
        expected,
        tx,
    ));
    WatchHandle { receiver, task }
}

/// One event from one kind's watcher. Short-lived, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Change {
    Service(Event<Service>),
    Slice(Event<EndpointSlice>),
    Pod(Event<Pod>),
    Node(Event<Node>),
}

fn kind_stream<K>(client: &Client, wrap: fn(Event<K>) -> Change) -> BoxStream<'static, Change>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let config = watcher::Config::default().any_semantic();
    watcher::watcher(api, config)
        .default_backoff()
        .filter_map(move |item| {
            let out = match item {
                Ok(event) => Some(wrap(event)),
                Err(error) => {
                    tracing::warn!(kind = K::kind(&()).as_ref(), %error, "watch failed; retrying");
                    None
                }
            };
            futures::future::ready(out)
        })
        .boxed()
}

/// A map of one kind the fold writes to: a plain `OrdMap`, or one that keeps an index in step.
trait KindMap<K>: Default {
    /// Inserts or replaces the object at `key`.
    fn put(&mut self, key: ObjectKey, obj: Arc<K>);
    /// Removes the object at `key`; whether there was one.
    fn delete(&mut self, key: &ObjectKey) -> bool;
}

impl<K> KindMap<K> for OrdMap<ObjectKey, Arc<K>> {
    fn put(&mut self, key: ObjectKey, obj: Arc<K>) {
        self.insert(key, obj);
    }

    fn delete(&mut self, key: &ObjectKey) -> bool {
        self.remove(key).is_some()
    }
}

impl KindMap<EndpointSlice> for EndpointSlices {
    fn put(&mut self, key: ObjectKey, obj: Arc<EndpointSlice>) {
        self.insert(key, obj);
    }

    fn delete(&mut self, key: &ObjectKey) -> bool {
        self.remove(key).is_some()
    }
}

/// One kind's relist buffer, which replaces its map (and so its indexes) whole on `InitDone`.
struct KindState<M> {
    relist: Option<M>,
    listed: bool,
}

impl<M> Default for KindState<M> {
    fn default() -> Self {
        KindState {
            relist: None,
            listed: false,
        }
    }
}

impl<M> KindState<M> {
    /// Applies one event to `map`; returns whether the visible map changed.
    fn apply<K: Resource>(&mut self, map: &mut M, event: Event<K>) -> bool
    where
        M: KindMap<K>,
    {
        match event {
            Event::Init => {
                self.relist = Some(M::default());
                false
            }
            Event::InitApply(mut obj) => {
                trim::bulk_metadata(&mut obj);
                if let Some(buffer) = self.relist.as_mut() {
                    buffer.put(key_of(&obj), Arc::new(obj));
                }
                false
            }
            Event::InitDone => {
                *map = self.relist.take().unwrap_or_default();
                self.listed = true;
                true
            }
            Event::Apply(mut obj) => {
                trim::bulk_metadata(&mut obj);
                map.put(key_of(&obj), Arc::new(obj));
                true
            }
            Event::Delete(obj) => map.delete(&key_of(&obj)),
        }
    }
}

fn key_of<K: Resource>(obj: &K) -> ObjectKey {
    ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The most events folded into one snapshot before it is published.
const MAX_BATCH: usize = 4096;

async fn fold_loop(
    mut changes: impl Stream<Item = Change> + Unpin,
    expected_kinds: usize,
    tx: watch::Sender<Arc<ClusterState>>,
) {
    let mut state = ClusterState::default();
    let mut services = KindState::<OrdMap<ObjectKey, Arc<Service>>>::default();
    let mut slices = KindState::<EndpointSlices>::default();
    let mut pods = KindState::<OrdMap<ObjectKey, Arc<Pod>>>::default();
    let mut nodes = KindState::<OrdMap<ObjectKey, Arc<Node>>>::default();
    while let Some(first) = changes.next().await {
        let mut changed = false;
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(change) = next.take() {
            changed |= match change {
                Change::Service(e) => services.apply(&mut state.services, e),
                Change::Slice(e) => slices.apply(&mut state.endpoint_slices, e),
                Change::Pod(e) => pods.apply(&mut state.pods, e),
                Change::Node(e) => nodes.apply(&mut state.nodes, e),
            };
            batch += 1;
            if batch < MAX_BATCH {
                // Fold whatever is already waiting into the same snapshot.
                next = changes.next().now_or_never().flatten();
            }
        }
        let listed = [services.listed, slices.listed, pods.listed, nodes.listed]
            .iter()
            .filter(|l| **l)
            .count();
        let synced = listed >= expected_kinds;
        if changed || synced != state.synced {
            state.synced = synced;
            state.revision += 1;
            state.last_event_at = Some(Instant::now());
            if tx.send(Arc::new(state.clone())).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    use k8s_openapi::api::discovery::v1::EndpointSlice;

    use super::*;

    fn service(annotations: &[(&str, &str)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("kubectl".into()),
                    ..ManagedFieldsEntry::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Service::default()
        }
    }

    #[test]
    fn snapshots_keep_no_managed_fields_or_last_applied_copy() {
        let mut kind = KindState::<OrdMap<ObjectKey, Arc<Service>>>::default();
        let mut map = OrdMap::new();
        let applied = service(&[
            (trim::LAST_APPLIED, "{\"kind\":\"Service\"}"),
            ("team", "a"),
        ]);
        assert!(kind.apply(&mut map, Event::Apply(applied)));
        let key = ObjectKey::new("default", "web");
        let kept = map
            .get(&key)
            .map(|s| s.metadata.clone())
            .unwrap_or_default();
        assert_eq!(kept.managed_fields, None);
        assert_eq!(
            kept.annotations,
            Some(BTreeMap::from([("team".into(), "a".into())]))
        );
        assert_eq!(kept.labels.map(|l| l.len()), Some(1));

        // The same through a re-list, and an object left with no annotations has none.
        assert!(!kind.apply(&mut map, Event::Init));
        assert!(!kind.apply(
            &mut map,
            Event::InitApply(service(&[(trim::LAST_APPLIED, "{}")]))
        ));
        assert!(kind.apply(&mut map, Event::InitDone));
        let kept = map
            .get(&key)
            .map(|s| s.metadata.clone())
            .unwrap_or_default();
        assert_eq!((kept.annotations, kept.managed_fields), (None, None));
    }

    /// One step of the property below: slice events as the watcher delivers them.
    #[derive(Debug, Clone)]
    enum Step {
        /// Create, update or relabel (`service: None` drops the label).
        Apply {
            ns: u8,
            name: u8,
            service: Option<u8>,
        },
        Delete {
            ns: u8,
            name: u8,
        },
        /// A whole relist of these slices.
        Relist(Vec<(u8, u8, Option<u8>)>),
    }

    fn labelled_slice(ns: u8, name: u8, service: Option<u8>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some(format!("ns{ns}")),
                name: Some(format!("s{name}")),
                labels: service.map(|s| {
                    BTreeMap::from([(crate::SERVICE_NAME_LABEL.into(), format!("svc{s}"))])
                }),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            ..EndpointSlice::default()
        }
    }

    /// What `slices_for_service` answered before the index: a scan of the namespace.
    fn scanned(state: &ClusterState, namespace: &str, service: &str) -> Vec<ObjectKey> {
        state
            .endpoint_slices
            .iter()
            .filter(|(k, s)| {
                k.namespace == namespace
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(crate::SERVICE_NAME_LABEL))
                        .is_some_and(|n| n == service)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let service = proptest::option::of(0u8..3);
        prop_oneof![
            6 => (0u8..2, 0u8..6, service.clone())
                .prop_map(|(ns, name, service)| Step::Apply { ns, name, service }),
            3 => (0u8..2, 0u8..6).prop_map(|(ns, name)| Step::Delete { ns, name }),
            1 => proptest::collection::vec((0u8..2, 0u8..6, service), 0..8).prop_map(Step::Relist),
        ]
    }

    proptest::proptest! {
        #[test]
        fn the_slice_index_answers_what_a_namespace_scan_answers(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            let mut kind = KindState::<EndpointSlices>::default();
            let mut state = ClusterState::default();
            for step in steps {
                match step {
                    Step::Apply { ns, name, service } => {
                        kind.apply(
                            &mut state.endpoint_slices,
                            Event::Apply(labelled_slice(ns, name, service)),
                        );
                    }
                    Step::Delete { ns, name } => {
                        kind.apply(
                            &mut state.endpoint_slices,
                            Event::Delete(labelled_slice(ns, name, None)),
                        );
                    }
                    Step::Relist(items) => {
                        kind.apply::<EndpointSlice>(&mut state.endpoint_slices, Event::Init);
                        for (ns, name, service) in items {
                            kind.apply(
                                &mut state.endpoint_slices,
                                Event::InitApply(labelled_slice(ns, name, service)),
                            );
                        }
                        kind.apply::<EndpointSlice>(&mut state.endpoint_slices, Event::InitDone);
                    }
                }
                for ns in 0..2 {
                    for svc in 0..4 {
                        let (ns, svc) = (format!("ns{ns}"), format!("svc{svc}"));
                        let indexed: Vec<ObjectKey> = state
                            .slices_for_service(&ns, &svc)
                            .map(|s| key_of(s.as_ref()))
                            .collect();
                        proptest::prop_assert_eq!(indexed, scanned(&state, &ns, &svc));
                    }
                }
            }
        }
    }
}
