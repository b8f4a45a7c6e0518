//! Turns cluster snapshots into [`ServiceTable`] snapshots for the data paths: one task follows
//! the cluster channel and folds the newest `ClusterState` into the table with a
//! [`TableBuilder`] (only the Services that changed are rebuilt), publishing a new
//! [`TableSnapshot`] only when the table or its `synced` flag changed.
//!
//! The folding runs on tokio's blocking pool, never on the async threads. Snapshots that arrive
//! while a fold runs are coalesced: the next fold takes only the newest. The task ends when the
//! cluster channel closes or every table receiver is gone.

use std::sync::Arc;

use cluster_watch::ClusterState;
use tokio::sync::watch;

use crate::model::{NodeContext, ServiceTable, TableBuilder, TableUpdate};

/// A service table plus the facts a data path needs about how current it is.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    /// The table.
    pub table: Arc<ServiceTable>,
    /// Whether the cluster view behind it completed its first full list.
    pub synced: bool,
    /// When the newest event behind this table arrived (for sync-latency metrics).
    pub last_event_at: Option<std::time::Instant>,
}

/// Spawns the task that keeps the table current with `clusters`, and returns its receiver.
/// The task ends when `clusters` closes or every receiver is dropped.
pub fn spawn_table(
    clusters: watch::Receiver<Arc<ClusterState>>,
    node: NodeContext,
) -> watch::Receiver<TableSnapshot> {
    let mut builder = TableBuilder::new(node);
    spawn_folder(clusters, move |state| builder.update(state))
}

/// Spawns the task that runs `fold` on the blocking pool for the newest snapshot of
/// `clusters`, one fold at a time, and publishes the tables it reports changed.
fn spawn_folder<F>(
    mut clusters: watch::Receiver<Arc<ClusterState>>,
    fold: F,
) -> watch::Receiver<TableSnapshot>
where
    F: FnMut(Arc<ClusterState>) -> TableUpdate + Send + 'static,
{
    let (tx, rx) = watch::channel(TableSnapshot::default());
    tokio::spawn(async move {
        let mut fold = Some(fold);
        loop {
            let state = clusters.borrow_and_update().clone();
            let Some(mut current) = fold.take() else {
                return;
            };
            let input = state.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let update = current(input);
                (current, update)
            })
            .await;
            let Ok((current, update)) = joined else {
                tracing::error!("building the service table panicked; the table stops updating");
                return;
            };
            fold = Some(current);
            let publish = update.changed || tx.borrow().synced != state.synced;
            if publish {
                let snapshot = TableSnapshot {
                    table: update.table,
                    synced: state.synced,
                    last_event_at: state.last_event_at,
                };
                if tx.send(snapshot).is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = clusters.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests;
