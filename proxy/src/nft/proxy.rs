//! The nftables proxy task: follows [`TableSnapshot`]s, waits for the first complete table,
//! coalesces bursts with `min_sync_period`, runs each sync off the async threads, retries
//! failures with a full resync, resyncs fully every `full_resync_period` (repairing hand
//! edits), clears stale UDP conntrack entries, and reports health and metrics. Shutting down stops the task and leaves the rules in place.
//!
//! It never builds rules or transactions itself ([`Syncer`] does).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::NftConfig;
use super::conntrack;
use super::error::SyncError;
use super::metrics::SyncMetrics;
use super::runner::{NftRunner, Runner};
use super::sync::Syncer;
use super::transaction::{Family, Transaction, Verb};
use crate::health::Health;
use crate::reflector::TableSnapshot;

/// Oldest kernel with everything the rules use.
const MIN_KERNEL: (u32, u32) = (5, 13);
/// Wait after a sync that flushed stale chains before the sync that deletes them.
const STALE_DELETE_AFTER: Duration = Duration::from_secs(1);
/// Wait after a failed sync before the full resync that follows it.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Shared {
    metrics: SyncMetrics,
    /// When the oldest unapplied change arrived.
    pending_since: Mutex<Option<Instant>>,
    /// When a sync last succeeded.
    last_applied: Mutex<Option<SystemTime>>,
    synced_once: AtomicBool,
    full_requested: AtomicBool,
    wake: Notify,
    stale_after: Duration,
}

impl Shared {
    fn pending_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.pending_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_pending(&self) {
        self.pending_since().get_or_insert_with(Instant::now);
        self.metrics.changes_pending.inc();
        self.metrics.changes_total.inc();
    }
}

/// The running nftables proxy.
#[derive(Debug)]
pub struct NftProxy {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl NftProxy {
    /// Checks the preconditions ([`preflight`]) and starts syncing `tables` with `nft`.
    ///
    /// # Errors
    /// [`SyncError::Unavailable`] when not root, `nft` is missing, the kernel is older than
    /// 5.13 or the network namespace does not exist.
    pub async fn start(
        config: NftConfig,
        tables: watch::Receiver<TableSnapshot>,
    ) -> Result<NftProxy, SyncError> {
        let netns = config.netns.clone();
        tokio::task::spawn_blocking(move || preflight(netns.as_deref()))
            .await
            .map_err(|_| SyncError::Stopped)??;
        let runner = Arc::new(NftRunner::new(config.netns.clone()));
        Ok(NftProxy::start_with_runner(config, tables, runner))
    }

    /// Starts syncing `tables` through `runner`, without preconditions (tests use
    /// [`super::FakeRunner`]).
    pub fn start_with_runner(
        config: NftConfig,
        tables: watch::Receiver<TableSnapshot>,
        runner: Arc<dyn Runner>,
    ) -> NftProxy {
        let shared = Arc::new(Shared {
            metrics: SyncMetrics::default(),
            pending_since: Mutex::new(Some(Instant::now())),
            last_applied: Mutex::new(None),
            synced_once: AtomicBool::new(false),
            full_requested: AtomicBool::new(false),
            wake: Notify::new(),
            stale_after: config.stale_after,
        });
        let cancel = CancellationToken::new();
        let syncer = Syncer::new(config.rule_config(), runner);
        let task = tokio::spawn(run(config, tables, syncer, shared.clone(), cancel.clone()));
        NftProxy {
            shared,
            cancel,
            task,
        }
    }

    /// Prometheus text for the sync loop.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }

    /// Whether the rules keep up with the table.
    pub fn health(&self) -> Health {
        let pending_for = self.shared.pending_since().map(|since| since.elapsed());
        let last_applied = *self
            .shared
            .last_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Health {
            last_applied,
            // Only complete tables are synced (see the sync loop).
            synced: self.shared.synced_once.load(Ordering::Acquire),
            pending_for,
            stale: pending_for.is_some_and(|waited| waited > self.shared.stale_after),
            listeners: None,
        }
    }

    /// Asks for a full resync (list the tables, rewrite everything) at the next opportunity.
    pub fn request_full_resync(&self) {
        self.shared.full_requested.store(true, Ordering::Release);
        self.shared.mark_pending();
        self.shared.wake.notify_one();
    }

    /// Whether at least one sync has succeeded.
    pub fn has_synced(&self) -> bool {
        self.shared.synced_once.load(Ordering::Acquire)
    }

    /// How many syncs have succeeded so far (tests wait for it to move).
    pub fn sync_count(&self) -> u64 {
        self.shared
            .metrics
            .syncs_total
            .inner()
            .load(Ordering::Acquire)
    }

    /// Stops the sync task. The rules stay, so traffic keeps flowing until a new proxy adopts
    /// them (or `cleanup` removes them).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "nftables sync task ended abnormally");
        }
    }
}

async fn run(
    config: NftConfig,
    mut tables: watch::Receiver<TableSnapshot>,
    syncer: Syncer,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut syncer = Some(syncer);
    let mut last_sync: Option<Instant> = None;
    let mut retry_at: Option<Instant> = None;
    let mut resync_at: Option<Instant> = None;
    let mut dirty = true;
    loop {
        if !dirty {
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let resync = async {
                match resync_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = tables.changed() => {
                    if changed.is_err() {
                        tracing::info!("service table closed; nftables sync stops, rules stay");
                        return;
                    }
                    shared.mark_pending();
                }
                () = shared.wake.notified() => {}
                () = retry => { retry_at = None; }
                () = resync => {
                    resync_at = None;
                    tracing::debug!("periodic full resync of the nftables rules");
                    shared.full_requested.store(true, Ordering::Release);
                }
            }
        }
        dirty = false;
        if let Some(last) = last_sync {
            let at = last + config.min_sync_period;
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(at) => {}
            }
        }
        let snapshot = tables.borrow_and_update().clone();
        if !snapshot.synced {
            tracing::debug!("waiting for the first complete service table before syncing");
            continue;
        }
        let Some(mut current) = syncer.take() else {
            return;
        };
        if shared.full_requested.swap(false, Ordering::AcqRel) {
            current.request_full();
        }
        let pending = shared.metrics.changes_pending.set(0);
        let joined = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = current.sync(&snapshot.table);
            (current, result, started.elapsed())
        })
        .await;
        let Ok((current, result, took)) = joined else {
            tracing::error!("nftables sync panicked; stopping, rules stay as they are");
            return;
        };
        let deletes_due = current.has_pending_deletes();
        syncer = Some(current);
        last_sync = Some(Instant::now());
        match result {
            Ok(outcome) => {
                shared.metrics.observe(outcome.full, took);
                if outcome.full {
                    resync_at = config
                        .full_resync_period
                        .map(|period| Instant::now() + period);
                }
                shared.metrics.last_ops.set(outcome.ops as u64);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                shared.metrics.last_success_unix.set(now);
                if !tables.has_changed().unwrap_or(false)
                    && !shared.full_requested.load(Ordering::Acquire)
                {
                    *shared.pending_since() = None;
                }
                *shared
                    .last_applied
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(SystemTime::now());
                shared.synced_once.store(true, Ordering::Release);
                // Objects flushed by this sync are deleted by the next one; make sure there is
                // a next one even if the table stays quiet.
                retry_at = deletes_due
                    .then(|| Instant::now() + config.min_sync_period.max(STALE_DELETE_AFTER));
                tracing::debug!(
                    full = outcome.full,
                    ops = outcome.ops,
                    took_ms = took.as_millis() as u64,
                    "nftables synced"
                );
                if !outcome.stale_flows.is_empty() {
                    let netns = config.netns.clone();
                    let flows = outcome.stale_flows;
                    let failures = tokio::task::spawn_blocking(move || {
                        conntrack::clear(netns.as_deref(), &flows)
                    })
                    .await
                    .unwrap_or(1);
                    shared.metrics.conntrack_failures.inc_by(failures as u64);
                }
                // Counted last, so a caller that saw the count move sees conntrack cleared.
                shared
                    .metrics
                    .syncs_total
                    .inner()
                    .fetch_add(1, Ordering::AcqRel);
            }
            Err(err) => {
                shared.metrics.sync_failures.inc();
                shared.metrics.changes_pending.inc_by(pending);
                tracing::warn!(error = %err, "nftables sync failed; full resync follows");
                retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }
}

/// Checks that the nftables mode can work here: effective uid 0, a working `nft` (inside
/// `netns` when given, which also proves the namespace exists), and a kernel ≥ 5.13.
///
/// # Errors
/// [`SyncError::Unavailable`] naming the failed precondition.
pub fn preflight(netns: Option<&str>) -> Result<(), SyncError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| SyncError::Unavailable(format!("reading /proc/self/status: {e}")))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or_else(|| SyncError::Unavailable("no Uid line in /proc/self/status".into()))?;
    if euid != "0" {
        return Err(SyncError::Unavailable(format!(
            "must run as root (effective uid is {euid}) to program nftables"
        )));
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| SyncError::Unavailable(format!("reading the kernel release: {e}")))?;
    check_kernel(release.trim())?;
    let mut cmd = match netns {
        Some(ns) => {
            let mut cmd = std::process::Command::new("ip");
            cmd.args(["netns", "exec", ns, "nft", "--version"]);
            cmd
        }
        None => {
            let mut cmd = std::process::Command::new("nft");
            cmd.arg("--version");
            cmd
        }
    };
    let output = cmd.output().map_err(|e| {
        SyncError::Unavailable(format!(
            "cannot run nft ({e}); install Debian's nftables package"
        ))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(SyncError::Unavailable(match netns {
            Some(ns) => format!("nft in network namespace {ns:?} failed: {}", stderr.trim()),
            None => format!("nft --version failed: {}", stderr.trim()),
        }));
    }
    Ok(())
}

/// Errors unless `release` (`uname -r`) is at least [`MIN_KERNEL`].
fn check_kernel(release: &str) -> Result<(), SyncError> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Err(SyncError::Unavailable(format!(
            "cannot read kernel release {release:?}"
        )));
    };
    if (major, minor) < MIN_KERNEL {
        return Err(SyncError::Unavailable(format!(
            "kernel {release} is older than {}.{}, which the nftables rules need",
            MIN_KERNEL.0, MIN_KERNEL.1
        )));
    }
    Ok(())
}

/// Removes everything switchyard created: its `ip` and `ip6` tables, main and shards, whatever
/// shard count made them (in `netns` when given). Succeeds when there is nothing to remove.
///
/// # Errors
/// When `nft` cannot be run or refuses.
pub async fn cleanup(netns: Option<&str>) -> Result<(), SyncError> {
    let runner = NftRunner::new(netns.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let mut tx = Transaction::new();
        for family in Family::ALL {
            for table in runner.list(family)?.into_keys() {
                tx.push(Verb::Delete, super::transaction::Object::Table { table });
            }
        }
        runner.run(&tx)
    })
    .await
    .map_err(|_| SyncError::Stopped)?
}

#[cfg(test)]
mod tests;
