//! What one service port adds to a family's table.
//!
//! - No usable endpoint in the family at all: every address and NodePort of the port goes to
//!   the no-endpoint maps (rejected in the filter chains); no chains.
//! - Otherwise a `service-…` chain for ClusterIP traffic (masquerade from outside the pod CIDRs,
//!   then pick among [`ServicePort::cluster_endpoints`]), an `external-…` chain for NodePort,
//!   externalIP and LB traffic (pick among [`ServicePort::external_endpoints`]). The rule that
//!   picks an endpoint also DNATs to it: there are no per-endpoint chains. With a Local policy
//!   and no local endpoint the chain drops: the service has endpoints, just none here.
//! - Hairpin traffic (an endpoint reaching itself through its service) is masqueraded in
//!   postrouting: every endpoint address `A` adds `A . A` to `hairpin-endpoints`, which the
//!   `masquerading` chain matches as `saddr . daddr` on DNATed connections.
//! - Why no endpoint chains: `nft` fills its cache with every chain of the ruleset before it
//!   runs even a one-element change, and the kernel's chain dump restarts its walk for every
//!   batch it returns, so the cost grows faster than linearly with the chain count. Measured
//!   with nft 1.0.6 on Linux 6.18: 11k chains 30 ms, 33k 170 ms, 99k 2 s per `nft` call. One
//!   chain per service port instead of 1 + endpoints keeps full syncs and restarts fast;
//!   incremental syncs skip `nft` altogether (`nft/netlink/`).
//! - What stays O(ruleset) per change is the kernel's own check at commit: on Linux 6.18 a
//!   transaction that adds any rule (even `meta l4proto tcp drop`) or a `goto`/`jump`
//!   verdict-map element makes the kernel re-walk every chain reachable from the table's base
//!   chains. Measured at 10k services × 10 endpoints through netlink: a plain set element
//!   0.2 ms, one chain flushed and given one new rule 63 ms, whatever the rule. So endpoints
//!   stay out of rules wherever they can:
//! - The random pick (no affinity) is one rule and a per-port interval map:
//!   `dnat ip to numgen random mod 65536 map @ep-…`, endpoint i owning
//!   `[i·65536/N, (i+1)·65536/N)`, so each gets 1/N to within 1/65536. Endpoints coming, going
//!   or moving, their number included, are element updates only (10k services: 11 ms, was
//!   68 ms through a rewritten cascade). The price is one named map per port, and the kernel
//!   finds a table's sets by walking a list: a full sync of 10k services × 10 endpoints takes
//!   about 15 s instead of 3.6 s (1k: 0.32 s). Full syncs run at start and hourly, under
//!   rules that keep working; one map shared by all ports (keyed `daddr . l4proto . dport .
//!   numgen`) would remove that price and is the next step. The alternative,
//!   `numgen random mod N vmap { 0 : goto …, … }`, puts N in the rule and needs an anonymous
//!   set per service, which nft 1.0.6 loads quadratically (10k services: 22 s).
//! - Round-robin and affinity keep a cascade, as iptables' `statistic` does it: rule i takes
//!   endpoint i for one in N-i of the connections reaching it (`numgen random|inc mod N-i == 0
//!   … dnat to …`; `numgen inc` is a counter per rule, which cycles exactly), the last rule
//!   takes the rest. Their endpoint changes rewrite the chain and pay the kernel's walk.
//! - ClientIP affinity: one dynamic set per endpoint, checked before the random pick
//!   (`saddr @set update @set { saddr } … dnat to …`) and refreshed with `update` on every new
//!   connection sent to that endpoint.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use super::base::{self, CLUSTER_IPS, MARK_FOR_MASQUERADE, REJECT_CHAIN, goto, jump, lookup};
use super::{ChainSpec, Fragment, Pick, RuleConfig};
use crate::model::{Endpoint, Protocol, ServicePort};
use crate::nft::ast::{
    DataType, FibAddr, Key, KeyType, Part, Rule, Selector, SetFlag, Stmt, Value, ValueType, Verdict,
};
use crate::nft::names;
use crate::nft::transaction::{Family, SetSpec};

/// The range `numgen random` draws from for map picks: endpoint shares are exact to 1/65536.
/// The map's `typeof` key carries the same modulus.
const PICK_RANGE: u32 = 65536;

/// The service port's contribution to each family it has addresses in.
pub(super) fn fragments(config: &RuleConfig, port: &ServicePort) -> Vec<(Family, Fragment)> {
    Family::ALL
        .iter()
        .filter_map(|family| family_fragment(config, port, *family).map(|f| (*family, f)))
        .collect()
}

fn probe(family: Family) -> IpAddr {
    match family {
        Family::Ip => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ip6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Whether any endpoint of the family could take traffic if locality did not matter.
fn has_any_endpoint(port: &ServicePort, family: Family) -> bool {
    let ip = probe(family);
    if !port.cluster_endpoints(ip).is_empty() || !port.external_endpoints(ip).is_empty() {
        return true;
    }
    if !port.internal_policy_local && !port.external_policy_local {
        return false;
    }
    let mut cluster_wide = port.clone();
    cluster_wide.internal_policy_local = false;
    !cluster_wide.cluster_endpoints(ip).is_empty()
}

fn family_fragment(config: &RuleConfig, port: &ServicePort, family: Family) -> Option<Fragment> {
    let of_family = |ips: &[IpAddr]| -> Vec<IpAddr> {
        ips.iter()
            .copied()
            .filter(|ip| Family::of(*ip) == family)
            .collect()
    };
    let cluster_ips = of_family(&port.cluster_ips);
    let lb_ips = of_family(&port.load_balancer_ips);
    let mut external_ips = of_family(&port.external_ips);
    external_ips.extend(&lb_ips);
    external_ips.sort();
    external_ips.dedup();
    // NodePorts follow the service's ClusterIP families.
    let node_port = port.node_port.filter(|_| !cluster_ips.is_empty());
    if cluster_ips.is_empty() && external_ips.is_empty() {
        return None;
    }
    let proto = port.id.protocol;
    let identity = names::port_identity(&port.id, port.port);
    let mut fragment = Fragment::default();
    let service_key =
        |ip: &IpAddr| Key::concat([Part::Addr(*ip), Part::Proto(proto), Part::Port(port.port)]);
    let node_port_key = |node_port: u16| Key::concat([Part::Proto(proto), Part::Port(node_port)]);
    let goto_value = |chain: &str| Some(Value::Verdict(Verdict::Goto(chain.to_owned())));
    for ip in &cluster_ips {
        fragment.elements.push((CLUSTER_IPS, Key::addr(*ip), None));
    }

    if !has_any_endpoint(port, family) {
        let reject = goto_value(REJECT_CHAIN);
        for ip in cluster_ips.iter().chain(&external_ips) {
            fragment
                .elements
                .push((base::NO_ENDPOINT_SERVICES, service_key(ip), reject.clone()));
        }
        if let Some(node_port) = node_port {
            fragment.elements.push((
                base::NO_ENDPOINT_NODEPORTS,
                node_port_key(node_port),
                reject,
            ));
        }
        return Some(fragment);
    }

    let ip = probe(family);
    let cluster_eps = port.cluster_endpoints(ip);
    let external_eps = port.external_endpoints(ip);
    let mut generator = Generator {
        family,
        pick: config.pick,
        identity: &identity,
        proto,
        affinity: port.affinity_timeout,
        endpoints: BTreeMap::new(),
        fragment: &mut fragment,
    };

    let service_chain = names::service_chain(&identity);
    let has_service_chain = !cluster_ips.is_empty();
    if has_service_chain {
        let mut rules = Vec::new();
        if let Some(cidrs) = base::cluster_cidr_set(config, family) {
            let outside = Stmt::Lookup {
                keys: vec![Selector::Saddr(family)],
                set: cidrs.to_owned(),
                negate: true,
            };
            rules.push(Rule::new([outside, jump(MARK_FOR_MASQUERADE)]));
        }
        generator.pick(
            &mut rules,
            &cluster_eps,
            "no local endpoints for internalTrafficPolicy Local",
            &names::endpoints_map(&identity),
        );
        generator.chain(&service_chain, rules);
        let verdict = goto_value(&service_chain);
        for ip in &cluster_ips {
            generator
                .fragment
                .elements
                .push((base::SERVICE_IPS, service_key(ip), verdict.clone()));
        }
    }

    if !external_ips.is_empty() || node_port.is_some() {
        let external_chain = names::external_chain(&identity);
        let mut rules = Vec::new();
        if !port.external_policy_local {
            rules.push(Rule::new([jump(MARK_FOR_MASQUERADE)]));
        } else if has_service_chain {
            // Pods and the node itself reach external addresses like a ClusterIP: any
            // endpoint may answer, and node-originated traffic is masqueraded.
            if let Some(cidrs) = base::cluster_cidr_set(config, family) {
                let inside = lookup(&[Selector::Saddr(family)], cidrs);
                rules.push(Rule::new([inside, goto(&service_chain)]));
            }
            let local = Stmt::FibLocal(FibAddr::Saddr);
            rules.push(Rule::new([local.clone(), jump(MARK_FOR_MASQUERADE)]));
            rules.push(Rule::new([local, goto(&service_chain)]));
        }
        if has_service_chain && endpoints_equal(&cluster_eps, &external_eps) {
            rules.push(Rule::new([goto(&service_chain)]));
        } else {
            generator.pick(
                &mut rules,
                &external_eps,
                "no local endpoints for externalTrafficPolicy Local",
                &names::external_endpoints_map(&identity),
            );
        }
        generator.chain(&external_chain, rules);
        let verdict = goto_value(&external_chain);
        let firewall = firewall(&mut generator, port, family, &external_chain);
        for ip in &external_ips {
            let verdict = match &firewall {
                Some(firewall) if lb_ips.contains(ip) => firewall,
                _ => &verdict,
            };
            generator
                .fragment
                .elements
                .push((base::SERVICE_IPS, service_key(ip), verdict.clone()));
        }
        if let Some(node_port) = node_port {
            generator.fragment.elements.push((
                base::SERVICE_NODEPORTS,
                node_port_key(node_port),
                verdict,
            ));
        }
    }
    generator.finish();
    Some(fragment)
}

/// For a port whose LB IPs of `family` only admit some sources: the `firewall-…` chain (sources
/// in the port's `src-…` interval set go on to `external_chain`, others are dropped) and its
/// set, added to the fragment; returns the verdict LB IP dispatch elements use. `None`: the
/// LB IPs are open to all. Ranges changing later are element updates of the set only.
fn firewall(
    generator: &mut Generator<'_>,
    port: &ServicePort,
    family: Family,
    external_chain: &str,
) -> Option<Option<Value>> {
    if port.load_balancer_ips.is_empty() {
        return None;
    }
    let ranges = port.load_balancer_source_ranges(probe(family))?;
    let chain = names::firewall_chain(generator.identity);
    let set = names::source_ranges_set(generator.identity);
    generator.chain(
        &chain,
        vec![
            Rule::new([
                lookup(&[Selector::Saddr(family)], &set),
                goto(external_chain),
            ]),
            Rule::new([Stmt::Verdict(Verdict::Drop)])
                .comment("source not in loadBalancerSourceRanges"),
        ],
    );
    generator.fragment.sets.push((
        set.clone(),
        SetSpec {
            key_type: KeyType::of([DataType::addr(family)]),
            value_type: None,
            flags: vec![SetFlag::Interval],
            timeout: None,
            comment: Some(generator.identity.to_owned()),
        },
    ));
    for net in ranges {
        generator
            .fragment
            .own_elements
            .push((set.clone(), Key::prefix(net.trunc()), None));
    }
    Some(Some(Value::Verdict(Verdict::Goto(chain))))
}

fn endpoints_equal(a: &[&Endpoint], b: &[&Endpoint]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.addr() == y.addr())
}

/// Accumulates a service port's chains, affinity sets and hairpin elements.
struct Generator<'a> {
    family: Family,
    /// How endpoints are picked.
    pick: Pick,
    identity: &'a str,
    proto: Protocol,
    affinity: Option<Duration>,
    /// Endpoints picked so far, by address, with their affinity set's name.
    endpoints: BTreeMap<std::net::SocketAddr, Option<String>>,
    fragment: &'a mut Fragment,
}

impl Generator<'_> {
    fn chain(&mut self, name: &str, rules: Vec<Rule>) {
        self.fragment
            .chains
            .push((name.to_owned(), Arc::new(ChainSpec { base: None, rules })));
    }

    /// The affinity set of an endpoint (when the port has affinity), registering the endpoint.
    fn endpoint(&mut self, endpoint: &Endpoint) -> Option<String> {
        let (identity, affinity) = (self.identity, self.affinity);
        self.endpoints
            .entry(endpoint.addr())
            .or_insert_with(|| affinity.map(|t| names::affinity_set(identity, endpoint, t)))
            .clone()
    }

    /// The statements that send a new connection to `endpoint`: refresh its affinity entry,
    /// then DNAT. Hairpin masquerading happens in postrouting (`hairpin-endpoints`).
    fn dnat(&self, endpoint: &Endpoint, set: Option<&str>) -> Vec<Stmt> {
        let update = set.map(|set| Stmt::Update {
            set: set.to_owned(),
            key: Selector::Saddr(self.family),
        });
        update
            .into_iter()
            .chain([Stmt::L4proto(self.proto), Stmt::Dnat(endpoint.addr())])
            .collect()
    }

    /// Appends the rules that choose one of `endpoints` and DNAT to it (or drop when there is
    /// none). A random pick without affinity goes through the endpoint map `map`, so later
    /// endpoint changes are element updates; otherwise through a cascade of rules.
    fn pick(
        &mut self,
        rules: &mut Vec<Rule>,
        endpoints: &[&Endpoint],
        empty_reason: &str,
        map: &str,
    ) {
        if endpoints.is_empty() {
            rules.push(Rule::new([Stmt::Verdict(Verdict::Drop)]).comment(empty_reason));
            return;
        }
        if self.pick == Pick::Random && self.affinity.is_none() {
            self.pick_by_map(rules, endpoints, map);
            return;
        }
        let family = self.family;
        let sets: Vec<Option<String>> = endpoints.iter().map(|e| self.endpoint(e)).collect();
        for (endpoint, set) in endpoints.iter().zip(&sets) {
            if let Some(set) = set {
                let known = lookup(&[Selector::Saddr(family)], set);
                let dnat = self.dnat(endpoint, Some(set));
                rules.push(Rule::new(std::iter::once(known).chain(dnat)));
            }
        }
        // Rule i takes endpoint i for one in N-i of the connections reaching it (a fresh draw,
        // or its own counter for round-robin); the last endpoint takes what is left. Every
        // endpoint ends up with exactly 1/N.
        let n = endpoints.len();
        let numgen = self.pick.numgen();
        for (i, (endpoint, set)) in endpoints.iter().zip(&sets).enumerate() {
            let dnat = self.dnat(endpoint, set.as_deref());
            if i + 1 == n {
                rules.push(Rule::new(dnat));
            } else {
                let draw = Stmt::Numgen {
                    mode: numgen,
                    modulus: u32::try_from(n - i).unwrap_or(u32::MAX),
                    value: 0,
                };
                rules.push(Rule::new(std::iter::once(draw).chain(dnat)));
            }
        }
    }

    /// The random pick as one rule and an interval map: `numgen random mod 65536` falls in
    /// endpoint i's range `[i·65536/N, (i+1)·65536/N)`, so each endpoint gets 1/N (to within
    /// 1/65536) and a change of endpoints, their number included, touches only elements.
    fn pick_by_map(&mut self, rules: &mut Vec<Rule>, endpoints: &[&Endpoint], map: &str) {
        let family = self.family;
        for endpoint in endpoints {
            self.endpoint(endpoint);
        }
        rules.push(Rule::new([
            Stmt::L4proto(self.proto),
            Stmt::DnatMap {
                family,
                modulus: PICK_RANGE,
                map: map.to_owned(),
            },
        ]));
        self.fragment.sets.push((
            map.to_owned(),
            SetSpec {
                key_type: KeyType::NumgenRandom {
                    modulus: PICK_RANGE,
                },
                // The port expression must name the service's protocol (nft checks it
                // against the rule's `meta l4proto`).
                value_type: Some(ValueType::DaddrDport {
                    family,
                    proto: self.proto,
                }),
                flags: vec![SetFlag::Interval],
                timeout: None,
                comment: Some(self.identity.to_owned()),
            },
        ));
        let n = endpoints.len() as u64;
        for (i, endpoint) in endpoints.iter().enumerate() {
            let i = i as u64;
            let range = u64::from(PICK_RANGE);
            // Both bounds are below PICK_RANGE, a u32.
            let bound = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
            let (start, end) = (bound(i * range / n), bound((i + 1) * range / n - 1));
            let target = vec![Part::Addr(endpoint.ip), Part::Port(endpoint.port)];
            self.fragment.own_elements.push((
                map.to_owned(),
                Key::range(start, end),
                Some(Value::Data(target)),
            ));
        }
    }

    /// Emits the affinity sets and hairpin elements of the endpoints [`Generator::pick`] chose.
    fn finish(self) {
        for (addr, set) in &self.endpoints {
            let ip = addr.ip();
            let pair = Key::concat([Part::Addr(ip), Part::Addr(ip)]);
            self.fragment
                .elements
                .push((base::HAIRPIN_ENDPOINTS, pair, None));
            if let (Some(set), Some(timeout)) = (set, self.affinity) {
                self.fragment.sets.push((
                    set.clone(),
                    SetSpec {
                        key_type: KeyType::of([DataType::addr(self.family)]),
                        value_type: None,
                        flags: vec![SetFlag::Dynamic, SetFlag::Timeout],
                        timeout: Some(timeout),
                        comment: None,
                    },
                ));
            }
        }
    }
}
