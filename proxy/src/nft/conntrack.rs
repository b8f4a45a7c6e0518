//! UDP has no connection teardown, so a conntrack entry DNATed to an endpoint that went away
//! would keep steering a client's datagrams into the void until it times out. After a sync
//! removes UDP endpoints, their entries are deleted with Debian's `conntrack -D` (inside the
//! proxy's network namespace when one is set). TCP needs nothing: the endpoint resets.
//!
//! Pure diffing ([`stale_udp_flows`]) is apart from the command ([`clear`]); this module never
//! touches nft.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use crate::model::{Protocol, ServicePort, ServiceTable};

/// Conntrack entries to delete: UDP flows to a service address or NodePort, either those
/// DNATed to an endpoint that went away or all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaleFlow {
    /// A flow to a service address (ClusterIP, externalIP, LB IP).
    Service {
        /// The service address.
        service_ip: IpAddr,
        /// The service port.
        port: u16,
        /// The endpoint address the flow was DNATed to.
        endpoint: IpAddr,
    },
    /// Every flow to a service address and port, NATed or not: a UDP service that had no
    /// endpoints left unanswered entries that would keep its clients' flows from ever being
    /// DNATed to the endpoints that just appeared.
    ServicePort {
        /// The service address.
        service_ip: IpAddr,
        /// The service port.
        port: u16,
    },
    /// A flow to a NodePort.
    NodePort {
        /// The NodePort.
        node_port: u16,
        /// The endpoint address the flow was DNATed to.
        endpoint: IpAddr,
    },
}

fn usable_ips(port: &ServicePort) -> BTreeSet<IpAddr> {
    let mut ips = BTreeSet::new();
    for probe in [IpAddr::from([0u8; 4]), IpAddr::from([0u16; 8])] {
        ips.extend(port.cluster_endpoints(probe).iter().map(|e| e.ip));
        ips.extend(port.external_endpoints(probe).iter().map(|e| e.ip));
    }
    ips
}

/// The UDP flows to delete when the table moves from `old` to `new`: for every UDP service
/// port, endpoints usable before and not any more (or the whole port gone), and every flow to
/// a port that goes from no endpoints to some.
pub fn stale_udp_flows(old: &ServiceTable, new: &ServiceTable) -> Vec<StaleFlow> {
    let mut flows = Vec::new();
    for port in new.ports.iter().filter(|p| p.id.protocol == Protocol::Udp) {
        let had_endpoints = match old.get(&port.id) {
            Some(before) if std::sync::Arc::ptr_eq(before, port) => continue,
            Some(before) => !usable_ips(before).is_empty(),
            None => false,
        };
        if had_endpoints || usable_ips(port).is_empty() {
            continue;
        }
        let addresses = port
            .cluster_ips
            .iter()
            .chain(&port.external_ips)
            .chain(&port.load_balancer_ips);
        for service_ip in addresses {
            flows.push(StaleFlow::ServicePort {
                service_ip: *service_ip,
                port: port.port,
            });
        }
    }
    for port in old.ports.iter().filter(|p| p.id.protocol == Protocol::Udp) {
        let before = usable_ips(port);
        if before.is_empty() {
            continue;
        }
        let after = match new.get(&port.id) {
            Some(now) if std::sync::Arc::ptr_eq(now, port) => continue,
            Some(now) => usable_ips(now),
            None => BTreeSet::new(),
        };
        for endpoint in before.difference(&after) {
            let addresses = port
                .cluster_ips
                .iter()
                .chain(&port.external_ips)
                .chain(&port.load_balancer_ips)
                .filter(|ip| ip.is_ipv4() == endpoint.is_ipv4());
            for service_ip in addresses {
                flows.push(StaleFlow::Service {
                    service_ip: *service_ip,
                    port: port.port,
                    endpoint: *endpoint,
                });
            }
            if let Some(node_port) = port.node_port {
                flows.push(StaleFlow::NodePort {
                    node_port,
                    endpoint: *endpoint,
                });
            }
        }
    }
    flows.sort();
    flows.dedup();
    flows
}

impl StaleFlow {
    /// `conntrack` arguments that delete exactly these flows.
    pub fn args(&self) -> Vec<String> {
        let family = |ip: &IpAddr| if ip.is_ipv4() { "ipv4" } else { "ipv6" };
        match self {
            StaleFlow::Service {
                service_ip,
                port,
                endpoint,
            } => vec![
                "-D".into(),
                "-f".into(),
                family(endpoint).into(),
                "-p".into(),
                "udp".into(),
                "--orig-dst".into(),
                service_ip.to_string(),
                "--dport".into(),
                port.to_string(),
                "--dst-nat".into(),
                endpoint.to_string(),
            ],
            StaleFlow::ServicePort { service_ip, port } => vec![
                "-D".into(),
                "-f".into(),
                family(service_ip).into(),
                "-p".into(),
                "udp".into(),
                "--orig-dst".into(),
                service_ip.to_string(),
                "--dport".into(),
                port.to_string(),
            ],
            StaleFlow::NodePort {
                node_port,
                endpoint,
            } => vec![
                "-D".into(),
                "-f".into(),
                family(endpoint).into(),
                "-p".into(),
                "udp".into(),
                "--dport".into(),
                node_port.to_string(),
                "--dst-nat".into(),
                endpoint.to_string(),
            ],
        }
    }
}

/// Deletes `flows` from conntrack. "No entries matched" is success; other failures are logged
/// and counted in the returned number, never fatal: the entries would time out eventually.
pub fn clear(netns: Option<&str>, flows: &[StaleFlow]) -> usize {
    let mut failures = 0;
    for flow in flows {
        let args = flow.args();
        let mut cmd = match netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "conntrack"]);
                cmd
            }
            None => Command::new("conntrack"),
        };
        let output = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match output {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                // conntrack exits 1 with "0 flow entries have been deleted" when none matched.
                if !stderr.contains("0 flow entries") {
                    failures += 1;
                    tracing::warn!(?flow, stderr = %stderr.trim(), "conntrack -D failed");
                }
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(?flow, error = %err, "could not run conntrack");
            }
        }
    }
    failures
}
