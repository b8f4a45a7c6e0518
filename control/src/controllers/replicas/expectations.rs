//! The Pod creates and deletes a sync made that the Pod cache may not show yet, per owner, so
//! the next sync does not count the cache's older picture and create or delete the same Pods
//! again. An owner whose expectations are outstanding is not scaled (its status and its
//! adoptions still are). Each expectation is settled by the cache itself: a created Pod once
//! the cache holds it, a deleted one once the cache has dropped it (or shows it being deleted);
//! a record older than [`EXPECTATIONS_TIMEOUT`] is dropped, as upstream does, so a missed event
//! cannot stall an owner. Only bookkeeping: it never reads or writes the API.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::owner::OwnerKey;

/// How long an unsettled expectation holds an owner back.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What the cache of one Pod must show.
#[derive(Debug, Default)]
struct Pending {
    /// Pods created, by name, the cache must hold.
    created: HashSet<String>,
    /// Pods deleted, by name, the cache must no longer show as active.
    deleted: HashSet<String>,
    /// When the newest record was made.
    since: Option<Instant>,
}

/// Outstanding creates and deletes per owner.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<OwnerKey, Pending>>,
}

/// What the cache shows of one Pod name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not in the cache.
    Absent,
    /// In the cache, not being deleted.
    Present,
    /// In the cache with a deletion timestamp.
    Deleting,
}

impl Expectations {
    fn lock(&self) -> MutexGuard<'_, HashMap<OwnerKey, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `owner` created the Pod `name`.
    pub fn created(&self, owner: &OwnerKey, name: String, now: Instant) {
        let mut all = self.lock();
        let entry = all.entry(owner.clone()).or_default();
        entry.created.insert(name);
        entry.since = Some(now);
    }

    /// `owner` deleted (or tried to delete) the Pod `name`.
    pub fn deleted(&self, owner: &OwnerKey, name: String, now: Instant) {
        let mut all = self.lock();
        let entry = all.entry(owner.clone()).or_default();
        entry.deleted.insert(name);
        entry.since = Some(now);
    }

    /// The delete of `name` by `owner` failed: the cache will not drop it.
    pub fn not_deleted(&self, owner: &OwnerKey, name: &str) {
        if let Some(entry) = self.lock().get_mut(owner) {
            entry.deleted.remove(name);
        }
    }

    /// Drops everything recorded for `owner` (it is gone).
    pub fn forget(&self, owner: &OwnerKey) {
        self.lock().remove(owner);
    }

    /// Whether the cache shows every create and delete of `owner`; `seen` tells what the cache
    /// holds under a Pod name. Settled records are forgotten.
    pub fn satisfied(&self, owner: &OwnerKey, now: Instant, seen: impl Fn(&str) -> Seen) -> bool {
        let mut all = self.lock();
        let Some(entry) = all.get_mut(owner) else {
            return true;
        };
        entry.created.retain(|name| seen(name) == Seen::Absent);
        entry.deleted.retain(|name| seen(name) == Seen::Present);
        let expired = entry
            .since
            .is_none_or(|since| now.saturating_duration_since(since) >= EXPECTATIONS_TIMEOUT);
        if expired || (entry.created.is_empty() && entry.deleted.is_empty()) {
            all.remove(owner);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::replicas::owner::OwnerKind;

    fn key() -> OwnerKey {
        OwnerKey {
            kind: OwnerKind::ReplicaSet,
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn waits_until_the_cache_shows_creates_and_deletes() {
        let e = Expectations::default();
        let t0 = Instant::now();
        assert!(e.satisfied(&key(), t0, |_| Seen::Absent));
        e.created(&key(), "web-a".into(), t0);
        e.deleted(&key(), "web-old".into(), t0);
        let cache_before = |name: &str| match name {
            "web-old" => Seen::Present,
            _ => Seen::Absent,
        };
        assert!(!e.satisfied(&key(), t0, cache_before));
        // The create shows; the delete does not yet.
        let created_only = |name: &str| match name {
            "web-a" | "web-old" => Seen::Present,
            _ => Seen::Absent,
        };
        assert!(!e.satisfied(&key(), t0, created_only));
        // Being deleted counts as deleted; the created Pod was already settled.
        let both = |name: &str| match name {
            "web-old" => Seen::Deleting,
            _ => Seen::Absent,
        };
        assert!(e.satisfied(&key(), t0, both));
        // Forgotten once settled.
        assert!(e.satisfied(&key(), t0, cache_before));
    }

    #[test]
    fn unsettled_records_expire() {
        let e = Expectations::default();
        let t0 = Instant::now();
        e.created(&key(), "web-a".into(), t0);
        assert!(!e.satisfied(&key(), t0 + Duration::from_secs(60), |_| Seen::Absent));
        assert!(e.satisfied(&key(), t0 + EXPECTATIONS_TIMEOUT, |_| Seen::Absent));
    }

    #[test]
    fn forget_drops_an_owner() {
        let e = Expectations::default();
        let t0 = Instant::now();
        e.deleted(&key(), "web-a".into(), t0);
        e.forget(&key());
        assert!(e.satisfied(&key(), t0, |_| Seen::Present));
    }
}
