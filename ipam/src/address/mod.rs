//! Maps the usable addresses of one CIDR to offsets `0..len` and back, for both families.
//!
//! The allocators keep offsets, not addresses; this module is the only place that does address
//! arithmetic (as `u128`, so IPv4 and IPv6 share one code path). It validates the CIDR once and
//! never allocates anything itself.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::AllocError;

/// The usable addresses of a CIDR, as a contiguous run `first..=last` of numeric addresses.
#[derive(Debug, Clone)]
pub(crate) struct AddressSpace {
    net: IpNet,
    first: u128,
    last: u128,
    description: String,
}

impl AddressSpace {
    /// The addresses of `net` minus the lowest `skip_low` (the network address, and for pod
    /// ranges the gateway) and, for IPv4, the broadcast address. `kind` names the range in
    /// errors ("service CIDR", "pod CIDR").
    ///
    /// Fails when `net` has host bits set or leaves no usable address.
    pub(crate) fn new(net: IpNet, skip_low: u8, kind: &str) -> Result<Self, AllocError> {
        if net.trunc() != net {
            return Err(AllocError::invalid_range(
                net,
                format!("{kind} has host bits set; the network is {}", net.trunc()),
            ));
        }
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let base = numeric(net.network());
        let host_mask = 1u128
            .checked_shl(host_bits)
            .map_or(u128::MAX, |size| size - 1);
        let top = base | host_mask;
        let first = base.checked_add(u128::from(skip_low));
        let last = match net {
            IpNet::V4(_) => top.checked_sub(1),
            IpNet::V6(_) => Some(top),
        };
        let (first, last) = match (first, last) {
            (Some(first), Some(last)) if first <= last => (first, last),
            _ => {
                return Err(AllocError::invalid_range(
                    net,
                    format!(
                        "{kind} /{} leaves no usable address once the {} excluded",
                        net.prefix_len(),
                        excluded(net, skip_low)
                    ),
                ));
            }
        };
        let mut space = AddressSpace {
            net,
            first,
            last,
            description: String::new(),
        };
        space.description = format!(
            "{net} (usable {}-{}, {} addresses)",
            space.address(first),
            space.address(last),
            space.len()
        );
        Ok(space)
    }

    /// The CIDR.
    pub(crate) fn net(&self) -> IpNet {
        self.net
    }

    /// How many usable addresses there are (at most `u128::MAX`: a /0 IPv6 less its network).
    pub(crate) fn len(&self) -> u128 {
        self.last - self.first + 1
    }

    /// The size of the whole CIDR, saturating at `u128::MAX` for an IPv6 /0.
    pub(crate) fn cidr_size(&self) -> u128 {
        let host_bits = u32::from(self.net.max_prefix_len() - self.net.prefix_len());
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    /// The offset of `ip`, or `None` when it is not a usable address of this space (other
    /// family, outside the CIDR, or one of the excluded addresses).
    pub(crate) fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        let same_family = matches!(
            (ip, self.net),
            (IpAddr::V4(_), IpNet::V4(_)) | (IpAddr::V6(_), IpNet::V6(_))
        );
        let value = numeric(ip);
        (same_family && (self.first..=self.last).contains(&value)).then(|| value - self.first)
    }

    /// The address at `offset` (callers pass offsets below [`Self::len`]).
    pub(crate) fn at(&self, offset: u128) -> IpAddr {
        self.address(self.first.saturating_add(offset).min(self.last))
    }

    /// Human description used in every error: CIDR, usable bounds and count.
    pub(crate) fn describe(&self) -> &str {
        &self.description
    }

    fn address(&self, value: u128) -> IpAddr {
        match self.net {
            // An IPv4 space only holds values below 2^32, so the cast keeps every bit.
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

/// An address as a number (IPv4 in the low 32 bits).
pub(crate) fn numeric(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Which addresses a space excludes, for error messages.
fn excluded(net: IpNet, skip_low: u8) -> &'static str {
    match (net, skip_low) {
        (IpNet::V4(_), 2) => "network, gateway and broadcast addresses are",
        (IpNet::V4(_), _) => "network and broadcast addresses are",
        (IpNet::V6(_), 2) => "network (subnet-router anycast) and gateway addresses are",
        (IpNet::V6(_), _) => "network (subnet-router anycast) address is",
    }
}
