//! The nftables data path: programs the kernel so that traffic to service addresses is
//! load-balanced to endpoints without passing through userspace.
//!
//! Rules are data: [`rules`] computes the desired chains, sets and verdict-map elements of
//! switchyard's own tables (`ip switchyard`, `ip6 switchyard`) from a [`crate::model::ServiceTable`]
//! as typed values ([`ast`]: printed as nft text, encoded as netlink, never parsed),
//! [`Syncer`] diffs them against what it last applied into one [`Transaction`], and a [`Runner`]
//! applies it atomically: [`NftRunner`] sends every transaction of the layouts it generates,
//! full or incremental, as one nf_tables netlink batch (`netlink/`, no `nft` process and no
//! cache fill) and what netlink cannot carry (a batch over its size limit), or a batch
//! netlink refused, through `nft -f -`;
//! [`FakeRunner`] models both in tests. [`NftProxy`] is the task that
//! follows the table snapshots, coalesces bursts and exposes health and metrics.
//!
//! It never touches tables other than its own, never flushes them wholesale (a restart adopts
//! them) and never calls the API.

pub mod ast;
mod conntrack;
mod error;
mod fake;
#[cfg(test)]
mod fixture;
mod metrics;
mod names;
mod netlink;
mod proxy;
pub mod rules;
mod runner;
mod sync;
mod transaction;

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

pub use conntrack::{StaleFlow, stale_udp_flows};
pub use error::{Refusal, SyncError};
pub use fake::FakeRunner;
pub use proxy::{NftProxy, cleanup, preflight};
pub use runner::{Listing, NftRunner, Runner};
pub use sync::{SyncOutcome, Syncer};
pub use transaction::{
    BaseChain, ChainType, Family, Hook, InvalidOp, MAX_SHARDS, Object, Op, SetSpec, TABLE, TableId,
    Transaction, Verb,
};

/// Settings of the nftables proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftConfig {
    /// Pod CIDRs: traffic from outside them to a ClusterIP is masqueraded. Empty: none is.
    pub cluster_cidrs: Vec<IpNet>,
    /// Service CIDRs: traffic to an address in them that is no ClusterIP is dropped. Empty:
    /// only unused ports of existing ClusterIPs are rejected.
    pub service_cidrs: Vec<IpNet>,
    /// Addresses NodePorts are served on. Empty: every local address except loopback.
    pub node_ips: Vec<IpAddr>,
    /// Least time between two syncs; changes arriving meanwhile are applied together.
    /// Zero syncs on every change.
    pub min_sync_period: Duration,
    /// The packet-mark bit meaning "masquerade this" (kube-proxy uses 0x4000).
    pub masquerade_mark: u32,
    /// `--masquerade-fully-random`: pick every masqueraded connection's source port at random
    /// (`masquerade fully-random`, what kube-proxy does) instead of keeping the client's port
    /// when it is free and searching from a random offset when it is not (the kernel's default).
    /// Off by default: in docs/benchmarks.md ("Routed") keeping ports opened 1.07–1.13× the
    /// connections per second of fully random ports from one client (the kernel's port search
    /// is cheaper than a random draw per connection). Either choice can hand the backend a
    /// four-tuple it still holds in TIME_WAIT from another client whose TCP timestamps run
    /// behind; it refuses that SYN by PAWS and the client resends it a few ms later. An earlier
    /// measurement blamed random ports for halving the connection rate; that was the bench's
    /// own cases colliding that way, since fixed. Turn it on where many clients behind one node
    /// open connections to one backend at the same instant: two connections kept on the same
    /// port before either is confirmed collide in conntrack and one SYN is dropped; random
    /// ports make that rarer.
    pub masquerade_fully_random: bool,
    /// How endpoints are picked (`--lb`).
    pub pick: rules::Pick,
    /// Service shard tables per family (`--nft-shards`, 1–256): more make one-service changes
    /// and full syncs of large clusters faster; each costs new connections one map lookup.
    pub shards: u16,
    /// Run `nft` and `conntrack` inside this network namespace (`ip netns exec`); for tests.
    pub netns: Option<String>,
    /// Health turns stale when a queued change waits longer than this.
    pub stale_after: Duration,
    /// A full resync (list the tables, rewrite every chain, set and map) this long after the
    /// last one, repairing whatever was changed in switchyard's tables by hand. `None`: only
    /// at start, after a failure and on request.
    pub full_resync_period: Option<Duration>,
}

impl Default for NftConfig {
    fn default() -> NftConfig {
        NftConfig {
            cluster_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
            node_ips: Vec::new(),
            min_sync_period: Duration::from_secs(1),
            masquerade_mark: 0x4000,
            masquerade_fully_random: false,
            pick: rules::Pick::Random,
            shards: rules::DEFAULT_SHARDS,
            netns: None,
            stale_after: Duration::from_secs(60),
            full_resync_period: Some(Duration::from_secs(3600)),
        }
    }
}

impl NftConfig {
    /// The part of the configuration rule generation needs.
    pub fn rule_config(&self) -> rules::RuleConfig {
        rules::RuleConfig {
            cluster_cidrs: self.cluster_cidrs.clone(),
            service_cidrs: self.service_cidrs.clone(),
            node_ips: self.node_ips.clone(),
            masquerade_mark: self.masquerade_mark,
            masquerade_fully_random: self.masquerade_fully_random,
            pick: self.pick,
            shards: self.shards,
        }
    }
}
