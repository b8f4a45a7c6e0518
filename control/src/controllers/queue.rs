//! A work queue of keys (Service keys by default; the scheduler queues Pod keys): adding a key
//! that is already queued is a no-op, so a burst of events becomes one reconcile per key.
//! Failed keys come back after a per-key backoff. It only orders work; it never looks at
//! objects.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// A namespaced Service name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ServiceKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug)]
struct Inner<K> {
    pending: BTreeSet<K>,
    failures: HashMap<K, u32>,
}

/// The shared queue; clones refer to the same queue.
#[derive(Debug)]
pub(crate) struct WorkQueue<K = ServiceKey> {
    inner: Arc<Mutex<Inner<K>>>,
    notify: Arc<Notify>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            inner: Arc::clone(&self.inner),
            notify: Arc::clone(&self.notify),
        }
    }
}

impl<K> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            inner: Arc::new(Mutex::new(Inner {
                pending: BTreeSet::new(),
                failures: HashMap::new(),
            })),
            notify: Arc::new(Notify::new()),
        }
    }
}

/// The longest wait before a failed key is retried.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl<K: Ord + std::hash::Hash + Clone + Send + 'static> WorkQueue<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `key` (coalesced with a queued one).
    pub(crate) fn add(&self, key: K) {
        if self.lock().pending.insert(key) {
            self.notify.notify_one();
        }
    }

    /// Waits for work and takes every queued key.
    pub(crate) async fn next_batch(&self) -> Vec<K> {
        loop {
            let batch: Vec<K> = std::mem::take(&mut self.lock().pending)
                .into_iter()
                .collect();
            if !batch.is_empty() {
                return batch;
            }
            self.notify.notified().await;
        }
    }

    /// The key was reconciled: forget its failures.
    pub(crate) fn done(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Queues `key` again after `delay`, without counting a failure (the cache is catching up).
    pub(crate) fn requeue_after(&self, key: K, delay: Duration) {
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// The key failed: queue it again after a backoff that doubles per failure (100 ms up to
    /// [`MAX_BACKOFF`]).
    pub(crate) fn retry(&self, key: K) {
        let failures = {
            let mut inner = self.lock();
            let n = inner.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let delay = Duration::from_millis(100)
            .saturating_mul(1 << failures.min(7))
            .min(MAX_BACKOFF);
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn bursts_coalesce() {
        let q: WorkQueue = WorkQueue::default();
        for _ in 0..50 {
            q.add(key("a"));
            q.add(key("b"));
        }
        assert_eq!(q.next_batch().await, vec![key("a"), key("b")]);
        q.add(key("a"));
        assert_eq!(q.next_batch().await, vec![key("a")]);
    }

    #[tokio::test]
    async fn retries_come_back() {
        let q: WorkQueue = WorkQueue::default();
        q.retry(key("x"));
        assert_eq!(q.next_batch().await, vec![key("x")]);
    }
}
