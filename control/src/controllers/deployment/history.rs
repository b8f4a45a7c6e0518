//! `spec.revisionHistoryLimit`: which old ReplicaSets go once there are more than the limit.
//! The oldest revisions go first, and only ReplicaSets that are fully scaled down (no
//! replicas wanted or reported, status caught up with the spec) and not already being deleted.
//! Pure.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::revision::revision_of;
use super::rs_replicas;

fn created(rs: &ReplicaSet) -> (Option<jiff::Timestamp>, Option<&str>) {
    (
        rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
        rs.metadata.name.as_deref(),
    )
}

/// Orders by revision, then creation time and name (for missing or equal revisions).
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    match (revision_of(a), revision_of(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => created(a).cmp(&created(b)),
    }
}

/// The names of the old ReplicaSets to delete under the Deployment's history limit.
pub fn to_delete(d: &Deployment, olds: &[&ReplicaSet]) -> Vec<String> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Vec::new();
    };
    let mut alive: Vec<&ReplicaSet> = olds
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    if excess == 0 {
        return Vec::new();
    }
    alive.sort_by(|a, b| by_revision(a, b));
    alive
        .into_iter()
        .take(excess)
        .filter(|rs| {
            let status = rs.status.as_ref();
            let reported = status.map(|s| s.replicas).unwrap_or(0);
            let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
            reported == 0 && rs_replicas(rs) == 0 && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}
