//! Address and port allocators for switchyard: service ClusterIPs, NodePorts, per-node pod CIDRs
//! and pod IPs, for IPv4 and IPv6.
//!
//! OWNER: ipam helper. This file is a placeholder with the agreed interface; every allocator
//! is a plain `&mut self` structure (callers wrap it in a lock).

use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// No free value is left in the range.
    #[error("range {range} is full")]
    Full {
        /// The exhausted range.
        range: String,
    },
    /// The requested value is outside the range.
    #[error("{value} is not in the range {range}")]
    OutOfRange {
        /// The requested value.
        value: String,
        /// The range it had to be in.
        range: String,
    },
    /// The requested value is already allocated.
    #[error("{value} is already allocated")]
    AlreadyAllocated {
        /// The requested value.
        value: String,
    },
    /// The range itself cannot be used (too small, wrong family, bad prefix).
    #[error("invalid range {range}: {reason}")]
    InvalidRange {
        /// The range.
        range: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Service ClusterIPs of one CIDR.
#[derive(Debug)]
pub struct ServiceIpAllocator {
    cidr: IpNet,
}

impl ServiceIpAllocator {
    /// An allocator for `cidr`.
    pub fn new(cidr: IpNet) -> Result<Self, AllocError> {
        Ok(ServiceIpAllocator { cidr })
    }
    /// The CIDR.
    pub fn cidr(&self) -> IpNet {
        self.cidr
    }
    /// The first usable IP, reserved for `default/kubernetes`.
    pub fn kubernetes_ip(&self) -> IpAddr {
        self.cidr.network()
    }
    /// Allocates a free IP (dynamic band first).
    pub fn allocate_next(&mut self) -> Result<IpAddr, AllocError> {
        Err(AllocError::Full {
            range: self.cidr.to_string(),
        })
    }
    /// Allocates a requested IP.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        Err(AllocError::AlreadyAllocated {
            value: ip.to_string(),
        })
    }
    /// Releases an IP; returns whether it was allocated.
    pub fn release(&mut self, ip: IpAddr) -> bool {
        let _ = ip;
        false
    }
    /// Whether `ip` is allocated.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        let _ = ip;
        false
    }
}

/// NodePorts of one range.
#[derive(Debug)]
pub struct PortAllocator {
    range: RangeInclusive<u16>,
}

impl PortAllocator {
    /// An allocator for `range`.
    pub fn new(range: RangeInclusive<u16>) -> Result<Self, AllocError> {
        Ok(PortAllocator { range })
    }
    /// Allocates a free port (dynamic band first).
    pub fn allocate_next(&mut self) -> Result<u16, AllocError> {
        Err(AllocError::Full {
            range: format!("{:?}", self.range),
        })
    }
    /// Allocates a requested port.
    pub fn allocate(&mut self, port: u16) -> Result<(), AllocError> {
        Err(AllocError::AlreadyAllocated {
            value: port.to_string(),
        })
    }
    /// Releases a port; returns whether it was allocated.
    pub fn release(&mut self, port: u16) -> bool {
        let _ = port;
        false
    }
    /// Whether `port` is allocated.
    pub fn is_allocated(&self, port: u16) -> bool {
        let _ = port;
        false
    }
}

/// Per-node pod CIDRs carved out of a cluster CIDR.
#[derive(Debug)]
pub struct CidrAllocator {
    cluster: IpNet,
}

impl CidrAllocator {
    /// An allocator of `/prefix_len` subnets of `cluster`.
    pub fn new(cluster: IpNet, prefix_len: u8) -> Result<Self, AllocError> {
        let _ = prefix_len;
        Ok(CidrAllocator { cluster })
    }
    /// Allocates a free subnet.
    pub fn allocate_next(&mut self) -> Result<IpNet, AllocError> {
        Err(AllocError::Full {
            range: self.cluster.to_string(),
        })
    }
    /// Allocates a requested subnet.
    pub fn allocate(&mut self, net: IpNet) -> Result<(), AllocError> {
        Err(AllocError::AlreadyAllocated {
            value: net.to_string(),
        })
    }
    /// Releases a subnet; returns whether it was allocated.
    pub fn release(&mut self, net: IpNet) -> bool {
        let _ = net;
        false
    }
}

/// Pod IPs inside one node's CIDR (network, gateway `.1` and broadcast skipped).
#[derive(Debug)]
pub struct PodIpAllocator {
    cidr: IpNet,
}

impl PodIpAllocator {
    /// An allocator for the node CIDR `cidr`.
    pub fn new(cidr: IpNet) -> Result<Self, AllocError> {
        Ok(PodIpAllocator { cidr })
    }
    /// Allocates a free IP.
    pub fn allocate_next(&mut self) -> Result<IpAddr, AllocError> {
        Err(AllocError::Full {
            range: self.cidr.to_string(),
        })
    }
    /// Allocates a requested IP.
    pub fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        Err(AllocError::AlreadyAllocated {
            value: ip.to_string(),
        })
    }
    /// Releases an IP; returns whether it was allocated.
    pub fn release(&mut self, ip: IpAddr) -> bool {
        let _ = ip;
        false
    }
}
