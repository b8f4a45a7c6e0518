//! Turns cluster snapshots into [`ServiceTable`] snapshots for the data paths: one task folds
//! each new `ClusterState` into a new `Arc<ServiceTable>`, published only when it changed.

use std::sync::Arc;

use cluster_watch::ClusterState;
use tokio::sync::watch;

use crate::model::{NodeContext, ServiceTable};

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

/// Spawns the task that rebuilds the table on every cluster change, and returns its receiver.
/// The task ends when `clusters` closes or every receiver is dropped.
pub fn spawn_table(
    mut clusters: watch::Receiver<Arc<ClusterState>>,
    node: NodeContext,
) -> watch::Receiver<TableSnapshot> {
    let (tx, rx) = watch::channel(TableSnapshot::default());
    tokio::spawn(async move {
        loop {
            let state = clusters.borrow_and_update().clone();
            let table = ServiceTable::build(&state, &node);
            let changed = {
                let current = tx.borrow();
                *current.table != table || current.synced != state.synced
            };
            if changed {
                let snapshot = TableSnapshot {
                    table: Arc::new(table),
                    synced: state.synced,
                    last_event_at: state.last_event_at,
                };
                if tx.send(snapshot).is_err() {
                    return;
                }
            }
            if clusters.changed().await.is_err() {
                return;
            }
        }
    });
    rx
}
