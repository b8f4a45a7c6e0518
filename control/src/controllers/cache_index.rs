//! Indexes kept next to the controller's reflector stores and fed by the same event handlers, so
//! a reconcile looks up one Service's EndpointSlices and its candidate Pods instead of copying
//! every cached object of the cluster.
//!
//! An index maps terms (a namespace, a `(namespace, label key, label value)`, a
//! `(namespace, service-name label)`) to the names of the objects that carry them; Services are
//! filed under one `key=value` pair of their selector, so a Pod event finds the Services that
//! may select it from the Pod's own labels. It remembers
//! the terms it filed each object under, so an update or delete removes exactly those, whatever
//! the new object says. Answers are candidates: the caller reads each object from the store and
//! checks it with the same rule as before ([`crate::selector::Selector`], the service-name label).
//! An index is only ever a superset of what matches in the state it has seen; events it has not
//! seen yet queue the affected Services again once it has.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use super::endpoint_slices::{SERVICE_NAME_LABEL, selects_pods};
use super::reconcile::Change;

/// `(namespace, name)` of an indexed object.
type ObjectName = (String, String);

/// Terms → object names, plus each object's terms.
#[derive(Debug)]
struct Table<T> {
    postings: HashMap<T, BTreeSet<String>>,
    terms: HashMap<ObjectName, Vec<T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            postings: HashMap::new(),
            terms: HashMap::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Table<T> {
    /// Files `object` under `terms` only, dropping the terms it had.
    fn set(&mut self, object: ObjectName, terms: Vec<T>) {
        self.remove(&object);
        for term in &terms {
            self.postings
                .entry(term.clone())
                .or_default()
                .insert(object.1.clone());
        }
        if !terms.is_empty() {
            self.terms.insert(object, terms);
        }
    }

    fn remove(&mut self, object: &ObjectName) {
        let Some(old) = self.terms.remove(object) else {
            return;
        };
        for term in old {
            if let Some(names) = self.postings.get_mut(&term) {
                names.remove(&object.1);
                if names.is_empty() {
                    self.postings.remove(&term);
                }
            }
        }
    }
}

/// One kind's index: the live table and the one a relist is building.
#[derive(Debug)]
struct Postings<T> {
    live: Table<T>,
    relist: Option<Table<T>>,
}

/// A shared index of one kind, written by its reflector's event handler, read by reconciles.
/// The lock is held only for one event or one lookup, never across an `.await`.
#[derive(Debug)]
pub(super) struct Index<T> {
    postings: Arc<RwLock<Postings<T>>>,
    /// Turns true when the first full list has been swapped in.
    listed: Arc<watch::Sender<bool>>,
}

impl<T> Clone for Index<T> {
    fn clone(&self) -> Self {
        Index {
            postings: Arc::clone(&self.postings),
            listed: Arc::clone(&self.listed),
        }
    }
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Index {
            postings: Arc::new(RwLock::new(Postings {
                live: Table::default(),
                relist: None,
            })),
            listed: Arc::new(watch::channel(false).0),
        }
    }
}

impl<T> Index<T> {
    /// Waits until the first full list has been swapped in. The store beside the index turns
    /// ready a moment before (in the same event), so the controller waits for both before its
    /// first reconcile: a reconcile must never read an index still empty.
    pub(super) async fn wait_until_listed(&self) {
        let mut listed = self.listed.subscribe();
        // The sender lives as long as `self`, so this returns only once listed.
        let _ = listed.wait_for(|listed| *listed).await;
    }
}

impl<T: Hash + Eq + Clone> Index<T> {
    /// Applies one reflector event: `terms` says what an object is filed under.
    pub(super) fn observe<K: Resource>(
        &self,
        obj: Option<&K>,
        change: Change,
        terms: impl FnOnce(&K) -> Vec<T>,
    ) {
        let mut postings = self
            .postings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let postings = &mut *postings;
        match (change, obj) {
            (Change::ListStart, _) => postings.relist = Some(Table::default()),
            (Change::ListDone, _) => {
                if let Some(table) = postings.relist.take() {
                    postings.live = table;
                }
                self.listed.send_replace(true);
            }
            (Change::Listed, Some(obj)) => postings
                .relist
                .get_or_insert_with(Table::default)
                .set(name_of(obj), terms(obj)),
            (Change::Applied, Some(obj)) => postings.live.set(name_of(obj), terms(obj)),
            (Change::Deleted, Some(obj)) => postings.live.remove(&name_of(obj)),
            (Change::Listed | Change::Applied | Change::Deleted, None) => {}
        }
    }

    /// The names filed under the smallest of `terms`' postings (all of them must exist: an
    /// absent term has no objects), or `None` when `terms` is empty.
    fn smallest(&self, terms: &[T]) -> Option<Vec<String>> {
        let postings = self.postings.read().unwrap_or_else(PoisonError::into_inner);
        let mut best: Option<&BTreeSet<String>> = None;
        for term in terms {
            let names = postings.live.postings.get(term)?;
            if best.is_none_or(|b| names.len() < b.len()) {
                best = Some(names);
            }
        }
        best.map(|names| names.iter().cloned().collect())
    }

    /// The names filed under any of `terms`.
    fn union(&self, terms: impl IntoIterator<Item = T>) -> BTreeSet<String> {
        let postings = self.postings.read().unwrap_or_else(PoisonError::into_inner);
        let mut names = BTreeSet::new();
        for term in terms {
            if let Some(found) = postings.live.postings.get(&term) {
                names.extend(found.iter().cloned());
            }
        }
        names
    }
}

fn name_of<K: Resource>(obj: &K) -> ObjectName {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What a Pod is filed under: its namespace and each of its labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum PodTerm {
    /// Every Pod of the namespace.
    Namespace(String),
    /// Pods of the namespace with this label key and value.
    Label(String, String, String),
}

/// Pods by namespace and by label.
pub(super) type PodIndex = Index<PodTerm>;

/// The terms of a Pod.
pub(super) fn pod_terms(pod: &Pod) -> Vec<PodTerm> {
    let ns = pod.namespace().unwrap_or_default();
    let labels = pod.metadata.labels.iter().flatten();
    let by_label = labels.map(|(k, v)| PodTerm::Label(ns.clone(), k.clone(), v.clone()));
    let mut terms: Vec<PodTerm> = by_label.collect();
    terms.push(PodTerm::Namespace(ns));
    terms
}

impl PodIndex {
    /// The labels the Pod `namespace/name` is filed under now (`None`: not filed).
    pub(super) fn labels_of(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<BTreeMap<String, String>> {
        let postings = self.postings.read().unwrap_or_else(PoisonError::into_inner);
        let terms = postings
            .live
            .terms
            .get(&(namespace.to_string(), name.to_string()))?;
        let labels = terms.iter().filter_map(|term| match term {
            PodTerm::Label(_, k, v) => Some((k.clone(), v.clone())),
            PodTerm::Namespace(_) => None,
        });
        Some(labels.collect())
    }

    /// The names of the Pods of `namespace` that may match the Service selector `selector`:
    /// the smallest posting list of its `key=value` pairs (the namespace's Pods when it is
    /// empty). Every Pod that matches is among them; the caller checks each with the selector.
    pub(super) fn candidates(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut terms: Vec<PodTerm> = selector
            .iter()
            .map(|(k, v)| PodTerm::Label(namespace.to_string(), k.clone(), v.clone()))
            .collect();
        if terms.is_empty() {
            terms.push(PodTerm::Namespace(namespace.to_string()));
        }
        self.smallest(&terms).unwrap_or_default()
    }
}

/// Selector Services by `(namespace, key, value)` of the first pair of their selector: every
/// Pod a Service selects carries that pair, so the Pod's labels lead to every such Service.
pub(super) type ServiceIndex = Index<(String, String, String)>;

/// The term of a Service: the first `key=value` of its selector, none if it selects no Pods.
pub(super) fn service_terms(svc: &Service) -> Vec<(String, String, String)> {
    if !selects_pods(svc) {
        return Vec::new();
    }
    let ns = svc.namespace().unwrap_or_default();
    let first = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
    first
        .and_then(|selector| selector.iter().next())
        .map(|(k, v)| (ns, k.clone(), v.clone()))
        .into_iter()
        .collect()
}

impl ServiceIndex {
    /// The names of the Services of `namespace` filed under one of the pairs of `labels`:
    /// every selector Service whose selector `labels` satisfy is among them (the caller checks
    /// each with the selector).
    pub(super) fn candidates(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> BTreeSet<String> {
        self.union(
            labels
                .iter()
                .map(|(k, v)| (namespace.to_string(), k.clone(), v.clone())),
        )
    }
}

/// EndpointSlices by `(namespace, kubernetes.io/service-name label)`.
pub(super) type SliceIndex = Index<(String, String)>;

/// The term of a slice: the Service its label names, if any.
pub(super) fn slice_terms(slice: &EndpointSlice) -> Vec<(String, String)> {
    let service = slice.labels().get(SERVICE_NAME_LABEL);
    let ns = slice.namespace().unwrap_or_default();
    service.map(|s| (ns, s.clone())).into_iter().collect()
}

impl SliceIndex {
    /// The names of the slices of `namespace` labelled with Service `service`.
    pub(super) fn names(&self, namespace: &str, service: &str) -> Vec<String> {
        let term = (namespace.to_string(), service.to_string());
        self.smallest(std::slice::from_ref(&term))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
