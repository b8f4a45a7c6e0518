//! Allocator bookkeeping: the `ipam` allocators behind admission, and the pure mapping from an
//! object to the values it holds ([`claims`]).
//!
//! Every allocation is derived from a stored object, so the writer can release exactly what a
//! committed change stopped using, undo what an aborted change took, and rebuild the allocators
//! from the stored objects after a restart. This module never validates objects and never talks
//! to the store; callers hold the lock around [`Allocators`].

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipam::{AllocError, CidrAllocator, PodIpAllocator, PortAllocator, ServiceIpAllocator};
use ipnet::IpNet;

use super::AdmissionConfig;
use crate::object::Object;

/// An IP family, as Services spell it (`IPv4`, `IPv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The family of a network.
    pub fn of_net(net: IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// `IPv4` or `IPv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Parses `IPv4` / `IPv6`.
    pub fn parse(text: &str) -> Option<Family> {
        match text {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }
}

/// One value an object holds in an allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Claim {
    /// A Service ClusterIP; `kubernetes` marks the `default/kubernetes` Service, the only one
    /// allowed to hold the reserved first service IP.
    ServiceIp {
        /// The address.
        ip: IpAddr,
        /// Whether the holder is `default/kubernetes`.
        kubernetes: bool,
    },
    /// A NodePort or healthCheckNodePort.
    NodePort(u16),
    /// A Node's pod CIDR.
    PodCidr(IpNet),
    /// A Pod's IP (tracked only inside the cluster CIDRs).
    PodIp(IpAddr),
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Claim::ServiceIp { ip, .. } => write!(f, "service IP {ip}"),
            Claim::NodePort(p) => write!(f, "node port {p}"),
            Claim::PodCidr(net) => write!(f, "pod CIDR {net}"),
            Claim::PodIp(ip) => write!(f, "pod IP {ip}"),
        }
    }
}

/// The values `obj` holds: a Service's ClusterIPs, NodePorts and healthCheckNodePort, a Node's
/// pod CIDRs, a Pod's IPs. Unparseable values are skipped (admission rejects them on write;
/// [`Allocators`] reports out-of-range ones). Each value appears once.
pub fn claims(obj: &Object) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    let mut push = |c: Claim| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    match obj {
        Object::Service(svc) => {
            let kubernetes = svc.metadata.namespace.as_deref() == Some("default")
                && svc.metadata.name.as_deref() == Some("kubernetes");
            let Some(spec) = &svc.spec else {
                return out;
            };
            let ips = match &spec.cluster_ips {
                Some(ips) if !ips.is_empty() => ips.clone(),
                _ => spec.cluster_ip.iter().cloned().collect(),
            };
            for ip in ips.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
                push(Claim::ServiceIp { ip, kubernetes });
            }
            for port in spec.ports.iter().flatten() {
                if let Some(np) = port.node_port.and_then(|p| u16::try_from(p).ok())
                    && np != 0
                {
                    push(Claim::NodePort(np));
                }
            }
            if let Some(hc) = spec
                .health_check_node_port
                .and_then(|p| u16::try_from(p).ok())
                && hc != 0
            {
                push(Claim::NodePort(hc));
            }
        }
        Object::Node(node) => {
            if let Some(spec) = &node.spec {
                let cidrs = match &spec.pod_cidrs {
                    Some(c) if !c.is_empty() => c.clone(),
                    _ => spec.pod_cidr.iter().cloned().collect(),
                };
                for net in cidrs.iter().filter_map(|s| s.parse::<IpNet>().ok()) {
                    push(Claim::PodCidr(net));
                }
            }
        }
        Object::Pod(pod) => {
            if let Some(status) = &pod.status {
                let ips: Vec<String> = match &status.pod_ips {
                    Some(ips) if !ips.is_empty() => ips.iter().map(|p| p.ip.clone()).collect(),
                    _ => status.pod_ip.iter().cloned().collect(),
                };
                for ip in ips.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
                    push(Claim::PodIp(ip));
                }
            }
        }
        // No other kind holds addresses.
        _ => {}
    }
    out
}

/// A cluster CIDR and the per-node subnets carved from it.
#[derive(Debug)]
struct ClusterRange {
    cluster: IpNet,
    prefix_len: u8,
    cidrs: CidrAllocator,
}

/// Every allocator admission uses, plus what it knows about nodes' CIDRs.
#[derive(Debug)]
pub(crate) struct Allocators {
    service_ips: Vec<ServiceIpAllocator>,
    /// The first IP of each service CIDR: held by the allocators for `default/kubernetes` only.
    kubernetes_ips: Vec<IpAddr>,
    node_ports: PortAllocator,
    clusters: Vec<ClusterRange>,
    pod_ips: HashMap<IpNet, PodIpAllocator>,
    /// Node name → its pod CIDRs, as last committed.
    nodes: HashMap<String, Vec<IpNet>>,
}

impl Allocators {
    /// Fresh allocators for `config`, with the `default/kubernetes` IPs reserved.
    pub fn new(config: &AdmissionConfig) -> Result<Allocators, String> {
        if config.service_cidrs.is_empty() || config.service_cidrs.len() > 2 {
            return Err("one or two service CIDRs are required".to_string());
        }
        let families = |nets: &[IpNet]| nets.iter().map(|n| Family::of_net(*n)).collect::<Vec<_>>();
        let sf = families(&config.service_cidrs);
        if sf.len() == 2 && sf[0] == sf[1] {
            return Err("the two service CIDRs must be of different IP families".to_string());
        }
        let cf = families(&config.cluster_cidrs);
        if cf.len() > 2 || (cf.len() == 2 && cf[0] == cf[1]) {
            return Err("at most one cluster CIDR per IP family is allowed".to_string());
        }
        let mut service_ips = Vec::new();
        let mut kubernetes_ips = Vec::new();
        for cidr in &config.service_cidrs {
            let mut alloc =
                ServiceIpAllocator::new(*cidr).map_err(|e| format!("service CIDR {cidr}: {e}"))?;
            let ip = alloc.kubernetes_ip();
            if !alloc.is_allocated(ip) {
                alloc
                    .allocate(ip)
                    .map_err(|e| format!("reserving {ip} for default/kubernetes: {e}"))?;
            }
            kubernetes_ips.push(ip);
            service_ips.push(alloc);
        }
        let node_ports = PortAllocator::new(config.node_port_range.clone())
            .map_err(|e| format!("node port range: {e}"))?;
        let mut clusters = Vec::new();
        for cluster in &config.cluster_cidrs {
            let prefix_len = match cluster {
                IpNet::V4(_) => config.node_cidr_mask_v4,
                IpNet::V6(_) => config.node_cidr_mask_v6,
            };
            let cidrs = CidrAllocator::new(*cluster, prefix_len)
                .map_err(|e| format!("cluster CIDR {cluster}: {e}"))?;
            clusters.push(ClusterRange {
                cluster: *cluster,
                prefix_len,
                cidrs,
            });
        }
        Ok(Allocators {
            service_ips,
            kubernetes_ips,
            node_ports,
            clusters,
            pod_ips: HashMap::new(),
            nodes: HashMap::new(),
        })
    }

    /// The IP reserved for `default/kubernetes` in `family`, when a service CIDR of that family
    /// is configured.
    pub fn kubernetes_ip(&self, family: Family) -> Option<IpAddr> {
        self.kubernetes_ips
            .iter()
            .copied()
            .find(|ip| Family::of(*ip) == family)
    }

    /// The service CIDR of `family`, if configured.
    pub fn service_cidr(&self, family: Family) -> Option<IpNet> {
        self.service_ips
            .iter()
            .map(|a| a.cidr())
            .find(|n| Family::of_net(*n) == family)
    }

    fn service_alloc(&mut self, family: Family) -> Option<&mut ServiceIpAllocator> {
        self.service_ips
            .iter_mut()
            .find(|a| Family::of_net(a.cidr()) == family)
    }

    /// The node subnet an address belongs to, when it lies in a cluster CIDR.
    fn node_cidr_of(&self, ip: IpAddr) -> Option<IpNet> {
        let range = self.clusters.iter().find(|c| c.cluster.contains(&ip))?;
        IpNet::new(ip, range.prefix_len).ok().map(|n| n.trunc())
    }

    /// Takes a specific value. `Ok(false)` means the value is not tracked here (a pod IP outside
    /// the cluster CIDRs), `Ok(true)` that it is now held.
    pub fn take(&mut self, claim: &Claim) -> Result<bool, AllocError> {
        match *claim {
            Claim::ServiceIp { ip, kubernetes } => {
                if self.kubernetes_ips.contains(&ip) {
                    return if kubernetes {
                        Ok(true)
                    } else {
                        Err(AllocError::AlreadyAllocated {
                            value: ip.to_string(),
                        })
                    };
                }
                let family = Family::of(ip);
                let cidr = self.service_cidr(family);
                match self.service_alloc(family) {
                    Some(alloc) => alloc.allocate(ip).map(|()| true),
                    None => Err(AllocError::OutOfRange {
                        value: ip.to_string(),
                        range: cidr.map(|c| c.to_string()).unwrap_or_default(),
                    }),
                }
            }
            Claim::NodePort(port) => self.node_ports.allocate(port).map(|()| true),
            Claim::PodCidr(net) => match self.clusters.iter_mut().find(|c| {
                c.cluster.contains(&net) && Family::of_net(c.cluster) == Family::of_net(net)
            }) {
                Some(range) if net.prefix_len() != range.prefix_len => {
                    Err(AllocError::OutOfRange {
                        value: net.to_string(),
                        range: format!("/{} subnets of {}", range.prefix_len, range.cluster),
                    })
                }
                Some(range) => range.cidrs.allocate(net).map(|()| true),
                None => Err(AllocError::OutOfRange {
                    value: net.to_string(),
                    range: self.cluster_ranges(),
                }),
            },
            Claim::PodIp(ip) => {
                let Some(node_cidr) = self.node_cidr_of(ip) else {
                    return Ok(false);
                };
                let alloc = match self.pod_ips.entry(node_cidr) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(PodIpAllocator::new(node_cidr)?)
                    }
                };
                alloc.allocate(ip).map(|()| true)
            }
        }
    }

    /// Releases a value; returns whether it was held. The reserved `default/kubernetes` IPs
    /// stay reserved.
    pub fn release(&mut self, claim: &Claim) -> bool {
        match *claim {
            Claim::ServiceIp { ip, .. } => {
                if self.kubernetes_ips.contains(&ip) {
                    return false;
                }
                self.service_alloc(Family::of(ip))
                    .is_some_and(|a| a.release(ip))
            }
            Claim::NodePort(port) => self.node_ports.release(port),
            Claim::PodCidr(net) => self
                .clusters
                .iter_mut()
                .find(|c| c.cluster.contains(&net))
                .is_some_and(|c| c.cidrs.release(net)),
            Claim::PodIp(ip) => match self.node_cidr_of(ip) {
                Some(node_cidr) => self
                    .pod_ips
                    .get_mut(&node_cidr)
                    .is_some_and(|a| a.release(ip)),
                None => false,
            },
        }
    }

    fn cluster_ranges(&self) -> String {
        let list: Vec<String> = self
            .clusters
            .iter()
            .map(|c| c.cluster.to_string())
            .collect();
        if list.is_empty() {
            "no cluster CIDR configured".to_string()
        } else {
            list.join(",")
        }
    }

    /// Allocates a free ClusterIP of `family`.
    pub fn next_service_ip(&mut self, family: Family) -> Result<Claim, AllocError> {
        match self.service_alloc(family) {
            Some(alloc) => alloc.allocate_next().map(|ip| Claim::ServiceIp {
                ip,
                kubernetes: false,
            }),
            None => Err(AllocError::InvalidRange {
                range: family.as_str().to_string(),
                reason: "no service CIDR of this family is configured".to_string(),
            }),
        }
    }

    /// Allocates a free NodePort.
    pub fn next_node_port(&mut self) -> Result<Claim, AllocError> {
        self.node_ports.allocate_next().map(Claim::NodePort)
    }

    /// The configured cluster CIDR families, in order.
    pub fn cluster_families(&self) -> Vec<Family> {
        self.clusters
            .iter()
            .map(|c| Family::of_net(c.cluster))
            .collect()
    }

    /// Allocates a free node subnet of `family`.
    pub fn next_pod_cidr(&mut self, family: Family) -> Result<Claim, AllocError> {
        match self
            .clusters
            .iter_mut()
            .find(|c| Family::of_net(c.cluster) == family)
        {
            Some(range) => range.cidrs.allocate_next().map(Claim::PodCidr),
            None => Err(AllocError::InvalidRange {
                range: family.as_str().to_string(),
                reason: "no cluster CIDR of this family is configured".to_string(),
            }),
        }
    }

    /// Allocates a free pod IP inside `node_cidr`.
    pub fn next_pod_ip(&mut self, node_cidr: IpNet) -> Result<Claim, AllocError> {
        let alloc = match self.pod_ips.entry(node_cidr) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(PodIpAllocator::new(node_cidr)?)
            }
        };
        alloc.allocate_next().map(Claim::PodIp)
    }

    /// The pod CIDRs of a node, as last committed; `None` when the node is unknown.
    pub fn node_cidrs(&self, node: &str) -> Option<&[IpNet]> {
        self.nodes.get(node).map(Vec::as_slice)
    }

    /// Records (or, with `None`, forgets) a node's pod CIDRs after a commit.
    pub fn set_node(&mut self, node: &str, cidrs: Option<Vec<IpNet>>) {
        match cidrs {
            Some(c) => {
                self.nodes.insert(node.to_string(), c);
            }
            None => {
                self.nodes.remove(node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn service(ns: &str, name: &str, ips: &[&str], node_ports: &[i32]) -> Object {
        Object::Service(Service {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: ips.first().map(|s| s.to_string()),
                cluster_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
                ports: Some(
                    node_ports
                        .iter()
                        .map(|p| ServicePort {
                            port: 80,
                            node_port: Some(*p),
                            ..Default::default()
                        })
                        .collect(),
                ),
                health_check_node_port: Some(30005),
                ..Default::default()
            }),
            status: None,
        })
    }

    #[test]
    fn service_claims_are_deduplicated() {
        let svc = service("a", "b", &["10.96.0.10", "None"], &[30001, 30001, 30002]);
        assert_eq!(
            claims(&svc),
            vec![
                Claim::ServiceIp {
                    ip: "10.96.0.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                    kubernetes: false
                },
                Claim::NodePort(30001),
                Claim::NodePort(30002),
                Claim::NodePort(30005),
            ]
        );
        let k = service("default", "kubernetes", &["10.96.0.1"], &[]);
        assert!(matches!(
            claims(&k)[0],
            Claim::ServiceIp {
                kubernetes: true,
                ..
            }
        ));
    }

    #[test]
    fn families_parse_and_print() {
        assert_eq!(Family::parse("IPv6"), Some(Family::V6));
        assert_eq!(Family::parse("ipv6"), None);
        assert_eq!(Family::V4.as_str(), "IPv4");
    }
}
