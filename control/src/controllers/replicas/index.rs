//! Indexes the event handlers keep beside the reflector caches, so neither a sync nor a Pod
//! event scans the cluster: the Pods of each namespace with their labels and controller (a
//! sync reads its namespace's Pods, a Pod event knows the labels and controller the Pod had),
//! and each namespace's owners with their compiled selectors (an orphan Pod's event finds the
//! owners that may adopt it). A relist builds a fresh table and swaps it in when it ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::owner::{Owner, OwnerKey, OwnerKind, controller_key, selects};
use crate::selector::Selector;

/// One table of `namespace → name → T`, with the table a relist is building.
#[derive(Debug)]
struct Table<T> {
    live: HashMap<String, BTreeMap<String, T>>,
    relist: Option<HashMap<String, BTreeMap<String, T>>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            live: HashMap::new(),
            relist: None,
        }
    }
}

impl<T> Table<T> {
    fn set(&mut self, namespace: &str, name: &str, value: T) -> Option<T> {
        self.live
            .entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), value)
    }

    fn remove(&mut self, namespace: &str, name: &str) -> Option<T> {
        let names = self.live.get_mut(namespace)?;
        let old = names.remove(name);
        if names.is_empty() {
            self.live.remove(namespace);
        }
        old
    }

    fn start_relist(&mut self) {
        self.relist = Some(HashMap::new());
    }

    fn relisted(&mut self, namespace: &str, name: &str, value: T) {
        self.relist
            .get_or_insert_with(HashMap::new)
            .entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), value);
    }

    fn finish_relist(&mut self) {
        if let Some(fresh) = self.relist.take() {
            self.live = fresh;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the index keeps of a Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PodFacts {
    /// Its labels.
    pub(super) labels: BTreeMap<String, String>,
    /// The RC or RS its controller ownerReference names.
    pub(super) controller: Option<OwnerKey>,
}

impl PodFacts {
    pub(super) fn of(pod: &Pod) -> PodFacts {
        PodFacts {
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            controller: controller_key(pod),
        }
    }
}

/// Pods by namespace; clones share the index.
#[derive(Debug, Clone, Default)]
pub(super) struct PodIndex(Arc<Mutex<Table<PodFacts>>>);

impl PodIndex {
    /// Files `pod` and returns what was filed under its name before.
    pub(super) fn applied(&self, pod: &Pod) -> Option<PodFacts> {
        let ns = pod.namespace().unwrap_or_default();
        lock(&self.0).set(&ns, &pod.name_any(), PodFacts::of(pod))
    }

    /// Removes `pod` and returns what was filed under its name.
    pub(super) fn deleted(&self, pod: &Pod) -> Option<PodFacts> {
        let ns = pod.namespace().unwrap_or_default();
        lock(&self.0).remove(&ns, &pod.name_any())
    }

    /// A relist began.
    pub(super) fn start_relist(&self) {
        lock(&self.0).start_relist();
    }

    /// A Pod of the relist.
    pub(super) fn relisted(&self, pod: &Pod) {
        let ns = pod.namespace().unwrap_or_default();
        lock(&self.0).relisted(&ns, &pod.name_any(), PodFacts::of(pod));
    }

    /// The relist ended: its table replaces the live one.
    pub(super) fn finish_relist(&self) {
        lock(&self.0).finish_relist();
    }

    /// The names of the Pods of `namespace`.
    pub(super) fn names(&self, namespace: &str) -> Vec<String> {
        lock(&self.0)
            .live
            .get(namespace)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// What the index keeps of an owner: its key and compiled selector.
#[derive(Debug, Clone)]
struct OwnerFacts {
    key: OwnerKey,
    selector: Selector,
}

impl OwnerFacts {
    fn of(owner: &Owner) -> OwnerFacts {
        OwnerFacts {
            key: owner.key.clone(),
            selector: owner.selector.clone(),
        }
    }
}

/// Owners of both kinds by namespace; clones share the index.
#[derive(Debug, Clone, Default)]
pub(super) struct OwnerIndex(Arc<Mutex<HashMap<OwnerKind, Table<OwnerFacts>>>>);

impl OwnerIndex {
    /// Files (or refiles) an owner.
    pub(super) fn applied(&self, owner: &Owner) {
        let key = &owner.key;
        lock(&self.0).entry(key.kind).or_default().set(
            &key.namespace,
            &key.name,
            OwnerFacts::of(owner),
        );
    }

    /// Removes an owner.
    pub(super) fn deleted(&self, key: &OwnerKey) {
        if let Some(table) = lock(&self.0).get_mut(&key.kind) {
            table.remove(&key.namespace, &key.name);
        }
    }

    /// A relist of `kind` began.
    pub(super) fn start_relist(&self, kind: OwnerKind) {
        lock(&self.0).entry(kind).or_default().start_relist();
    }

    /// An owner of the relist.
    pub(super) fn relisted(&self, owner: &Owner) {
        let key = &owner.key;
        lock(&self.0).entry(key.kind).or_default().relisted(
            &key.namespace,
            &key.name,
            OwnerFacts::of(owner),
        );
    }

    /// The relist of `kind` ended.
    pub(super) fn finish_relist(&self, kind: OwnerKind) {
        lock(&self.0).entry(kind).or_default().finish_relist();
    }

    /// The owners of `namespace` whose selector selects `labels`.
    pub(super) fn selecting(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> BTreeSet<OwnerKey> {
        lock(&self.0)
            .values()
            .filter_map(|table| table.live.get(namespace))
            .flat_map(|owners| owners.values())
            .filter(|facts| selects(&facts.selector, Some(labels)))
            .map(|facts| facts.key.clone())
            .collect()
    }

    /// Every owner's key.
    pub(super) fn all(&self) -> Vec<OwnerKey> {
        lock(&self.0)
            .values()
            .flat_map(|table| table.live.values())
            .flat_map(|owners| owners.values())
            .map(|facts| facts.key.clone())
            .collect()
    }
}

/// The owners a Pod event concerns: its controller now and before (when that changed), and,
/// for an orphan that is new or whose labels changed, the owners that may adopt it.
pub(super) fn owners_for_pod_event(
    owners: &OwnerIndex,
    namespace: &str,
    before: Option<&PodFacts>,
    now: Option<&PodFacts>,
) -> BTreeSet<OwnerKey> {
    let mut keys = BTreeSet::new();
    for facts in [before, now].into_iter().flatten() {
        if let Some(key) = &facts.controller {
            keys.insert(key.clone());
        }
    }
    if let Some(now) = now
        && now.controller.is_none()
        && before.is_none_or(|b| b.labels != now.labels || b.controller.is_some())
    {
        keys.extend(owners.selecting(namespace, &now.labels));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str, app: &str) -> Owner {
        Owner {
            key: OwnerKey {
                kind: OwnerKind::ReplicationController,
                namespace: "default".into(),
                name: name.into(),
            },
            uid: format!("{name}-uid"),
            generation: 1,
            replicas: 1,
            min_ready_seconds: 0,
            selector: Selector::from_map(&[("app".to_string(), app.to_string())].into()),
            template: Default::default(),
            deleting: false,
            status: Default::default(),
        }
    }

    fn facts(app: &str, controller: Option<&Owner>) -> PodFacts {
        PodFacts {
            labels: [("app".to_string(), app.to_string())].into(),
            controller: controller.map(|o| o.key.clone()),
        }
    }

    #[test]
    fn pod_events_reach_controllers_and_would_be_adopters() {
        let index = OwnerIndex::default();
        let web = owner("web", "web");
        let api = owner("api", "api");
        index.applied(&web);
        index.applied(&api);
        // A new orphan: the owners selecting it.
        let keys = owners_for_pod_event(&index, "default", None, Some(&facts("web", None)));
        assert_eq!(keys, [web.key.clone()].into());
        // An orphan whose labels did not change: nobody.
        let same = facts("web", None);
        assert!(owners_for_pod_event(&index, "default", Some(&same), Some(&same)).is_empty());
        // A controlled Pod relabelled: only its controller, not the new selector's owner.
        let keys = owners_for_pod_event(
            &index,
            "default",
            Some(&facts("web", Some(&web))),
            Some(&facts("api", Some(&web))),
        );
        assert_eq!(keys, [web.key.clone()].into());
        // Released: the old controller and whoever may adopt it now.
        let keys = owners_for_pod_event(
            &index,
            "default",
            Some(&facts("api", Some(&web))),
            Some(&facts("api", None)),
        );
        assert_eq!(keys, [web.key.clone(), api.key.clone()].into());
        // Other namespaces are not looked at.
        assert!(owners_for_pod_event(&index, "other", None, Some(&facts("web", None))).is_empty());
        index.deleted(&web.key);
        assert!(
            owners_for_pod_event(&index, "default", None, Some(&facts("web", None))).is_empty()
        );
    }

    #[test]
    fn a_relist_replaces_the_table() {
        let index = OwnerIndex::default();
        index.applied(&owner("gone", "web"));
        index.start_relist(OwnerKind::ReplicationController);
        index.relisted(&owner("kept", "web"));
        // The live table answers until the relist ends.
        assert_eq!(index.all().len(), 1);
        assert_eq!(index.all()[0].name, "gone");
        index.finish_relist(OwnerKind::ReplicationController);
        assert_eq!(index.all().len(), 1);
        assert_eq!(index.all()[0].name, "kept");
    }
}
