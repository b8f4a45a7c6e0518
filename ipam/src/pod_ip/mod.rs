//! Pod IPs inside one node's pod CIDR, in the manner of the CNI `host-local` IPAM plugin.
//!
//! The network address, the gateway (network + 1, the node's bridge address) and, for IPv4,
//! the broadcast address are never handed out. New IPs are taken in address order starting just
//! after the last one handed out, wrapping, so a just-released IP is not immediately reused (a
//! peer may still hold connections or ARP/neighbour entries for the old pod). Any prefix works:
//! a /64 IPv6 node range costs memory only for what is allocated. No lock, no persistence:
//! rebuild by calling [`PodIpAllocator::allocate`] for every stored pod IP (that does not move
//! the "last handed out" position, so after a restart new IPs start from the bottom again).

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::AllocError;
use crate::address::AddressSpace;
use crate::offsets::OffsetSet;

/// Pod IPs inside one node's CIDR (network, gateway `.1` and broadcast skipped).
#[derive(Debug, Clone)]
pub struct PodIpAllocator {
    space: AddressSpace,
    taken: OffsetSet,
    next: u128,
}

impl PodIpAllocator {
    /// An allocator for the node CIDR `cidr`.
    ///
    /// # Errors
    /// [`AllocError::InvalidRange`] when `cidr` has host bits set or leaves no address once the
    /// network, gateway and broadcast are excluded (IPv4 /31 and /32, IPv6 /127 and /128).
    pub fn new(cidr: IpNet) -> Result<Self, AllocError> {
        let space = AddressSpace::new(cidr, 2, "pod CIDR")?;
        let taken = OffsetSet::new(space.len());
        Ok(PodIpAllocator {
            space,
            taken,
            next: 0,
        })
    }

    /// The node's pod CIDR.
    pub fn cidr(&self) -> IpNet {
        self.space.net()
    }

    /// The gateway address (network + 1), reserved for the node's side of the pod network.
    pub fn gateway(&self) -> IpAddr {
        // The space starts at network + 2 and cannot be empty, so this stays in the CIDR.
        let network = self.space.net().network();
        match network {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) + 1).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) + 1).into()),
        }
    }

    /// Allocates a free IP: the next free one after the last handed out, wrapping.
    ///
    /// # Errors
    /// [`AllocError::Full`] when every usable address is allocated.
    pub fn allocate_next(&mut self) -> Result<IpAddr, AllocError> {
        let len = self.space.len();
        let offset = self
            .taken
            .first_free_wrapping(0, len, self.next)
            .ok_or_else(|| AllocError::full(self.space.describe()))?;
        self.taken.insert(offset);
        self.next = if offset + 1 >= len { 0 } else { offset + 1 };
        Ok(self.space.at(offset))
    }

    /// Allocates a requested IP (a static pod IP, or one found in storage on restart).
    ///
    /// # Errors
    /// [`AllocError::OutOfRange`] when `ip` is not a usable address of the CIDR (network,
    /// gateway, broadcast, outside, or the other family); [`AllocError::AlreadyAllocated`] when
    /// it is taken.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        let offset = self
            .space
            .offset_of(ip)
            .ok_or_else(|| AllocError::out_of_range(ip, self.space.describe()))?;
        if self.taken.insert(offset) {
            Ok(())
        } else {
            Err(AllocError::already_allocated(ip))
        }
    }

    /// Releases an IP; returns whether it was allocated (false for free or foreign IPs).
    pub fn release(&mut self, ip: IpAddr) -> bool {
        self.space
            .offset_of(ip)
            .is_some_and(|offset| self.taken.remove(offset))
    }

    /// Whether `ip` is allocated.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.space
            .offset_of(ip)
            .is_some_and(|offset| self.taken.contains(offset))
    }

    /// How many addresses can be handed out (network, gateway and IPv4 broadcast excluded).
    pub fn size(&self) -> u128 {
        self.space.len()
    }

    /// How many addresses are allocated.
    pub fn used(&self) -> u128 {
        self.taken.used()
    }

    /// How many addresses are free.
    pub fn free(&self) -> u128 {
        self.size() - self.used()
    }

    /// The allocated addresses in ascending order.
    pub fn allocated(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.taken.iter().map(|offset| self.space.at(offset))
    }
}
