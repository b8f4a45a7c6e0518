//! `sessionAffinity: ClientIP` state of one service port: which endpoint each client IP is
//! pinned to and when it last used it. The balancer reads and updates it under a short lock that
//! is never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One client's pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The endpoint the client is pinned to.
    pub(crate) addr: SocketAddr,
    /// When the client last used it.
    pub(crate) last_used: Instant,
}

/// Client IP → endpoint pins for one service port, valid for `timeout` since last use.
#[derive(Debug)]
pub struct AffinityTable {
    timeout: Duration,
    pins: Mutex<HashMap<IpAddr, Pin>>,
}

impl AffinityTable {
    /// An empty table whose pins last `timeout` since last use.
    pub fn new(timeout: Duration) -> AffinityTable {
        AffinityTable {
            timeout,
            pins: Mutex::new(HashMap::new()),
        }
    }

    /// The configured `timeoutSeconds`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Pin>> {
        // A poisoned map is still a valid map: every update is a single insert or remove.
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The endpoint `client` is pinned to, if the pin has not expired at `now`.
    pub fn lookup(&self, client: IpAddr, now: Instant) -> Option<SocketAddr> {
        let pins = self.lock();
        pins.get(&client)
            .filter(|pin| !self.expired(pin, now))
            .map(|pin| pin.addr)
    }

    /// Whether `pin` has been unused for longer than the timeout at `now`.
    pub(crate) fn expired(&self, pin: &Pin, now: Instant) -> bool {
        now.saturating_duration_since(pin.last_used) > self.timeout
    }

    /// Drops pins to endpoints not in `live` (the endpoint went away).
    pub fn retain_endpoints(&self, live: &HashSet<SocketAddr>) {
        self.lock().retain(|_, pin| live.contains(&pin.addr));
    }

    /// Drops pins that expired at `now`; returns how many remain.
    pub fn expire(&self, now: Instant) -> usize {
        let mut pins = self.lock();
        pins.retain(|_, pin| now.saturating_duration_since(pin.last_used) <= self.timeout);
        pins.len()
    }

    /// Number of pins held (expired ones included until [`AffinityTable::expire`]).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is pinned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
