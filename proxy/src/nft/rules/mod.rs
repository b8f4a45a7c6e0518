//! The desired nftables state for a [`ServiceTable`]: a [`Ruleset`] of chains, sets, maps and
//! map elements per family, computed as plain data (no nft, no I/O).
//!
//! Layout (see `base.rs` and `service.rs`): a handful of static base chains dispatch every
//! packet through verdict maps keyed by `daddr . l4proto . dport` (ClusterIPs, externalIPs,
//! LB IPs) and `l4proto . dport` (NodePorts), so per-packet cost does not grow with the number
//! of services; each service port owns a few regular chains and map elements. Endpoint choice
//! comes from [`crate::model::ServicePort`]'s selection methods, never re-derived here.

mod base;
mod service;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::model::{ServicePort, ServicePortId, ServiceTable};

use super::transaction::{BaseChain, Family, SetSpec};

pub use base::{
    CLUSTER_IPS, MARK_FOR_MASQUERADE, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES, REJECT_CHAIN,
    SERVICE_IPS, SERVICE_NODEPORTS,
};

/// The node-level facts rule generation needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

impl RuleConfig {
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
    /// Rules, in order, as nft text.
    pub rules: Vec<String>,
}

/// Elements of one set or map: key → value (`None` for sets).
pub type Elements = BTreeMap<String, Option<String>>;

/// Desired content of one family's table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FamilyRules {
    /// Every chain, static and per service.
    pub chains: BTreeMap<String, Arc<ChainSpec>>,
    /// Every set and map.
    pub sets: BTreeMap<String, SetSpec>,
    /// Static elements of sets and maps (dynamic sets are filled by the data path).
    pub elements: BTreeMap<String, Elements>,
}

/// Desired content of both tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// Per family; both families are always present.
    pub families: BTreeMap<Family, FamilyRules>,
}

impl Ruleset {
    /// The rules of one family.
    pub fn family(&self, family: Family) -> Option<&FamilyRules> {
        self.families.get(&family)
    }
}

/// What one service port contributes to one family.
#[derive(Debug, Clone, Default, PartialEq)]
struct Fragment {
    chains: Vec<(String, Arc<ChainSpec>)>,
    sets: Vec<(String, SetSpec)>,
    elements: Vec<(&'static str, String, Option<String>)>,
}

/// A service port's generated rules, per family, shared between syncs.
type Fragments = Arc<[(Family, Fragment)]>;

/// Builds [`Ruleset`]s, remembering each service port's generated rules so an unchanged
/// service costs a pointer comparison, not a regeneration.
#[derive(Debug)]
pub struct RuleBuilder {
    config: RuleConfig,
    cache: HashMap<ServicePortId, (Arc<ServicePort>, Fragments)>,
}

impl RuleBuilder {
    /// A builder for `config`.
    pub fn new(config: RuleConfig) -> RuleBuilder {
        RuleBuilder {
            config,
            cache: HashMap::new(),
        }
    }

    /// The desired state for `table`.
    pub fn build(&mut self, table: &ServiceTable) -> Ruleset {
        let mut families: BTreeMap<Family, FamilyRules> = Family::ALL
            .iter()
            .map(|f| (*f, base::static_rules(&self.config, *f)))
            .collect();
        let mut cache = HashMap::with_capacity(table.ports.len());
        for port in &table.ports {
            let fragments = match self.cache.remove(&port.id) {
                Some((old, fragments)) if Arc::ptr_eq(&old, port) || old == *port => fragments,
                _ => service::fragments(&self.config, port).into(),
            };
            for (family, fragment) in fragments.iter() {
                if let Some(rules) = families.get_mut(family) {
                    merge(rules, fragment, &port.id);
                }
            }
            cache.insert(port.id.clone(), (port.clone(), fragments));
        }
        self.cache = cache;
        Ruleset { families }
    }
}

fn merge(rules: &mut FamilyRules, fragment: &Fragment, owner: &ServicePortId) {
    for (name, chain) in &fragment.chains {
        rules.chains.insert(name.clone(), chain.clone());
    }
    for (name, spec) in &fragment.sets {
        rules.sets.insert(name.clone(), spec.clone());
    }
    for (map, key, value) in &fragment.elements {
        let elements = rules.elements.entry((*map).to_owned()).or_default();
        match elements.get(key) {
            Some(existing) if existing != value => {
                tracing::warn!(
                    service = %owner,
                    map = *map,
                    key = %key,
                    "address and port already claimed by another service; keeping the first"
                );
            }
            Some(_) => {}
            None => {
                elements.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
