//! NodePort allocation for one port range (`--service-node-port-range`, default 30000-32767),
//! the way kube-apiserver does it.
//!
//! Dynamic allocation prefers the upper band and falls back to the low static band (see
//! [`crate::node_port_static_band`]). A port is one value for every protocol: callers that let
//! TCP and UDP share a NodePort track that themselves. No lock, no persistence: the caller
//! wraps it in a lock and rebuilds it by calling [`PortAllocator::allocate`] for every stored
//! NodePort.

#[cfg(test)]
mod tests;

use std::ops::RangeInclusive;

use crate::AllocError;
use crate::banded::{BandedSet, node_port_static_band};

/// NodePorts of one range.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    range: RangeInclusive<u16>,
    taken: BandedSet,
    description: String,
}

impl PortAllocator {
    /// An allocator for `range`.
    ///
    /// # Errors
    /// [`AllocError::InvalidRange`] when the range is empty (start after end) or includes
    /// port 0.
    pub fn new(range: RangeInclusive<u16>) -> Result<Self, AllocError> {
        Self::build(range, None)
    }

    /// Like [`Self::new`], but dynamic picks follow a reproducible order derived from `seed`
    /// (for tests and simulations; production code should use [`Self::new`]).
    pub fn with_seed(range: RangeInclusive<u16>, seed: u64) -> Result<Self, AllocError> {
        Self::build(range, Some(seed))
    }

    fn build(range: RangeInclusive<u16>, seed: Option<u64>) -> Result<Self, AllocError> {
        let (start, end) = (*range.start(), *range.end());
        let shown = format!("{start}-{end}");
        if start > end {
            return Err(AllocError::invalid_range(
                shown,
                "the range is empty: its start is above its end",
            ));
        }
        if start == 0 {
            return Err(AllocError::invalid_range(
                shown,
                "port 0 cannot be a NodePort; start the range at 1 or above",
            ));
        }
        let len = u128::from(end - start) + 1;
        let taken = BandedSet::new(len, node_port_static_band(len), seed);
        Ok(PortAllocator {
            range,
            taken,
            description: format!("{shown} ({len} ports)"),
        })
    }

    /// The port range.
    pub fn range(&self) -> RangeInclusive<u16> {
        self.range.clone()
    }

    /// Allocates a free port: a random free one of the upper (dynamic) band, or of the static
    /// band once the upper band is full.
    ///
    /// # Errors
    /// [`AllocError::Full`] when every port of the range is allocated.
    pub fn allocate_next(&mut self) -> Result<u16, AllocError> {
        match self.taken.allocate_dynamic() {
            Some(offset) => Ok(self.port_at(offset)),
            None => Err(AllocError::full(&self.description)),
        }
    }

    /// Allocates a requested port (a user's `nodePort`, or one found in storage on restart).
    ///
    /// # Errors
    /// [`AllocError::OutOfRange`] when `port` is outside the range;
    /// [`AllocError::AlreadyAllocated`] when it is taken.
    pub fn allocate(&mut self, port: u16) -> Result<(), AllocError> {
        let offset = self
            .offset_of(port)
            .ok_or_else(|| AllocError::out_of_range(port, &self.description))?;
        if self.taken.set_mut().insert(offset) {
            Ok(())
        } else {
            Err(AllocError::already_allocated(port))
        }
    }

    /// Releases a port; returns whether it was allocated (false for free or foreign ports).
    pub fn release(&mut self, port: u16) -> bool {
        self.offset_of(port)
            .is_some_and(|offset| self.taken.set_mut().remove(offset))
    }

    /// Whether `port` is allocated.
    pub fn is_allocated(&self, port: u16) -> bool {
        self.offset_of(port)
            .is_some_and(|offset| self.taken.set().contains(offset))
    }

    /// How many ports the range holds.
    pub fn size(&self) -> usize {
        usize::from(self.range.end() - self.range.start()) + 1
    }

    /// How many ports are allocated.
    pub fn used(&self) -> usize {
        // At most 65535, so the conversion cannot truncate.
        self.taken.set().used() as usize
    }

    /// How many ports are free.
    pub fn free(&self) -> usize {
        self.size() - self.used()
    }

    /// The static band `first..=last` (the lowest ports, taken dynamically only once the rest
    /// is full); `None` for ranges of fewer than 16 ports.
    pub fn static_band(&self) -> Option<RangeInclusive<u16>> {
        let band = self.taken.static_band();
        (band > 0).then(|| self.port_at(0)..=self.port_at(band - 1))
    }

    /// The allocated ports in ascending order.
    pub fn allocated(&self) -> impl Iterator<Item = u16> + '_ {
        self.taken.set().iter().map(|offset| self.port_at(offset))
    }

    fn offset_of(&self, port: u16) -> Option<u128> {
        self.range
            .contains(&port)
            .then(|| u128::from(port - self.range.start()))
    }

    fn port_at(&self, offset: u128) -> u16 {
        // Offsets come from the set over `0..len`, so start + offset <= end fits in u16.
        self.range.start() + offset as u16
    }
}
