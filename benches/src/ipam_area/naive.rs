//! The naive reference allocator: a `HashSet` of taken offsets, a random start and a linear
//! probe. Deliberately simple; it exists only to give the IPAM numbers a baseline.

use std::collections::HashSet;

/// A tiny deterministic PRNG (SplitMix64), so both allocators see the same kind of randomness
/// cost without pulling a generator into the comparison.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Offsets `0..size`, taken ones in a `HashSet`.
pub struct NaiveAllocator {
    size: u32,
    taken: HashSet<u32>,
    rng: SplitMix,
}

impl NaiveAllocator {
    /// An empty allocator over `0..size`.
    pub fn new(size: u32, seed: u64) -> Self {
        NaiveAllocator {
            size,
            taken: HashSet::new(),
            rng: SplitMix(seed),
        }
    }

    /// A free offset (random start, linear probe); `None` when full.
    pub fn allocate_next(&mut self) -> Option<u32> {
        if self.taken.len() >= self.size as usize {
            return None;
        }
        let start = self.rng.below(u64::from(self.size)) as u32;
        for i in 0..self.size {
            let v = (start + i) % self.size;
            if self.taken.insert(v) {
                return Some(v);
            }
        }
        None
    }

    /// Frees `v`; whether it was taken.
    pub fn release(&mut self, v: u32) -> bool {
        self.taken.remove(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_exactly_and_then_refuses() {
        let mut a = NaiveAllocator::new(100, 7);
        let mut seen = HashSet::new();
        for _ in 0..100 {
            let v = a.allocate_next();
            assert!(v.is_some_and(|v| v < 100 && seen.insert(v)), "{v:?}");
        }
        assert_eq!(a.allocate_next(), None);
        assert!(a.release(5));
        assert_eq!(a.allocate_next(), Some(5));
    }
}
