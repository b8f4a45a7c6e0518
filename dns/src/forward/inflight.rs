//! Bounds and shares upstream exchanges. At most `cap` exchanges are in flight at once; each
//! holds a permit for its whole life, during which it has at most one socket open (its UDP
//! socket, then its TCP connection on a truncated reply), so upstream sockets never number
//! more than `cap`. An identical question (name compared case-insensitively, type, class, DO
//! bit) asked while one is in flight waits for that exchange's outcome instead of opening its
//! own. Requests waiting on exchanges, leaders and followers together, are bounded too.
//!
//! The map lock is held only for map operations, never across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::Reply;
use super::cache::CacheKey;

/// Requests allowed to wait per exchange slot (followers of a shared exchange included).
const WAITERS_PER_SLOT: usize = 16;

/// What identifies one upstream exchange for sharing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Question {
    /// Name (case-insensitive), type and class.
    pub(crate) key: CacheKey,
    /// The client's DNSSEC OK bit.
    pub(crate) dnssec_ok: bool,
}

/// The outcome of an exchange as its waiters see it: the reply, or why there is none.
pub(crate) type Outcome = Result<Reply, String>;

type Pending = Arc<Mutex<HashMap<Question, watch::Receiver<Option<Outcome>>>>>;

/// The in-flight exchanges and the bounds on them.
#[derive(Debug)]
pub(crate) struct Inflight {
    permits: Arc<Semaphore>,
    pending: Pending,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// What a caller asking a question should do.
#[derive(Debug)]
pub(crate) enum Slot {
    /// The same question is already in flight: wait for its outcome.
    Follow(watch::Receiver<Option<Outcome>>),
    /// Nobody is asking it: run the exchange and hand its outcome to [`Leader::finish`].
    Lead(Leader, watch::Receiver<Option<Outcome>>),
    /// The cap on exchanges in flight is reached.
    Full,
}

/// The right and duty to run one exchange: holds its permit, and on drop takes the question
/// out of the in-flight map (followers of an exchange abandoned without an outcome see the
/// channel close).
#[derive(Debug)]
pub(crate) struct Leader {
    question: Question,
    sender: watch::Sender<Option<Outcome>>,
    pending: Pending,
    _permit: OwnedSemaphorePermit,
}

/// One request counted as waiting on an upstream exchange; uncounted on drop.
#[derive(Debug)]
pub(crate) struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock(pending: &Pending) -> MutexGuard<'_, HashMap<Question, watch::Receiver<Option<Outcome>>>> {
    // The map holds only receivers; after a panic elsewhere it is still consistent.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inflight {
    /// At most `cap` exchanges at once (`cap` is at least 1 after config validation).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
        Inflight {
            permits: Arc::new(Semaphore::new(cap)),
            pending: Arc::default(),
            waiting: Arc::default(),
            max_waiting: cap.saturating_mul(WAITERS_PER_SLOT),
        }
    }

    /// Counts one more request waiting on upstreams, or `None` when too many already are.
    pub(crate) fn wait(&self) -> Option<Waiting> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(self.waiting.clone());
        (before < self.max_waiting).then_some(waiting)
    }

    /// Joins the exchange in flight for `question`, or takes a permit to start one.
    pub(crate) fn join(&self, question: Question) -> Slot {
        let mut pending = lock(&self.pending);
        if let Some(receiver) = pending.get(&question) {
            return Slot::Follow(receiver.clone());
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Slot::Full;
        };
        let (sender, receiver) = watch::channel(None);
        pending.insert(question.clone(), receiver.clone());
        drop(pending);
        let leader = Leader {
            question,
            sender,
            pending: self.pending.clone(),
            _permit: permit,
        };
        Slot::Lead(leader, receiver)
    }

    /// Exchanges in flight now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.pending).len()
    }
}

impl Leader {
    /// Hands `outcome` to every waiter and ends the exchange (its permit is released).
    pub(crate) fn finish(self, outcome: Outcome) {
        self.sender.send_replace(Some(outcome));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.question);
    }
}

/// Waits for the outcome published on `receiver`.
pub(crate) async fn outcome(mut receiver: watch::Receiver<Option<Outcome>>) -> Outcome {
    match receiver.wait_for(Option::is_some).await {
        Ok(value) => value
            .clone()
            .unwrap_or_else(|| Err("no outcome".to_owned())),
        Err(_) => Err("the upstream exchange was abandoned".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    use super::*;
    use crate::forward::cache::key;

    fn question(name: &str, dnssec_ok: bool) -> Question {
        Question {
            key: key(name, RecordType::A),
            dnssec_ok,
        }
    }

    fn reply() -> Reply {
        Reply {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            truncated: false,
            authentic_data: false,
        }
    }

    #[tokio::test]
    async fn identical_questions_share_one_exchange() {
        let inflight = Inflight::new(4);
        let Slot::Lead(leader, first) = inflight.join(question("a.example.", false)) else {
            panic!("the first asker leads");
        };
        let Slot::Follow(second) = inflight.join(question("A.EXAMPLE.", false)) else {
            panic!("the same question in other case follows");
        };
        let with_do = inflight.join(question("a.example.", true));
        assert!(
            matches!(with_do, Slot::Lead(..)),
            "the DO bit makes another question"
        );
        assert_eq!(inflight.in_flight(), 2);
        leader.finish(Ok(reply()));
        assert_eq!(inflight.in_flight(), 1, "only the DO question is left");
        assert!(outcome(first).await.is_ok());
        assert!(outcome(second).await.is_ok());
    }

    #[tokio::test]
    async fn the_cap_holds_until_an_exchange_ends() {
        let inflight = Inflight::new(2);
        let a = inflight.join(question("a.example.", false));
        let b = inflight.join(question("b.example.", false));
        assert!(matches!(
            inflight.join(question("c.example.", false)),
            Slot::Full
        ));
        drop(a);
        assert!(matches!(
            inflight.join(question("c.example.", false)),
            Slot::Lead(..)
        ));
        let Slot::Lead(leader, receiver) = b else {
            panic!("b leads");
        };
        drop(leader);
        assert!(
            outcome(receiver).await.is_err(),
            "an abandoned exchange fails its waiters"
        );
        assert_eq!(inflight.in_flight(), 0);
    }

    #[test]
    fn waiters_are_bounded() {
        let inflight = Inflight::new(1);
        let held: Vec<Waiting> = (0..WAITERS_PER_SLOT)
            .filter_map(|_| inflight.wait())
            .collect();
        assert_eq!(held.len(), WAITERS_PER_SLOT);
        assert!(inflight.wait().is_none());
        drop(held);
        assert!(inflight.wait().is_some());
    }
}
