//! An ordered, gap-free feed of committed events for one watcher: first the kept history after
//! the requested revision, then live events from the broadcast. A watcher that falls behind the
//! broadcast is refilled from the history; if the history no longer reaches back far enough the
//! feed ends with [`FeedError::Expired`] — it never skips an event silently.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::StoreError;
use super::{Store, WatchEvent};

/// Why a feed ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeedError {
    /// Events the watcher needs are no longer kept: it must re-list.
    Expired {
        /// The last revision the watcher has seen.
        seen: u64,
        /// The oldest revision still kept.
        oldest: u64,
    },
    /// The store is shutting down.
    Closed,
}

impl From<FeedError> for StoreError {
    fn from(error: FeedError) -> StoreError {
        match error {
            FeedError::Expired { seen, oldest } => StoreError::expired(format!(
                "too old resource version: {seen} ({})",
                oldest.saturating_sub(1)
            )),
            FeedError::Closed => StoreError::unavailable("the store is shutting down"),
        }
    }
}

/// The events after a revision, in order.
#[derive(Debug)]
pub(crate) struct EventFeed {
    store: Store,
    live: broadcast::Receiver<Arc<WatchEvent>>,
    pending: VecDeque<Arc<WatchEvent>>,
    seen: u64,
}

impl EventFeed {
    /// Starts after `revision`; 410 Expired when the history does not reach back that far, or
    /// when `revision` is newer than anything this store committed (it came from another
    /// incarnation of the store, e.g. a wiped data directory): the client must re-list rather
    /// than silently skip every event up to a number this store has not reached.
    pub(super) fn start(store: Store, revision: u64) -> Result<EventFeed, StoreError> {
        let current = store.revision();
        if revision > current {
            return Err(StoreError::expired(format!(
                "too large resource version: {revision}, current: {current}"
            )));
        }
        // Subscribe before reading the history so no event falls between the two.
        let live = store.subscribe();
        let mut feed = EventFeed {
            store,
            live,
            pending: VecDeque::new(),
            seen: revision,
        };
        feed.refill()?;
        Ok(feed)
    }

    /// The revision of the last event handed out (or the starting revision).
    pub(crate) fn seen(&self) -> u64 {
        self.seen
    }

    fn refill(&mut self) -> Result<(), FeedError> {
        let current = self.store.revision();
        let seen = self.seen;
        let events = self.store.read_log(|log| {
            log.since(seen, current).ok_or_else(|| FeedError::Expired {
                seen,
                oldest: log.oldest().unwrap_or(current + 1),
            })
        })?;
        self.pending = events.into();
        Ok(())
    }

    /// The next event, waiting for one if needed. Cancel-safe: an event is consumed only when
    /// returned.
    pub(crate) async fn next(&mut self) -> Result<Arc<WatchEvent>, FeedError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if event.revision <= self.seen {
                    continue;
                }
                self.seen = event.revision;
                return Ok(event);
            }
            match self.live.recv().await {
                Ok(event) if event.revision <= self.seen => continue,
                Ok(event) if event.revision == self.seen + 1 => {
                    self.seen = event.revision;
                    return Ok(event);
                }
                // A gap (subscribed late) or lagging behind: take the missing ones from history.
                Ok(_) | Err(RecvError::Lagged(_)) => self.refill()?,
                Err(RecvError::Closed) => return Err(FeedError::Closed),
            }
        }
    }
}
