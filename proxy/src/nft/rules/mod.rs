//! The desired nftables state for a [`ServiceTable`]: a [`Ruleset`] of chains, sets, maps and
//! map elements per family, computed as plain data (no nft, no I/O).
//!
//! Layout (see `base.rs` and `service.rs`): a handful of static base chains dispatch every
//! packet through verdict maps keyed by `daddr . l4proto . dport` (ClusterIPs, externalIPs,
//! LB IPs) and `l4proto . dport` (NodePorts), so per-packet cost does not grow with the number
//! of services; each service port owns a few regular chains and map elements. Endpoint choice
//! comes from [`crate::model::ServicePort`]'s selection methods, never re-derived here.

mod base;
mod claims;
mod service;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::{ServicePort, ServicePortId, ServiceTable};

use super::ast::{Key, NumgenMode, Rule, Value};
use super::names;
use super::transaction::{BaseChain, Family, MAX_SHARDS, SetSpec, TableId};

pub use base::{
    CLUSTER_IPS, HAIRPIN_ENDPOINTS, MARK_FOR_MASQUERADE, NO_ENDPOINT_NODEPORTS,
    NO_ENDPOINT_SERVICES, REJECT_CHAIN, SERVICE_IPS, SERVICE_NODEPORTS,
};
pub use claims::Claims;

/// How a service chain picks one of N endpoints for a new connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pick {
    /// `numgen random`: each endpoint with probability 1/N, independently per connection
    /// (kube-proxy's choice).
    #[default]
    Random,
    /// `numgen inc`: endpoints in turn. Every rule of the cascade has its own counter and only
    /// sees the connections the rules before it passed on, so rule i takes every (N-i)-th of
    /// those: connections go to endpoints 0, 1, …, N-1, 0, 1, … exactly.
    RoundRobin,
}

impl Pick {
    /// nft's `numgen` mode.
    pub fn numgen(self) -> NumgenMode {
        match self {
            Pick::Random => NumgenMode::Random,
            Pick::RoundRobin => NumgenMode::Inc,
        }
    }
}

/// The node-level facts rule generation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// Pod CIDRs: traffic from outside them to a ClusterIP is masqueraded.
    pub cluster_cidrs: Vec<IpNet>,
    /// Service CIDRs: traffic to an address in them that is no ClusterIP is dropped.
    pub service_cidrs: Vec<IpNet>,
    /// Addresses NodePorts are served on; none for a family means every local address except
    /// loopback.
    pub node_ips: Vec<IpAddr>,
    /// The packet-mark bit that asks for masquerading.
    pub masquerade_mark: u32,
    /// Masquerade with `fully-random` source ports instead of keeping the client's port when
    /// it is free (see [`NftConfig::masquerade_fully_random`](super::NftConfig)).
    pub masquerade_fully_random: bool,
    /// How endpoints are picked.
    pub pick: Pick,
    /// Number of service shard tables per family (at least 1; see [`TableId`]).
    pub shards: u16,
}

impl Default for RuleConfig {
    fn default() -> RuleConfig {
        RuleConfig {
            cluster_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
            node_ips: Vec::new(),
            masquerade_mark: 0x4000,
            masquerade_fully_random: false,
            pick: Pick::default(),
            shards: DEFAULT_SHARDS,
        }
    }
}

/// Service shards per family unless configured: at 10k services, 1,250 per table keeps a
/// one-service change and a full sync fast, while a new connection pays eight verdict-map
/// lookups instead of one (see docs/benchmarks.md).
pub const DEFAULT_SHARDS: u16 = 8;

impl RuleConfig {
    /// Every table this configuration uses: each family's main table and its shards.
    pub fn tables(&self) -> Vec<TableId> {
        let shards = self.shard_count();
        Family::ALL
            .iter()
            .flat_map(|family| {
                std::iter::once(TableId::main(*family))
                    .chain((0..shards).map(|shard| TableId::shard(*family, shard)))
            })
            .collect()
    }

    /// The shard table of `family` that holds `id`'s rules.
    pub fn shard_table(&self, family: Family, id: &ServicePortId) -> TableId {
        TableId::shard(family, names::shard_of(id, self.shard_count()))
    }

    /// The configured shard count within what table names allow (1–[`MAX_SHARDS`]).
    fn shard_count(&self) -> u16 {
        self.shards.clamp(1, MAX_SHARDS)
    }

    fn cidrs(list: &[IpNet], family: Family) -> Vec<IpNet> {
        list.iter()
            .filter(|n| Family::of(n.addr()) == family)
            .copied()
            .collect()
    }
}

/// One chain's desired content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// Hook attachment for base chains.
    pub base: Option<BaseChain>,
    /// Rules, in order.
    pub rules: Vec<Rule>,
}

/// Elements of one set or map: key → value (`None` for sets).
pub type Elements = BTreeMap<Key, Option<Value>>;

/// Desired content of one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRules {
    /// Every chain, static and per service.
    pub chains: BTreeMap<String, Arc<ChainSpec>>,
    /// Every set and map.
    pub sets: BTreeMap<String, SetSpec>,
    /// Static elements of sets and maps (dynamic sets are filled by the data path).
    pub elements: BTreeMap<String, Elements>,
}

/// Desired content of every table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// Per table; every table of [`RuleConfig::tables`] is present.
    pub tables: BTreeMap<TableId, TableRules>,
}

impl Ruleset {
    /// The rules of one table.
    pub fn table(&self, table: TableId) -> Option<&TableRules> {
        self.tables.get(&table)
    }
}

/// What one service port contributes to one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    /// Its chains (names unique to the port).
    pub chains: Vec<(String, Arc<ChainSpec>)>,
    /// Its sets (affinity).
    pub sets: Vec<(String, SetSpec)>,
    /// Its elements of the shared sets and maps: (set, key, value).
    pub elements: Vec<(&'static str, Key, Option<Value>)>,
    /// Elements of its own sets and maps (endpoint maps, source ranges): (set, key, value;
    /// `None` for sets).
    pub own_elements: Vec<(String, Key, Option<Value>)>,
}

impl Fragment {
    fn is_empty(&self) -> bool {
        self.chains.is_empty()
            && self.sets.is_empty()
            && self.elements.is_empty()
            && self.own_elements.is_empty()
    }
}

/// A service port's generated rules, per table, shared between syncs.
pub type Fragments = Arc<[(TableId, Fragment)]>;

/// A service port whose rules changed since the previous [`RuleBuilder::update`].
#[derive(Debug, Clone)]
pub struct Change {
    /// The port.
    pub id: ServicePortId,
    /// Its rules before (`None`: the port is new).
    pub old: Option<Fragments>,
    /// Its rules now (`None`: the port is gone).
    pub new: Option<Fragments>,
}

impl Change {
    /// The port's fragment for `table`, before or after.
    pub fn fragment(fragments: &Option<Fragments>, table: TableId) -> Option<&Fragment> {
        fragments
            .as_deref()?
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, fragment)| fragment)
    }
}

#[derive(Debug, Clone)]
struct Cached {
    port: Arc<ServicePort>,
    fragments: Fragments,
}

/// What [`RuleBuilder::update`] found for one port whose `Arc` is not the cached one.
#[derive(Debug)]
enum Step<'t> {
    /// In the table, not in the cache.
    Added(&'t Arc<ServicePort>),
    /// In both, as another allocation (maybe equal).
    Replaced(&'t Arc<ServicePort>),
    /// In the cache, not in the table.
    Removed(ServicePortId),
}

/// Builds [`Ruleset`]s, remembering each service port's generated rules so an unchanged
/// service costs a comparison, not a regeneration, and a sync can ask what changed.
#[derive(Debug, Clone)]
pub struct RuleBuilder {
    config: RuleConfig,
    /// Per port, in id order (the table's order), so [`RuleBuilder::update`] can walk both side
    /// by side.
    cache: BTreeMap<ServicePortId, Cached>,
}

impl RuleBuilder {
    /// A builder for `config`.
    pub fn new(config: RuleConfig) -> RuleBuilder {
        RuleBuilder {
            config,
            cache: BTreeMap::new(),
        }
    }

    /// The configuration rules are built for.
    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    /// Brings the cache to `table` and returns the ports whose rules changed, in id order.
    ///
    /// The table's ports and the cache are walked side by side in id order; a port whose `Arc`
    /// is the cached one (tables share unchanged ports, see [`crate::model::TableBuilder`])
    /// costs one pointer comparison. Only the others are compared, looked up and regenerated,
    /// so the work beyond that walk follows the number of changed ports.
    pub fn update(&mut self, table: &ServiceTable) -> Vec<Change> {
        let steps = match self.steps(&table.ports) {
            Some(steps) => steps,
            None => {
                // Not in id order (the table's invariant): walk a sorted copy.
                let mut ports = table.ports.clone();
                ports.sort_by(|a, b| a.id.cmp(&b.id));
                ports.dedup_by(|later, earlier| later.id == earlier.id);
                let steps = self.steps(&ports).unwrap_or_default();
                return self.apply(steps);
            }
        };
        self.apply(steps)
    }

    /// The ports of `ports` (in id order) whose `Arc` differs from the cache's, and the cached
    /// ports `ports` lacks, in id order; `None` when `ports` is not strictly in id order (checked
    /// next to every step, so an unchanged stretch, which matches the ordered cache, is not
    /// compared).
    fn steps<'t>(&self, ports: &'t [Arc<ServicePort>]) -> Option<Vec<Step<'t>>> {
        let mut steps = Vec::new();
        let mut cached = self.cache.iter().peekable();
        let mut i = 0;
        while i < ports.len() || cached.peek().is_some() {
            let port = ports.get(i);
            let step = match (port, cached.peek()) {
                (Some(port), Some((_, c))) if Arc::ptr_eq(&c.port, port) => {
                    cached.next();
                    i += 1;
                    continue;
                }
                (Some(port), Some((id, _))) => match port.id.cmp(id) {
                    std::cmp::Ordering::Less => Step::Added(port),
                    std::cmp::Ordering::Equal => {
                        cached.next();
                        Step::Replaced(port)
                    }
                    std::cmp::Ordering::Greater => {
                        let (id, _) = cached.next()?;
                        steps.push(Step::Removed(id.clone()));
                        continue;
                    }
                },
                (Some(port), None) => Step::Added(port),
                (None, _) => {
                    let (id, _) = cached.next()?;
                    steps.push(Step::Removed(id.clone()));
                    continue;
                }
            };
            let ordered = |a: Option<&Arc<ServicePort>>, b: Option<&Arc<ServicePort>>| match (a, b)
            {
                (Some(a), Some(b)) => a.id < b.id,
                _ => true,
            };
            let before = i.checked_sub(1).and_then(|j| ports.get(j));
            if !ordered(before, port) || !ordered(port, ports.get(i + 1)) {
                return None;
            }
            steps.push(step);
            i += 1;
        }
        Some(steps)
    }

    /// Applies `steps` to the cache and returns the ports whose rules changed, in id order.
    fn apply(&mut self, steps: Vec<Step<'_>>) -> Vec<Change> {
        let mut changes = Vec::new();
        for step in steps {
            match step {
                Step::Added(port) => {
                    let fragments = place(&self.config, port);
                    self.cache.insert(
                        port.id.clone(),
                        Cached {
                            port: port.clone(),
                            fragments: fragments.clone(),
                        },
                    );
                    changes.push(Change {
                        id: port.id.clone(),
                        old: None,
                        new: Some(fragments),
                    });
                }
                Step::Replaced(port) => {
                    let Some(cached) = self.cache.get_mut(&port.id) else {
                        continue;
                    };
                    if cached.port == *port {
                        // Same content in a new allocation: keep it so the next check is a
                        // pointer one.
                        cached.port = port.clone();
                        continue;
                    }
                    let fragments = place(&self.config, port);
                    let old = std::mem::replace(&mut cached.fragments, fragments.clone());
                    cached.port = port.clone();
                    if old != fragments {
                        changes.push(Change {
                            id: port.id.clone(),
                            old: Some(old),
                            new: Some(fragments),
                        });
                    }
                }
                Step::Removed(id) => {
                    if let Some(cached) = self.cache.remove(&id) {
                        changes.push(Change {
                            id,
                            old: Some(cached.fragments),
                            new: None,
                        });
                    }
                }
            }
        }
        changes
    }

    /// The complete desired state for `table` (after [`RuleBuilder::update`] with it).
    pub fn assemble(&self, table: &ServiceTable) -> Ruleset {
        let mut tables: BTreeMap<TableId, TableRules> = self
            .config
            .tables()
            .into_iter()
            .map(|t| (t, base::static_rules(&self.config, t)))
            .collect();
        for port in &table.ports {
            let Some(cached) = self.cache.get(&port.id) else {
                continue;
            };
            for (id, fragment) in cached.fragments.iter() {
                if let Some(rules) = tables.get_mut(id) {
                    merge(rules, fragment);
                }
            }
        }
        // Shared elements: only each key's winner, in the one table it belongs to.
        for claims in self.claims(table).values() {
            for (id, set, key, value) in claims.winners() {
                if let Some(rules) = tables.get_mut(&id) {
                    rules
                        .elements
                        .entry(set.to_owned())
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
            }
        }
        Ruleset { tables }
    }

    /// The element claims of every cached port, per family (after [`RuleBuilder::update`]).
    pub fn claims(&self, table: &ServiceTable) -> BTreeMap<Family, Claims> {
        let mut claims: BTreeMap<Family, Claims> = BTreeMap::new();
        for port in &table.ports {
            let Some(cached) = self.cache.get(&port.id) else {
                continue;
            };
            for (id, fragment) in cached.fragments.iter() {
                let family_claims = claims.entry(id.family).or_default();
                for (set, key, value) in &fragment.elements {
                    family_claims.insert(set, key, &port.id, *id, value.clone());
                }
            }
        }
        claims
    }

    /// Updates the cache and returns the complete desired state for `table`.
    pub fn build(&mut self, table: &ServiceTable) -> Ruleset {
        self.update(table);
        self.assemble(table)
    }
}

/// A port's rules, placed: elements of the node-wide sets (`cluster-ips`, the no-endpoint maps,
/// `hairpin-endpoints`) go to the family's main table; its chains, sets, endpoint maps and
/// dispatch elements go to the port's shard.
fn place(config: &RuleConfig, port: &ServicePort) -> Fragments {
    let mut placed = Vec::new();
    for (family, mut fragment) in service::fragments(config, port) {
        let (sharded, main): (Vec<_>, Vec<_>) = std::mem::take(&mut fragment.elements)
            .into_iter()
            .partition(|(set, _, _)| base::in_shard(set));
        fragment.elements = sharded;
        let main = Fragment {
            elements: main,
            ..Fragment::default()
        };
        if !main.is_empty() {
            placed.push((TableId::main(family), main));
        }
        if !fragment.is_empty() {
            placed.push((config.shard_table(family, &port.id), fragment));
        }
    }
    placed.into()
}

/// Adds a port's own objects to its table: chains, sets and the elements of its own maps.
/// Its elements of the shared sets come from the claims (see [`Claims`]).
fn merge(rules: &mut TableRules, fragment: &Fragment) {
    for (map, key, value) in &fragment.own_elements {
        rules
            .elements
            .entry(map.clone())
            .or_default()
            .insert(key.clone(), value.clone());
    }
    for (name, chain) in &fragment.chains {
        rules.chains.insert(name.clone(), chain.clone());
    }
    for (name, spec) in &fragment.sets {
        rules.sets.insert(name.clone(), spec.clone());
    }
}

#[cfg(test)]
mod tests;
