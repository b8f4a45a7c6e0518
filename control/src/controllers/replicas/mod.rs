//! The ReplicationController and ReplicaSet controller, one controller for both kinds (they
//! differ only in the type of their selector), as kube-controller-manager's ReplicaSet
//! controller behaves: it keeps `spec.replicas` active Pods from `spec.template`, adopts
//! matching orphans, releases Pods that stopped matching, and reports counts and the
//! `ReplicaFailure` condition through the status subresource.
//!
//! - [`owner`]: the two kinds seen as one [`owner::Owner`] (key, uid, replicas, selector,
//!   template) and the ownerReference a controlled Pod carries;
//! - [`plan`]: pure decisions: which Pods it owns, adopts or releases, how many to create
//!   (slow-start batches, at most [`plan::BURST_REPLICAS`] a sync), which to delete;
//! - [`rank`]: the order in which excess Pods are deleted;
//! - [`status`]: the status a set of Pods gives, and whether it differs from the stored one;
//! - [`template`]: the Pod made from an owner's template;
//! - [`expectations`]: the creates and deletes a sync made that the Pod cache does not show yet;
//! - `index`, `prune`, `runner`: the caches, the event handlers and the loop that writes.
//!
//! It acts only through `kube` clients, so it works against our API or a real kube-apiserver;
//! it never touches the store. Pods of a deleted owner are the garbage collector's, not its.

pub mod expectations;
mod index;
pub mod owner;
pub mod plan;
mod prune;
pub mod rank;
mod runner;
pub mod status;
pub mod template;

pub(super) use runner::run;

/// Why one sync of an owner failed; the owner is synced again after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The owner object cannot be acted on (no uid, an invalid selector).
    #[error("{owner}: {reason}")]
    Owner {
        /// `kind namespace/name`.
        owner: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write through the API failed.
    #[error("{verb} {what}: {source}")]
    Write {
        /// `create`, `delete`, `adopt`, `release`, `update status of`.
        verb: &'static str,
        /// The object written, `kind namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

impl SyncError {
    /// Whether the failure was an optimistic-concurrency conflict (the cache will catch up).
    pub fn is_conflict(&self) -> bool {
        matches!(self, SyncError::Write { source, .. } if cluster_watch::status_code(source) == Some(409))
    }
}
