//! Per-node pod CIDRs carved out of the cluster CIDR, as kube-controller-manager's range
//! allocator does (`--cluster-cidr`, `--node-cidr-mask-size`).
//!
//! Subnets are numbered `0..2^(prefix_len - cluster prefix)` in address order. New subnets are
//! handed out in that order starting just after the last one handed out, wrapping, so a subnet
//! released with a deleted node is reused only after the others (routes and conntrack entries
//! of the old node have time to go). Like Kubernetes, a node prefix more than 16 bits longer
//! than the cluster prefix is refused. No lock, no persistence: rebuild by calling
//! [`CidrAllocator::allocate`] for every stored `spec.podCIDR`.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::AllocError;
use crate::address::numeric;
use crate::offsets::OffsetSet;

/// Most bits a node prefix may add to the cluster prefix (Kubernetes allows 16: 65536 nodes).
pub const MAX_SUBNET_BITS: u8 = 16;

/// Per-node pod CIDRs carved out of a cluster CIDR.
#[derive(Debug, Clone)]
pub struct CidrAllocator {
    cluster: IpNet,
    prefix_len: u8,
    count: u128,
    taken: OffsetSet,
    next: u128,
    description: String,
}

impl CidrAllocator {
    /// An allocator of `/prefix_len` subnets of `cluster`.
    ///
    /// # Errors
    /// [`AllocError::InvalidRange`] when `cluster` has host bits set, when `prefix_len` is
    /// shorter than the cluster prefix or longer than the family allows (/32, /128), or when it
    /// is more than [`MAX_SUBNET_BITS`] longer than the cluster prefix.
    pub fn new(cluster: IpNet, prefix_len: u8) -> Result<Self, AllocError> {
        let shown = format!("/{prefix_len} subnets of {cluster}");
        if cluster.trunc() != cluster {
            return Err(AllocError::invalid_range(
                &shown,
                format!(
                    "the cluster CIDR has host bits set; the network is {}",
                    cluster.trunc()
                ),
            ));
        }
        if prefix_len > cluster.max_prefix_len() {
            return Err(AllocError::invalid_range(
                &shown,
                format!(
                    "node prefix length /{prefix_len} is longer than an {} address (/{})",
                    family(cluster),
                    cluster.max_prefix_len()
                ),
            ));
        }
        if prefix_len < cluster.prefix_len() {
            return Err(AllocError::invalid_range(
                &shown,
                format!(
                    "node prefix length /{prefix_len} is shorter than the cluster prefix /{}",
                    cluster.prefix_len()
                ),
            ));
        }
        let bits = prefix_len - cluster.prefix_len();
        if bits > MAX_SUBNET_BITS {
            return Err(AllocError::invalid_range(
                &shown,
                format!(
                    "node prefix length /{prefix_len} is {bits} bits longer than the cluster \
                     prefix /{}; at most {MAX_SUBNET_BITS} are allowed (65536 subnets)",
                    cluster.prefix_len()
                ),
            ));
        }
        let count = 1u128 << bits;
        Ok(CidrAllocator {
            cluster,
            prefix_len,
            count,
            taken: OffsetSet::new(count),
            next: 0,
            description: format!("{shown} ({count} subnets)"),
        })
    }

    /// The cluster CIDR.
    pub fn cluster(&self) -> IpNet {
        self.cluster
    }

    /// The prefix length of every subnet handed out.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Allocates a free subnet: the next free one after the last handed out, wrapping.
    ///
    /// # Errors
    /// [`AllocError::Full`] when every subnet is allocated.
    pub fn allocate_next(&mut self) -> Result<IpNet, AllocError> {
        let offset = self
            .taken
            .first_free_wrapping(0, self.count, self.next)
            .ok_or_else(|| AllocError::full(&self.description))?;
        self.taken.insert(offset);
        self.next = (offset + 1) % self.count;
        Ok(self.subnet_at(offset))
    }

    /// Allocates a requested subnet (a node's `spec.podCIDR`, or one found in storage on
    /// restart).
    ///
    /// # Errors
    /// [`AllocError::OutOfRange`] when `net` is not one of the `/prefix_len` subnets of the
    /// cluster CIDR (other family, other prefix length, host bits set, or outside);
    /// [`AllocError::AlreadyAllocated`] when it is taken.
    pub fn allocate(&mut self, net: IpNet) -> Result<(), AllocError> {
        let offset = self
            .offset_of(net)
            .ok_or_else(|| AllocError::out_of_range(net, &self.description))?;
        if self.taken.insert(offset) {
            Ok(())
        } else {
            Err(AllocError::already_allocated(net))
        }
    }

    /// Releases a subnet; returns whether it was allocated (false for free or foreign subnets).
    pub fn release(&mut self, net: IpNet) -> bool {
        self.offset_of(net)
            .is_some_and(|offset| self.taken.remove(offset))
    }

    /// Whether `net` is allocated.
    pub fn is_allocated(&self, net: IpNet) -> bool {
        self.offset_of(net)
            .is_some_and(|offset| self.taken.contains(offset))
    }

    /// How many subnets the cluster CIDR holds.
    pub fn size(&self) -> u128 {
        self.count
    }

    /// How many subnets are allocated.
    pub fn used(&self) -> u128 {
        self.taken.used()
    }

    /// How many subnets are free.
    pub fn free(&self) -> u128 {
        self.count - self.used()
    }

    /// The allocated subnets in address order.
    pub fn allocated(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.taken.iter().map(|offset| self.subnet_at(offset))
    }

    fn host_bits(&self) -> u32 {
        u32::from(self.cluster.max_prefix_len() - self.prefix_len)
    }

    fn offset_of(&self, net: IpNet) -> Option<u128> {
        let same_family = matches!(
            (net, self.cluster),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family
            || net.prefix_len() != self.prefix_len
            || net.trunc() != net
            || !self.cluster.contains(&net)
        {
            return None;
        }
        let distance = numeric(net.network()) - numeric(self.cluster.network());
        // Only a /0 IPv6 subnet has 128 host bits; it is the single subnet 0.
        Some(distance.checked_shr(self.host_bits()).unwrap_or(0))
    }

    fn subnet_at(&self, offset: u128) -> IpNet {
        // Only a /0 IPv6 subnet has 128 host bits; it is the single subnet 0.
        let step = offset.checked_shl(self.host_bits()).unwrap_or(0);
        let value = numeric(self.cluster.network()) + step;
        let address = match self.cluster {
            // IPv4 subnets stay below 2^32, so the cast keeps every bit.
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
        };
        // The prefix length was checked against the family in `new`, so this cannot fail; fall
        // back to the cluster CIDR rather than panic.
        IpNet::new(address, self.prefix_len).unwrap_or(self.cluster)
    }
}

fn family(net: IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "IPv4",
        IpNet::V6(_) => "IPv6",
    }
}
