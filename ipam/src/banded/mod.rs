//! Kubernetes-style "static band" allocation shared by ClusterIPs and NodePorts.
//!
//! Kubernetes splits a range into a low static band, meant for values users request
//! explicitly, and the upper dynamic band. Dynamic allocation starts at a random offset of the
//! upper band and scans upward, wrapping inside the band; only when the upper band is full does
//! it fall back to the static band (same random-start scan). A user picking a value in the
//! static band therefore rarely collides with an automatically assigned one. This module knows
//! offsets only; it never sees addresses or ports.

#[cfg(test)]
mod tests;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::offsets::OffsetSet;

/// Size of the ClusterIP static band for a CIDR of `cidr_size` addresses (network and broadcast
/// included), as in Kubernetes 1.24+ (`ServiceIPStaticSubrange`): `min(max(16, cidr_size / 16),
/// 256)`, or 0 when the CIDR has fewer than 16 addresses. A /24 gives 16, a /20 or larger 256.
pub fn service_ip_static_band(cidr_size: u128) -> u128 {
    static_band(cidr_size, 16, 256)
}

/// Size of the NodePort static band for a range of `range_size` ports, as in Kubernetes 1.27+
/// (`ServiceNodePortStaticSubrange`): `min(max(16, range_size / 32), 128)`, or 0 when the range
/// has fewer than 16 ports. The default 30000-32767 (2768 ports) gives 86: 30000-30085.
pub fn node_port_static_band(range_size: u128) -> u128 {
    static_band(range_size, 32, 128)
}

fn static_band(size: u128, step: u128, max: u128) -> u128 {
    const MIN: u128 = 16;
    if size < MIN {
        return 0;
    }
    (size / step).clamp(MIN, max)
}

/// Allocated offsets of `0..len` plus the static band and the random source for dynamic picks.
#[derive(Debug, Clone)]
pub(crate) struct BandedSet {
    set: OffsetSet,
    len: u128,
    static_band: u128,
    rng: SmallRng,
}

impl BandedSet {
    /// An empty set over `0..len` whose lowest `static_band` offsets (capped at `len`) are the
    /// static band. `seed` makes the dynamic order reproducible; `None` seeds from the OS.
    pub(crate) fn new(len: u128, static_band: u128, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        BandedSet {
            set: OffsetSet::new(len),
            len,
            static_band: static_band.min(len),
            rng,
        }
    }

    /// The allocated offsets.
    pub(crate) fn set(&self) -> &OffsetSet {
        &self.set
    }

    /// The allocated offsets, for explicit allocation and release.
    pub(crate) fn set_mut(&mut self) -> &mut OffsetSet {
        &mut self.set
    }

    /// How many of the lowest offsets form the static band.
    pub(crate) fn static_band(&self) -> u128 {
        self.static_band
    }

    /// Picks and marks a free offset: upper band first, static band only when it is full.
    pub(crate) fn allocate_dynamic(&mut self) -> Option<u128> {
        let offset = self
            .pick(self.static_band, self.len)
            .or_else(|| self.pick(0, self.static_band))?;
        self.set.insert(offset);
        Some(offset)
    }

    /// A free offset of `from..to`, scanning from a random start and wrapping.
    fn pick(&mut self, from: u128, to: u128) -> Option<u128> {
        if from >= to {
            return None;
        }
        let start = self.rng.random_range(from..to);
        self.set.first_free_wrapping(from, to, start)
    }
}
