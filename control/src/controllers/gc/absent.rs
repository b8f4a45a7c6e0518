//! Owners verified gone, by uid, so that a thousand Pods of one deleted ReplicaSet cost one
//! GET of it, not a thousand. A uid is never reused, so an entry never turns wrong; the set is
//! bounded and forgets its oldest entries first.

use std::collections::{HashSet, VecDeque};

/// The most uids remembered.
pub(super) const ABSENT_CAPACITY: usize = 4096;

/// A bounded set of uids of owners known not to exist.
#[derive(Debug, Default)]
pub(super) struct AbsentOwners {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl AbsentOwners {
    /// Whether `uid` was verified gone.
    pub(super) fn contains(&self, uid: &str) -> bool {
        self.set.contains(uid)
    }

    /// Remembers `uid` as gone, forgetting the oldest entry when full.
    pub(super) fn insert(&mut self, uid: &str) {
        if self.set.contains(uid) {
            return;
        }
        if self.order.len() >= ABSENT_CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(uid.to_string());
        self.set.insert(uid.to_string());
    }
}
