//! The userspace data path: tokio listeners on every service address of the current
//! [`TableSnapshot`], forwarding TCP (copied while request/response, zero-copy `splice` on
//! Linux once bulk) and UDP to endpoints picked by a pure balancer, in the spirit of the classic
//! userspace kube-proxy.
//!
//! One reconciler task diffs each new table against the open listeners and opens, closes or
//! re-points only what changed; the accept path does one `ArcSwap` load per connection and
//! holds everything it needs, so updates never cut established connections. Optionally it owns
//! a dummy interface carrying the ClusterIPs and externalIPs.
//!
//! Known limits: SCTP ports are logged and skipped; endpoints see the node as the client (no
//! source preservation, as with any userspace proxy); node addresses inside wide
//! `nodeport_addresses` networks are read once at start. (UDP NodePorts on wildcard listeners
//! answer from the address the client used, through `pktinfo`.)
//!
//! It forwards bytes for the current snapshot and never calls the API.

mod affinity;
mod balance;
mod copy;
mod interface;
mod pktinfo;
mod reconcile;
mod route;
mod socket;
#[cfg(target_os = "linux")]
mod splice;
mod stats;
mod tcp;
mod udp;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

pub use affinity::AffinityTable;
pub use balance::{Backend, LbPolicy, PickState, Pool, pick};

use crate::health::Health;
use crate::model::ServiceTable;
use crate::reflector::TableSnapshot;
use reconcile::{AppliedState, Reconciler};
use route::Ctx;
use stats::ProxyStats;

/// A newer table waiting longer than this marks the proxy stale.
const STALE_AFTER: Duration = Duration::from_secs(30);
/// How long shutdown lets open connections finish before closing them.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long shutdown waits for connections to close after the grace period.
const DRAIN_CLOSE: Duration = Duration::from_secs(1);

/// Errors starting the userspace proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A configuration field is invalid.
    #[error("invalid userspace proxy config: {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Creating, changing or deleting the managed interface failed.
    #[error("managed interface {name}: {reason}")]
    Interface {
        /// The interface name.
        name: String,
        /// What failed.
        reason: String,
    },
}

/// Settings of the userspace proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct UserspaceConfig {
    /// This node's addresses: externalIPs and LoadBalancer IPs among them are local and served.
    pub node_ips: Vec<IpAddr>,
    /// Where NodePorts listen: node IPs inside these networks (a /32 or /128 names an address
    /// directly); empty means every local address (wildcard listeners).
    pub nodeport_addresses: Vec<IpNet>,
    /// How new connections are spread over endpoints.
    pub lb: LbPolicy,
    /// A dummy interface (e.g. `switchyard0`) to create and own for ClusterIPs and externalIPs;
    /// `None` leaves addresses alone (they must be routed to this node some other way).
    pub manage_interface: Option<String>,
    /// A UDP flow without traffic for this long is forgotten.
    pub udp_idle_timeout: Duration,
    /// Timeout of each endpoint connect attempt.
    pub connect_timeout: Duration,
    /// Endpoints tried per connection before it is reset (at least 1).
    pub connect_attempts: u32,
}

impl Default for UserspaceConfig {
    fn default() -> UserspaceConfig {
        UserspaceConfig {
            node_ips: Vec::new(),
            nodeport_addresses: Vec::new(),
            lb: LbPolicy::RoundRobin,
            manage_interface: None,
            udp_idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(1),
            connect_attempts: 4,
        }
    }
}

impl UserspaceConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), ProxyError> {
        let bad = |field, reason: &str| {
            Err(ProxyError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.connect_attempts == 0 {
            return bad("connect_attempts", "must be at least 1");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be greater than zero");
        }
        if self.udp_idle_timeout.is_zero() {
            return bad("udp_idle_timeout", "must be greater than zero");
        }
        if let Some(name) = &self.manage_interface {
            interface::validate_name(name)?;
        }
        Ok(())
    }
}

/// A running userspace proxy. Dropping it without [`UserspaceProxy::shutdown`] stops the
/// listeners but leaves the managed interface in place.
#[derive(Debug)]
pub struct UserspaceProxy {
    stop: CancellationToken,
    /// Cancels `stop` if the proxy is dropped without `shutdown`.
    _stop_on_drop: DropGuard,
    drain: CancellationToken,
    tracker: TaskTracker,
    reconciler: JoinHandle<()>,
    tables: watch::Receiver<TableSnapshot>,
    applied: AppliedState,
    pending_since: Mutex<Option<(Arc<ServiceTable>, Instant)>>,
    stats: Arc<ProxyStats>,
}

impl UserspaceProxy {
    /// Validates `config`, creates the managed interface if asked, applies the current table
    /// (listeners are open when this returns) and follows `tables` from then on.
    ///
    /// # Errors
    /// [`ProxyError::Config`] for a bad field, [`ProxyError::Interface`] when the interface
    /// cannot be created (e.g. not root).
    pub async fn start(
        config: UserspaceConfig,
        mut tables: watch::Receiver<TableSnapshot>,
    ) -> Result<UserspaceProxy, ProxyError> {
        config.validate()?;
        let interface = match &config.manage_interface {
            Some(name) => Some(interface::ManagedInterface::create(name).await?),
            None => None,
        };
        let stop = CancellationToken::new();
        let drain = CancellationToken::new();
        let tracker = TaskTracker::new();
        let ctx = Arc::new(Ctx {
            policy: config.lb,
            connect_timeout: config.connect_timeout,
            connect_attempts: config.connect_attempts,
            udp_idle_timeout: config.udp_idle_timeout,
            copy_mode: copy::Mode::native(),
            tracker: tracker.clone(),
            drain: drain.clone(),
        });
        let stats = Arc::new(ProxyStats::default());
        let applied = AppliedState::default();
        // NodePort networks wider than one address cover this host's addresses inside them.
        let wide = config
            .nodeport_addresses
            .iter()
            .any(|net| net.prefix_len() < net.max_prefix_len());
        let local_ips = match wide {
            true => interface::local_addrs().await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot list local addresses; NodePorts use node_ips");
                Default::default()
            }),
            false => Default::default(),
        };
        let mut reconciler = Reconciler::new(
            &config,
            &local_ips,
            ctx,
            stats.clone(),
            applied.clone(),
            interface,
            stop.clone(),
        );
        let first = tables.borrow_and_update().clone();
        reconciler.apply(&first).await;
        let health_tables = tables.clone();
        let reconciler = tokio::spawn(reconciler.run(tables));
        tracing::info!(policy = ?config.lb, interface = ?config.manage_interface,
            "userspace proxy started");
        Ok(UserspaceProxy {
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            drain,
            tracker,
            reconciler,
            tables: health_tables,
            applied,
            pending_since: Mutex::new(None),
            stats,
        })
    }

    /// The proxy's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.stats.encode()
    }

    /// When the last table was applied, and whether a newer one has waited too long.
    pub fn health(&self) -> Health {
        let (last_applied, synced, listeners, applied_table) = {
            let applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
            (
                applied.at,
                applied.synced,
                applied.listeners,
                applied.table.clone(),
            )
        };
        let latest = self.tables.borrow().table.clone();
        let current = applied_table.is_some_and(|t| Arc::ptr_eq(&t, &latest));
        let mut pending = self
            .pending_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let waited = if current {
            *pending = None;
            Duration::ZERO
        } else {
            match pending.as_ref() {
                Some((table, since)) if Arc::ptr_eq(table, &latest) => since.elapsed(),
                _ => {
                    *pending = Some((latest, Instant::now()));
                    Duration::ZERO
                }
            }
        };
        Health {
            last_applied,
            synced,
            pending_for: (!current).then_some(waited),
            stale: waited > STALE_AFTER || self.reconciler.is_finished(),
            listeners: Some(listeners),
        }
    }

    /// Closes every listener, removes the managed interface and its addresses, lets open
    /// connections finish for a short grace period, then closes the rest.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.reconciler.await {
            tracing::warn!(error = %err, "userspace reconciler ended abnormally");
        }
        self.tracker.close();
        if tokio::time::timeout(DRAIN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::info!(open = self.tracker.len(), "closing connections still open");
            self.drain.cancel();
            let _ = tokio::time::timeout(DRAIN_CLOSE, self.tracker.wait()).await;
        }
        tracing::info!("userspace proxy stopped");
    }
}

#[cfg(test)]
mod tests;
