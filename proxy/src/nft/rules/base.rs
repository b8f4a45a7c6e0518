//! The static part of each table: base chains on the standard hooks, the dispatch verdict maps
//! and the helper chains every service jumps to. Depends only on the node configuration.
//!
//! Services are spread over shard tables (`switchyard-0` …, see [`TableId`]); the main table
//! (`switchyard`) holds what is node-wide. Packet path:
//! - In every shard, `nat-prerouting` / `nat-output` (dstnat) jump to `services`, which looks
//!   the packet up in the shard's `service-ips` (`daddr . l4proto . dport`) and, for local
//!   destinations, `service-nodeports` (`l4proto . dport`); a hit goes to the service port's
//!   own chain, which DNATs. A connection is NATed once: after one shard's DNAT the kernel
//!   skips the remaining nat chains of the hook.
//! - The main table's `nat-postrouting` (srcnat) masquerades packets carrying the masquerade mark, and hairpin
//!   connections (DNATed back to the endpoint that opened them: `hairpin-endpoints`).
//! - The main table's `filter-input` / `filter-forward` / `filter-output` run on new connections after DNAT:
//!   a service without endpoints is still addressed to its service IP (it is not in
//!   `service-ips`), so `no-endpoint-services` / `no-endpoint-nodeports` reject it at once
//!   (the client sees "connection refused", not a timeout). In forward and output,
//!   `check-cluster-ips` then rejects what is still addressed to a ClusterIP, which can only be
//!   a port the service does not have, and drops traffic to unallocated addresses of the
//!   service CIDRs, as kube-proxy does, so such packets neither leave the node nor time out
//!   somewhere upstream. `reject` is only valid on input, forward and output, hence those hooks.

use super::{ChainSpec, RuleConfig, TableRules};
use crate::model::Protocol;
use crate::nft::ast::{
    DataType, FibAddr, Key, KeyType, Rule, Selector, SetFlag, Stmt, ValueType, Verdict,
};
use crate::nft::transaction::{BaseChain, ChainType, Family, Hook, SetSpec, TableId, priority};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Map `daddr . l4proto . dport : verdict` for ClusterIPs, externalIPs and LB IPs.
pub const SERVICE_IPS: &str = "service-ips";
/// Map `l4proto . dport : verdict` for NodePorts on local addresses.
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
/// Map `daddr . l4proto . dport : verdict` of service addresses without endpoints.
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
/// Map `l4proto . dport : verdict` of NodePorts without endpoints.
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
/// Set of every ClusterIP.
pub const CLUSTER_IPS: &str = "cluster-ips";
/// Set `addr . addr` of every endpoint address: a DNATed connection whose source and
/// destination are the same endpoint is hairpin traffic and is masqueraded.
pub const HAIRPIN_ENDPOINTS: &str = "hairpin-endpoints";
/// Interval set of the pod CIDRs (only when some are configured for the family).
const CLUSTER_CIDRS: &str = "cluster-cidrs";
/// Set of the addresses NodePorts are served on (only when node IPs are configured).
const NODEPORT_IPS: &str = "nodeport-ips";
/// Interval set (main table) of the service CIDRs: traffic to an address in them that is no
/// ClusterIP is dropped.
const SERVICE_CIDRS: &str = "service-cidrs";
/// Chain that sets the masquerade mark.
pub const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
/// Chain that rejects.
pub const REJECT_CHAIN: &str = "reject-chain";

const SERVICES: &str = "services";
const MASQUERADING: &str = "masquerading";
const SERVICE_ENDPOINTS_CHECK: &str = "check-service-endpoints";
const NODEPORT_ENDPOINTS_CHECK: &str = "check-nodeport-endpoints";
const CLUSTER_IPS_CHECK: &str = "check-cluster-ips";

fn base(kind: ChainType, hook: Hook, priority: i32) -> Option<BaseChain> {
    Some(BaseChain {
        kind,
        hook,
        priority,
    })
}

fn set_spec(key: &[DataType], value_type: Option<ValueType>, comment: &str) -> SetSpec {
    SetSpec {
        key_type: KeyType::of(key.iter().copied()),
        value_type,
        flags: Vec::new(),
        timeout: None,
        comment: Some(comment.to_owned()),
    }
}

/// Whether `set` (one a service port puts elements in) lives in the port's shard table rather
/// than in the family's main table.
pub(super) fn in_shard(set: &str) -> bool {
    set == SERVICE_IPS || set == SERVICE_NODEPORTS
}

/// The static chains, sets and maps of `table`: the main table's or a shard's.
pub(super) fn static_rules(config: &RuleConfig, table: TableId) -> TableRules {
    let family = table.family;
    let mut rules = TableRules::default();
    let local_dst = local_destination(config, family, &mut rules);
    if table.shard.is_some() {
        shard_rules(config, family, &local_dst, &mut rules);
    } else {
        main_rules(config, family, &local_dst, &mut rules);
    }
    rules
}

/// `SEL [. SEL …] @set`.
pub(super) fn lookup(keys: &[Selector], set: &str) -> Stmt {
    Stmt::Lookup {
        keys: keys.to_vec(),
        set: set.to_owned(),
        negate: false,
    }
}

/// `SEL [. SEL …] vmap @map`.
fn vmap(keys: &[Selector], map: &str) -> Stmt {
    Stmt::Vmap {
        keys: keys.to_vec(),
        map: map.to_owned(),
    }
}

/// `jump CHAIN`.
pub(super) fn jump(chain: &str) -> Stmt {
    Stmt::Verdict(Verdict::Jump(chain.to_owned()))
}

/// `goto CHAIN`.
pub(super) fn goto(chain: &str) -> Stmt {
    Stmt::Verdict(Verdict::Goto(chain.to_owned()))
}

/// IPv4 loopback: NodePorts are not served on it (as kube-proxy).
const LOOPBACK_V4: IpNet = IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8));
/// IPv6 loopback.
const LOOPBACK_V6: IpNet = IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128));

/// The match for "addressed to this node's NodePort addresses": the configured node IPs (a
/// `nodeport-ips` set, added to `rules`), else every local address except loopback.
fn local_destination(config: &RuleConfig, family: Family, rules: &mut TableRules) -> Vec<Stmt> {
    let node_ips: Vec<IpAddr> = config
        .node_ips
        .iter()
        .filter(|ip| Family::of(**ip) == family)
        .copied()
        .collect();
    if node_ips.is_empty() {
        let loopback = match family {
            Family::Ip => LOOPBACK_V4,
            Family::Ip6 => LOOPBACK_V6,
        };
        let not_loopback = Stmt::AddrNot {
            selector: Selector::Daddr(family),
            net: loopback,
        };
        return vec![Stmt::FibLocal(FibAddr::Daddr), not_loopback];
    }
    rules.sets.insert(
        NODEPORT_IPS.into(),
        set_spec(
            &[DataType::addr(family)],
            None,
            "addresses NodePorts are served on",
        ),
    );
    let elements = rules.elements.entry(NODEPORT_IPS.into()).or_default();
    for ip in &node_ips {
        elements.insert(Key::addr(*ip), None);
    }
    vec![lookup(&[Selector::Daddr(family)], NODEPORT_IPS)]
}

fn chain(rules: &mut TableRules, name: &str, base: Option<BaseChain>, body: Vec<Rule>) {
    rules
        .chains
        .insert(name.to_owned(), Arc::new(ChainSpec { base, rules: body }));
}

/// A shard: DNAT base chains, the dispatch maps of its services, and what their chains use.
fn shard_rules(config: &RuleConfig, family: Family, local_dst: &[Stmt], rules: &mut TableRules) {
    let addr = DataType::addr(family);
    rules.sets.insert(
        SERVICE_IPS.into(),
        set_spec(
            &[addr, DataType::InetProto, DataType::InetService],
            Some(ValueType::Verdict),
            "ClusterIP, externalIP and LoadBalancer IP dispatch",
        ),
    );
    rules.sets.insert(
        SERVICE_NODEPORTS.into(),
        set_spec(
            &[DataType::InetProto, DataType::InetService],
            Some(ValueType::Verdict),
            "NodePort dispatch",
        ),
    );
    for map in [SERVICE_IPS, SERVICE_NODEPORTS] {
        rules.elements.entry(map.into()).or_default();
    }
    let cluster_cidrs = RuleConfig::cidrs(&config.cluster_cidrs, family);
    if !cluster_cidrs.is_empty() {
        let mut spec = set_spec(&[addr], None, "pod CIDRs");
        spec.flags = vec![SetFlag::Interval];
        rules.sets.insert(CLUSTER_CIDRS.into(), spec);
        let elements = rules.elements.entry(CLUSTER_CIDRS.into()).or_default();
        for net in &cluster_cidrs {
            elements.insert(Key::prefix(net.trunc()), None);
        }
    }
    chain(
        rules,
        "nat-prerouting",
        base(ChainType::Nat, Hook::Prerouting, priority::DSTNAT),
        vec![Rule::new([jump(SERVICES)])],
    );
    chain(
        rules,
        "nat-output",
        base(ChainType::Nat, Hook::Output, priority::DSTNAT),
        vec![Rule::new([jump(SERVICES)])],
    );
    // Every shard sees every new connection, so the NodePort rule asks the (hash) map first
    // and only then the (route lookup) `fib`: a connection that is no NodePort of this shard
    // costs one lookup here.
    chain(
        rules,
        SERVICES,
        None,
        vec![
            Rule::new([vmap(&service_key(family), SERVICE_IPS)]),
            Rule::new(
                std::iter::once(lookup(&NODEPORT_KEY, SERVICE_NODEPORTS))
                    .chain(local_dst.iter().cloned())
                    .chain([vmap(&NODEPORT_KEY, SERVICE_NODEPORTS)]),
            ),
        ],
    );
    chain(
        rules,
        MARK_FOR_MASQUERADE,
        None,
        vec![Rule::new([Stmt::MarkOr(config.masquerade_mark)])],
    );
}

/// The main table: masquerading, the filter chains and the node-wide sets.
fn main_rules(config: &RuleConfig, family: Family, local_dst: &[Stmt], rules: &mut TableRules) {
    let addr = DataType::addr(family);
    let sets = &mut rules.sets;
    sets.insert(
        NO_ENDPOINT_SERVICES.into(),
        set_spec(
            &[addr, DataType::InetProto, DataType::InetService],
            Some(ValueType::Verdict),
            "service addresses without endpoints",
        ),
    );
    sets.insert(
        NO_ENDPOINT_NODEPORTS.into(),
        set_spec(
            &[DataType::InetProto, DataType::InetService],
            Some(ValueType::Verdict),
            "NodePorts without endpoints",
        ),
    );
    sets.insert(
        CLUSTER_IPS.into(),
        set_spec(&[addr], None, "every ClusterIP"),
    );
    sets.insert(
        HAIRPIN_ENDPOINTS.into(),
        set_spec(
            &[addr, addr],
            None,
            "endpoints reaching themselves through a service",
        ),
    );
    for map in [
        NO_ENDPOINT_SERVICES,
        NO_ENDPOINT_NODEPORTS,
        CLUSTER_IPS,
        HAIRPIN_ENDPOINTS,
    ] {
        rules.elements.entry(map.into()).or_default();
    }

    let new = |chain: &str| Rule::new([Stmt::CtStateNew, jump(chain)]);
    chain(
        rules,
        "nat-postrouting",
        base(ChainType::Nat, Hook::Postrouting, priority::SRCNAT),
        vec![Rule::new([jump(MASQUERADING)])],
    );
    chain(
        rules,
        "filter-input",
        base(ChainType::Filter, Hook::Input, priority::FILTER),
        vec![new(NODEPORT_ENDPOINTS_CHECK), new(SERVICE_ENDPOINTS_CHECK)],
    );
    chain(
        rules,
        "filter-forward",
        base(ChainType::Filter, Hook::Forward, priority::FILTER),
        vec![new(SERVICE_ENDPOINTS_CHECK), new(CLUSTER_IPS_CHECK)],
    );
    chain(
        rules,
        "filter-output",
        base(ChainType::Filter, Hook::Output, priority::FILTER),
        vec![new(SERVICE_ENDPOINTS_CHECK), new(CLUSTER_IPS_CHECK)],
    );
    let mark = config.masquerade_mark;
    let (saddr, daddr) = (Selector::Saddr(family), Selector::Daddr(family));
    chain(
        rules,
        MASQUERADING,
        None,
        vec![
            Rule::new([
                Stmt::CtStatusDnat,
                lookup(&[saddr, daddr], HAIRPIN_ENDPOINTS),
                Stmt::MarkOr(mark),
            ]),
            Rule::new([
                Stmt::MarkAnd {
                    mask: mark,
                    value: 0,
                },
                Stmt::Verdict(Verdict::Return),
            ]),
            Rule::new([Stmt::MarkXor(mark)]),
            Rule::new([Stmt::Masquerade {
                fully_random: config.masquerade_fully_random,
            }]),
        ],
    );
    chain(
        rules,
        SERVICE_ENDPOINTS_CHECK,
        None,
        vec![Rule::new([vmap(
            &service_key(family),
            NO_ENDPOINT_SERVICES,
        )])],
    );
    chain(
        rules,
        NODEPORT_ENDPOINTS_CHECK,
        None,
        vec![Rule::new(
            local_dst
                .iter()
                .cloned()
                .chain([vmap(&NODEPORT_KEY, NO_ENDPOINT_NODEPORTS)]),
        )],
    );
    let mut check = vec![
        Rule::new([
            lookup(&[daddr], CLUSTER_IPS),
            Stmt::L4proto(Protocol::Tcp),
            Stmt::RejectTcpReset,
        ])
        .comment("no such port on this ClusterIP"),
        Rule::new([lookup(&[daddr], CLUSTER_IPS), Stmt::Reject])
            .comment("no such port on this ClusterIP"),
    ];
    let service_cidrs = RuleConfig::cidrs(&config.service_cidrs, family);
    if !service_cidrs.is_empty() {
        // A named set rather than an anonymous one: `nft list` shows the ranges by name, and a
        // change of the ranges is element updates.
        let mut spec = set_spec(&[addr], None, "service CIDRs");
        spec.flags = vec![SetFlag::Interval];
        rules.sets.insert(SERVICE_CIDRS.into(), spec);
        let elements = rules.elements.entry(SERVICE_CIDRS.into()).or_default();
        for net in &service_cidrs {
            elements.insert(Key::prefix(net.trunc()), None);
        }
        check.push(
            Rule::new([
                lookup(&[daddr], SERVICE_CIDRS),
                Stmt::Verdict(Verdict::Drop),
            ])
            .comment("unallocated ClusterIP"),
        );
    }
    chain(rules, CLUSTER_IPS_CHECK, None, check);
    // TCP gets a reset, everything else ICMP port unreachable: a refused TCP client learns
    // it at once even where the node's ICMP errors are rate-limited.
    chain(
        rules,
        REJECT_CHAIN,
        None,
        vec![
            Rule::new([Stmt::L4proto(Protocol::Tcp), Stmt::RejectTcpReset]),
            Rule::new([Stmt::Reject]),
        ],
    );
}

/// The dispatch key of service addresses: `ip daddr . meta l4proto . th dport`.
fn service_key(family: Family) -> [Selector; 3] {
    [Selector::Daddr(family), Selector::L4proto, Selector::Dport]
}

/// The dispatch key of NodePorts: `meta l4proto . th dport`.
const NODEPORT_KEY: [Selector; 2] = [Selector::L4proto, Selector::Dport];

/// The pod CIDR set's name when `family` has pod CIDRs (a named set rather than an anonymous
/// one, so `nft list` shows the ranges by name), or `None` when there are none.
pub(super) fn cluster_cidr_set(config: &RuleConfig, family: Family) -> Option<&'static str> {
    let cidrs = RuleConfig::cidrs(&config.cluster_cidrs, family);
    (!cidrs.is_empty()).then_some(CLUSTER_CIDRS)
}
