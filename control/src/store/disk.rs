//! The database file as the writer sees it: open and healthy, or closed after a failed commit
//! and being reopened with backoff. redb refuses every write after an I/O error ("previous I/O
//! error") until the database is reopened, so a failed commit closes it; the writer reopens it
//! (checking that the file holds the store's revision: a commit reported as failed must not
//! have landed) and probes it with a write as large as the batch that failed before counting
//! the store as writable again. Meanwhile [`Shared`]'s write failure holds the reason, which
//! `/readyz` reports.
//!
//! This module decides when to retry; it never applies or answers requests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::db::Database;
use super::{Shared, StoreError};

/// The first wait before reopening or probing the database after a failed commit.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two recovery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the writer looks for queued requests while the database is failing.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(25);
/// The smallest probe write: large enough not to fit in the pages redb keeps free.
const MIN_PROBE_BYTES: usize = 256 * 1024;
/// The largest probe write.
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;

/// The database file and whether it takes writes.
pub(super) struct Disk {
    /// The open database; `None` after a failed commit until it is reopened.
    db: Option<Database>,
    path: PathBuf,
    history: usize,
    /// Why writes fail, while they do.
    failure: Option<String>,
    /// The size of the probe write that must succeed before the store counts as writable.
    probe_bytes: usize,
    backoff: Duration,
    next_try: Instant,
}

impl Disk {
    /// An open, healthy database at `path` keeping `history` events.
    pub(super) fn new(db: Database, path: PathBuf, history: usize) -> Disk {
        Disk {
            db: Some(db),
            path,
            history,
            failure: None,
            probe_bytes: MIN_PROBE_BYTES,
            backoff: FIRST_BACKOFF,
            next_try: Instant::now(),
        }
    }

    /// Why writes fail, while they do.
    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Records a failed commit (or reopen, or probe): closes the database, publishes the
    /// reason and schedules the next attempt with a growing backoff.
    pub(super) fn failed(&mut self, shared: &Shared, error: &StoreError, batch_bytes: usize) {
        // redb answers every write after an I/O error with "previous I/O error": drop it.
        self.db = None;
        if self.failure.is_none() {
            self.backoff = FIRST_BACKOFF;
            self.next_try = Instant::now();
        } else {
            self.next_try = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        self.probe_bytes = self
            .probe_bytes
            .max(batch_bytes)
            .clamp(MIN_PROBE_BYTES, MAX_PROBE_BYTES);
        let reason = error.to_string();
        if self.failure.as_deref() != Some(reason.as_str()) {
            tracing::error!(%error, "the store cannot write; retrying with backoff");
        }
        shared.set_write_failure(Some(reason.clone()));
        self.failure = Some(reason);
    }

    /// Records a successful commit or probe.
    pub(super) fn recovered(&mut self, shared: &Shared) {
        if self.failure.take().is_some() {
            tracing::info!("the store writes again");
            shared.set_write_failure(None);
        }
        self.probe_bytes = MIN_PROBE_BYTES;
        self.backoff = FIRST_BACKOFF;
    }

    /// Whether the database is open or may be reopened now (the backoff has passed).
    pub(super) fn ready_to_try(&self) -> bool {
        self.db.is_some() || Instant::now() >= self.next_try
    }

    /// The open database, reopening it when a failed commit closed it. The reopened file must
    /// hold the revision the store is at: a commit reported as failed must not have landed.
    pub(super) fn open(&mut self, shared: &Shared) -> Result<&Database, StoreError> {
        if self.db.is_none() {
            let db = Database::open(&self.path, self.history)?;
            let stored = db.revision()?;
            let current = current_revision(shared);
            if stored != current {
                return Err(StoreError::db(
                    "reopen",
                    format!(
                        "the database holds revision {stored} but the store is at {current}: \
                         restart to reload it"
                    ),
                ));
            }
            tracing::info!(path = %self.path.display(), "store database reopened");
            self.db = Some(db);
        }
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::db("reopen", "the database is closed"))
    }

    /// While writes fail: once the backoff has passed, reopens the database and commits a
    /// probe as large as the batch that failed; success makes the store writable again.
    pub(super) fn try_recover(&mut self, shared: &Shared) {
        if self.failure.is_none() || Instant::now() < self.next_try {
            return;
        }
        let bytes = self.probe_bytes;
        match self.open(shared).and_then(|db| db.probe(bytes)) {
            Ok(()) => self.recovered(shared),
            Err(error) => self.failed(shared, &error, 0),
        }
    }
}

fn current_revision(shared: &Shared) -> u64 {
    match shared.snapshot.read() {
        Ok(s) => s.revision,
        Err(poisoned) => poisoned.into_inner().revision,
    }
}
