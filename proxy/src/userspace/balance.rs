//! Endpoint choice for one new connection or UDP flow: a pure function of the pool, the policy,
//! the affinity table, the client, the time and a random source. It never does I/O and never
//! returns an endpoint that is not in the pool (the pool holds only usable endpoints).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use rand::Rng;

use super::affinity::{AffinityTable, Pin};

/// How a service port spreads new connections over its endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbPolicy {
    /// Each endpoint in turn (kube-proxy's userspace default).
    #[default]
    RoundRobin,
    /// A uniformly random endpoint.
    Random,
    /// The endpoint with the fewest open connections (ties in turn).
    LeastConnections,
}

impl std::str::FromStr for LbPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<LbPolicy, String> {
        match s {
            "round-robin" | "roundrobin" | "rr" => Ok(LbPolicy::RoundRobin),
            "random" => Ok(LbPolicy::Random),
            "least-connections" | "leastconn" | "lc" => Ok(LbPolicy::LeastConnections),
            other => Err(format!(
                "unknown load-balancing policy {other:?} (expected round-robin, random or least-connections)"
            )),
        }
    }
}

/// One usable endpoint as the balancer sees it: its address and its open-connection count
/// (shared by every pool that lists it, and held by the connections themselves).
#[derive(Debug, Clone)]
pub struct Backend {
    /// Endpoint `ip:port`.
    pub addr: SocketAddr,
    /// Connections currently open to it through this proxy.
    pub active: Arc<AtomicU64>,
}

/// The usable endpoints of one (service port, cluster-or-external, family), immutable once
/// built, plus the round-robin cursor.
#[derive(Debug, Default)]
pub struct Pool {
    backends: Vec<Backend>,
    cursor: AtomicUsize,
}

impl Pool {
    /// A pool over these endpoints, in this order.
    pub fn new(backends: Vec<Backend>) -> Pool {
        Pool {
            backends,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The endpoints.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Whether the endpoint set equals `addrs` (same order).
    pub fn same_endpoints(&self, addrs: &[SocketAddr]) -> bool {
        self.backends.len() == addrs.len()
            && self.backends.iter().zip(addrs).all(|(b, a)| b.addr == *a)
    }

    fn position(&self, addr: SocketAddr) -> Option<usize> {
        self.backends.iter().position(|b| b.addr == addr)
    }
}

/// What [`pick`] reads for one decision.
#[derive(Debug, Clone, Copy)]
pub struct PickState<'a> {
    /// The usable endpoints.
    pub pool: &'a Pool,
    /// The spreading policy.
    pub policy: LbPolicy,
    /// The service port's ClientIP affinity, when on.
    pub affinity: Option<&'a AffinityTable>,
    /// Endpoints already tried (and failed) for this connection; never picked again.
    pub tried: &'a [SocketAddr],
}

/// Picks the endpoint for a new connection from `client` at `now`, or `None` when every usable
/// endpoint has been tried (or there is none). With affinity, a client whose pin is still valid
/// and whose endpoint is still in the pool (and untried) gets that endpoint and the pin is
/// refreshed; otherwise the policy picks and the client is pinned to the result.
pub fn pick<R: Rng + ?Sized>(
    state: &PickState<'_>,
    client: IpAddr,
    now: Instant,
    rng: &mut R,
) -> Option<Backend> {
    let Some(affinity) = state.affinity else {
        return by_policy(state, rng).map(|i| state.pool.backends[i].clone());
    };
    let mut pins = affinity.lock();
    if let Some(pin) = pins.get_mut(&client)
        && !affinity.expired(pin, now)
        && !state.tried.contains(&pin.addr)
        && let Some(i) = state.pool.position(pin.addr)
    {
        pin.last_used = now;
        return Some(state.pool.backends[i].clone());
    }
    let i = by_policy(state, rng)?;
    let backend = state.pool.backends[i].clone();
    pins.insert(
        client,
        Pin {
            addr: backend.addr,
            last_used: now,
        },
    );
    Some(backend)
}

/// Index of the policy's choice among untried endpoints.
fn by_policy<R: Rng + ?Sized>(state: &PickState<'_>, rng: &mut R) -> Option<usize> {
    let backends = &state.pool.backends;
    let n = backends.len();
    let untried = |i: &usize| !state.tried.contains(&backends[*i].addr);
    match state.policy {
        LbPolicy::RoundRobin => {
            let start = state.pool.cursor.fetch_add(1, Ordering::Relaxed);
            (0..n).map(|k| (start.wrapping_add(k)) % n).find(untried)
        }
        LbPolicy::Random => {
            let candidates = (0..n).filter(untried).count();
            if candidates == 0 {
                return None;
            }
            let nth = rng.random_range(0..candidates);
            (0..n).filter(untried).nth(nth)
        }
        LbPolicy::LeastConnections => {
            let start = state.pool.cursor.fetch_add(1, Ordering::Relaxed);
            (0..n)
                .map(|k| (start.wrapping_add(k)) % n)
                .filter(untried)
                .min_by_key(|i| backends[*i].active.load(Ordering::Relaxed))
        }
    }
}

#[cfg(test)]
mod tests;
