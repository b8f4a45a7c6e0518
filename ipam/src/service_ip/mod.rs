//! Service ClusterIP allocation for one service CIDR, the way kube-apiserver does it.
//!
//! Usable addresses exclude the network address and, for IPv4, the broadcast address; the first
//! usable one (network + 1) is the `default/kubernetes` ClusterIP, requested explicitly like any
//! static IP. Dynamic allocation prefers the upper band and falls back to the static band (see
//! [`crate::service_ip_static_band`]). Any prefix works: a /64 or larger IPv6 range costs memory
//! only for what is allocated (kube-apiserver's bitmap allocator refused IPv4 ranges larger than
//! /12 and IPv6 ranges larger than /108, 2^20 addresses; up to that size this one also uses a
//! bitmap). This module holds no lock and no persistence: the caller wraps it
//! in a lock, and rebuilds it after a restart by calling [`ServiceIpAllocator::allocate`] for
//! every ClusterIP it has stored.

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::AllocError;
use crate::address::AddressSpace;
use crate::banded::{BandedSet, service_ip_static_band};

/// Service ClusterIPs of one CIDR.
#[derive(Debug, Clone)]
pub struct ServiceIpAllocator {
    space: AddressSpace,
    taken: BandedSet,
}

impl ServiceIpAllocator {
    /// An allocator for `cidr`.
    ///
    /// # Errors
    /// [`AllocError::InvalidRange`] when `cidr` has host bits set (`10.96.0.1/12`) or has no
    /// usable address (IPv4 /31 and /32, IPv6 /128).
    pub fn new(cidr: IpNet) -> Result<Self, AllocError> {
        Self::build(cidr, None)
    }

    /// Like [`Self::new`], but dynamic picks follow a reproducible order derived from `seed`
    /// (for tests and simulations; production code should use [`Self::new`]).
    pub fn with_seed(cidr: IpNet, seed: u64) -> Result<Self, AllocError> {
        Self::build(cidr, Some(seed))
    }

    fn build(cidr: IpNet, seed: Option<u64>) -> Result<Self, AllocError> {
        let space = AddressSpace::new(cidr, 1, "service CIDR")?;
        let band = service_ip_static_band(space.cidr_size());
        let taken = BandedSet::new(space.len(), band, seed);
        Ok(ServiceIpAllocator { space, taken })
    }

    /// The CIDR.
    pub fn cidr(&self) -> IpNet {
        self.space.net()
    }

    /// The first usable IP (network + 1), the ClusterIP of `default/kubernetes`. It is not
    /// allocated automatically: request it with [`Self::allocate`].
    pub fn kubernetes_ip(&self) -> IpAddr {
        self.space.at(0)
    }

    /// Allocates a free IP: a random free one of the upper (dynamic) band, or of the static band
    /// once the upper band is full.
    ///
    /// # Errors
    /// [`AllocError::Full`] when every usable address is allocated.
    pub fn allocate_next(&mut self) -> Result<IpAddr, AllocError> {
        match self.taken.allocate_dynamic() {
            Some(offset) => Ok(self.space.at(offset)),
            None => Err(AllocError::full(self.space.describe())),
        }
    }

    /// Allocates a requested IP (a user's `spec.clusterIP`, or one found in storage on restart).
    ///
    /// # Errors
    /// [`AllocError::OutOfRange`] when `ip` is not a usable address of the CIDR (including the
    /// network and broadcast addresses and the other family); [`AllocError::AlreadyAllocated`]
    /// when it is taken.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        let offset = self
            .space
            .offset_of(ip)
            .ok_or_else(|| AllocError::out_of_range(ip, self.space.describe()))?;
        if self.taken.set_mut().insert(offset) {
            Ok(())
        } else {
            Err(AllocError::already_allocated(ip))
        }
    }

    /// Releases an IP; returns whether it was allocated (false for free or foreign IPs).
    pub fn release(&mut self, ip: IpAddr) -> bool {
        self.space
            .offset_of(ip)
            .is_some_and(|offset| self.taken.set_mut().remove(offset))
    }

    /// Whether `ip` is allocated.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.space
            .offset_of(ip)
            .is_some_and(|offset| self.taken.set().contains(offset))
    }

    /// How many usable addresses the CIDR has (network and IPv4 broadcast excluded).
    pub fn size(&self) -> u128 {
        self.space.len()
    }

    /// How many addresses are allocated.
    pub fn used(&self) -> u128 {
        self.taken.set().used()
    }

    /// How many addresses are free.
    pub fn free(&self) -> u128 {
        self.size() - self.used()
    }

    /// The static band: the lowest usable addresses, `first..=last`, that dynamic allocation
    /// takes only once the rest is full; `None` when the CIDR is too small to have one.
    pub fn static_band(&self) -> Option<(IpAddr, IpAddr)> {
        let band = self.taken.static_band();
        (band > 0).then(|| (self.space.at(0), self.space.at(band - 1)))
    }

    /// Whether `ip` lies in the static band (allocated or not).
    pub fn in_static_band(&self, ip: IpAddr) -> bool {
        self.space
            .offset_of(ip)
            .is_some_and(|offset| offset < self.taken.static_band())
    }

    /// The allocated addresses in ascending order.
    pub fn allocated(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.taken.set().iter().map(|offset| self.space.at(offset))
    }
}
