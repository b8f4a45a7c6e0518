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
//! | allocator | values | excluded | dynamic order |
//! |---|---|---|---|
//! | [`ServiceIpAllocator`] | service CIDR | network, IPv4 broadcast | random in the upper band, then the static band |
//! | [`PortAllocator`] | NodePort range | — | random in the upper band, then the static band |
//! | [`CidrAllocator`] | node pod CIDRs | — | next after the last handed out |
//! | [`PodIpAllocator`] | node pod CIDR | network, gateway, IPv4 broadcast | next after the last handed out |

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
