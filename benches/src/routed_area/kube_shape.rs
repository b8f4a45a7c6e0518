//! The second reference of the routed area: a ruleset shaped like kube-proxy's nftables mode
//! (Kubernetes 1.31 and later) for the same services, loaded with `nft -f` into the node
//! namespace. One table `ip kube-proxy`; per-service data lives in sets and verdict maps
//! (`cluster-ips`, `nodeport-ips`, `service-ips`, `service-nodeports`, the no-endpoint maps),
//! the base chains are static, and every service port, endpoint and NodePort gets its own
//! regular chain (`service-…`, `endpoint-…`, `external-…`).
//!
//! This is written from the documented shape (chain and map names, hooks, priorities, what each
//! chain does), not from kube-proxy's code. The ruleset is typed data ([`Table`], [`Chain`],
//! [`Map`]) printed by `Display`; nothing here talks to the kernel.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The masquerade mark bit (kube-proxy's default `--masquerade-bit` 14).
const MASQ_MARK: u32 = 0x4000;

/// One service port as the reference sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// Name of the port (`http`).
    pub port_name: String,
    /// The ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// The service port.
    pub port: u16,
    /// The NodePort, when the Service is of type NodePort.
    pub node_port: Option<u16>,
    /// The ready endpoints (TCP).
    pub endpoints: Vec<SocketAddrV4>,
}

impl ServicePort {
    /// `<ns>/<name>/tcp/<port name>`, the part of every chain name of this port.
    fn key(&self) -> String {
        format!("{}/{}/tcp/{}", self.namespace, self.name, self.port_name)
    }

    fn service_chain(&self) -> String {
        chain_name("service", &self.key())
    }

    fn external_chain(&self) -> String {
        chain_name("external", &self.key())
    }

    fn endpoint_chain(&self, ep: SocketAddrV4) -> String {
        chain_name(
            "endpoint",
            &format!("{}__{}/{}", self.key(), ep.ip(), ep.port()),
        )
    }
}

/// `<prefix>-<hash>-<key>`: an 8-character hash of the key keeps names unique after the
/// readable part (any stable hash serves; this is FNV-1a in base 32).
fn chain_name(prefix: &str, key: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{prefix}{key}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let hash: String = (0..8)
        .map(|i| char::from(ALPHABET[((h >> (i * 5)) & 31) as usize]))
        .collect();
    format!("{prefix}-{hash}-{key}")
}

/// A verdict in a rule or a verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `jump <chain>`.
    Jump(String),
    /// `goto <chain>`.
    Goto(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
        }
    }
}

/// What makes a chain a base chain: `type <kind> hook <hook> priority <priority>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// `filter` or `nat`.
    pub kind: &'static str,
    /// `prerouting`, `input`, `forward`, `output`, `postrouting`.
    pub hook: &'static str,
    /// The priority.
    pub priority: i32,
}

/// One chain: a base chain when `hook` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The name.
    pub name: String,
    /// The hook, for base chains.
    pub hook: Option<Hook>,
    /// The rules, one statement list each.
    pub rules: Vec<String>,
}

impl Chain {
    fn regular(name: impl Into<String>, rules: Vec<String>) -> Chain {
        Chain {
            name: name.into(),
            hook: None,
            rules,
        }
    }

    fn base(
        name: &str,
        kind: &'static str,
        hook: &'static str,
        priority: i32,
        rules: &[&str],
    ) -> Chain {
        Chain {
            name: name.into(),
            hook: Some(Hook {
                kind,
                hook,
                priority,
            }),
            rules: rules.iter().map(|r| (*r).to_string()).collect(),
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  chain {} {{", self.name)?;
        if let Some(h) = self.hook {
            writeln!(
                f,
                "    type {} hook {} priority {}; policy accept;",
                h.kind, h.hook, h.priority
            )?;
        }
        for r in &self.rules {
            writeln!(f, "    {r}")?;
        }
        writeln!(f, "  }}")
    }
}

/// A set (no value type) or a verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// The name.
    pub name: String,
    /// The key type (`ipv4_addr . inet_proto . inet_service`).
    pub key: &'static str,
    /// `true` for a verdict map, `false` for a set.
    pub verdicts: bool,
    /// The elements: key text and, for maps, the verdict.
    pub elements: Vec<(String, Option<Verdict>)>,
}

impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.verdicts {
            writeln!(f, "  map {} {{", self.name)?;
            writeln!(f, "    type {} : verdict;", self.key)?;
        } else {
            writeln!(f, "  set {} {{", self.name)?;
            writeln!(f, "    type {};", self.key)?;
        }
        if !self.elements.is_empty() {
            f.write_str("    elements = {")?;
            for (i, (key, verdict)) in self.elements.iter().enumerate() {
                let sep = if i == 0 { " " } else { ",\n      " };
                match verdict {
                    Some(v) => write!(f, "{sep}{key} : {v}")?,
                    None => write!(f, "{sep}{key}")?,
                }
            }
            f.write_str(" }\n")?;
        }
        writeln!(f, "  }}")
    }
}

/// The whole `ip kube-proxy` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Sets and maps, declared first.
    pub maps: Vec<Map>,
    /// Chains: the static ones, then per service port.
    pub chains: Vec<Chain>,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table ip kube-proxy {{")?;
        for m in &self.maps {
            m.fmt(f)?;
        }
        for c in &self.chains {
            c.fmt(f)?;
        }
        writeln!(f, "}}")
    }
}

/// The cluster as the reference is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The pod network (`--cluster-cidr`): sources outside it are masqueraded on ClusterIPs.
    pub cluster_cidr: String,
    /// The node's addresses that accept NodePorts (`--nodeport-addresses`).
    pub node_ips: Vec<Ipv4Addr>,
    /// Every service port.
    pub ports: Vec<ServicePort>,
}

/// kube-proxy's static chains: the filter base chains, the nat base chains and what they
/// jump to.
fn static_chains() -> Vec<Chain> {
    let masq = format!("meta mark set meta mark ^ {MASQ_MARK:#x}");
    vec![
        Chain::base(
            "filter-prerouting",
            "filter",
            "prerouting",
            -110,
            &["ct state new jump firewall-check"],
        ),
        Chain::base(
            "filter-input",
            "filter",
            "input",
            -110,
            &[
                "ct state new jump nodeport-endpoints-check",
                "ct state new jump service-endpoints-check",
            ],
        ),
        Chain::base(
            "filter-forward",
            "filter",
            "forward",
            -110,
            &[
                "ct state new jump service-endpoints-check",
                "ct state new jump cluster-ips-check",
            ],
        ),
        Chain::base(
            "filter-output",
            "filter",
            "output",
            -110,
            &[
                "ct state new jump firewall-check",
                "ct state new jump service-endpoints-check",
            ],
        ),
        Chain::base(
            "filter-output-post-dnat",
            "filter",
            "output",
            -90,
            &["ct state new jump cluster-ips-check"],
        ),
        Chain::base(
            "nat-prerouting",
            "nat",
            "prerouting",
            -100,
            &["jump services"],
        ),
        Chain::base("nat-output", "nat", "output", -100, &["jump services"]),
        Chain::base(
            "nat-postrouting",
            "nat",
            "postrouting",
            100,
            &["jump masquerading"],
        ),
        Chain::regular(
            "firewall-check",
            vec!["ip daddr . meta l4proto . th dport vmap @firewall-ips".into()],
        ),
        Chain::regular(
            "nodeport-endpoints-check",
            vec![
                "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports".into(),
            ],
        ),
        Chain::regular(
            "service-endpoints-check",
            vec!["ip daddr . meta l4proto . th dport vmap @no-endpoint-services".into()],
        ),
        Chain::regular(
            "cluster-ips-check",
            vec!["ip daddr @cluster-ips reject".into()],
        ),
        Chain::regular("reject-chain", vec!["reject".into()]),
        Chain::regular(
            "mark-for-masquerade",
            vec![format!("meta mark set meta mark | {MASQ_MARK:#x}")],
        ),
        Chain::regular(
            "masquerading",
            vec![
                format!("meta mark & {MASQ_MARK:#x} == 0 return"),
                masq,
                "masquerade fully-random".into(),
            ],
        ),
        Chain::regular(
            "services",
            vec![
                "ip daddr . meta l4proto . th dport vmap @service-ips".into(),
                "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports".into(),
            ],
        ),
    ]
}

/// The chains of one service port: its service chain, one endpoint chain per endpoint and,
/// for a NodePort, its external chain.
fn port_chains(p: &ServicePort, cluster_cidr: &str) -> Vec<Chain> {
    let service = p.service_chain();
    let picks: Vec<String> = p
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| format!("{i} : goto {}", p.endpoint_chain(*ep)))
        .collect();
    let mut rules = vec![format!(
        "ip daddr {} tcp dport {} ip saddr != {cluster_cidr} jump mark-for-masquerade",
        p.cluster_ip, p.port
    )];
    if !picks.is_empty() {
        rules.push(format!(
            "numgen random mod {} vmap {{ {} }}",
            picks.len(),
            picks.join(", ")
        ));
    }
    let mut chains = vec![Chain::regular(service.clone(), rules)];
    for ep in &p.endpoints {
        chains.push(Chain::regular(
            p.endpoint_chain(*ep),
            vec![
                format!("ip saddr {} jump mark-for-masquerade", ep.ip()),
                format!("meta l4proto tcp dnat to {ep}"),
            ],
        ));
    }
    if p.node_port.is_some() {
        chains.push(Chain::regular(
            p.external_chain(),
            vec![
                "jump mark-for-masquerade".into(),
                Verdict::Goto(service).to_string(),
            ],
        ));
    }
    chains
}

impl Cluster {
    /// The ruleset for this cluster.
    pub fn table(&self) -> Table {
        let mut cluster_ips: Vec<String> = self
            .ports
            .iter()
            .map(|p| p.cluster_ip.to_string())
            .collect();
        cluster_ips.sort();
        cluster_ips.dedup();
        let map = |name: &str, key: &'static str, verdicts: bool, elements| Map {
            name: name.into(),
            key,
            verdicts,
            elements,
        };
        let service_ips = self
            .ports
            .iter()
            .filter(|p| !p.endpoints.is_empty())
            .map(|p| {
                (
                    format!("{} . tcp . {}", p.cluster_ip, p.port),
                    Some(Verdict::Goto(p.service_chain())),
                )
            })
            .collect();
        let service_nodeports = self
            .ports
            .iter()
            .filter(|p| !p.endpoints.is_empty())
            .filter_map(|p| {
                let np = p.node_port?;
                Some((
                    format!("tcp . {np}"),
                    Some(Verdict::Goto(p.external_chain())),
                ))
            })
            .collect();
        let no_endpoints = |node_port: bool| {
            self.ports
                .iter()
                .filter(|p| p.endpoints.is_empty())
                .filter_map(|p| {
                    let key = if node_port {
                        format!("tcp . {}", p.node_port?)
                    } else {
                        format!("{} . tcp . {}", p.cluster_ip, p.port)
                    };
                    Some((key, Some(Verdict::Goto("reject-chain".into()))))
                })
                .collect()
        };
        let maps = vec![
            map(
                "cluster-ips",
                "ipv4_addr",
                false,
                cluster_ips.into_iter().map(|ip| (ip, None)).collect(),
            ),
            map(
                "nodeport-ips",
                "ipv4_addr",
                false,
                self.node_ips
                    .iter()
                    .map(|ip| (ip.to_string(), None))
                    .collect(),
            ),
            map(
                "firewall-ips",
                "ipv4_addr . inet_proto . inet_service",
                true,
                vec![],
            ),
            map(
                "service-ips",
                "ipv4_addr . inet_proto . inet_service",
                true,
                service_ips,
            ),
            map(
                "service-nodeports",
                "inet_proto . inet_service",
                true,
                service_nodeports,
            ),
            map(
                "no-endpoint-services",
                "ipv4_addr . inet_proto . inet_service",
                true,
                no_endpoints(false),
            ),
            map(
                "no-endpoint-nodeports",
                "inet_proto . inet_service",
                true,
                no_endpoints(true),
            ),
        ];
        let mut chains = static_chains();
        for p in &self.ports {
            chains.extend(port_chains(p, &self.cluster_cidr));
        }
        Table { maps, chains }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let ep = SocketAddrV4::new(Ipv4Addr::new(10, 77, 2, 2), 8080);
        Cluster {
            cluster_cidr: "10.77.2.0/24".into(),
            node_ips: vec![Ipv4Addr::new(10, 77, 1, 1)],
            ports: vec![
                ServicePort {
                    namespace: "routed".into(),
                    name: "svc-0".into(),
                    port_name: "http".into(),
                    cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
                    port: 80,
                    node_port: None,
                    endpoints: vec![ep],
                },
                ServicePort {
                    namespace: "routed".into(),
                    name: "svc-1".into(),
                    port_name: "http".into(),
                    cluster_ip: Ipv4Addr::new(10, 96, 0, 11),
                    port: 80,
                    node_port: Some(30080),
                    endpoints: vec![ep, SocketAddrV4::new(Ipv4Addr::new(10, 77, 2, 3), 8080)],
                },
                ServicePort {
                    namespace: "routed".into(),
                    name: "empty".into(),
                    port_name: "http".into(),
                    cluster_ip: Ipv4Addr::new(10, 96, 0, 12),
                    port: 80,
                    node_port: Some(30081),
                    endpoints: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_table_has_kube_proxys_chains_maps_and_per_port_chains() {
        let text = cluster().table().to_string();
        assert!(text.starts_with("table ip kube-proxy {\n"), "{text}");
        for needle in [
            "map service-ips {\n    type ipv4_addr . inet_proto . inet_service : verdict;",
            "map service-nodeports {\n    type inet_proto . inet_service : verdict;",
            "set cluster-ips {",
            "set nodeport-ips {\n    type ipv4_addr;\n    elements = { 10.77.1.1 }",
            "type filter hook prerouting priority -110;",
            "type filter hook output priority -90;",
            "type nat hook postrouting priority 100;",
            "masquerade fully-random",
            "meta mark & 0x4000 == 0 return",
            "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
            "ip daddr 10.96.0.11 tcp dport 80 ip saddr != 10.77.2.0/24 jump mark-for-masquerade",
            "numgen random mod 2 vmap { 0 : goto endpoint-",
            "meta l4proto tcp dnat to 10.77.2.3:8080",
            "10.96.0.12 . tcp . 80 : goto reject-chain",
            "tcp . 30081 : goto reject-chain",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        // One service chain per port with endpoints or not, one endpoint chain per endpoint,
        // one external chain per NodePort.
        let per_port = |prefix: &str| {
            text.lines()
                .filter(|l| l.starts_with(prefix) && l.contains("/tcp/"))
                .count()
        };
        assert_eq!(per_port("  chain service-"), 3);
        assert_eq!(per_port("  chain endpoint-"), 3);
        assert_eq!(per_port("  chain external-"), 2);
        // The map sends the NodePort to its external chain, which goes on to the service.
        assert!(text.contains("tcp . 30080 : goto external-"));
        assert!(!text.contains("tcp . 30081 : goto external-"));
    }

    #[test]
    fn chain_names_are_stable_and_distinct() {
        let a = chain_name("service", "ns/a/tcp/http");
        assert_eq!(a, chain_name("service", "ns/a/tcp/http"));
        assert_ne!(a, chain_name("service", "ns/b/tcp/http"));
        assert!(
            a.starts_with("service-") && a.ends_with("-ns/a/tcp/http"),
            "{a}"
        );
        assert_eq!(a.len(), "service-".len() + 8 + 1 + "ns/a/tcp/http".len());
    }

    /// The printed table is valid nft: it loads into a namespace the test creates.
    #[test]
    fn the_table_loads_with_nft() -> anyhow::Result<()> {
        if !testkit::require_root(
            "the_table_loads_with_nft",
            "loads the ruleset in a network namespace",
        ) || !testkit::require_tool("the_table_loads_with_nft", "nft")
        {
            return Ok(());
        }
        let ns = crate::nft_area::netns::Netns::create(&testkit::unique_name("kshape"))?;
        ns.nft_script(&cluster().table().to_string())?;
        let listed = ns.exec("nft", &["list", "table", "ip", "kube-proxy"])?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.contains("chain external-"), "{listed}");
        assert!(listed.contains("masquerade fully-random"), "{listed}");
        Ok(())
    }
}
