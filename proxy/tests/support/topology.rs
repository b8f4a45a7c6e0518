//! [`Chain`]: three namespaces in a row, client ↔ node ↔ backend, routed through the node.
//!
//! ```text
//!  client ns                node ns                          backend ns
//!  eth0 10.1.1.2+i/24  <->  cli 10.1.1.1/24 | be 10.1.2.1/24 <->  eth0 10.1.2.10+i/24
//!       fd01:1::2+i/64          fd01:1::1/64 | fd01:2::1/64        fd01:2::10+i/64
//! ```
//! Client and backend default-route through the node, which forwards. Addresses are fixed
//! because every chain has its own namespaces; only the namespace names are unique.

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Netns, veth};

/// Node-side address facing the client (also the address NodePorts are reached on).
pub const NODE_V4: [u8; 4] = [10, 1, 1, 1];
/// Node-side IPv6 address facing the client.
pub const NODE_V6: [u16; 8] = [0xfd01, 1, 0, 0, 0, 0, 0, 1];

/// A client ns, a node ns and a backend ns, wired and routed (IPv4 and IPv6).
#[derive(Debug)]
pub struct Chain {
    /// Where clients run (`clients` addresses on `eth0`).
    pub client: Netns,
    /// Where the proxy (or nft rules) runs; forwards between `cli` and `be`.
    pub node: Netns,
    /// Where backends run (`backends` addresses on `eth0`).
    pub backend: Netns,
    clients: u8,
    backends: u8,
}

impl Chain {
    /// Builds the chain with `clients` client addresses and `backends` backend addresses
    /// (each at most 100).
    pub fn new(tag: &str, clients: u8, backends: u8) -> io::Result<Chain> {
        if clients == 0 || clients > 100 || backends == 0 || backends > 100 {
            return Err(io::Error::other(
                "clients and backends must be within 1..=100",
            ));
        }
        let chain = Chain {
            client: Netns::new(tag)?,
            node: Netns::new(tag)?,
            backend: Netns::new(tag)?,
            clients,
            backends,
        };
        let net = |s: String| -> io::Result<IpNet> {
            s.parse().map_err(|e| io::Error::other(format!("{s}: {e}")))
        };
        let client_addrs = (0..clients)
            .flat_map(|i| {
                [
                    format!("10.1.1.{}/24", 2 + i),
                    format!("fd01:1::{:x}/64", 2 + i),
                ]
            })
            .map(net)
            .collect::<io::Result<Vec<_>>>()?;
        let backend_addrs = (0..backends)
            .flat_map(|i| {
                [
                    format!("10.1.2.{}/24", 10 + i),
                    format!("fd01:2::{:x}/64", 0x10 + i),
                ]
            })
            .map(net)
            .collect::<io::Result<Vec<_>>>()?;
        veth(
            &chain.client,
            "eth0",
            &client_addrs,
            &chain.node,
            "cli",
            &[net("10.1.1.1/24".into())?, net("fd01:1::1/64".into())?],
        )?;
        veth(
            &chain.backend,
            "eth0",
            &backend_addrs,
            &chain.node,
            "be",
            &[net("10.1.2.1/24".into())?, net("fd01:2::1/64".into())?],
        )?;
        chain.node.enable_forwarding()?;
        chain
            .client
            .ip(&["route", "add", "default", "via", "10.1.1.1"])?;
        chain
            .client
            .ip(&["-6", "route", "add", "default", "via", "fd01:1::1"])?;
        chain
            .backend
            .ip(&["route", "add", "default", "via", "10.1.2.1"])?;
        chain
            .backend
            .ip(&["-6", "route", "add", "default", "via", "fd01:2::1"])?;
        Ok(chain)
    }

    /// The `i`-th client address (IPv4 when `v4`); `None` past the count.
    pub fn client_ip(&self, i: u8, v4: bool) -> Option<IpAddr> {
        (i < self.clients).then(|| match v4 {
            true => IpAddr::from([10, 1, 1, 2 + i]),
            false => IpAddr::from([0xfd01, 1, 0, 0, 0, 0, 0, 2 + u16::from(i)]),
        })
    }

    /// The `i`-th backend address (IPv4 when `v4`); `None` past the count.
    pub fn backend_ip(&self, i: u8, v4: bool) -> Option<IpAddr> {
        (i < self.backends).then(|| match v4 {
            true => IpAddr::from([10, 1, 2, 10 + i]),
            false => IpAddr::from([0xfd01, 2, 0, 0, 0, 0, 0, 0x10 + u16::from(i)]),
        })
    }

    /// The node's address facing the client.
    pub fn node_ip(&self, v4: bool) -> IpAddr {
        match v4 {
            true => IpAddr::from(NODE_V4),
            false => IpAddr::from(NODE_V6),
        }
    }
}
