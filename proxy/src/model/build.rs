//! Builds the [`ServiceTable`] from a cluster snapshot: Services × their EndpointSlices.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cluster_watch::ClusterState;
use k8s_openapi::api::core::v1::{Service, ServicePort as K8sServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Endpoint, Protocol, ServicePort, ServicePortId, ServiceTable};

/// Default ClientIP affinity timeout (3 hours), as Kubernetes defaults it.
const DEFAULT_AFFINITY_SECONDS: u64 = 10800;

/// Facts about the node this proxy runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeContext {
    /// This node's name, matched against endpoints' `nodeName`.
    pub node_name: String,
}

impl ServiceTable {
    /// Builds the table from `state` for the node `node`. Services without a ClusterIP
    /// (headless, ExternalName) are left out; so are ports with an unknown protocol (admission
    /// rejects those, but a real API server's objects are taken as they come).
    pub fn build(state: &ClusterState, node: &NodeContext) -> ServiceTable {
        let mut ports: Vec<Arc<ServicePort>> = Vec::new();
        for (key, service) in &state.services {
            let slices: Vec<&EndpointSlice> = state
                .slices_for_service(&key.namespace, &key.name)
                .map(|s| s.as_ref())
                .collect();
            ports.extend(
                service_ports(service, &key.namespace, &key.name, &slices, node).map(Arc::new),
            );
        }
        ports.sort_by(|a, b| a.id.cmp(&b.id));
        ports.dedup_by(|a, b| a.id == b.id);
        ServiceTable { ports }
    }
}

/// The ports of one Service (`namespace/name`) with the EndpointSlices that name it, in id
/// order, one per id (the first listed wins, as in [`ServiceTable::build`]).
pub(super) fn ports_of_service(
    service: &Service,
    namespace: &str,
    name: &str,
    slices: &[&EndpointSlice],
    node: &NodeContext,
) -> Vec<ServicePort> {
    let mut ports: Vec<ServicePort> =
        service_ports(service, namespace, name, slices, node).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ports.dedup_by(|a, b| a.id == b.id);
    ports
}

fn service_ports<'a>(
    service: &'a Service,
    namespace: &'a str,
    name: &'a str,
    slices: &'a [&'a EndpointSlice],
    node: &'a NodeContext,
) -> impl Iterator<Item = ServicePort> + 'a {
    let spec = service.spec.as_ref();
    let cluster_ips = cluster_ips(service);
    let source_ranges = super::source_ranges::parse(service);
    let proxied =
        !cluster_ips.is_empty() && spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName");
    let k8s_ports: &[K8sServicePort] = match spec.and_then(|s| s.ports.as_deref()) {
        Some(ports) if proxied => ports,
        _ => &[],
    };
    k8s_ports.iter().filter_map(move |port| {
        let protocol = Protocol::from_k8s(port.protocol.as_deref())?;
        let number = u16::try_from(port.port).ok().filter(|p| *p != 0)?;
        let port_name = port.name.clone().unwrap_or_default();
        let spec = spec?;
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            let seconds = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u64::try_from(t).ok())
                .unwrap_or(DEFAULT_AFFINITY_SECONDS);
            Duration::from_secs(seconds)
        });
        let external_policy_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let node_port = port
            .node_port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        Some(ServicePort {
            endpoints: endpoints_for(slices, &port_name, protocol, node),
            id: ServicePortId {
                namespace: namespace.to_string(),
                name: name.to_string(),
                port_name,
                protocol,
            },
            port: number,
            cluster_ips: cluster_ips.clone(),
            node_port,
            external_ips: parse_ips(spec.external_ips.iter().flatten()),
            load_balancer_ips: parse_ips(
                service
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.as_ref()),
            ),
            source_ranges: source_ranges.clone(),
            affinity_timeout,
            external_policy_local,
            internal_policy_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
        })
    })
}

/// `spec.clusterIPs` (or `spec.clusterIP`), parsed; empty for headless services.
fn cluster_ips(service: &Service) -> Vec<IpAddr> {
    let Some(spec) = service.spec.as_ref() else {
        return Vec::new();
    };
    let listed = spec.cluster_ips.as_ref().filter(|ips| !ips.is_empty());
    match listed {
        Some(ips) => parse_ips(ips.iter()),
        None => parse_ips(spec.cluster_ip.iter()),
    }
}

fn parse_ips<'a>(values: impl Iterator<Item = &'a String>) -> Vec<IpAddr> {
    values.filter_map(|v| v.parse().ok()).collect()
}

/// Endpoints of the slices for the slice port named `port_name` with `protocol`.
fn endpoints_for(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node: &NodeContext,
) -> Vec<Endpoint> {
    let mut out = BTreeSet::new();
    for slice in slices {
        let Some(target) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
                && Protocol::from_k8s(p.protocol.as_deref()) == Some(protocol)
        }) else {
            continue;
        };
        let Some(port) = target
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let conditions = endpoint.conditions.as_ref();
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let serving = conditions.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let node_name = endpoint.node_name.clone();
            let is_local = node_name.as_deref().is_some_and(|n| n == node.node_name);
            for address in &endpoint.addresses {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    continue;
                };
                out.insert(Endpoint {
                    ip,
                    port,
                    ready,
                    serving,
                    terminating,
                    node_name: node_name.clone(),
                    is_local,
                });
            }
        }
    }
    // The same ip:port may appear in two slices during a rebalance; keep one, preferring ready.
    // The set is sorted by ip, then port, so the copies of one ip:port are neighbours: one
    // pass over it, O(n log n) with the sort.
    let mut endpoints: Vec<Endpoint> = Vec::with_capacity(out.len());
    for e in out {
        match endpoints.last_mut() {
            Some(last) if last.ip == e.ip && last.port == e.port => {
                if e.ready && !last.ready {
                    *last = e;
                }
            }
            _ => endpoints.push(e),
        }
    }
    endpoints
}

#[cfg(test)]
mod tests;
