//! The garbage collector: deletes objects whose owners (`metadata.ownerReferences`) are all
//! gone, and carries out the two deletions that wait on dependents, as kube-controller-manager's
//! garbage collector does:
//!
//! - an owner marked with the `orphan` finalizer: its reference is removed from every
//!   dependent, then the finalizer (the dependents stay);
//! - an owner marked with `foregroundDeletion`: its dependents are deleted (in the foreground
//!   themselves when they have dependents), and the finalizer goes once no dependent with
//!   `blockOwnerDeletion` remains.
//!
//! [`graph`] keeps the owner → dependents graph by uid from a watch of every served kind, and
//! says which work an event calls for; [`decide`] holds the pure decisions;
//! [`runner`] watches, queues and writes. It acts only through `kube` clients (an owner is
//! judged gone only after a live GET, never from the cache alone), so it works against our API
//! or a real kube-apiserver.

mod absent;
mod decide;
mod graph;
mod runner;
mod writes;

#[cfg(test)]
mod tests;

pub(crate) use runner::run;

/// One unit of the collector's work, queued by uid (coalesced while queued).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Job {
    /// Check the owners of this object and delete it, or drop references, when owners are
    /// gone or waiting for their dependents.
    AttemptDelete(String),
    /// Remove this owner's reference from its dependents, then its `orphan` finalizer.
    Orphan(String),
    /// Delete this owner's dependents, then its `foregroundDeletion` finalizer.
    Foreground(String),
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::AttemptDelete(uid) => write!(f, "attempt-delete {uid}"),
            Job::Orphan(uid) => write!(f, "orphan-dependents {uid}"),
            Job::Foreground(uid) => write!(f, "delete-dependents {uid}"),
        }
    }
}

/// Why one job failed; it is retried after a backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GcError {
    /// An API call failed.
    #[error("{verb} {what}: {source}")]
    Api {
        /// The call: `get`, `delete`, `patch`.
        verb: &'static str,
        /// The object, as `Kind namespace/name`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}
