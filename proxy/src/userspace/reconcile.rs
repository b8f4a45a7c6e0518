//! The single task that turns each new service table into listener state: it diffs the table
//! against the open listeners and opens, closes or re-points only what changed, keeps per-port
//! state (affinity, counters, per-endpoint connection counts) across updates, and keeps the
//! managed interface's addresses in step. It never forwards traffic and never calls the API.

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
#[derive(Debug)]
struct Want {
    port: Arc<ServicePort>,
    scope: Scope,
    /// Sources allowed (an LB IP with `loadBalancerSourceRanges`); `None`: all.
    sources: Option<Arc<[IpNet]>>,
}

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
    pools: HashMap<(ServicePortId, Scope, bool), Arc<Pool>>,
    skipped_sctp: HashSet<ServicePortId>,
    /// Listeners that failed to open (warned about once).
    failing: HashSet<ListenKey>,
    needs_retry: bool,
    last: Option<TableSnapshot>,
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
            pools: HashMap::new(),
            skipped_sctp: HashSet::new(),
            failing: HashSet::new(),
            needs_retry: false,
            last: None,
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

    /// Brings listeners, pools and addresses in line with `snapshot`.
    pub(crate) async fn apply(&mut self, snapshot: &TableSnapshot) {
        let table = &snapshot.table;
        let wanted = self.wanted(table);
        self.update_ports(table);
        self.update_pools(&wanted);
        self.needs_retry = false;
        self.update_listeners(&wanted).await;
        if let Some(interface) = self.interface.as_mut() {
            let addrs = managed_addrs(table);
            let failures = interface.sync(&addrs).await;
            if failures > 0 {
                self.needs_retry = true;
                self.stats.interface_errors.inc_by(failures);
            }
        }
        self.record(snapshot);
        self.last = Some(snapshot.clone());
    }

    /// The listeners `table` asks for, first service port (in id order) winning a clash.
    fn wanted(&mut self, table: &ServiceTable) -> BTreeMap<ListenKey, Want> {
        let mut wanted: BTreeMap<ListenKey, Want> = BTreeMap::new();
        for port in &table.ports {
            if port.id.protocol == Protocol::Sctp {
                if self.skipped_sctp.insert(port.id.clone()) {
                    tracing::info!(service = %port.id, "SCTP is not proxied in userspace mode");
                }
                continue;
            }
            let mut want = |ip: IpAddr,
                            number: u16,
                            scope: Scope,
                            sources: Option<Arc<[IpNet]>>| {
                let key = ListenKey {
                    protocol: port.id.protocol,
                    addr: SocketAddr::new(ip, number),
                };
                match wanted.get_mut(&key) {
                    Some(other) if other.port.id != port.id => {
                        tracing::warn!(address = %key.addr, service = %port.id, owner = %other.port.id,
                            "address already served by another service port; skipped");
                    }
                    // Also an externalIP of the same port: as an LB IP it keeps its ranges.
                    Some(same) => {
                        if sources.is_some() {
                            same.sources = sources;
                        }
                    }
                    None => {
                        wanted.insert(
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
        }
        self.skipped_sctp.retain(|id| table.get(id).is_some());
        self.failing.retain(|key| wanted.contains_key(key));
        wanted
    }

    /// Keeps one [`PortEntry`] per TCP/UDP service port, reusing the old one's state.
    fn update_ports(&mut self, table: &ServiceTable) {
        let mut ports = HashMap::with_capacity(table.ports.len());
        for port in table
            .ports
            .iter()
            .filter(|p| p.id.protocol != Protocol::Sctp)
        {
            let mut entry = match self.ports.remove(&port.id) {
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
            ports.insert(port.id.clone(), entry);
        }
        self.ports = ports;
        self.stats.retain_ports(self.ports.keys());
    }

    /// One pool per (port, scope, family) in use; unchanged endpoint lists keep their pool.
    fn update_pools(&mut self, wanted: &BTreeMap<ListenKey, Want>) {
        let mut pools = HashMap::new();
        for (key, want) in wanted {
            let pool_key = (want.port.id.clone(), want.scope, key.addr.is_ipv4());
            if pools.contains_key(&pool_key) {
                continue;
            }
            let Some(entry) = self.ports.get(&want.port.id) else {
                continue;
            };
            let family = key.addr.ip();
            let endpoints = match want.scope {
                Scope::Cluster => want.port.cluster_endpoints(family),
                Scope::External => want.port.external_endpoints(family),
            };
            let addrs: Vec<SocketAddr> = endpoints.iter().map(|e| e.addr()).collect();
            let pool = match self.pools.remove(&pool_key) {
                Some(pool) if pool.same_endpoints(&addrs) => pool,
                _ => Arc::new(Pool::new(
                    addrs
                        .iter()
                        .map(|addr| Backend {
                            addr: *addr,
                            active: entry.active.get(addr).cloned().unwrap_or_default(),
                        })
                        .collect(),
                )),
            };
            pools.insert(pool_key, pool);
        }
        self.pools = pools;
    }

    /// Closes listeners no longer wanted (waiting until their sockets are gone), re-points the
    /// others at their current route (also when another service port took the address over),
    /// opens new ones.
    async fn update_listeners(&mut self, wanted: &BTreeMap<ListenKey, Want>) {
        let gone: Vec<ListenKey> = self
            .listeners
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            if let Some(open) = self.listeners.remove(&key) {
                tracing::debug!(address = %key.addr, protocol = %key.protocol, "closing listener");
                open.close().await;
            }
        }
        for (key, want) in wanted {
            let pool_key = (want.port.id.clone(), want.scope, key.addr.is_ipv4());
            let (Some(entry), Some(pool)) =
                (self.ports.get(&want.port.id), self.pools.get(&pool_key))
            else {
                continue;
            };
            let route = Route {
                port: entry.runtime.clone(),
                pool: pool.clone(),
                sources: want.sources.clone(),
            };
            if let Some(open) = self.listeners.get(key) {
                let current = open.route.load();
                if !Arc::ptr_eq(&current.port, &route.port)
                    || !Arc::ptr_eq(&current.pool, &route.pool)
                    || current.sources != route.sources
                {
                    open.route.store(Arc::new(route));
                }
                continue;
            }
            match self.open(*key, route) {
                Ok(open) => {
                    self.failing.remove(key);
                    tracing::debug!(address = %key.addr, protocol = %key.protocol,
                        service = %want.port.id, "listening");
                    self.listeners.insert(*key, open);
                }
                Err(err) => {
                    self.needs_retry = true;
                    self.stats.listener_errors.inc();
                    // Warn once per address; the periodic retries only log at debug.
                    if self.failing.insert(*key) {
                        tracing::warn!(address = %key.addr, protocol = %key.protocol,
                            service = %want.port.id, error = %err, "cannot listen; will retry");
                    } else {
                        tracing::debug!(address = %key.addr, error = %err, "still cannot listen");
                    }
                }
            }
        }
        self.stats.listeners.set(self.listeners.len() as u64);
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
        if self.needs_retry
            && let Some(last) = self.last.clone()
        {
            let last = TableSnapshot {
                last_event_at: None,
                ..last
            };
            self.apply(&last).await;
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

/// Addresses the managed interface must carry: ClusterIPs and externalIPs.
fn managed_addrs(table: &ServiceTable) -> BTreeSet<IpAddr> {
    table
        .ports
        .iter()
        .flat_map(|p| p.cluster_ips.iter().chain(&p.external_ips))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests;
