//! Service tables shared by the nftables tests: builders over the proxy model and the golden
//! fixture (ClusterIP, NodePort, affinity, no endpoints, eTP Local, dual-stack, UDP).
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use proxy::model::{Endpoint, Protocol, ServicePort, ServicePortId, ServiceTable};

/// Parses an address literal the test wrote.
pub fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("test literal {text:?}: {e}"))
}

/// A ready endpoint; `local` marks it as on this node.
pub fn ep(addr: &str, port: u16, local: bool) -> Endpoint {
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

/// A ClusterIP service port in `namespace/name`.
pub fn svc(
    namespace: &str,
    name: &str,
    protocol: Protocol,
    port: u16,
    cluster_ips: &[&str],
    endpoints: Vec<Endpoint>,
) -> ServicePort {
    ServicePort {
        id: ServicePortId {
            namespace: namespace.into(),
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

/// Sorts ports into a table.
pub fn table(ports: Vec<ServicePort>) -> ServiceTable {
    let mut ports: Vec<Arc<ServicePort>> = ports.into_iter().map(Arc::new).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceTable { ports }
}

/// The golden fixture's service ports.
pub fn fixture_ports() -> Vec<ServicePort> {
    let mut web = svc(
        "default",
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10", "fd00:96::10"],
        vec![
            ep("10.244.1.10", 8080, true),
            ep("10.244.2.10", 8080, false),
            ep("fd00:244:1::10", 8080, true),
        ],
    );
    web.id.port_name = "http".into();
    web.node_port = Some(30080);

    let mut sticky = svc(
        "default",
        "sticky",
        Protocol::Tcp,
        8080,
        &["10.96.0.11"],
        vec![
            ep("10.244.1.11", 8080, true),
            ep("10.244.2.11", 8080, false),
        ],
    );
    sticky.affinity_timeout = Some(Duration::from_secs(10800));

    let mut empty = svc(
        "default",
        "empty",
        Protocol::Tcp,
        80,
        &["10.96.0.12"],
        vec![],
    );
    empty.node_port = Some(30081);

    let mut local = svc(
        "default",
        "local",
        Protocol::Tcp,
        443,
        &["10.96.0.13"],
        vec![
            ep("10.244.1.13", 8443, true),
            ep("10.244.2.13", 8443, false),
        ],
    );
    local.external_policy_local = true;
    local.node_port = Some(30443);
    local.external_ips = vec![ip("192.0.2.13")];
    local.load_balancer_ips = vec![ip("198.51.100.13")];
    // Only these sources reach the LB IP (a prefix and a single address); the externalIP,
    // ClusterIP and NodePort stay open.
    local.source_ranges = Some(vec![
        "10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}")),
        "203.0.113.7/32".parse().unwrap_or_else(|e| panic!("{e}")),
    ]);

    let mut dns = svc(
        "kube-system",
        "kube-dns",
        Protocol::Udp,
        53,
        &["10.96.0.53"],
        vec![ep("10.244.1.53", 53, true), ep("10.244.2.53", 53, false)],
    );
    dns.id.port_name = "dns".into();

    vec![web, sticky, empty, local, dns]
}

/// The golden fixture as a table.
pub fn fixture() -> ServiceTable {
    table(fixture_ports())
}

/// Configuration used with the fixture.
pub fn fixture_config() -> proxy::nft::NftConfig {
    proxy::nft::NftConfig {
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap_or_else(|e| panic!("{e}")),
            "fd00:244::/48".parse().unwrap_or_else(|e| panic!("{e}")),
        ],
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap_or_else(|e| panic!("{e}")),
            "fd00:96::/112".parse().unwrap_or_else(|e| panic!("{e}")),
        ],
        // Two shards keep the golden files short while still splitting the services.
        shards: 2,
        ..proxy::nft::NftConfig::default()
    }
}
