//! The durable store: every object, the global resourceVersion and the watch history, kept in
//! one redb database (`<data_dir>/store.redb`) and mirrored in an in-memory index for reads.
//!
//! Writes go through a single writer thread ([`writer`]) that batches queued requests, runs
//! admission on each, and commits the whole batch in ONE redb transaction with immediate
//! durability before replying (group commit). Reads (get, list, watch) never touch the
//! database: they are served from immutable [`Snapshot`]s and the in-memory [`EventLog`], which
//! the writer replaces only after a successful commit.
//!
//! When a commit fails (a full or failing disk), the batch is answered with an error and
//! nothing of it becomes visible; the writer then closes the database, reopens it and probes it
//! with backoff until a write succeeds again. Meanwhile [`Store::write_failure`] says why writes
//! fail (`/readyz` answers 503 on it).
//!
//! This module never speaks HTTP and never decides how objects are rendered to clients.

mod db;
mod disk;
mod error;
mod feed;
mod log;
mod meta;
mod propagation;
mod snapshot;
mod validate;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::admission::Admission;
use crate::object::{Kind, Object};

pub use error::{ChangeError, StoreError};
pub(crate) use feed::{EventFeed, FeedError};
pub(crate) use log::{EventLog, EventType, WatchEvent};
pub(crate) use meta::has_status;
pub use propagation::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation};
pub(crate) use snapshot::{ObjectKey, Snapshot};

/// Settings of an opened store.
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    /// How many past events are kept for watch resumption (at least 1).
    pub watch_history: usize,
    /// How long a paged list's snapshot stays available to `continue` tokens.
    pub continue_ttl: Duration,
    /// The most requests committed in one transaction.
    pub max_batch: usize,
    /// Live events buffered per watcher before it counts as lagging (and is refilled from
    /// the history).
    pub broadcast_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            watch_history: 10_000,
            continue_ttl: Duration::from_secs(300),
            max_batch: 256,
            broadcast_capacity: 1024,
        }
    }
}

/// Computes an updated object from the stored one (a PUT body, a patch).
pub(crate) type Change = Box<dyn FnOnce(&Object) -> Result<Object, ChangeError> + Send>;

/// Picks the objects of a collection delete (label and field selectors).
pub(crate) type Filter = Box<dyn Fn(&Object) -> bool + Send>;

/// One write request, applied by the writer against the newest state.
pub(crate) enum Write {
    /// Create `object` (kind, namespace and name or generateName already in it).
    Create(Box<Object>),
    /// Replace an existing object with what `change` makes of the current one.
    Update {
        /// The kind.
        kind: Kind,
        /// The namespace (`None` for cluster-scoped kinds).
        namespace: Option<String>,
        /// The name.
        name: String,
        /// Whether this is the `/status` subresource (only `status` changes) or the main
        /// resource (`status` is kept).
        status: bool,
        /// Computes the new object from the current one (PUT body, patch).
        change: Change,
    },
    /// Delete an object (or mark it, when it has finalizers).
    Delete {
        /// The kind.
        kind: Kind,
        /// The namespace (`None` for cluster-scoped kinds).
        namespace: Option<String>,
        /// The name.
        name: String,
        /// `preconditions.uid` of DeleteOptions.
        uid: Option<String>,
        /// `preconditions.resourceVersion` of DeleteOptions.
        resource_version: Option<String>,
        /// `propagationPolicy` (or `orphanDependents`) of DeleteOptions; `None` when the
        /// request named none.
        propagation: Option<Propagation>,
    },
    /// Delete every object of `kind` in `namespace` that `filter` picks, all in one
    /// transaction: when one deletion fails, none happens.
    DeleteCollection {
        /// The kind (never Namespace: kube-apiserver does not serve that).
        kind: Kind,
        /// The namespace (`None` for cluster-scoped kinds).
        namespace: Option<String>,
        /// Which objects to delete.
        filter: Filter,
        /// `propagationPolicy` (or `orphanDependents`) for every object deleted.
        propagation: Option<Propagation>,
    },
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Create(o) => write!(f, "Create({} {:?})", o.kind(), o.name()),
            Write::Update { kind, name, .. } => write!(f, "Update({kind} {name:?})"),
            Write::Delete { kind, name, .. } => write!(f, "Delete({kind} {name:?})"),
            Write::DeleteCollection {
                kind, namespace, ..
            } => write!(f, "DeleteCollection({kind} in {namespace:?})"),
        }
    }
}

/// A write and the channel its outcome goes back on.
pub(crate) struct Request {
    write: Write,
    /// Validate and admit, answer with the result, but commit nothing (`dryRun=All`).
    dry_run: bool,
    /// The stored objects (one, or each object of a collection delete), or why not.
    reply: oneshot::Sender<Result<Vec<Arc<Object>>, StoreError>>,
}

/// What the writer thread receives.
enum Message {
    /// A write to apply.
    Write(Request),
    /// Finish what is queued, then close the database.
    Stop,
}

/// The writer's commit metrics for `/metrics`: prometheus-client handles, registered by the
/// API's registry (clones share the same values).
#[derive(Debug)]
pub(crate) struct StoreMetrics {
    /// Requests committed per transaction (buckets [`BATCH_BUCKETS`]).
    pub batch_size: Histogram,
    /// Seconds to commit one transaction durably (buckets [`LATENCY_BUCKETS`]).
    pub commit_duration: Histogram,
    /// Failed commits.
    pub commit_failures: Counter,
}

impl Default for StoreMetrics {
    fn default() -> StoreMetrics {
        StoreMetrics {
            batch_size: Histogram::new(BATCH_BUCKETS),
            commit_duration: Histogram::new(LATENCY_BUCKETS),
            commit_failures: Counter::default(),
        }
    }
}

/// Upper bounds of the commit batch-size histogram buckets.
pub(crate) const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0];
/// Upper bounds of the commit-latency histogram buckets, in seconds.
pub(crate) const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

impl StoreMetrics {
    fn observe(&self, batch: usize, latency: Duration) {
        self.batch_size.observe(batch as f64);
        self.commit_duration.observe(latency.as_secs_f64());
    }
}

/// State shared by the writer and every reader.
struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    log: RwLock<EventLog>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    paged: Mutex<BTreeMap<u64, (Arc<Snapshot>, Instant)>>,
    metrics: StoreMetrics,
    config: StoreConfig,
    closing: CancellationToken,
    /// Why writes cannot be committed right now (set by the writer after a failed commit,
    /// cleared once a write or probe succeeds again).
    write_failure: Mutex<Option<String>>,
    /// Test hook: make the next commit fail as a disk error would.
    #[cfg(test)]
    fail_next_commit: std::sync::atomic::AtomicBool,
}

/// A handle on the open store. Cheap to clone; the database closes when the writer ends
/// ([`Store::close`]).
#[derive(Clone)]
pub(crate) struct Store {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Message>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("revision", &self.revision())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) `<data_dir>/store.redb`, loads every object and the watch history,
    /// rebuilds admission's allocators from the stored objects, and starts the writer.
    pub(crate) fn open(
        data_dir: &Path,
        admission: Admission,
        config: StoreConfig,
    ) -> Result<Store, StoreError> {
        let mut config = config;
        config.watch_history = config.watch_history.max(1);
        config.max_batch = config.max_batch.max(1);
        config.broadcast_capacity = config.broadcast_capacity.max(1);
        let path = data_dir.join("store.redb");
        let database = db::Database::open(&path, config.watch_history)?;
        let loaded = database.load()?;
        let report = admission.rebuild(loaded.snapshot.objects());
        for problem in &report.problems {
            tracing::warn!(%problem, "startup repair found a problem in the stored objects");
        }
        tracing::info!(
            path = %path.display(),
            revision = loaded.snapshot.revision,
            objects = loaded.snapshot.len(),
            events = loaded.log.len(),
            restored = report.restored,
            "store opened"
        );
        let (events, _) = broadcast::channel(config.broadcast_capacity);
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(loaded.snapshot)),
            log: RwLock::new(loaded.log),
            events,
            paged: Mutex::new(BTreeMap::new()),
            metrics: StoreMetrics::default(),
            config,
            closing: CancellationToken::new(),
            write_failure: Mutex::new(None),
            #[cfg(test)]
            fail_next_commit: std::sync::atomic::AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel(4096);
        let disk = disk::Disk::new(database, path, shared.config.watch_history);
        let writer = writer::spawn(disk, admission, Arc::clone(&shared), rx)?;
        Ok(Store {
            shared,
            tx,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Submits a write and waits for its outcome (after the commit is durable).
    pub(crate) async fn write(&self, write: Write) -> Result<Arc<Object>, StoreError> {
        one(self.submit(write, false).await?)
    }

    /// Runs a write through validation and admission against the newest state and returns
    /// what it would store, without storing it or keeping any allocation (`dryRun=All`).
    pub(crate) async fn dry_run(&self, write: Write) -> Result<Arc<Object>, StoreError> {
        one(self.submit(write, true).await?)
    }

    /// Submits a write that may touch several objects ([`Write::DeleteCollection`]) and
    /// returns each of them; with `dry_run`, nothing is stored.
    pub(crate) async fn write_all(
        &self,
        write: Write,
        dry_run: bool,
    ) -> Result<Vec<Arc<Object>>, StoreError> {
        self.submit(write, dry_run).await
    }

    /// Why writes cannot be committed right now (the disk is full or failing), if they cannot.
    pub(crate) fn write_failure(&self) -> Option<String> {
        match self.shared.write_failure.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn submit(&self, write: Write, dry_run: bool) -> Result<Vec<Arc<Object>>, StoreError> {
        if self.shared.closing.is_cancelled() {
            return Err(StoreError::unavailable("the store is shutting down"));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Message::Write(Request {
                write,
                dry_run,
                reply,
            }))
            .await
            .map_err(|_| StoreError::unavailable("the store is closed"))?;
        rx.await
            .map_err(|_| StoreError::internal("the store writer stopped before replying"))?
    }

    /// The newest committed state.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        match self.shared.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The newest committed resourceVersion.
    pub(crate) fn revision(&self) -> u64 {
        self.snapshot().revision
    }

    /// One object from the newest state.
    pub(crate) fn get(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<Object>> {
        self.snapshot()
            .get(kind, namespace.unwrap_or_default(), name)
    }

    /// Keeps `snapshot` available to `continue` tokens for the configured time.
    pub(crate) fn pin_for_continue(&self, snapshot: &Arc<Snapshot>) {
        let now = Instant::now();
        let ttl = self.shared.config.continue_ttl;
        let mut paged = match self.shared.paged.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        paged.retain(|_, (_, at)| now.duration_since(*at) < ttl);
        paged.insert(snapshot.revision, (Arc::clone(snapshot), now));
        // Bound the memory held by pinned snapshots (they share structure, but not forever).
        while paged.len() > 64 {
            paged.pop_first();
        }
    }

    /// The snapshot at `revision` kept for a paged list, if it has not expired.
    pub(crate) fn pinned(&self, revision: u64) -> Option<Arc<Snapshot>> {
        let current = self.snapshot();
        if current.revision == revision {
            return Some(current);
        }
        let paged = match self.shared.paged.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        paged
            .get(&revision)
            .filter(|(_, at)| at.elapsed() < self.shared.config.continue_ttl)
            .map(|(s, _)| Arc::clone(s))
    }

    /// A feed of every event after `revision`, in order: first from the kept history, then
    /// live. Fails with 410 Expired when events after `revision` are no longer kept.
    pub(crate) fn feed_from(&self, revision: u64) -> Result<EventFeed, StoreError> {
        EventFeed::start(self.clone(), revision)
    }

    /// The oldest resourceVersion still in the watch history, if any.
    #[cfg(test)]
    pub(crate) fn oldest_event(&self) -> Option<u64> {
        self.read_log(|log| log.oldest())
    }

    fn read_log<T>(&self, f: impl FnOnce(&EventLog) -> T) -> T {
        match self.shared.log.read() {
            Ok(l) => f(&l),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.shared.events.subscribe()
    }

    /// Fires when the store starts shutting down; long-running readers (watches) end on it.
    pub(crate) fn closing(&self) -> CancellationToken {
        self.shared.closing.clone()
    }

    /// The writer's commit counters.
    pub(crate) fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    /// Signals long-running readers (watch streams) to end; writes already queued still
    /// complete. [`Store::close`] finishes the job.
    pub(crate) fn begin_close(&self) {
        self.shared.closing.cancel();
    }

    /// Stops accepting writes, ends watch feeds, lets the writer finish its queue and closes
    /// the database. Idempotent.
    pub(crate) async fn close(&self) {
        self.shared.closing.cancel();
        let handle = match self.writer.lock() {
            Ok(mut w) => w.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(handle) = handle {
            // The writer finishes what is queued before the stop message, then closes.
            if self.tx.send(Message::Stop).await.is_err() {
                tracing::debug!("the store writer had already stopped");
            }
            let joined = tokio::task::spawn_blocking(move || handle.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the store writer thread panicked");
            }
        }
    }
}

/// The single object a single-object write stored.
fn one(mut objects: Vec<Arc<Object>>) -> Result<Arc<Object>, StoreError> {
    match (objects.pop(), objects.is_empty()) {
        (Some(obj), true) => Ok(obj),
        _ => Err(StoreError::internal(
            "the store answered a single-object write with several objects",
        )),
    }
}

impl Shared {
    /// Records why writes fail (`None`: they succeed again).
    fn set_write_failure(&self, failure: Option<String>) {
        let mut slot = match self.write_failure.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = failure;
    }
}

/// How kube-apiserver names a resource in messages: the plural, qualified by the group for
/// non-core kinds (`services`, `endpointslices.discovery.k8s.io`).
pub(crate) fn resource_name(kind: Kind) -> String {
    if kind.group().is_empty() {
        kind.plural().to_string()
    } else {
        format!("{}.{}", kind.plural(), kind.group())
    }
}
