//! Response-rate limiting of UDP answers, as BIND and Knot do it: one token bucket per client
//! network (/24 for IPv4, /56 for IPv6), refilled at the configured rate with a burst of one
//! second's worth. A response over the limit is dropped, and every second one is sent
//! truncated instead ("slip": header and question, TC=1), so a real client behind a spoofed
//! flood still gets through over TCP while a forged source gets no amplification.
//!
//! The bucket table is bounded: idle buckets (full again) are swept at most once a second when
//! the table is full, and clients that still find no room share one overflow bucket. The
//! decision is a pure function of the client and the time given ([`RateLimiter::verdict`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// How long a bucket is kept after its last response; by then it is full again.
const IDLE: Duration = Duration::from_secs(1);
/// The DNS header's size.
pub(super) const HEADER: usize = 12;
/// Every how many limited responses one is sent truncated instead of dropped.
const SLIP: u32 = 2;

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within the limit: send it.
    Send,
    /// Over the limit: send it truncated.
    Slip,
    /// Over the limit: drop it.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    limited: u32,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: rate,
            updated: now,
            limited: 0,
        }
    }

    fn take(&mut self, rate: f64, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Send;
        }
        self.limited = self.limited.wrapping_add(1);
        if self.limited.is_multiple_of(SLIP) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
    last_sweep: Instant,
}

/// Per-client-network token buckets over UDP responses.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    max_entries: usize,
    table: Mutex<Table>,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    /// `per_second` responses per client network, at most `max_entries` networks tracked.
    pub(crate) fn new(per_second: u32, max_entries: usize, metrics: Arc<Metrics>) -> Self {
        let rate = f64::from(per_second.max(1));
        let now = Instant::now();
        RateLimiter {
            rate,
            max_entries: max_entries.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(rate, now),
                last_sweep: now,
            }),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Buckets are plain numbers; after a panic elsewhere they are still usable.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The verdict on one more response to `client` at `now`.
    pub(crate) fn verdict(&self, client: IpAddr, now: Instant) -> Verdict {
        let network = network_of(client);
        let mut table = self.lock();
        let table = &mut *table;
        if let Some(bucket) = table.buckets.get_mut(&network) {
            return bucket.take(self.rate, now);
        }
        if table.buckets.len() >= self.max_entries
            && now.saturating_duration_since(table.last_sweep) >= IDLE
        {
            table
                .buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < IDLE);
            table.last_sweep = now;
        }
        if table.buckets.len() >= self.max_entries {
            return table.overflow.take(self.rate, now);
        }
        let mut bucket = Bucket::full(self.rate, now);
        let verdict = bucket.take(self.rate, now);
        table.buckets.insert(network, bucket);
        verdict
    }

    /// Networks tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Applies the limit to `response` (encoded, about to go to `client`): true to send it as
    /// it is now (possibly cut down to a truncated response), false to drop it.
    pub(crate) fn admit(&self, client: IpAddr, response: &mut Vec<u8>) -> bool {
        match self.verdict(client, Instant::now()) {
            Verdict::Send => true,
            Verdict::Slip if truncate(response) => {
                self.metrics.rate_limited(true);
                true
            }
            Verdict::Slip | Verdict::Drop => {
                self.metrics.rate_limited(false);
                false
            }
        }
    }
}

/// The client network a bucket is kept for: the address cut to /24 (IPv4) or /56 (IPv6); an
/// IPv4 client seen through a dual-stack socket counts as IPv4.
fn network_of(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 72) - 1))),
    }
}

/// Cuts an encoded response down to its header and question section with TC set and no
/// records; false (and `response` unchanged) if the question section cannot be walked.
fn truncate(response: &mut Vec<u8>) -> bool {
    let Some(&[qd_hi, qd_lo]) = response.get(4..6) else {
        return false;
    };
    let mut at = HEADER;
    for _ in 0..u16::from_be_bytes([qd_hi, qd_lo]) {
        loop {
            let Some(&length) = response.get(at) else {
                return false;
            };
            match length {
                0 => {
                    at += 1;
                    break;
                }
                1..=63 => at += 1 + usize::from(length),
                // A compression pointer ends the name.
                0xc0..=0xff => {
                    at += 2;
                    break;
                }
                _ => return false,
            }
        }
        // QTYPE and QCLASS.
        at += 4;
    }
    if at > response.len() {
        return false;
    }
    response.truncate(at);
    if let Some(flags) = response.get_mut(2) {
        *flags |= 0x02;
    }
    for count in response.iter_mut().take(HEADER).skip(6) {
        *count = 0;
    }
    true
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;

    fn limiter(per_second: u32, entries: usize) -> RateLimiter {
        RateLimiter::new(per_second, entries, Arc::new(Metrics::default()))
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn a_burst_then_every_second_limited_response_slips() {
        let rrl = limiter(3, 16);
        let t0 = Instant::now();
        let verdicts: Vec<Verdict> = (0..7).map(|_| rrl.verdict(v4(192, 0, 2, 1), t0)).collect();
        use Verdict::{Drop, Send, Slip};
        assert_eq!(verdicts, [Send, Send, Send, Drop, Slip, Drop, Slip]);
        // The same /24 shares the bucket; another /24 has its own.
        assert_eq!(rrl.verdict(v4(192, 0, 2, 200), t0), Drop);
        assert_eq!(rrl.verdict(v4(192, 0, 3, 1), t0), Send);
        // A third of a second later one token is back.
        let later = t0 + Duration::from_millis(334);
        assert_eq!(rrl.verdict(v4(192, 0, 2, 1), later), Send);
        assert_ne!(rrl.verdict(v4(192, 0, 2, 1), later), Send);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_56() {
        let rrl = limiter(1, 16);
        let t0 = Instant::now();
        let ip = |s: &str| IpAddr::V6(s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED));
        assert_eq!(rrl.verdict(ip("2001:db8:0:ff::1"), t0), Verdict::Send);
        assert_ne!(rrl.verdict(ip("2001:db8:0:1::2"), t0), Verdict::Send);
        assert_eq!(rrl.verdict(ip("2001:db8:0:100::1"), t0), Verdict::Send);
        assert_eq!(network_of(ip("::ffff:10.1.2.3")), v4(10, 1, 2, 0));
    }

    #[test]
    fn the_table_is_bounded_and_swept() {
        let rrl = limiter(1, 4);
        let t0 = Instant::now();
        for c in 0..4 {
            assert_eq!(rrl.verdict(v4(10, 0, c, 1), t0), Verdict::Send);
        }
        // Beyond the bound, new networks share the overflow bucket.
        assert_eq!(rrl.verdict(v4(10, 0, 100, 1), t0), Verdict::Send);
        assert_ne!(rrl.verdict(v4(10, 0, 101, 1), t0), Verdict::Send);
        assert_eq!(rrl.tracked(), 4);
        // Once the tracked ones are idle, they are swept to make room.
        let later = t0 + IDLE;
        assert_eq!(rrl.verdict(v4(10, 0, 101, 1), later), Verdict::Send);
        assert_eq!(rrl.tracked(), 1);
    }

    #[test]
    fn truncation_keeps_the_header_and_question() -> Result<(), Box<dyn std::error::Error>> {
        let name = Name::from_ascii("www.example.")?;
        let mut message = Message::new(7, MessageType::Response, OpCode::Query);
        message.add_query(Query::query(name.clone(), RecordType::A));
        message.add_answer(Record::from_rdata(
            name,
            60,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        ));
        let mut bytes = message.to_vec()?;
        assert!(truncate(&mut bytes));
        let cut = Message::from_vec(&bytes)?;
        assert!(cut.metadata.truncation);
        assert_eq!(cut.metadata.id, 7);
        assert_eq!(cut.queries.len(), 1);
        assert!(cut.answers.is_empty());
        let mut short = vec![0u8, 7, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w'];
        assert!(!truncate(&mut short));
        Ok(())
    }
}
