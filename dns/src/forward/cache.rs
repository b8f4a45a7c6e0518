//! The bounded answer cache of the forwarder: keyed by (name, type, class) with names compared
//! case-insensitively, entries live for the answer's TTL (RFC 2308 negative answers for the SOA
//! minimum), and the least recently used entry goes when the bound is reached.
//!
//! The lock is held only for map operations, never across an await; records are rebuilt with
//! their remaining TTL outside it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::Reply;

/// Longest time a positive answer is kept, whatever its TTL.
const MAX_POSITIVE_TTL: u32 = 3600;
/// Longest time a negative answer is kept (RFC 2308 suggests at most a few hours).
const MAX_NEGATIVE_TTL: u32 = 1800;

/// What a cached answer is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// The question name (its `Eq` and `Hash` ignore case).
    pub(crate) name: Name,
    /// The question type.
    pub(crate) qtype: RecordType,
    /// The question class.
    pub(crate) qclass: DNSClass,
}

#[derive(Debug)]
struct Entry {
    reply: Reply,
    stored: Instant,
    ttl: u32,
}

#[derive(Debug)]
struct Slot {
    entry: Arc<Entry>,
    tick: u64,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<CacheKey, Slot>,
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
}

/// A size-bounded LRU of upstream replies that honours their TTLs.
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    inner: Mutex<Lru>,
}

impl Cache {
    /// A cache of at most `capacity` answers (0: nothing is ever stored).
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the cache, so a poisoned lock is simply reused.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many answers are held now (expired ones included until touched).
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// The cached reply for `key` at `now`, with every TTL reduced by the time it has been held;
    /// `None` when absent or expired.
    pub(crate) fn get(&self, key: &CacheKey, now: Instant) -> Option<Reply> {
        let entry = {
            let mut lru = self.lock();
            let lru = &mut *lru;
            let slot = lru.map.get_mut(key)?;
            let age = now.saturating_duration_since(slot.entry.stored);
            if age >= Duration::from_secs(u64::from(slot.entry.ttl)) {
                let tick = slot.tick;
                lru.order.remove(&tick);
                lru.map.remove(key);
                return None;
            }
            lru.tick += 1;
            lru.order.remove(&slot.tick);
            slot.tick = lru.tick;
            lru.order.insert(lru.tick, key.clone());
            slot.entry.clone()
        };
        let age = u32::try_from(now.saturating_duration_since(entry.stored).as_secs())
            .unwrap_or(u32::MAX);
        let mut reply = entry.reply.clone();
        for record in reply.records_mut() {
            record.ttl = record.ttl.saturating_sub(age);
        }
        Some(reply)
    }

    /// Stores `reply` if it may be cached, evicting the least recently used answers beyond the
    /// bound. Returns whether it was stored.
    pub(crate) fn insert(&self, key: CacheKey, reply: &Reply, now: Instant) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let Some(ttl) = cache_ttl(reply) else {
            return false;
        };
        let entry = Arc::new(Entry {
            reply: reply.clone(),
            stored: now,
            ttl,
        });
        let mut lru = self.lock();
        let lru = &mut *lru;
        lru.tick += 1;
        let tick = lru.tick;
        if let Some(old) = lru.map.insert(key.clone(), Slot { entry, tick }) {
            lru.order.remove(&old.tick);
        }
        lru.order.insert(tick, key);
        while lru.map.len() > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.map.remove(&oldest);
        }
        true
    }
}

/// How long a reply may be cached: the smallest answer TTL for a positive answer, the SOA's
/// negative TTL (the smaller of its TTL and MINIMUM, RFC 2308 §5) for NXDOMAIN and NODATA,
/// nothing for errors, truncated replies or negative answers without an SOA.
pub(crate) fn cache_ttl(reply: &Reply) -> Option<u32> {
    if reply.truncated {
        return None;
    }
    let ttl = match reply.rcode {
        ResponseCode::NoError if !reply.answers.is_empty() => reply
            .answers
            .iter()
            .map(|r| r.ttl)
            .min()
            .map(|t| t.min(MAX_POSITIVE_TTL)),
        ResponseCode::NoError | ResponseCode::NXDomain => reply
            .authority
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .map(|t| t.min(MAX_NEGATIVE_TTL)),
        _ => None,
    }?;
    (ttl > 0).then_some(ttl)
}

/// A key for an IN-class question, as the forwarder builds it.
#[cfg(test)]
pub(crate) fn key(name: &str, qtype: RecordType) -> CacheKey {
    CacheKey {
        name: Name::from_ascii(name).unwrap_or_default(),
        qtype,
        qclass: DNSClass::IN,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, SOA};

    use super::*;

    fn a(name: &str, ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap_or_default(),
            ttl,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        )
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let zone = Name::from_ascii("example.").unwrap_or_default();
        let data = SOA::new(zone.clone(), zone.clone(), 1, 1, 1, 1, minimum);
        Record::from_rdata(zone, ttl, RData::SOA(data))
    }

    fn reply(rcode: ResponseCode, answers: Vec<Record>, authority: Vec<Record>) -> Reply {
        Reply {
            rcode,
            answers,
            authority,
            additional: Vec::new(),
            truncated: false,
            authentic_data: false,
        }
    }

    #[test]
    fn ttls_follow_rfc_2308() {
        let positive = reply(
            ResponseCode::NoError,
            vec![a("x.example.", 300), a("x.example.", 60)],
            vec![],
        );
        assert_eq!(cache_ttl(&positive), Some(60));
        let huge = reply(
            ResponseCode::NoError,
            vec![a("x.example.", 999_999)],
            vec![],
        );
        assert_eq!(cache_ttl(&huge), Some(MAX_POSITIVE_TTL));
        let nx = reply(ResponseCode::NXDomain, vec![], vec![soa(900, 30)]);
        assert_eq!(cache_ttl(&nx), Some(30));
        let nodata = reply(ResponseCode::NoError, vec![], vec![soa(20, 300)]);
        assert_eq!(cache_ttl(&nodata), Some(20));
        let bare_nx = reply(ResponseCode::NXDomain, vec![], vec![]);
        assert_eq!(cache_ttl(&bare_nx), None);
        let servfail = reply(ResponseCode::ServFail, vec![], vec![soa(20, 300)]);
        assert_eq!(cache_ttl(&servfail), None);
        let zero = reply(ResponseCode::NoError, vec![a("x.example.", 0)], vec![]);
        assert_eq!(cache_ttl(&zero), None);
        let mut truncated = positive.clone();
        truncated.truncated = true;
        assert_eq!(cache_ttl(&truncated), None);
    }

    #[test]
    fn entries_age_and_expire() {
        let cache = Cache::new(10);
        let t0 = Instant::now();
        let k = key("x.example.", RecordType::A);
        assert!(cache.insert(
            k.clone(),
            &reply(ResponseCode::NoError, vec![a("x.example.", 30)], vec![]),
            t0
        ));
        let later = cache.get(
            &key("X.Example.", RecordType::A),
            t0 + Duration::from_secs(10),
        );
        assert_eq!(later.map(|r| r.answers[0].ttl), Some(20));
        assert!(
            cache
                .get(&key("x.example.", RecordType::AAAA), t0)
                .is_none()
        );
        assert!(cache.get(&k, t0 + Duration::from_secs(30)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = Cache::new(2);
        let t0 = Instant::now();
        let positive = |n: &str| reply(ResponseCode::NoError, vec![a(n, 60)], vec![]);
        cache.insert(
            key("a.example.", RecordType::A),
            &positive("a.example."),
            t0,
        );
        cache.insert(
            key("b.example.", RecordType::A),
            &positive("b.example."),
            t0,
        );
        assert!(cache.get(&key("a.example.", RecordType::A), t0).is_some());
        cache.insert(
            key("c.example.", RecordType::A),
            &positive("c.example."),
            t0,
        );
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("b.example.", RecordType::A), t0).is_none());
        assert!(cache.get(&key("a.example.", RecordType::A), t0).is_some());
        assert!(cache.get(&key("c.example.", RecordType::A), t0).is_some());
        let disabled = Cache::new(0);
        assert!(!disabled.insert(
            key("a.example.", RecordType::A),
            &positive("a.example."),
            t0
        ));
    }
}
