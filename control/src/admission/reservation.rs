//! A reservation: the allocator lock held for one admission, plus the values taken so far.
//! Dropping it without [`Reservation::keep`] gives every taken value back, so a failed admission
//! leaves nothing allocated. It never decides what to take.

use std::ops::Deref;
use std::sync::MutexGuard;

use ipam::AllocError;

use super::allocations::{Allocators, Claim};

/// Values taken during one admission, released on drop unless kept.
pub(crate) struct Reservation<'a> {
    alloc: MutexGuard<'a, Allocators>,
    taken: Vec<Claim>,
}

impl<'a> Reservation<'a> {
    /// Starts a reservation under the allocator lock.
    pub(crate) fn new(alloc: MutexGuard<'a, Allocators>) -> Self {
        Reservation {
            alloc,
            taken: Vec::new(),
        }
    }

    /// Takes a requested value; `Ok(false)` when the value is not tracked.
    pub(crate) fn take(&mut self, claim: Claim) -> Result<bool, AllocError> {
        let held = self.alloc.take(&claim)?;
        if held {
            self.taken.push(claim);
        }
        Ok(held)
    }

    /// Allocates a free value with `next` (one of the `Allocators::next_*` functions).
    pub(crate) fn next(
        &mut self,
        next: impl FnOnce(&mut Allocators) -> Result<Claim, AllocError>,
    ) -> Result<Claim, AllocError> {
        let claim = next(&mut self.alloc)?;
        self.taken.push(claim);
        Ok(claim)
    }

    /// Keeps everything taken: the object is about to be committed.
    pub(crate) fn keep(&mut self) {
        self.taken.clear();
    }
}

impl Deref for Reservation<'_> {
    type Target = Allocators;

    fn deref(&self) -> &Allocators {
        &self.alloc
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        for claim in self.taken.drain(..).rev() {
            self.alloc.release(&claim);
        }
    }
}
