//! Service tables for unit tests: small builders over the model types.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{Endpoint, Protocol, ServicePort, ServicePortId, ServiceTable};

/// An IP from a literal known to be valid.
pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// A ready endpoint, remote unless `local`.
pub(crate) fn ep(addr: &str, port: u16, local: bool) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        port,
        ready: true,
        serving: true,
        terminating: false,
        node_name: Some(if local { "node-a" } else { "node-b" }.into()),
        is_local: local,
    }
}

/// A ClusterIP service port with the given endpoints.
pub(crate) fn svc(
    name: &str,
    protocol: Protocol,
    port: u16,
    cluster_ips: &[&str],
    endpoints: Vec<Endpoint>,
) -> ServicePort {
    ServicePort {
        id: ServicePortId {
            namespace: "default".into(),
            name: name.into(),
            port_name: String::new(),
            protocol,
        },
        port,
        cluster_ips: cluster_ips.iter().map(|s| ip(s)).collect(),
        node_port: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
        source_ranges: None,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints,
    }
}

/// Affinity on.
pub(crate) fn sticky(mut port: ServicePort, seconds: u64) -> ServicePort {
    port.affinity_timeout = Some(Duration::from_secs(seconds));
    port
}

/// A table of these ports, sorted as the model keeps it.
pub(crate) fn table(ports: Vec<ServicePort>) -> ServiceTable {
    let mut ports: Vec<Arc<ServicePort>> = ports.into_iter().map(Arc::new).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceTable { ports }
}
