//! Remembers the EndpointSlice writes the controller made that its cache may not show yet, so a
//! reconcile never acts on a cache that predates its own last write (which would create
//! duplicate slices). Only bookkeeping: it never writes and never reads the API.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::queue::ServiceKey;

/// What the cache must show for one slice name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The slice exists with at least this resourceVersion.
    AtLeast(String),
    /// The slice is gone.
    Deleted,
}

/// Outstanding writes per Service.
#[derive(Debug, Default)]
pub(crate) struct SliceTracker {
    expected: Mutex<HashMap<ServiceKey, HashMap<String, Expect>>>,
}

/// Whether `have` is at least `want` (numeric when both parse, as etcd and our store use).
fn at_least(have: &str, want: &str) -> bool {
    match (have.parse::<u64>(), want.parse::<u64>()) {
        (Ok(h), Ok(w)) => h >= w,
        _ => have == want,
    }
}

impl SliceTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ServiceKey, HashMap<String, Expect>>> {
        self.expected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slice was created or updated and the API answered with `resource_version`.
    pub(crate) fn wrote(&self, key: &ServiceKey, name: &str, resource_version: Option<String>) {
        if let Some(rv) = resource_version {
            self.lock()
                .entry(key.clone())
                .or_default()
                .insert(name.to_string(), Expect::AtLeast(rv));
        }
    }

    /// A slice was deleted.
    pub(crate) fn deleted(&self, key: &ServiceKey, name: &str) {
        self.lock()
            .entry(key.clone())
            .or_default()
            .insert(name.to_string(), Expect::Deleted);
    }

    /// Whether the cached slices of `key` miss one of the controller's own writes. Writes the
    /// cache already shows are forgotten.
    pub(crate) fn is_stale<S: Borrow<EndpointSlice>>(
        &self,
        key: &ServiceKey,
        cached: &[S],
    ) -> bool {
        let mut all = self.lock();
        let Some(expected) = all.get_mut(key) else {
            return false;
        };
        expected.retain(|name, expect| {
            let found = cached
                .iter()
                .map(Borrow::borrow)
                .find(|s: &&EndpointSlice| s.metadata.name.as_deref() == Some(name.as_str()));
            let seen = match (expect, found) {
                (Expect::Deleted, found) => found.is_none(),
                (Expect::AtLeast(want), Some(s)) => s
                    .metadata
                    .resource_version
                    .as_deref()
                    .is_some_and(|have| at_least(have, want)),
                (Expect::AtLeast(_), None) => false,
            };
            !seen
        });
        let stale = !expected.is_empty();
        if !stale {
            all.remove(key);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(name: &str, rv: &str) -> EndpointSlice {
        let mut s = EndpointSlice::default();
        s.metadata.name = Some(name.into());
        s.metadata.resource_version = Some(rv.into());
        s
    }

    #[test]
    fn stale_until_the_cache_shows_own_writes() {
        let t = SliceTracker::default();
        let key = ServiceKey {
            namespace: "default".into(),
            name: "web".into(),
        };
        assert!(!t.is_stale::<EndpointSlice>(&key, &[]));
        t.wrote(&key, "web-abcde", Some("7".into()));
        t.deleted(&key, "web-old");
        // The cache still has the deleted slice and an older version of the written one.
        assert!(t.is_stale(&key, &[slice("web-abcde", "6"), slice("web-old", "3")]));
        // The write shows; the deletion does not yet.
        assert!(t.is_stale(&key, &[slice("web-abcde", "7"), slice("web-old", "3")]));
        assert!(!t.is_stale(&key, &[slice("web-abcde", "8")]));
        // Forgotten once seen.
        assert!(!t.is_stale::<EndpointSlice>(&key, &[]));
    }
}
