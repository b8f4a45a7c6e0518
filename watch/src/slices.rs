//! The EndpointSlices of a snapshot together with an index by Service, kept in step on every
//! insert and remove, so a Service's slices are found in O(log n + k) rather than by scanning its
//! namespace.
//!
//! The map and the index are only ever changed together: [`EndpointSlices`] hands out the map
//! read-only (it derefs to the `OrdMap`) and changes it only through [`EndpointSlices::insert`]
//! and [`EndpointSlices::remove`].

use std::ops::Deref;
use std::sync::Arc;

use imbl::OrdMap;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::state::{ObjectKey, SERVICE_NAME_LABEL};

/// One Service's slices by slice name.
type ServiceSlices = OrdMap<String, Arc<EndpointSlice>>;

/// EndpointSlices by `namespace/name` (of the slice), indexed by the Service their
/// `kubernetes.io/service-name` label names. Cheap to clone (persistent maps).
///
/// Reads go through `Deref` to the `OrdMap` (`get`, `iter`, `diff`, `ptr_eq`, ...).
#[derive(Debug, Clone, Default)]
pub struct EndpointSlices {
    all: OrdMap<ObjectKey, Arc<EndpointSlice>>,
    by_service: OrdMap<ObjectKey, ServiceSlices>,
}

impl EndpointSlices {
    /// An empty set of slices.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the slice at `key` and moves it to the Service its label now names
    /// (out of every Service when it has no label); returns the slice it replaced.
    pub fn insert(
        &mut self,
        key: ObjectKey,
        slice: Arc<EndpointSlice>,
    ) -> Option<Arc<EndpointSlice>> {
        let old = self.all.insert(key.clone(), slice.clone());
        if let Some(old) = &old {
            self.unindex(&key, old);
        }
        if let Some(service) = service_of(&key, &slice) {
            self.by_service
                .entry(service)
                .or_default()
                .insert(key.name, slice);
        }
        old
    }

    /// Removes the slice at `key` from the map and from its Service; returns it.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Arc<EndpointSlice>> {
        let old = self.all.remove(key)?;
        self.unindex(key, &old);
        Some(old)
    }

    /// The slices whose `kubernetes.io/service-name` label is `service`, in namespace
    /// `namespace`, in slice-name order.
    pub fn for_service<'a>(
        &'a self,
        namespace: &str,
        service: &str,
    ) -> impl Iterator<Item = &'a Arc<EndpointSlice>> + 'a {
        self.by_service
            .get(&ObjectKey::new(namespace, service))
            .into_iter()
            .flat_map(|slices| slices.values())
    }

    /// The plain map of every slice.
    pub fn as_map(&self) -> &OrdMap<ObjectKey, Arc<EndpointSlice>> {
        &self.all
    }

    fn unindex(&mut self, key: &ObjectKey, old: &EndpointSlice) {
        let Some(service) = service_of(key, old) else {
            return;
        };
        let Some(slices) = self.by_service.get_mut(&service) else {
            return;
        };
        slices.remove(&key.name);
        if slices.is_empty() {
            self.by_service.remove(&service);
        }
    }
}

/// The Service a slice stored at `key` belongs to: its label, in the key's namespace.
fn service_of(key: &ObjectKey, slice: &EndpointSlice) -> Option<ObjectKey> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ObjectKey::new(key.namespace.clone(), name.clone()))
}

impl Deref for EndpointSlices {
    type Target = OrdMap<ObjectKey, Arc<EndpointSlice>>;

    fn deref(&self) -> &Self::Target {
        &self.all
    }
}

impl FromIterator<(ObjectKey, Arc<EndpointSlice>)> for EndpointSlices {
    fn from_iter<I: IntoIterator<Item = (ObjectKey, Arc<EndpointSlice>)>>(iter: I) -> Self {
        let mut slices = EndpointSlices::new();
        for (key, slice) in iter {
            slices.insert(key, slice);
        }
        slices
    }
}

impl PartialEq for EndpointSlices {
    /// Equal when they hold the same slices (the index follows from them).
    fn eq(&self, other: &Self) -> bool {
        self.all == other.all
    }
}

#[cfg(test)]
mod tests;
