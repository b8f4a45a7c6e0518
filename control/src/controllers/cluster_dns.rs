//! The cluster DNS Service as Pods reach it: `kube-system/kube-dns`, a selector-less Service
//! with the cluster DNS address as its ClusterIP (ports `dns` 53/UDP, `dns-tcp` 53/TCP,
//! `metrics` 9153/TCP, as kubeadm's), and per node the EndpointSlices and `Endpoints`
//! addresses of that node's switchyard DNS listener, so the proxy on every node sends
//! `<cluster-dns>:53` to a nameserver. The Service is created by the control plane's bootstrap
//! ([`ensure_service`]); each node publishes its own listener ([`publish`]) and replaces only
//! its own entries, so several nodes share the Service. Acts only through the API.

use std::collections::BTreeMap;
use std::net::IpAddr;

use cluster_watch::status_code;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, PostParams};

use super::endpoint_slices::{MANAGED_BY_LABEL, SERVICE_NAME_LABEL, address_type};
use super::endpoints_mirror::SKIP_MIRROR_LABEL;

/// The Service's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The Service's name (the one every cluster's Pods are pointed at).
pub const SERVICE: &str = "kube-dns";
/// The `managed-by` value of the slices nodes publish (no controller of ours touches them).
pub const MANAGED_BY: &str = "cluster-dns.switchyard.io";

/// One node's DNS listener, as published in the Service's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDns {
    /// The node's name (`nodeName` of its endpoints; part of its slices' names).
    pub node: String,
    /// Addresses the listener answers on, reachable from the node's proxy rules.
    pub addresses: Vec<IpAddr>,
    /// The listener's port, UDP and TCP.
    pub dns_port: u16,
    /// The metrics listener's port on the same addresses, if it serves them.
    pub metrics_port: Option<u16>,
}

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The `kube-system/kube-dns` Service with ClusterIP `ip`.
pub fn service(ip: IpAddr) -> Service {
    let port = |name: &str, port: i32, protocol: &str| ServicePort {
        name: Some(name.to_string()),
        port,
        protocol: Some(protocol.to_string()),
        target_port: Some(IntOrString::Int(port)),
        ..ServicePort::default()
    };
    Service {
        metadata: ObjectMeta {
            name: Some(SERVICE.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            labels: labels(&[
                ("k8s-app", "kube-dns"),
                ("kubernetes.io/cluster-service", "true"),
                ("kubernetes.io/name", "CoreDNS"),
            ]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(ip.to_string()),
            cluster_ips: Some(vec![ip.to_string()]),
            ports: Some(vec![
                port("dns", 53, "UDP"),
                port("dns-tcp", 53, "TCP"),
                port("metrics", 9153, "TCP"),
            ]),
            session_affinity: Some("None".to_string()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The ports a node's listener serves, named as the Service's ports.
fn ports(dns: &NodeDns) -> Vec<(&'static str, u16, &'static str)> {
    let mut ports = vec![
        ("dns", dns.dns_port, "UDP"),
        ("dns-tcp", dns.dns_port, "TCP"),
    ];
    if let Some(metrics) = dns.metrics_port {
        ports.push(("metrics", metrics, "TCP"));
    }
    ports
}

/// The node's slices: one per address family it has addresses of, named
/// `kube-dns-<node>-ipv4` / `-ipv6`.
pub fn node_slices(dns: &NodeDns) -> Vec<EndpointSlice> {
    let mut slices = Vec::new();
    for (family, is_v4) in [("ipv4", true), ("ipv6", false)] {
        let addresses: Vec<&IpAddr> = dns
            .addresses
            .iter()
            .filter(|ip| ip.is_ipv4() == is_v4)
            .collect();
        let Some(first) = addresses.first() else {
            continue;
        };
        slices.push(EndpointSlice {
            metadata: ObjectMeta {
                name: Some(format!("{SERVICE}-{}-{family}", dns.node)),
                namespace: Some(NAMESPACE.to_string()),
                labels: labels(&[
                    (SERVICE_NAME_LABEL, SERVICE),
                    (MANAGED_BY_LABEL, MANAGED_BY),
                ]),
                ..ObjectMeta::default()
            },
            address_type: address_type(**first).to_string(),
            endpoints: addresses
                .iter()
                .map(|ip| Endpoint {
                    addresses: vec![ip.to_string()],
                    conditions: Some(EndpointConditions {
                        ready: Some(true),
                        serving: Some(true),
                        terminating: Some(false),
                    }),
                    node_name: Some(dns.node.clone()),
                    ..Endpoint::default()
                })
                .collect(),
            ports: Some(
                ports(dns)
                    .into_iter()
                    .map(|(name, port, protocol)| EndpointPort {
                        name: Some(name.to_string()),
                        port: Some(i32::from(port)),
                        protocol: Some(protocol.to_string()),
                        app_protocol: None,
                    })
                    .collect(),
            ),
        });
    }
    slices
}

/// `stored` (or nothing) with this node's subset replaced by `dns`'s addresses; other nodes'
/// addresses are kept. One subset per node, since nodes may listen on different ports.
pub fn merged_endpoints(stored: Option<&Endpoints>, dns: &NodeDns) -> Endpoints {
    let mine = |subset: &EndpointSubset| {
        let all = subset
            .addresses
            .iter()
            .flatten()
            .chain(subset.not_ready_addresses.iter().flatten());
        all.into_iter()
            .any(|a| a.node_name.as_deref() == Some(dns.node.as_str()))
    };
    let mut subsets: Vec<EndpointSubset> = stored
        .and_then(|e| e.subsets.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !mine(s))
        .collect();
    if !dns.addresses.is_empty() {
        subsets.push(EndpointSubset {
            addresses: Some(
                dns.addresses
                    .iter()
                    .map(|ip| EndpointAddress {
                        ip: ip.to_string(),
                        node_name: Some(dns.node.clone()),
                        ..EndpointAddress::default()
                    })
                    .collect(),
            ),
            not_ready_addresses: None,
            ports: Some(
                ports(dns)
                    .into_iter()
                    .map(|(name, port, protocol)| CorePort {
                        name: Some(name.to_string()),
                        port: i32::from(port),
                        protocol: Some(protocol.to_string()),
                        app_protocol: None,
                    })
                    .collect(),
            ),
        });
    }
    subsets.sort_by(|a, b| {
        let first = |s: &EndpointSubset| {
            s.addresses
                .as_ref()
                .and_then(|a| a.first())
                .and_then(|a| a.node_name.clone())
        };
        first(a).cmp(&first(b))
    });
    let mut next = stored.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: Some(SERVICE.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        subsets: None,
    });
    // Written by the nodes, not derived from a selector: the mirroring controller keeps out.
    next.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(SKIP_MIRROR_LABEL.to_string(), "true".to_string());
    next.subsets = (!subsets.is_empty()).then_some(subsets);
    next
}

impl NodeDns {
    /// The listener of a node whose DNS server listens on `dns` and metrics on `metrics`: a
    /// specific address is published as it is; an unspecified one (`0.0.0.0`, `::`) as the
    /// node's addresses of that family. The metrics port is published only when the metrics
    /// listener answers on every published address.
    pub fn for_listener(
        node: &str,
        node_ips: &[IpAddr],
        dns: std::net::SocketAddr,
        metrics: Option<std::net::SocketAddr>,
    ) -> NodeDns {
        let addresses: Vec<IpAddr> = if dns.ip().is_unspecified() {
            node_ips
                .iter()
                .filter(|ip| ip.is_ipv4() == dns.is_ipv4())
                .copied()
                .collect()
        } else {
            vec![dns.ip()]
        };
        let metrics_port = metrics
            .filter(|m| {
                m.ip().is_unspecified() && addresses.iter().all(|a| a.is_ipv4() == m.is_ipv4())
                    || addresses.iter().all(|a| *a == m.ip())
            })
            .map(|m| m.port());
        NodeDns {
            node: node.to_string(),
            addresses,
            dns_port: dns.port(),
            metrics_port,
        }
    }
}

/// Creates `kube-system/kube-dns` with ClusterIP `ip` when it does not exist. An existing one
/// is left alone (a ClusterIP cannot change); one with another address is reported.
pub async fn ensure_service(client: &Client, ip: IpAddr) -> Result<(), kube::Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    super::bootstrap::ensure(&api, &service(ip), |stored| {
        let stored_ip = stored.spec.as_ref().and_then(|s| s.cluster_ip.clone());
        if stored_ip.as_deref() != Some(ip.to_string().as_str()) {
            tracing::warn!(cluster_dns = %ip, stored = ?stored_ip,
                "kube-system/kube-dns exists with another ClusterIP; delete it to move the cluster DNS address");
        }
        // A ClusterIP is immutable: the stored Service stays as it is.
        None
    })
    .await
}

/// Publishes this node's listener: its slices created or replaced, its subset of the
/// `Endpoints` replaced (with a retry on a concurrent writer's conflict).
pub async fn publish(client: &Client, dns: &NodeDns) -> Result<(), kube::Error> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let wanted = node_slices(dns);
    for family in ["ipv4", "ipv6"] {
        let name = format!("{SERVICE}-{}-{family}", dns.node);
        let want = wanted
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name.as_str()));
        let stored = slices.get_opt(&name).await?;
        match (stored, want) {
            (None, Some(want)) => {
                slices.create(&PostParams::default(), want).await?;
            }
            (Some(stored), Some(want)) => {
                if stored.endpoints != want.endpoints
                    || stored.ports != want.ports
                    || stored.metadata.labels != want.metadata.labels
                {
                    let mut next = want.clone();
                    next.metadata.resource_version = stored.metadata.resource_version.clone();
                    slices.replace(&name, &PostParams::default(), &next).await?;
                }
            }
            (Some(_), None) => {
                slices.delete(&name, &Default::default()).await?;
            }
            (None, None) => {}
        }
    }
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), NAMESPACE);
    for attempt in 0..5 {
        let stored = endpoints.get_opt(SERVICE).await?;
        let next = merged_endpoints(stored.as_ref(), dns);
        let result = match &stored {
            None => endpoints.create(&PostParams::default(), &next).await,
            Some(stored) if stored.subsets == next.subsets && stored.metadata == next.metadata => {
                return Ok(());
            }
            Some(_) => {
                endpoints
                    .replace(SERVICE, &PostParams::default(), &next)
                    .await
            }
        };
        match result {
            Ok(_) => return Ok(()),
            Err(e) if status_code(&e) == Some(409) && attempt < 4 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ips: &[&str]) -> NodeDns {
        NodeDns {
            node: name.to_string(),
            addresses: ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
            dns_port: 5353,
            metrics_port: Some(10249),
        }
    }

    #[test]
    fn the_service_has_kubeadms_ports_and_the_asked_address() {
        let svc = service("10.254.0.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let spec = svc.spec.unwrap_or_default();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.254.0.10"));
        assert!(spec.selector.is_none());
        let ports: Vec<(String, i32, String)> = spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    p.name.unwrap_or_default(),
                    p.port,
                    p.protocol.unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            ports,
            [
                ("dns".to_string(), 53, "UDP".to_string()),
                ("dns-tcp".to_string(), 53, "TCP".to_string()),
                ("metrics".to_string(), 9153, "TCP".to_string()),
            ]
        );
    }

    #[test]
    fn a_node_gets_one_slice_per_family_pointing_at_its_listener() {
        let slices = node_slices(&node("n1", &["10.0.0.1", "fd00::1"]));
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].metadata.name.as_deref(), Some("kube-dns-n1-ipv4"));
        assert_eq!(slices[0].address_type, "IPv4");
        assert_eq!(slices[1].address_type, "IPv6");
        assert_eq!(slices[1].endpoints[0].addresses, ["fd00::1"]);
        let ports = slices[0].ports.clone().unwrap_or_default();
        assert_eq!(ports[0].port, Some(5353));
        assert_eq!(ports[1].protocol.as_deref(), Some("TCP"));
        assert_eq!(ports.len(), 3);
        let labels = slices[0].metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(SERVICE_NAME_LABEL).map(String::as_str),
            Some("kube-dns")
        );
    }

    #[test]
    fn a_listener_on_all_addresses_is_published_as_the_nodes_addresses() {
        let ips: Vec<IpAddr> = ["10.1.0.1", "fd00::1"]
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let any: std::net::SocketAddr = "0.0.0.0:53".parse().unwrap_or(([0, 0, 0, 0], 0).into());
        let metrics = "127.0.0.1:10249".parse().ok();
        let dns = NodeDns::for_listener("n", &ips, any, metrics);
        assert_eq!(dns.addresses, [ips[0]]);
        assert_eq!(dns.dns_port, 53);
        assert_eq!(dns.metrics_port, None, "metrics on loopback only");
        let local = "127.0.0.1:5353".parse().unwrap_or(any);
        let dns = NodeDns::for_listener("n", &ips, local, metrics);
        assert_eq!(dns.addresses, [local.ip()]);
        assert_eq!(dns.metrics_port, Some(10249));
    }

    #[test]
    fn endpoints_keep_other_nodes_and_replace_this_one() {
        let first = merged_endpoints(None, &node("a", &["10.0.0.1"]));
        let both = merged_endpoints(Some(&first), &node("b", &["10.0.0.2"]));
        let moved = merged_endpoints(Some(&both), &node("a", &["10.0.0.9"]));
        let ips: Vec<String> = moved
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone()))
            .collect();
        assert_eq!(ips, ["10.0.0.9", "10.0.0.2"]);
        let gone = merged_endpoints(Some(&moved), &node("a", &[]));
        assert_eq!(gone.subsets.map(|s| s.len()), Some(1));
        let skip = moved.metadata.labels.unwrap_or_default();
        assert_eq!(
            skip.get(SKIP_MIRROR_LABEL).map(String::as_str),
            Some("true")
        );
    }
}
