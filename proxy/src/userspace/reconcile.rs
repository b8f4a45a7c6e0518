//! The single task that turns each new service table into listener state: it diffs the table
//! against the previous one (only the service ports that differ are looked at), opens, closes or
//! re-points only the listeners those ports touch, keeps per-port state (affinity, counters,
//! per-endpoint connection counts) across updates, and keeps the managed interface's addresses
//! in step. It never forwards traffic and never calls the API.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::affinity::AffinityTable;
use super::balance::{Backend, Pool};
use super::interface::ManagedInterface;
use super::route::{Ctx, PortRuntime, Route};
use super::stats::ProxyStats;
use super::{UserspaceConfig, socket, tcp, udp};
use crate::model::{Protocol, ServicePort, ServicePortId, ServiceTable};
use crate::reflector::TableSnapshot;

/// How often pins expire and failed binds or address changes are retried.
const HOUSEKEEPING: Duration = Duration::from_secs(5);

/// Whether a listener serves in-cluster traffic (ClusterIP) or external traffic (NodePort,
/// externalIPs, LoadBalancer IPs): they obey different traffic policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Scope {
    Cluster,
    External,
}

/// A listening socket's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ListenKey {
    protocol: Protocol,
    addr: SocketAddr,
}

/// What a wanted listener serves.
#[derive(Debug, Clone)]
struct Want {
    port: Arc<ServicePort>,
    scope: Scope,
    /// Sources allowed (an LB IP with `loadBalancerSourceRanges`); `None`: all.
    sources: Option<Arc<[IpNet]>>,
}

impl Want {
    /// The pool this listener draws from.
    fn pool_key(&self, key: &ListenKey) -> PoolKey {
        (self.port.id.clone(), self.scope, key.addr.is_ipv4())
    }
}

/// A pool's identity: the service port, the scope and whether it is the IPv4 one.
type PoolKey = (ServicePortId, Scope, bool);

#[derive(Debug)]
struct OpenListener {
    route: Arc<ArcSwap<Route>>,
    stop: CancellationToken,
    /// The accept / receive task; it owns the socket, so awaiting it means the port is free.
    task: JoinHandle<()>,
}

impl OpenListener {
    /// Stops the task and waits until it dropped its socket.
    async fn close(self) {
        self.stop.cancel();
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "listener task ended abnormally");
        }
    }
}

/// Per service port state kept across tables.
#[derive(Debug)]
struct PortEntry {
    runtime: Arc<PortRuntime>,
    affinity_timeout: Option<Duration>,
    /// Open-connection counts per endpoint, shared by every pool listing it.
    active: HashMap<SocketAddr, Arc<AtomicU64>>,
}

/// What the last applied table was, for health.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Wall-clock time of the last apply.
    pub(crate) at: Option<SystemTime>,
    /// The table applied.
    pub(crate) table: Option<Arc<ServiceTable>>,
    /// Whether that table came from a complete cluster view.
    pub(crate) synced: bool,
    /// Listeners open after it.
    pub(crate) listeners: usize,
}

/// Shared record of the last apply.
pub(crate) type AppliedState = Arc<Mutex<Applied>>;

/// The reconciler; owned by its task.
///
/// It keeps, besides the open listeners, everything it derived from the last table (each
/// address's claimants, the winners, pool users, interface address counts), so a new table
/// costs work for the service ports that changed (see [`diff::changed_ports`]), never a pass
/// over every service.
#[derive(Debug)]
pub(crate) struct Reconciler {
    ctx: Arc<Ctx>,
    stats: Arc<ProxyStats>,
    applied: AppliedState,
    node_ips: HashSet<IpAddr>,
    nodeport_ips: Vec<IpAddr>,
    interface: Option<ManagedInterface>,
    listeners: HashMap<ListenKey, OpenListener>,
    ports: HashMap<ServicePortId, PortEntry>,
    /// Every service port that wants each address, in id order (the first one wins).
    claims: HashMap<ListenKey, BTreeMap<ServicePortId, Want>>,
    /// Each address's winner: the listeners that should be open.
    wanted: BTreeMap<ListenKey, Want>,
    pools: HashMap<PoolKey, Arc<Pool>>,
    /// How many wanted listeners use each pool.
    pool_users: HashMap<PoolKey, usize>,
    /// How many ports put each address on the managed interface.
    managed: BTreeMap<IpAddr, usize>,
    /// The managed interface's last sync left addresses wrong.
    interface_dirty: bool,
    skipped_sctp: HashSet<ServicePortId>,
    /// Listeners that failed to open (warned about once), retried by housekeeping.
    failing: HashSet<ListenKey>,
    last: Option<TableSnapshot>,
    /// How many service ports the last apply had to look at (the changed ones).
    last_changed: usize,
    stop: CancellationToken,
}

impl Reconciler {
    /// A reconciler with nothing open yet.
    pub(crate) fn new(
        config: &UserspaceConfig,
        local_ips: &BTreeSet<IpAddr>,
        ctx: Arc<Ctx>,
        stats: Arc<ProxyStats>,
        applied: AppliedState,
        interface: Option<ManagedInterface>,
        stop: CancellationToken,
    ) -> Reconciler {
        Reconciler {
            ctx,
            stats,
            applied,
            node_ips: config.node_ips.iter().copied().collect(),
            nodeport_ips: nodeport_ips(config, local_ips),
            interface,
            listeners: HashMap::new(),
            ports: HashMap::new(),
            claims: HashMap::new(),
            wanted: BTreeMap::new(),
            pools: HashMap::new(),
            pool_users: HashMap::new(),
            managed: BTreeMap::new(),
            interface_dirty: false,
            skipped_sctp: HashSet::new(),
            failing: HashSet::new(),
            last: None,
            last_changed: 0,
            stop,
        }
    }

    /// Applies tables as they come until `stop` fires, then closes everything it opened.
    pub(crate) async fn run(mut self, mut tables: watch::Receiver<TableSnapshot>) {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        let mut source_open = true;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => break,
                changed = tables.changed(), if source_open => match changed {
                    Ok(()) => {
                        let snapshot = tables.borrow_and_update().clone();
                        self.apply(&snapshot).await;
                    }
                    Err(_) => {
                        source_open = false;
                        tracing::info!("service table source closed; serving the last table");
                    }
                },
                _ = tick.tick() => self.housekeeping().await,
            }
        }
        self.close().await;
    }

    /// Brings listeners, pools and addresses in line with `snapshot`, looking only at the
    /// service ports that differ from the last table.
    pub(crate) async fn apply(&mut self, snapshot: &TableSnapshot) {
        let first = self.last.is_none();
        let changed = match &self.last {
            Some(last) => diff::changed_ports(&last.table, &snapshot.table),
            None => diff::changed_ports(&ServiceTable::default(), &snapshot.table),
        };
        self.last_changed = changed.len();
        let mut affected = BTreeSet::new();
        let mut ports_changed = first;
        let mut addrs_changed = first;
        for (old, new) in &changed {
            if let Some(old) = old {
                for key in self.port_wants(old).into_keys() {
                    self.unclaim(key, &old.id);
                    affected.insert(key);
                }
                addrs_changed |= self.count_addrs(old, false);
            }
            if let Some(new) = new {
                for (key, want) in self.port_wants(new) {
                    self.claim(key, want);
                    affected.insert(key);
                }
                addrs_changed |= self.count_addrs(new, true);
            }
            ports_changed |= self.update_port(old.as_ref(), new.as_ref());
        }
        if ports_changed {
            self.stats.retain_ports(self.ports.keys());
        }
        self.update_wanted(&affected);
        self.update_listeners(&affected).await;
        if addrs_changed || self.interface_dirty {
            self.sync_interface().await;
        }
        self.record(snapshot);
        self.last = Some(snapshot.clone());
    }

    /// The listeners one service port asks for (none for SCTP); an address it names twice
    /// (an externalIP that is also an LB IP) keeps its first scope and the LB IP's ranges.
    fn port_wants(&self, port: &Arc<ServicePort>) -> BTreeMap<ListenKey, Want> {
        let mut wants: BTreeMap<ListenKey, Want> = BTreeMap::new();
        if port.id.protocol == Protocol::Sctp {
            return wants;
        }
        let mut want = |ip: IpAddr, number: u16, scope: Scope, sources: Option<Arc<[IpNet]>>| {
            let key = ListenKey {
                protocol: port.id.protocol,
                addr: SocketAddr::new(ip, number),
            };
            match wants.get_mut(&key) {
                Some(same) => {
                    if sources.is_some() {
                        same.sources = sources;
                    }
                }
                None => {
                    wants.insert(
                        key,
                        Want {
                            port: port.clone(),
                            scope,
                            sources,
                        },
                    );
                }
            }
        };
        for ip in &port.cluster_ips {
            want(*ip, port.port, Scope::Cluster, None);
        }
        if let Some(node_port) = port.node_port {
            for ip in &self.nodeport_ips {
                want(*ip, node_port, Scope::External, None);
            }
        }
        let managed = self.interface.is_some();
        for ip in &port.external_ips {
            if managed || self.node_ips.contains(ip) {
                want(*ip, port.port, Scope::External, None);
            }
        }
        for ip in &port.load_balancer_ips {
            if self.node_ips.contains(ip) {
                let sources = port.load_balancer_source_ranges(*ip).map(Arc::from);
                want(*ip, port.port, Scope::External, sources);
            }
        }
        wants
    }

    /// The listeners `table` asks for, computed from scratch (first service port in id order
    /// winning a clash): what the incrementally kept `wanted` field must equal.
    #[cfg(test)]
    fn wanted(&mut self, table: &ServiceTable) -> BTreeMap<ListenKey, Want> {
        let mut wanted = BTreeMap::new();
        for port in &table.ports {
            for (key, want) in self.port_wants(port) {
                wanted.entry(key).or_insert(want);
            }
        }
        wanted
    }

    /// Records that `want.port` asks for `key`.
    fn claim(&mut self, key: ListenKey, want: Want) {
        let claimants = self.claims.entry(key).or_default();
        let id = want.port.id.clone();
        claimants.insert(id.clone(), want);
        let mut ids = claimants.keys();
        // The port left without the address: the newcomer, or the one it displaced.
        let (owner, skipped) = match (ids.next(), ids.next()) {
            (Some(owner), Some(second)) if *owner == id => (owner, second),
            (Some(owner), Some(_)) => (owner, &id),
            _ => return,
        };
        tracing::warn!(address = %key.addr, service = %skipped, owner = %owner,
            "address already served by another service port; skipped");
    }

    /// Drops `id`'s claim on `key`.
    fn unclaim(&mut self, key: ListenKey, id: &ServicePortId) {
        if let Some(claimants) = self.claims.get_mut(&key) {
            claimants.remove(id);
            if claimants.is_empty() {
                self.claims.remove(&key);
            }
        }
    }

    /// Counts `port`'s ClusterIPs and externalIPs in (`add`) or out of the managed interface's
    /// addresses; returns whether the set of addresses changed.
    fn count_addrs(&mut self, port: &ServicePort, add: bool) -> bool {
        let mut changed = false;
        for ip in port.cluster_ips.iter().chain(&port.external_ips) {
            if add {
                let count = self.managed.entry(*ip).or_default();
                *count += 1;
                changed |= *count == 1;
            } else if let Some(count) = self.managed.get_mut(ip) {
                *count -= 1;
                if *count == 0 {
                    self.managed.remove(ip);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Keeps one [`PortEntry`] per TCP/UDP service port, reusing the old one's state; returns
    /// whether a port came or went.
    fn update_port(
        &mut self,
        old: Option<&Arc<ServicePort>>,
        new: Option<&Arc<ServicePort>>,
    ) -> bool {
        let Some(port) = new else {
            let Some(old) = old else {
                return false;
            };
            self.skipped_sctp.remove(&old.id);
            return self.ports.remove(&old.id).is_some();
        };
        if port.id.protocol == Protocol::Sctp {
            if self.skipped_sctp.insert(port.id.clone()) {
                tracing::info!(service = %port.id, "SCTP is not proxied in userspace mode");
            }
            return false;
        }
        let existing = self.ports.remove(&port.id);
        let came = existing.is_none();
        let mut entry = match existing {
            Some(entry) if entry.affinity_timeout == port.affinity_timeout => entry,
            Some(old) => PortEntry {
                runtime: Arc::new(PortRuntime {
                    id: port.id.clone(),
                    affinity: port.affinity_timeout.map(AffinityTable::new),
                    metrics: old.runtime.metrics.clone(),
                }),
                affinity_timeout: port.affinity_timeout,
                active: old.active,
            },
            None => PortEntry {
                runtime: Arc::new(PortRuntime {
                    id: port.id.clone(),
                    affinity: port.affinity_timeout.map(AffinityTable::new),
                    metrics: self.stats.port_metrics(&port.id),
                }),
                affinity_timeout: port.affinity_timeout,
                active: HashMap::new(),
            },
        };
        let live: HashSet<SocketAddr> = port.endpoints.iter().map(|e| e.addr()).collect();
        entry.active.retain(|addr, _| live.contains(addr));
        for addr in &live {
            entry.active.entry(*addr).or_default();
        }
        if let Some(affinity) = &entry.runtime.affinity {
            affinity.retain_endpoints(&live);
        }
        self.ports.insert(port.id.clone(), entry);
        came
    }

    /// Moves each `affected` address to its current winner and keeps one pool per (port,
    /// scope, family) in use; unchanged endpoint lists keep their pool.
    fn update_wanted(&mut self, affected: &BTreeSet<ListenKey>) {
        // Pools whose users changed, with an address that now uses them.
        let mut touched: BTreeMap<PoolKey, Option<ListenKey>> = BTreeMap::new();
        for key in affected {
            let winner = self
                .claims
                .get(key)
                .and_then(|claimants| claimants.values().next())
                .cloned();
            let before = match winner {
                Some(want) => {
                    let pool = want.pool_key(key);
                    *self.pool_users.entry(pool.clone()).or_default() += 1;
                    touched.insert(pool, Some(*key));
                    self.wanted.insert(*key, want)
                }
                None => {
                    self.failing.remove(key);
                    self.wanted.remove(key)
                }
            };
            if let Some(before) = before {
                let pool = before.pool_key(key);
                if let Some(users) = self.pool_users.get_mut(&pool) {
                    *users = users.saturating_sub(1);
                }
                touched.entry(pool).or_insert(None);
            }
        }
        // A changed port's pools are all here with an address: its listeners are all affected.
        // A pool touched only by losing an address belongs to an unchanged port and stays.
        for (pool_key, user) in touched {
            if self
                .pool_users
                .get(&pool_key)
                .is_none_or(|users| *users == 0)
            {
                self.pool_users.remove(&pool_key);
                self.pools.remove(&pool_key);
                continue;
            }
            let Some((key, want)) = user.and_then(|key| Some((key, self.wanted.get(&key)?))) else {
                continue;
            };
            let Some(entry) = self.ports.get(&want.port.id) else {
                continue;
            };
            let family = key.addr.ip();
            let endpoints = match want.scope {
                Scope::Cluster => want.port.cluster_endpoints(family),
                Scope::External => want.port.external_endpoints(family),
            };
            let addrs: Vec<SocketAddr> = endpoints.iter().map(|e| e.addr()).collect();
            if self
                .pools
                .get(&pool_key)
                .is_some_and(|pool| pool.same_endpoints(&addrs))
            {
                continue;
            }
            let pool = Arc::new(Pool::new(
                addrs
                    .iter()
                    .map(|addr| Backend {
                        addr: *addr,
                        active: entry.active.get(addr).cloned().unwrap_or_default(),
                    })
                    .collect(),
            ));
            self.pools.insert(pool_key, pool);
        }
    }

    /// For the `affected` addresses: closes listeners no longer wanted (waiting until their
    /// sockets are gone), then re-points the others at their current route (also when another
    /// service port took the address over) and opens new ones.
    async fn update_listeners(&mut self, affected: &BTreeSet<ListenKey>) {
        for key in affected {
            if self.wanted.contains_key(key) {
                continue;
            }
            if let Some(open) = self.listeners.remove(key) {
                tracing::debug!(address = %key.addr, protocol = %key.protocol, "closing listener");
                open.close().await;
            }
        }
        for key in affected {
            self.settle(*key);
        }
        self.stats.listeners.set(self.listeners.len() as u64);
    }

    /// Points the listener for the wanted address `key` at its current route, opening it if
    /// needed.
    fn settle(&mut self, key: ListenKey) {
        let Some(want) = self.wanted.get(&key) else {
            return;
        };
        let (Some(entry), Some(pool)) = (
            self.ports.get(&want.port.id),
            self.pools.get(&want.pool_key(&key)),
        ) else {
            return;
        };
        let route = Route {
            port: entry.runtime.clone(),
            pool: pool.clone(),
            sources: want.sources.clone(),
        };
        if let Some(open) = self.listeners.get(&key) {
            let current = open.route.load();
            if !Arc::ptr_eq(&current.port, &route.port)
                || !Arc::ptr_eq(&current.pool, &route.pool)
                || current.sources != route.sources
            {
                open.route.store(Arc::new(route));
            }
            return;
        }
        let service = want.port.id.clone();
        match self.open(key, route) {
            Ok(open) => {
                self.failing.remove(&key);
                tracing::debug!(address = %key.addr, protocol = %key.protocol,
                    service = %service, "listening");
                self.listeners.insert(key, open);
            }
            Err(err) => {
                self.stats.listener_errors.inc();
                // Warn once per address; the periodic retries only log at debug.
                if self.failing.insert(key) {
                    tracing::warn!(address = %key.addr, protocol = %key.protocol,
                        service = %service, error = %err, "cannot listen; will retry");
                } else {
                    tracing::debug!(address = %key.addr, error = %err, "still cannot listen");
                }
            }
        }
    }

    /// Makes the managed interface carry the addresses the table asks for.
    async fn sync_interface(&mut self) {
        let Some(interface) = self.interface.as_mut() else {
            return;
        };
        let addrs: BTreeSet<IpAddr> = self.managed.keys().copied().collect();
        let failures = interface.sync(&addrs).await;
        self.interface_dirty = failures > 0;
        if failures > 0 {
            self.stats.interface_errors.inc_by(failures);
        }
    }

    fn open(&self, key: ListenKey, route: Route) -> std::io::Result<OpenListener> {
        let route = Arc::new(ArcSwap::from_pointee(route));
        let stop = self.stop.child_token();
        let (ctx, serving, stopped) = (self.ctx.clone(), route.clone(), stop.clone());
        let task = match key.protocol {
            Protocol::Tcp => {
                let listener = socket::bind_tcp(key.addr)?;
                tokio::spawn(tcp::accept_loop(listener, serving, ctx, stopped))
            }
            Protocol::Udp => {
                let socket = socket::bind_udp(key.addr)?;
                tokio::spawn(udp::serve(socket, serving, ctx, stopped))
            }
            Protocol::Sctp => return Err(std::io::ErrorKind::Unsupported.into()),
        };
        Ok(OpenListener { route, stop, task })
    }

    /// Records metrics and health for an applied table.
    fn record(&self, snapshot: &TableSnapshot) {
        if let Some(at) = snapshot.last_event_at {
            self.stats
                .sync_latency
                .observe(Instant::now().saturating_duration_since(at).as_secs_f64());
        }
        self.stats.syncs.inc();
        let now = SystemTime::now();
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Whole milliseconds, as before: the gauge is read as seconds with 3 decimals.
        self.stats
            .last_sync
            .set(since_epoch.as_millis() as f64 / 1000.0);
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        applied.at = Some(now);
        applied.table = Some(snapshot.table.clone());
        applied.synced = snapshot.synced;
        applied.listeners = self.listeners.len();
    }

    /// Expires affinity pins; retries binds and address changes that failed.
    async fn housekeeping(&mut self) {
        let now = Instant::now();
        for entry in self.ports.values() {
            if let Some(affinity) = &entry.runtime.affinity {
                affinity.expire(now);
            }
        }
        if self.failing.is_empty() && !self.interface_dirty {
            return;
        }
        let failing: Vec<ListenKey> = self.failing.iter().copied().collect();
        for key in failing {
            self.settle(key);
        }
        self.stats.listeners.set(self.listeners.len() as u64);
        if self.interface_dirty {
            self.sync_interface().await;
        }
        if let Some(last) = self.last.clone() {
            self.record(&TableSnapshot {
                last_event_at: None,
                ..last
            });
        }
    }

    /// Closes every listener and removes the managed interface.
    async fn close(&mut self) {
        let all: Vec<OpenListener> = self.listeners.drain().map(|(_, open)| open).collect();
        for open in all {
            open.close().await;
        }
        self.stats.listeners.set(0);
        if let Some(interface) = self.interface.take()
            && let Err(err) = interface.remove().await
        {
            self.stats.interface_errors.inc();
            tracing::warn!(error = %err, "removing the managed interface failed");
        }
    }
}

/// Addresses NodePorts listen on: wildcards when no `nodeport_addresses` are given, else the
/// node's addresses (configured node IPs and `local_ips`) inside them; a host-sized prefix names
/// its address directly.
fn nodeport_ips(config: &UserspaceConfig, local_ips: &BTreeSet<IpAddr>) -> Vec<IpAddr> {
    if config.nodeport_addresses.is_empty() {
        return vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()];
    }
    let mut ips = BTreeSet::new();
    for net in &config.nodeport_addresses {
        if net.prefix_len() == net.max_prefix_len() {
            ips.insert(net.addr());
        }
        let node = config.node_ips.iter().chain(local_ips);
        ips.extend(node.filter(|ip| net.contains(*ip)));
    }
    if ips.is_empty() {
        tracing::warn!(networks = ?config.nodeport_addresses,
            "no node address inside nodeport_addresses: NodePorts are not served");
    }
    ips.into_iter().collect()
}

mod diff;

#[cfg(test)]
mod tests;
