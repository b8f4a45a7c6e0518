//! Address and port allocators for switchyard: service ClusterIPs, NodePorts, per-node pod CIDRs
//! and pod IPs, for IPv4 and IPv6.
//!
//! Each allocator is a plain `&mut self` structure over one range: the caller (the control
//! plane's admission and controllers) wraps it in a lock. Nothing here persists: after a restart
//! the caller rebuilds each allocator by calling `allocate(value)` for every value found in
//! stored objects, which is O(1) per value for ranges up to 2^20 values (a bitmap) and
//! O(log n) beyond (ordered runs of allocated values; see the `offsets` module), and reports
//! duplicates as [`AllocError::AlreadyAllocated`]. This crate never does I/O, never logs on the
//! allocation path, and depends on nothing else of switchyard.
//!
//! | allocator | values | never handed out | dynamic order |
//! |---|---|---|---|
//! | [`ServiceIpAllocator`] | service CIDR | network, IPv4 broadcast | random, upper band first |
//! | [`PortAllocator`] | NodePort range | — | random, upper band first |
//! | [`CidrAllocator`] | node pod CIDRs | — | next after the last handed out |
//! | [`PodIpAllocator`] | node pod CIDR | network, gateway, IPv4 broadcast | next after the last |
//!
//! ```
//! use ipam::{AllocError, ServiceIpAllocator};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut services = ServiceIpAllocator::new("10.96.0.0/16".parse()?)?;
//! services.allocate(services.kubernetes_ip())?; // 10.96.0.1 for default/kubernetes
//! services.allocate("10.96.0.10".parse()?)?; // a static request: cluster DNS
//! let dynamic = services.allocate_next()?; // random, above the 256-address static band
//! assert!(!services.in_static_band(dynamic));
//! let again = services.allocate("10.96.0.10".parse()?);
//! assert!(matches!(again, Err(AllocError::AlreadyAllocated { .. })));
//! # Ok(())
//! # }
//! ```

mod address;
mod banded;
mod error;
mod node_port;
mod offsets;
mod pod_cidr;
mod pod_ip;
mod service_ip;

pub use banded::{node_port_static_band, service_ip_static_band};
pub use error::AllocError;
pub use node_port::PortAllocator;
pub use pod_cidr::{CidrAllocator, MAX_SUBNET_BITS};
pub use pod_ip::PodIpAllocator;
pub use service_ip::ServiceIpAllocator;
#[cfg(test)]
mod test_support;
