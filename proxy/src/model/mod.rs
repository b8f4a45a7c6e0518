//! The proxy's view of services: one [`ServicePort`] per (Service, port), with the addresses it
//! is reached on and its endpoints already resolved. Both data paths (userspace and nftables)
//! consume the same [`ServiceTable`], so they obey the same Service semantics.
//!
//! Built off the hot path from a `cluster_watch::ClusterState`: [`TableBuilder`] keeps it
//! current by rebuilding only the Services a snapshot changed, [`ServiceTable::build`] builds
//! it from scratch (the reference the builder agrees with). The data paths only index into it.
//! It never talks to the API.

mod build;
mod incremental;
mod select;
mod source_ranges;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

pub use build::NodeContext;
pub use incremental::{Rebuild, TableBuilder, TableUpdate};
pub use source_ranges::SOURCE_RANGES_ANNOTATION;

/// The L4 protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`); `None` means the default, TCP.
    pub fn from_k8s(value: Option<&str>) -> Option<Protocol> {
        match value.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Lower-case name as nft spells it (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of one service port: `namespace/name:port-name` plus protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortId {
    /// Service namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// The port's `name` (empty for a single unnamed port).
    pub port_name: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port_name.is_empty() {
            write!(f, ":{}", self.port_name)?;
        }
        write!(f, "/{}", self.protocol)
    }
}

/// One backend address of a service port, with its EndpointSlice conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The endpoint's IP.
    pub ip: IpAddr,
    /// The target port on that IP (resolved by the EndpointSlice).
    pub port: u16,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
    /// `conditions.serving` (unset: same as ready).
    pub serving: bool,
    /// `conditions.terminating` (unset: false).
    pub terminating: bool,
    /// `nodeName`, when the slice says.
    pub node_name: Option<String>,
    /// Whether `node_name` is this proxy's node.
    pub is_local: bool,
}

impl Endpoint {
    /// `ip:port` as a socket address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}

/// Everything a data path needs for one service port.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePort {
    /// Which service port this is.
    pub id: ServicePortId,
    /// The service port number (what clients connect to on ClusterIPs, externalIPs, LB IPs).
    pub port: u16,
    /// ClusterIPs (one per family); empty for headless or ExternalName services (never built).
    pub cluster_ips: Vec<IpAddr>,
    /// The NodePort, for NodePort and LoadBalancer services.
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.loadBalancerSourceRanges` (or, when that is empty, the
    /// [`SOURCE_RANGES_ANNOTATION`]) of a LoadBalancer Service: `None` when it lists nothing
    /// (LB IPs open to all), else the entries that parse as CIDRs, truncated to their
    /// network; entries that do not parse are left out. See
    /// [`ServicePort::load_balancer_source_ranges`].
    pub source_ranges: Option<Vec<IpNet>>,
    /// `sessionAffinity: ClientIP` timeout; `None` when affinity is off.
    pub affinity_timeout: Option<Duration>,
    /// `externalTrafficPolicy: Local`: external traffic (NodePort, externalIPs, LB) only to
    /// local endpoints, client source preserved.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`: ClusterIP traffic only to local endpoints.
    pub internal_policy_local: bool,
    /// Every endpoint the slices list for this port, both families, sorted, deduplicated.
    pub endpoints: Vec<Endpoint>,
}

impl ServicePort {
    /// The endpoints for traffic to a ClusterIP of `family_of`'s family (honours
    /// `internalTrafficPolicy`): ready ones, or, when none is ready, serving+terminating ones.
    pub fn cluster_endpoints(&self, family_of: IpAddr) -> Vec<&Endpoint> {
        select::usable(&self.endpoints, family_of, self.internal_policy_local)
    }

    /// The endpoints for external traffic (NodePort, externalIPs, LB IPs) of `family_of`'s
    /// family (honours `externalTrafficPolicy`).
    pub fn external_endpoints(&self, family_of: IpAddr) -> Vec<&Endpoint> {
        select::usable(&self.endpoints, family_of, self.external_policy_local)
    }

    /// The sources allowed to reach the LB IPs of `family_of`'s family, or `None` when they
    /// are open to all. As kube-proxy: a family without ranges of its own is open while the
    /// other family has some; but a list none of whose entries parse allows nobody (an
    /// unreadable restriction is never read as "allow all"). ClusterIP, NodePort and
    /// externalIP traffic is never filtered.
    pub fn load_balancer_source_ranges(&self, family_of: IpAddr) -> Option<Vec<IpNet>> {
        let ranges = self.source_ranges.as_ref()?;
        if ranges.is_empty() {
            return Some(Vec::new());
        }
        let mine: Vec<IpNet> = ranges
            .iter()
            .filter(|net| net.addr().is_ipv4() == family_of.is_ipv4())
            .copied()
            .collect();
        (!mine.is_empty()).then_some(mine)
    }

    /// Whether `source` may reach this port's LB IP `lb_ip` (see
    /// [`ServicePort::load_balancer_source_ranges`]).
    pub fn lb_source_allowed(&self, lb_ip: IpAddr, source: IpAddr) -> bool {
        let source = source.to_canonical();
        match self.load_balancer_source_ranges(lb_ip) {
            None => true,
            Some(ranges) => ranges.iter().any(|net| net.contains(&source)),
        }
    }

    /// Whether ClientIP session affinity is on.
    pub fn has_affinity(&self) -> bool {
        self.affinity_timeout.is_some()
    }
}

/// All service ports the proxy serves, in id order. Immutable; a new table shares the `Arc`s
/// of every port that did not change (see [`TableBuilder`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceTable {
    /// Service ports sorted by id.
    pub ports: Vec<Arc<ServicePort>>,
}

impl ServiceTable {
    /// Finds a service port by id.
    pub fn get(&self, id: &ServicePortId) -> Option<&Arc<ServicePort>> {
        self.ports
            .binary_search_by(|p| p.id.cmp(id))
            .ok()
            .map(|i| &self.ports[i])
    }
}
