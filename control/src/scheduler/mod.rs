//! The scheduler: places Pods that name no node (and `default-scheduler`) on a Node, as
//! kube-scheduler does, through the API like any client (`pods/binding`, `pods/status`), so
//! it works against our API or a real kube-apiserver.
//!
//! - [`filter`]: whether a node may take a Pod (unschedulable, taints, node selector and
//!   affinity, resources) and the `0/N nodes are available: ...` message;
//! - [`pick`]: the choice among the nodes that fit (spreading, then least requested);
//! - [`usage`]: per-node requested totals kept from Pod events;
//! - `runner`: reflectors, the work queue and the one loop that writes.
//!
//! It never touches the store, never runs a task per Pod, and never copies the cluster's Pods
//! to decide for one.

pub mod filter;
pub mod pick;
mod prune;
mod runner;
pub mod usage;

pub use runner::wants_scheduling;

/// Starts the scheduler against `client`; it runs until the returned handle is aborted.
pub fn spawn(client: kube::Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(runner::run(client))
}
