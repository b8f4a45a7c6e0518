//! The data the nft area syncs: a [`ServiceTable`] of N ClusterIP services × E endpoints for
//! switchyard's verdict-map rules, and the same services as a linear chain of per-service rules
//! (the iptables-mode shape: one `ip daddr … tcp dport … jump` rule per service, walked in
//! order) for the reference.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use proxy::model::{Endpoint, Protocol, ServicePort, ServicePortId, ServiceTable};

/// ClusterIP of service `i` (10.96.0.0/12 is large enough for 30k+).
pub fn cluster_ip(i: usize) -> Ipv4Addr {
    let n = 0x0A60_0000u32 + 10 + i as u32;
    Ipv4Addr::from(n)
}

/// Endpoint `e` of service `i` (in 10.244.0.0/16 and above; `generation` moves one endpoint).
pub fn endpoint_ip(i: usize, e: usize, generation: u32) -> Ipv4Addr {
    let n = 0x0AF4_0000u32 + (i as u32) * 16 + e as u32 + generation * 0x0010_0000;
    Ipv4Addr::from(n)
}

/// The port of service `i` with `endpoints` endpoints; endpoint 0 moves with `generation`.
pub fn service(
    i: usize,
    endpoints: usize,
    generation: u32,
    backend: Option<(Ipv4Addr, u16)>,
) -> ServicePort {
    let eps = (0..endpoints)
        .map(|e| {
            let (ip, port) = match backend {
                Some(b) => b,
                None => (endpoint_ip(i, e, if e == 0 { generation } else { 0 }), 8080),
            };
            Endpoint {
                ip: IpAddr::V4(ip),
                port,
                ready: true,
                serving: true,
                terminating: false,
                node_name: Some("bench-node".into()),
                is_local: false,
            }
        })
        .collect();
    ServicePort {
        id: ServicePortId {
            namespace: "bench".into(),
            name: format!("svc-{i:06}"),
            port_name: "http".into(),
            protocol: Protocol::Tcp,
        },
        port: 80,
        cluster_ips: vec![IpAddr::V4(cluster_ip(i))],
        node_port: None,
        external_ips: vec![],
        load_balancer_ips: vec![],
        source_ranges: None,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints: eps,
    }
}

/// N services × E endpoints (sorted by id, as the table requires).
pub fn table(n: usize, endpoints: usize) -> ServiceTable {
    let mut ports: Vec<Arc<ServicePort>> = (0..n)
        .map(|i| Arc::new(service(i, endpoints, 0, None)))
        .collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceTable { ports }
}

/// `table` with service `i`'s first endpoint moved to generation `generation`.
pub fn with_moved_endpoint(
    t: &ServiceTable,
    i: usize,
    endpoints: usize,
    generation: u32,
) -> ServiceTable {
    let mut ports = t.ports.clone();
    let name = format!("svc-{i:06}");
    if let Some(p) = ports.iter_mut().find(|p| p.id.name == name) {
        *p = Arc::new(service(i, endpoints, generation, None));
    }
    ServiceTable { ports }
}

/// The linear (iptables-shape) ruleset for n × e, as one `nft -f` script creating table
/// `ip sybench_linear` from scratch.
pub fn linear_full(n: usize, endpoints: usize) -> String {
    let mut s = String::from(
        "table ip sybench_linear {}\ndelete table ip sybench_linear\ntable ip sybench_linear {\n  chain nat-output {\n    type nat hook output priority -100; policy accept;\n    jump services\n  }\n  chain services {\n",
    );
    for i in 0..n {
        let _ = writeln!(
            s,
            "    ip daddr {} tcp dport 80 jump svc-{i}",
            cluster_ip(i)
        );
    }
    s.push_str("  }\n");
    for i in 0..n {
        s.push_str(&linear_service_chain(i, endpoints, 0));
    }
    s.push_str("}\n");
    s
}

/// One linear service's chain: the same endpoint pick as switchyard's service chains (a
/// `numgen random` cascade that DNATs in the picking rule), so the two rulesets differ only in
/// how a packet finds its service: a walk of per-service rules against one map lookup.
fn linear_service_chain(i: usize, endpoints: usize, generation: u32) -> String {
    let mut s = format!("  chain svc-{i} {{\n");
    for e in 0..endpoints {
        let ip = endpoint_ip(i, e, if e == 0 { generation } else { 0 });
        let pick = if e + 1 == endpoints {
            String::new()
        } else {
            format!("numgen random mod {} == 0 ", endpoints - e)
        };
        let _ = writeln!(s, "    {pick}meta l4proto tcp dnat ip to {ip}:8080");
    }
    s.push_str("  }\n");
    s
}

/// The iptables-restore-shaped incremental update for one changed service: rewrite the
/// dispatch chain whole (as kube-proxy's iptables mode rewrites KUBE-SERVICES on every sync)
/// and the changed service's chains.
pub fn linear_incremental(n: usize, endpoints: usize, changed: usize, generation: u32) -> String {
    let mut s = String::from("flush chain ip sybench_linear services\n");
    s.push_str("table ip sybench_linear {\n  chain services {\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "    ip daddr {} tcp dport 80 jump svc-{i}",
            cluster_ip(i)
        );
    }
    s.push_str("  }\n");
    let _ = writeln!(s, "}}\nflush chain ip sybench_linear svc-{changed}");
    s.push_str("table ip sybench_linear {\n");
    s.push_str(&linear_service_chain(changed, endpoints, generation));
    s.push_str("}\n");
    s
}

/// `table` with one more service, number `n` (the table has services `0..n`).
pub fn with_added_service(t: &ServiceTable, n: usize, endpoints: usize) -> ServiceTable {
    let mut ports = t.ports.clone();
    ports.push(Arc::new(service(n, endpoints, 0, None)));
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ServiceTable { ports }
}

/// The iptables-restore-shaped update adding service `n` to a linear ruleset of `n`
/// services: the dispatch chain rewritten whole with n + 1 rules, and the new service's chain.
pub fn linear_add(n: usize, endpoints: usize) -> String {
    let mut s = String::from(
        "flush chain ip sybench_linear services
",
    );
    s.push_str(
        "table ip sybench_linear {
  chain services {
",
    );
    for i in 0..=n {
        let _ = writeln!(
            s,
            "    ip daddr {} tcp dport 80 jump svc-{i}",
            cluster_ip(i)
        );
    }
    s.push_str(
        "  }
",
    );
    s.push_str(&linear_service_chain(n, endpoints, 0));
    s.push_str(
        "}
",
    );
    s
}

/// Points linear service `i` straight at `backend` (for the connection-latency test).
pub fn linear_point_at(i: usize, backend: (Ipv4Addr, u16)) -> String {
    format!(
        "flush chain ip sybench_linear svc-{i}\ntable ip sybench_linear {{\n  chain svc-{i} {{\n    meta l4proto tcp dnat ip to {}:{}\n  }}\n}}\n",
        backend.0, backend.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_in_range() {
        assert_eq!(cluster_ip(0), Ipv4Addr::new(10, 96, 0, 10));
        assert_ne!(endpoint_ip(1, 0, 0), endpoint_ip(0, 15, 0));
        assert_ne!(endpoint_ip(3, 0, 0), endpoint_ip(3, 0, 1));
        let t = table(20, 10);
        assert_eq!(t.ports.len(), 20);
        assert!(t.ports.windows(2).all(|w| w[0].id < w[1].id));
        let moved = with_moved_endpoint(&t, 5, 10, 1);
        assert_ne!(moved, t);
        assert_eq!(moved.ports.len(), 20);
    }

    #[test]
    fn linear_scripts_have_one_rule_per_service() {
        let full = linear_full(3, 2);
        assert_eq!(full.matches("tcp dport 80 jump svc-").count(), 3);
        assert!(full.contains("meta l4proto tcp dnat ip to "));
        let inc = linear_incremental(3, 2, 1, 1);
        assert_eq!(inc.matches("tcp dport 80 jump svc-").count(), 3);
        assert!(inc.contains("flush chain ip sybench_linear svc-1\n"));
        assert!(inc.contains("numgen random mod 2 == 0 meta l4proto tcp dnat ip to "));
        let add = linear_add(3, 2);
        assert_eq!(add.matches("tcp dport 80 jump svc-").count(), 4);
        assert!(add.contains("  chain svc-3 {\n"));
        let grown = with_added_service(&table(20, 10), 20, 10);
        assert_eq!(grown.ports.len(), 21);
        assert!(grown.ports.windows(2).all(|w| w[0].id < w[1].id));
        let point = linear_point_at(2, (Ipv4Addr::new(10, 250, 0, 1), 8080));
        assert!(point.contains("dnat ip to 10.250.0.1:8080"));
    }
}
