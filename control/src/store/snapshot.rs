//! Immutable views of the whole object set at one resourceVersion, built from persistent maps
//! so that the writer can derive the next snapshot cheaply and readers can hold old ones
//! (paged lists) without copying.
//!
//! A snapshot is never mutated once published.

use std::sync::Arc;

use imbl::OrdMap;

use crate::object::{Kind, Object};

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub(crate) type ObjectKey = (String, String);

/// Every object at one resourceVersion, by kind then `(namespace, name)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// The resourceVersion of the newest change included.
    pub revision: u64,
    kinds: [OrdMap<ObjectKey, Arc<Object>>; Kind::ALL.len()],
}

/// The position of `kind` in [`Kind::ALL`].
fn slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// The key of `obj` in its kind's map.
pub(crate) fn key_of(obj: &Object) -> ObjectKey {
    (
        obj.namespace().unwrap_or_default().to_string(),
        obj.name().to_string(),
    )
}

impl Snapshot {
    /// One object.
    pub(crate) fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Object>> {
        self.kinds[slot(kind)]
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every object of `kind`, in `(namespace, name)` order.
    pub(crate) fn of_kind(&self, kind: Kind) -> &OrdMap<ObjectKey, Arc<Object>> {
        &self.kinds[slot(kind)]
    }

    /// Objects of `kind` in `namespace` (all namespaces when `None`) whose key comes after
    /// `after`, in key order.
    pub(crate) fn scan<'a>(
        &'a self,
        kind: Kind,
        namespace: Option<&'a str>,
        after: Option<&'a ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Object>)> + 'a {
        let map = &self.kinds[slot(kind)];
        let start = match (after, namespace) {
            (Some(key), _) => std::ops::Bound::Excluded(key.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        map.range((start, std::ops::Bound::Unbounded))
            .take_while(move |(k, _)| namespace.is_none_or(|ns| k.0 == ns))
    }

    /// Every object of every kind.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Object> {
        self.kinds
            .iter()
            .flat_map(|m| m.values().map(|o| o.as_ref()))
    }

    /// Number of objects of every kind.
    pub(crate) fn len(&self) -> usize {
        self.kinds.iter().map(|m| m.len()).sum()
    }

    /// Inserts or replaces an object (writer only, on its working copy).
    pub(crate) fn put(&mut self, obj: Arc<Object>) -> Option<Arc<Object>> {
        let kind = obj.kind();
        self.kinds[slot(kind)].insert(key_of(&obj), obj)
    }

    /// Removes an object (writer only, on its working copy).
    pub(crate) fn remove(&mut self, kind: Kind, key: &ObjectKey) -> Option<Arc<Object>> {
        self.kinds[slot(kind)].remove(key)
    }
}
