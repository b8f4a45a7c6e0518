//! The set of allocated offsets `0..len` of one allocator, whatever the size of its space.
//!
//! Every allocator in this crate maps its values (addresses, ports, subnets) to offsets in
//! `0..len` and keeps the allocated ones here. Spaces of at most [`DENSE_LIMIT`] values use a
//! bitmap (one bit per value: 128 KiB at the limit, the size Kubernetes caps its IPv6 service
//! bitmap at, a /108); larger spaces (IPv6 /64 pod or service ranges) use ordered runs of
//! consecutive allocated offsets, whose memory grows with the number of allocations, never with
//! the space. Search for a free offset is "lowest free at or after a start, wrapping": a word
//! scan in the bitmap, O(log runs) in the run set. This module never picks values: policy
//! (random start, bands, last handed out) belongs to the allocators.

mod bitmap;
mod sparse;
#[cfg(test)]
mod tests;

use bitmap::Bitmap;
use sparse::Sparse;

/// The largest space kept as a bitmap: 2^20 values (128 KiB).
pub(crate) const DENSE_LIMIT: u128 = 1 << 20;

/// Allocated offsets of a space `0..len`.
#[derive(Debug, Clone)]
pub(crate) struct OffsetSet(Repr);

/// How the set is stored.
#[derive(Debug, Clone)]
enum Repr {
    /// One bit per value.
    Dense(Bitmap),
    /// Ordered runs of allocated values.
    Sparse(Sparse),
}

impl OffsetSet {
    /// An empty set over `0..len`, dense when `len <= DENSE_LIMIT`.
    pub(crate) fn new(len: u128) -> Self {
        match usize::try_from(len) {
            Ok(small) if len <= DENSE_LIMIT => OffsetSet(Repr::Dense(Bitmap::new(small))),
            _ => OffsetSet(Repr::Sparse(Sparse::new(len))),
        }
    }

    /// Whether the set is stored as a bitmap.
    #[cfg(test)]
    pub(crate) fn is_dense(&self) -> bool {
        matches!(self.0, Repr::Dense(_))
    }

    /// How many offsets are allocated.
    pub(crate) fn used(&self) -> u128 {
        match &self.0 {
            Repr::Dense(bits) => bits.used() as u128,
            Repr::Sparse(set) => set.used(),
        }
    }

    /// Whether `offset` is allocated.
    pub(crate) fn contains(&self, offset: u128) -> bool {
        match &self.0 {
            Repr::Dense(bits) => usize::try_from(offset).is_ok_and(|o| bits.contains(o)),
            Repr::Sparse(set) => set.contains(offset),
        }
    }

    /// Marks `offset` allocated; false if it already was (or is out of the space).
    pub(crate) fn insert(&mut self, offset: u128) -> bool {
        match &mut self.0 {
            Repr::Dense(bits) => usize::try_from(offset).is_ok_and(|o| bits.insert(o)),
            Repr::Sparse(set) => set.insert(offset),
        }
    }

    /// Marks `offset` free; false if it was not allocated.
    pub(crate) fn remove(&mut self, offset: u128) -> bool {
        match &mut self.0 {
            Repr::Dense(bits) => usize::try_from(offset).is_ok_and(|o| bits.remove(o)),
            Repr::Sparse(set) => set.remove(offset),
        }
    }

    /// The lowest free offset in `from..to`.
    pub(crate) fn first_free(&self, from: u128, to: u128) -> Option<u128> {
        match &self.0 {
            Repr::Dense(bits) => {
                // A dense space fits in usize, so clamping only drops values past its end.
                let from = usize::try_from(from).ok()?;
                let to = usize::try_from(to).unwrap_or(usize::MAX);
                bits.first_free(from, to).map(|o| o as u128)
            }
            Repr::Sparse(set) => set.first_free(from, to),
        }
    }

    /// The first free offset of `from..to` at or after `start`, wrapping around to `from`.
    pub(crate) fn first_free_wrapping(&self, from: u128, to: u128, start: u128) -> Option<u128> {
        if from >= to {
            return None;
        }
        let start = start.clamp(from, to);
        self.first_free(start, to)
            .or_else(|| self.first_free(from, start))
    }

    /// Allocated offsets in ascending order.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = u128> + '_> {
        match &self.0 {
            Repr::Dense(bits) => Box::new(bits.iter().map(|o| o as u128)),
            Repr::Sparse(set) => Box::new(set.iter()),
        }
    }
}
