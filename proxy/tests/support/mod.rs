//! Shared support for end-to-end proxy tests that need real network namespaces.
//!
//! Pieces, smallest first:
//! - [`require_root`]: whether the test may run (skips with a printed reason, or fails when `CI`
//!   is set and we are not root).
//! - [`Netns`], [`veth`]: from the shared `testkit` crate.
//! - [`TcpBackend`] / [`UdpBackend`]: small real servers bound inside a namespace that answer with
//!   their own address, so a test can count which backend served.
//! - [`Chain`]: the usual topology, client ns ↔ node ns ↔ backend ns, routed, dual-stack.
//!
//! Names are unique per test and process (`testkit::unique_name`); everything cleans up on drop, even
//! when the test fails. Traffic only ever goes to loopback or to addresses inside these
//! namespaces. This module never touches the host's own interfaces.
#![allow(dead_code)]

mod backends;
mod topology;

pub use backends::{
    TcpBackend, UdpBackend, UdpMode, tcp_identify, tcp_identify_from, udp_exchange,
};
pub use testkit::{Netns, veth};
pub use topology::Chain;

/// Whether the test can run its privileged part (network namespaces need root); see
/// [`testkit::require_root`].
pub fn require_root(test: &str) -> bool {
    testkit::require_root(test, "network namespaces")
}
