//! What one sync of an owner does, decided from the owner and the cached Pods of its
//! namespace: which active Pods it controls, adopts (orphans its selector matches) and releases
//! (Pods it controls that no longer match), then how many Pods to create or which to delete.
//! Pure functions; the runner carries the plan out.

use k8s_openapi::api::core::v1::Pod;

use super::owner::{Owner, controller_of};
use super::rank::deletion_order;

/// The most Pods one sync creates or deletes (kube-controller-manager's `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The size of the first batch of creates; each next batch is twice the one before.
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// Whether `pod` counts: not Succeeded or Failed, and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// How an owner stands to the active Pods of its namespace.
#[derive(Debug, Default)]
pub struct Claim<'a> {
    /// Pods it controls whose labels it selects.
    pub owned: Vec<&'a Pod>,
    /// Orphans it selects, to take over.
    pub adopt: Vec<&'a Pod>,
    /// Pods it controls whose labels it no longer selects, to let go.
    pub release: Vec<&'a Pod>,
}

/// Sorts the active Pods among `pods` by how `owner` stands to them, as upstream's
/// `ClaimPods`: Pods controlled by another controller are left alone; an owner being deleted
/// neither adopts nor releases; a Pod being deleted is never adopted.
pub fn claim<'a>(owner: &Owner, pods: &[&'a Pod]) -> Claim<'a> {
    let mut claim = Claim::default();
    for &pod in pods.iter().filter(|p| is_active(p)) {
        let selected = owner.selects(pod.metadata.labels.as_ref());
        match controller_of(pod) {
            Some(r) if r.uid == owner.uid => {
                if selected {
                    claim.owned.push(pod);
                } else if !owner.deleting {
                    claim.release.push(pod);
                }
            }
            Some(_) => {}
            None => {
                if selected && !owner.deleting {
                    claim.adopt.push(pod);
                }
            }
        }
    }
    claim
}

/// What to do about the number of Pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scale {
    /// The count is right.
    Keep,
    /// Create this many Pods (at most [`BURST_REPLICAS`]).
    Create(usize),
    /// Delete these Pods, by name (at most [`BURST_REPLICAS`]), in deletion order.
    Delete(Vec<String>),
}

/// Compares the Pods `owner` controls with `spec.replicas`.
pub fn scale(owner: &Owner, owned: &[&Pod]) -> Scale {
    let want = usize::try_from(owner.replicas).unwrap_or(0);
    let have = owned.len();
    if have < want {
        return Scale::Create((want - have).min(BURST_REPLICAS));
    }
    if have > want {
        let excess = (have - want).min(BURST_REPLICAS);
        return Scale::Delete(
            deletion_order(owned)
                .into_iter()
                .take(excess)
                .filter_map(|p| p.metadata.name.clone())
                .collect(),
        );
    }
    Scale::Keep
}

/// The batch sizes in which `count` creates are made: 1, 2, 4, ... and the remainder; the
/// runner stops after the first batch with a failure, so a failing create (a quota, a
/// rejected template) costs a few calls, not `count`.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = SLOW_START_INITIAL_BATCH.min(remaining);
    while size > 0 {
        batches.push(size);
        remaining -= size;
        size = (size * 2).min(remaining);
    }
    batches
}

#[cfg(test)]
mod tests;
