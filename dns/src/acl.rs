//! Who may have names outside the cluster zone forwarded (recursion): a list of client
//! networks ([`RecursionAcl`]) and the default list of the node itself
//! ([`default_recursion_clients`]). Cluster-zone names are answered for every client; this
//! module only decides forwarding and never answers anything itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::DnsError;

/// Client networks allowed to have names outside the cluster zone forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecursionAcl {
    nets: Vec<IpNet>,
}

impl RecursionAcl {
    /// An allow list of `nets` (an empty list allows nobody).
    pub(crate) fn new(nets: &[IpNet]) -> Self {
        let mut nets: Vec<IpNet> = nets.iter().map(IpNet::trunc).collect();
        nets.sort();
        nets.dedup();
        RecursionAcl { nets }
    }

    /// True when `client` is in one of the networks. An IPv4 client seen through a dual-stack
    /// socket (`::ffff:a.b.c.d`) is matched as its IPv4 address.
    pub(crate) fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.nets.iter().any(|net| net.contains(&client))
    }
}

/// Loopback networks (127.0.0.0/8 and ::1/128): always in [`default_recursion_clients`].
pub const LOOPBACK_NETS: [IpNet; 2] = [
    IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
];

/// The recursion allow list used when none is configured: loopback, this host's own interface
/// addresses (each as a single-address network) and `in_cluster` (the cluster's pod and
/// service CIDRs, when known).
///
/// # Errors
/// The host's interface addresses cannot be read (`getifaddrs` failed).
pub fn default_recursion_clients(in_cluster: &[IpNet]) -> Result<Vec<IpNet>, DnsError> {
    let mut nets = LOOPBACK_NETS.to_vec();
    nets.extend(host_addresses()?.into_iter().map(IpNet::from));
    nets.extend(in_cluster.iter().copied());
    // Merged: an address inside a listed network (127.0.0.1 in 127.0.0.0/8) is not repeated.
    Ok(IpNet::aggregate(&nets))
}

/// Every IP address configured on an interface of this host.
fn host_addresses() -> Result<Vec<IpAddr>, DnsError> {
    let interfaces = nix::ifaddrs::getifaddrs().map_err(|errno| DnsError::HostAddresses {
        source: std::io::Error::from(errno),
    })?;
    let mut addresses: Vec<IpAddr> = interfaces
        .filter_map(|interface| {
            let address = interface.address?;
            if let Some(v4) = address.as_sockaddr_in() {
                return Some(IpAddr::V4(v4.ip()));
            }
            address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse()
            .unwrap_or_else(|_| IpNet::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn allows_only_listed_networks() {
        let acl = RecursionAcl::new(&[net("10.244.0.0/16"), net("fd00::/64"), net("127.0.0.1/32")]);
        let ip = |text: &str| {
            text.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        assert!(acl.allows(ip("10.244.3.4")));
        assert!(
            acl.allows(ip("::ffff:10.244.3.4")),
            "v4-mapped is matched as v4"
        );
        assert!(acl.allows(ip("fd00::9")));
        assert!(acl.allows(ip("127.0.0.1")));
        assert!(!acl.allows(ip("127.0.0.2")));
        assert!(!acl.allows(ip("10.245.0.1")));
        assert!(!acl.allows(ip("fd00:0:0:1::9")));
        assert!(!RecursionAcl::new(&[]).allows(ip("127.0.0.1")));
    }

    #[test]
    fn default_list_has_loopback_the_host_and_the_cluster() -> Result<(), DnsError> {
        let nets = default_recursion_clients(&[net("10.96.0.0/12")])?;
        let acl = RecursionAcl::new(&nets);
        assert!(acl.allows(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53))));
        assert!(acl.allows(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(acl.allows(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10))));
        assert!(
            !acl.allows(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            "TEST-NET-1 is nobody's"
        );
        for address in host_addresses()? {
            assert!(acl.allows(address), "{address} is the host's own");
        }
        Ok(())
    }
}
