//! Allocated offsets of a space too large for a bitmap (an IPv6 /64 has 2^64 values), kept as
//! ordered runs `start..=end` of consecutive allocated offsets. Memory grows with the number of
//! runs (at most the number of allocations), never with the size of the space, and every
//! operation, including "first free offset at or after x", is O(log runs).

use std::collections::BTreeMap;

/// Allocated offsets of `0..len` as maximal runs: adjacent runs are always merged, so the
/// offset right after a run is free.
#[derive(Debug, Clone)]
pub(super) struct Sparse {
    /// Run start -> run end (inclusive).
    runs: BTreeMap<u128, u128>,
    len: u128,
    used: u128,
}

impl Sparse {
    /// An empty set over `0..len`.
    pub(super) fn new(len: u128) -> Self {
        Sparse {
            runs: BTreeMap::new(),
            len,
            used: 0,
        }
    }

    pub(super) fn used(&self) -> u128 {
        self.used
    }

    /// The run holding `offset`, if any.
    fn run_of(&self, offset: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=offset)
            .next_back()
            .filter(|(_, end)| **end >= offset)
            .map(|(start, end)| (*start, *end))
    }

    pub(super) fn contains(&self, offset: u128) -> bool {
        self.run_of(offset).is_some()
    }

    /// Marks `offset` allocated, merging it with the runs it touches.
    pub(super) fn insert(&mut self, offset: u128) -> bool {
        if offset >= self.len || self.contains(offset) {
            return false;
        }
        // `offset < len <= u128::MAX`, so `offset + 1` cannot overflow.
        let after = self.runs.remove(&(offset + 1));
        let before = offset
            .checked_sub(1)
            .and_then(|previous| self.run_of(previous));
        let end = after.unwrap_or(offset);
        match before {
            Some((start, _)) => self.runs.insert(start, end),
            None => self.runs.insert(offset, end),
        };
        self.used += 1;
        true
    }

    /// Marks `offset` free, splitting its run.
    pub(super) fn remove(&mut self, offset: u128) -> bool {
        let Some((start, end)) = self.run_of(offset) else {
            return false;
        };
        if start < offset {
            self.runs.insert(start, offset - 1);
        } else {
            self.runs.remove(&start);
        }
        if offset < end {
            self.runs.insert(offset + 1, end);
        }
        self.used -= 1;
        true
    }

    /// The lowest free offset in `from..to`: `from` itself, or the end of its run plus one.
    pub(super) fn first_free(&self, from: u128, to: u128) -> Option<u128> {
        let to = to.min(self.len);
        if from >= to {
            return None;
        }
        // Runs end below `len`, so `end + 1` cannot overflow.
        let candidate = self.run_of(from).map_or(from, |(_, end)| end + 1);
        (candidate < to).then_some(candidate)
    }

    /// Allocated offsets in ascending order.
    pub(super) fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.runs.iter().flat_map(|(start, end)| *start..=*end)
    }

    /// How many runs are stored (for tests of the merge logic).
    #[cfg(test)]
    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }
}
