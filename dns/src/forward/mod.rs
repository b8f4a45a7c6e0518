//! Resolution of names outside the cluster zone through the configured upstream resolvers,
//! behind a bounded TTL cache.
//!
//! Upstreams are tried in order, those that recently timed out last: UDP first, the same
//! upstream over TCP when the reply is truncated, the next upstream on timeout, I/O error or
//! SERVFAIL/REFUSED. It never answers from the cluster table and never caches errors or
//! truncated replies.
//!
//! Exchanges are bounded and shared (`inflight.rs`): at most a configured number in flight,
//! past which questions fail at once, and one exchange for any number of identical questions
//! asked while it runs.

mod cache;
mod exchange;
mod inflight;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::Record;
use tracing::debug;

use crate::metrics::Metrics;
use cache::{Cache, CacheKey};
use inflight::{Inflight, Question, Slot};

/// How long one upstream gets to answer one exchange.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The UDP payload size advertised upstream (the DNS flag day 2020 value).
const UPSTREAM_PAYLOAD: u16 = 1232;
/// How long an upstream that timed out or failed at the socket level is tried last.
const DOWN_FOR: Duration = Duration::from_secs(10);

/// One upstream and when it may be tried first again.
#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    /// Milliseconds since the forwarder's epoch until which the upstream counts as down.
    down_until: AtomicU64,
}

/// An upstream answer, without its header ID and EDNS record (those are the client's).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The upstream's response code.
    pub(crate) rcode: ResponseCode,
    /// The answer section.
    pub(crate) answers: Vec<Record>,
    /// The authority section.
    pub(crate) authority: Vec<Record>,
    /// The additional section, without OPT.
    pub(crate) additional: Vec<Record>,
    /// Whether the reply was truncated (only when TCP failed too).
    pub(crate) truncated: bool,
    /// The upstream's AD bit.
    pub(crate) authentic_data: bool,
}

impl Reply {
    fn from_message(message: Message) -> Self {
        Reply {
            rcode: message.metadata.response_code,
            truncated: message.metadata.truncation,
            authentic_data: message.metadata.authentic_data,
            answers: message.answers,
            authority: message.authorities,
            additional: message.additionals,
        }
    }

    /// Every record of every section.
    pub(crate) fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authority.iter_mut())
            .chain(self.additional.iter_mut())
    }
}

/// Why no upstream produced an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// The question could not be encoded.
    #[error("cannot encode the upstream query: {0}")]
    Encode(String),
    /// Every upstream failed; the last failure is kept.
    #[error("no upstream answered: {0}")]
    AllFailed(String),
    /// The shared exchange this question waited on failed (its error, as text).
    #[error("{0}")]
    Shared(String),
    /// The cap on upstream exchanges in flight (or on requests waiting for them) is reached.
    #[error("too many upstream queries in flight")]
    OverCapacity,
}

/// Forwards questions to the upstreams, through the cache.
#[derive(Debug)]
pub(crate) struct Forwarder {
    upstreams: Vec<Upstream>,
    epoch: Instant,
    cache: Cache,
    inflight: Inflight,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// A forwarder to `upstreams` (in order) with a cache of `cache_entries` answers and at
    /// most `max_inflight` upstream exchanges at once.
    pub(crate) fn new(
        upstreams: Vec<SocketAddr>,
        cache_entries: usize,
        max_inflight: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Forwarder {
            upstreams: upstreams
                .into_iter()
                .map(|addr| Upstream {
                    addr,
                    down_until: AtomicU64::new(0),
                })
                .collect(),
            epoch: Instant::now(),
            cache: Cache::new(cache_entries),
            inflight: Inflight::new(max_inflight),
            metrics,
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The upstreams in trying order with whether each counts as down: healthy ones in
    /// configured order, then the ones that failed recently (still tried when no healthy one
    /// replied, so that a lone flaky upstream keeps being used).
    fn trying_order(&self) -> Vec<(&Upstream, bool)> {
        let now = self.millis(Instant::now());
        let (up, down): (Vec<&Upstream>, Vec<&Upstream>) = self
            .upstreams
            .iter()
            .partition(|u| u.down_until.load(Ordering::Relaxed) <= now);
        let up = up.into_iter().map(|u| (u, false));
        up.chain(down.into_iter().map(|u| (u, true))).collect()
    }

    /// How many answers the cache holds.
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// The answer to `query` from the cache, from the exchange in flight for the same
    /// question, or from a new exchange (the first upstream that gives a usable answer).
    /// `dnssec_ok` is the client's DO bit, part of what makes questions the same.
    ///
    /// The exchange runs in a task of its own, so a caller that stops waiting (a closed TCP
    /// connection) neither cancels it for the others nor leaves it in the in-flight map.
    ///
    /// # Errors
    /// [`ForwardError::OverCapacity`] at once when the cap on exchanges in flight is reached;
    /// otherwise the exchange's failure.
    pub(crate) async fn resolve(
        self: &Arc<Self>,
        query: &Query,
        dnssec_ok: bool,
    ) -> Result<Reply, ForwardError> {
        let key = CacheKey {
            name: query.name().clone(),
            qtype: query.query_type(),
            qclass: query.query_class(),
        };
        if let Some(reply) = self.cache.get(&key, Instant::now()) {
            self.metrics.cache(true);
            return Ok(reply);
        }
        self.metrics.cache(false);
        let Some(_waiting) = self.inflight.wait() else {
            self.metrics.upstream_over_cap();
            return Err(ForwardError::OverCapacity);
        };
        let question = Question {
            key: key.clone(),
            dnssec_ok,
        };
        let receiver = match self.inflight.join(question) {
            Slot::Full => {
                self.metrics.upstream_over_cap();
                return Err(ForwardError::OverCapacity);
            }
            Slot::Follow(receiver) => {
                self.metrics.upstream_coalesced();
                receiver
            }
            Slot::Lead(leader, receiver) => {
                let this = self.clone();
                let query = query.clone();
                tokio::spawn(async move {
                    let outcome = this.exchange(&query, key).await;
                    leader.finish(outcome.map_err(|e| e.to_string()));
                });
                receiver
            }
        };
        inflight::outcome(receiver)
            .await
            .map_err(ForwardError::Shared)
    }

    /// One exchange for `query`: the upstreams in trying order until one gives a usable
    /// answer, which is cached under `key`. An upstream's SERVFAIL or REFUSED is returned only
    /// when every upstream failed.
    async fn exchange(&self, query: &Query, key: CacheKey) -> Result<Reply, ForwardError> {
        let mut request = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        request.metadata.recursion_desired = true;
        request.add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(UPSTREAM_PAYLOAD);
        request.set_edns(edns);
        let wire = request
            .to_vec()
            .map_err(|e| ForwardError::Encode(e.to_string()))?;

        let mut last_error = String::from("no upstream configured");
        let mut fallback: Option<Reply> = None;
        for (entry, down) in self.trying_order() {
            if down && fallback.is_some() {
                // A healthy upstream replied (with an error); waiting on a down one for a
                // timeout would only delay that reply.
                break;
            }
            let upstream = entry.addr;
            let started = Instant::now();
            let mut result = exchange::udp(upstream, &request, &wire, UPSTREAM_TIMEOUT).await;
            if matches!(&result, Ok(m) if m.metadata.truncation) {
                self.metrics.tcp_retry();
                debug!(%upstream, name = %query.name(), "truncated reply; retrying over TCP");
                let tcp = exchange::tcp(upstream, &request, &wire, UPSTREAM_TIMEOUT).await;
                // If TCP fails, the truncated UDP reply is still better than nothing.
                if tcp.is_ok() {
                    result = tcp;
                }
            }
            match result {
                Ok(message) => {
                    self.metrics.upstream_latency(started.elapsed());
                    entry.down_until.store(0, Ordering::Relaxed);
                    let reply = Reply::from_message(message);
                    if matches!(reply.rcode, ResponseCode::ServFail | ResponseCode::Refused) {
                        debug!(%upstream, rcode = %reply.rcode, "upstream failed the query; trying the next");
                        last_error = format!("upstream {upstream} answered {}", reply.rcode);
                        fallback = Some(reply);
                        continue;
                    }
                    self.cache.insert(key, &reply, Instant::now());
                    return Ok(reply);
                }
                Err(error) => {
                    self.metrics.upstream_error();
                    let until = self.millis(Instant::now() + DOWN_FOR);
                    entry.down_until.store(until, Ordering::Relaxed);
                    debug!(%error, "upstream exchange failed");
                    last_error = error.to_string();
                }
            }
        }
        fallback.ok_or(ForwardError::AllFailed(last_error))
    }
}
