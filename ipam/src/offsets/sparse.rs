//! An ordered set of allocated offsets, for spaces too large for a bitmap (an IPv6 /64 has 2^64
//! values). Memory grows with what is allocated, never with the size of the space.

use std::collections::BTreeSet;

/// The allocated offsets of a space of `len` values, kept in order.
#[derive(Debug, Clone)]
pub(super) struct Sparse {
    taken: BTreeSet<u128>,
    len: u128,
}

impl Sparse {
    /// An empty set over `0..len`.
    pub(super) fn new(len: u128) -> Self {
        Sparse {
            taken: BTreeSet::new(),
            len,
        }
    }

    pub(super) fn used(&self) -> u128 {
        self.taken.len() as u128
    }

    pub(super) fn contains(&self, offset: u128) -> bool {
        self.taken.contains(&offset)
    }

    pub(super) fn insert(&mut self, offset: u128) -> bool {
        offset < self.len && self.taken.insert(offset)
    }

    pub(super) fn remove(&mut self, offset: u128) -> bool {
        self.taken.remove(&offset)
    }

    /// The lowest free offset in `from..to`: walks the allocated run that starts at `from` (if
    /// any) and returns the first gap, so the cost is the length of that run, not of the space.
    pub(super) fn first_free(&self, from: u128, to: u128) -> Option<u128> {
        let to = to.min(self.len);
        if from >= to {
            return None;
        }
        let mut candidate = from;
        for &taken in self.taken.range(from..to) {
            if taken != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < to).then_some(candidate)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.taken.iter().copied()
    }
}
