//! What a listener needs to serve one connection, published by the reconciler and read by the
//! accept path with a single `load()` per connection: the service port's long-lived state
//! ([`PortRuntime`]) and the endpoint [`Pool`] for this listener's scope and family.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::LbPolicy;
use super::affinity::AffinityTable;
use super::balance::{Backend, PickState, Pool};
use super::copy::Mode;
use super::stats::PortMetrics;
use crate::model::ServicePortId;

/// State of one service port that outlives table updates: affinity pins and counters.
#[derive(Debug)]
pub(crate) struct PortRuntime {
    /// Which service port.
    pub(crate) id: ServicePortId,
    /// ClientIP affinity, when the service asks for it.
    pub(crate) affinity: Option<AffinityTable>,
    /// Its counters.
    pub(crate) metrics: Arc<PortMetrics>,
}

/// One listener's view: the service port and the endpoints its traffic may go to.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The service port.
    pub(crate) port: Arc<PortRuntime>,
    /// Usable endpoints for this listener (cluster or external, this family).
    pub(crate) pool: Arc<Pool>,
    /// The sources this listener accepts (an LB IP of a service with
    /// `loadBalancerSourceRanges`; empty: none); `None` accepts every source.
    pub(crate) sources: Option<Arc<[IpNet]>>,
}

impl Route {
    /// Whether a client at `source` may use this listener.
    pub(crate) fn source_allowed(&self, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.sources
            .as_deref()
            .is_none_or(|nets| nets.iter().any(|net| net.contains(&source)))
    }

    /// Picks an endpoint for `client`, skipping `tried`.
    pub(crate) fn pick(
        &self,
        policy: LbPolicy,
        client: std::net::IpAddr,
        tried: &[std::net::SocketAddr],
    ) -> Option<Backend> {
        let state = PickState {
            pool: &self.pool,
            policy,
            affinity: self.port.affinity.as_ref(),
            tried,
        };
        super::balance::pick(&state, client, std::time::Instant::now(), &mut rand::rng())
    }
}

/// Settings and shutdown handles shared by every listener and connection.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Spreading policy.
    pub(crate) policy: LbPolicy,
    /// Per-attempt endpoint connect timeout.
    pub(crate) connect_timeout: Duration,
    /// Endpoints tried per connection before giving up.
    pub(crate) connect_attempts: u32,
    /// A UDP flow without traffic for this long is forgotten.
    pub(crate) udp_idle_timeout: Duration,
    /// How TCP bytes are moved.
    pub(crate) copy_mode: Mode,
    /// Tracks connection and flow tasks so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Cancelled when shutdown's grace period for open connections is over.
    pub(crate) drain: CancellationToken,
}
