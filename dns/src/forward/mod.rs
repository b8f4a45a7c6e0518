//! Resolution of names outside the cluster zone through the configured upstream resolvers,
//! behind a bounded TTL cache.
//!
//! Upstreams are tried in order: UDP first, the same upstream over TCP when the reply is
//! truncated, the next upstream on timeout, I/O error or SERVFAIL/REFUSED. It never answers
//! from the cluster table and never caches errors or truncated replies.

mod cache;
mod exchange;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::Record;
use tracing::debug;

use crate::metrics::Metrics;
use cache::{Cache, CacheKey};

/// How long one upstream gets to answer one exchange.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The UDP payload size advertised upstream (the DNS flag day 2020 value).
const UPSTREAM_PAYLOAD: u16 = 1232;

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
}

/// Forwards questions to the upstreams, through the cache.
#[derive(Debug)]
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    cache: Cache,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// A forwarder to `upstreams` (in order) with a cache of `cache_entries` answers.
    pub(crate) fn new(
        upstreams: Vec<SocketAddr>,
        cache_entries: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Forwarder {
            upstreams,
            cache: Cache::new(cache_entries),
            metrics,
        }
    }

    /// How many answers the cache holds.
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// The answer to `query` from the cache or the first upstream that gives a usable one.
    /// An upstream's SERVFAIL or REFUSED is returned only when every upstream failed.
    pub(crate) async fn resolve(&self, query: &Query) -> Result<Reply, ForwardError> {
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
        for &upstream in &self.upstreams {
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
                    debug!(%error, "upstream exchange failed");
                    last_error = error.to_string();
                }
            }
        }
        fallback.ok_or(ForwardError::AllFailed(last_error))
    }
}
