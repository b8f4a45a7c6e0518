//! Scaling a Deployment without a new rollout step: whether `spec.replicas` changed since the
//! ReplicaSets were last sized (their `desired-replicas` annotation), and the sizes each
//! ReplicaSet gets. With one active ReplicaSet it simply takes `spec.replicas`; during a rolling
//! update the change is shared among the active ReplicaSets in proportion to their sizes
//! (proportional scaling), the remainder going to the largest. Pure functions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::revision::{desired_annotation, max_annotation};
use super::rolling::{is_rolling, is_saturated, max_surge};
use super::{desired_replicas, rs_replicas};

/// Whether the Deployment's replicas differ from what an active ReplicaSet was sized for.
pub fn is_scaling_event(d: &Deployment, sets: &[&ReplicaSet]) -> bool {
    let desired = desired_replicas(d);
    sets.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .filter_map(|rs| desired_annotation(rs))
        .any(|annotated| annotated != desired)
}

fn created(rs: &ReplicaSet) -> (Option<jiff::Timestamp>, Option<&str>) {
    (
        rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
        rs.metadata.name.as_deref(),
    )
}

/// The one ReplicaSet that takes all replicas: the only active one, or the newest when none
/// is active (`None` when several are active, or there are none).
fn active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    olds: &[&'a ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut all: Vec<&ReplicaSet> = olds.to_vec();
    all.sort_by(|a, b| created(b).cmp(&created(a)));
    let active: Vec<&ReplicaSet> = new
        .into_iter()
        .chain(all.iter().copied())
        .filter(|rs| rs_replicas(rs) > 0)
        .collect();
    match active.as_slice() {
        [] => new.or_else(|| all.first().copied()),
        [one] => Some(one),
        _ => None,
    }
}

/// How much a ReplicaSet should grow (or shrink) for the Deployment's new size, from the size
/// it had when the Deployment last had `max-replicas` Pods at most.
fn fraction(d: &Deployment, rs: &ReplicaSet) -> i32 {
    let desired = desired_replicas(d);
    let current = rs_replicas(rs);
    if desired == 0 {
        return -current;
    }
    let max_now = desired.saturating_add(max_surge(d));
    let before = match max_annotation(rs) {
        Some(n) if n != 0 => n,
        _ => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
    };
    if before == 0 {
        return 0;
    }
    let scaled = f64::from(current) * f64::from(max_now) / f64::from(before);
    // Rounded half away from zero, then bounded (the cast saturates).
    (scaled.round() as i32).saturating_sub(current)
}

fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let share = fraction(d, rs);
    let allowed = to_add - added;
    if to_add > 0 {
        share.min(allowed)
    } else {
        share.max(allowed)
    }
}

/// The sizes (by ReplicaSet name) the Deployment's ReplicaSets should have after a scaling
/// event; ReplicaSets absent from the map keep their size. `new` is the ReplicaSet of the
/// current template, `olds` the others.
pub fn scaled_sizes(
    d: &Deployment,
    new: Option<&ReplicaSet>,
    olds: &[&ReplicaSet],
) -> BTreeMap<String, i32> {
    let desired = desired_replicas(d);
    let name = |rs: &ReplicaSet| rs.metadata.name.clone().unwrap_or_default();
    let mut sizes = BTreeMap::new();
    if let Some(only) = active_or_latest(new, olds) {
        if rs_replicas(only) != desired {
            sizes.insert(name(only), desired);
        }
        return sizes;
    }
    if is_saturated(d, new) {
        for rs in olds.iter().filter(|rs| rs_replicas(rs) > 0) {
            sizes.insert(name(rs), 0);
        }
        return sizes;
    }
    if !is_rolling(d) {
        return sizes;
    }
    let mut active: Vec<&ReplicaSet> = olds
        .iter()
        .copied()
        .chain(new)
        .filter(|rs| rs_replicas(rs) > 0)
        .collect();
    let total: i32 = active.iter().map(|rs| rs_replicas(rs)).sum();
    let allowed = if desired > 0 {
        desired.saturating_add(max_surge(d))
    } else {
        0
    };
    let to_add = allowed - total;
    // Larger first; equal sizes: newer first when growing, older first when shrinking.
    active.sort_by(|a, b| {
        rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| {
            if to_add > 0 {
                created(b).cmp(&created(a))
            } else {
                created(a).cmp(&created(b))
            }
        })
    });
    let mut added = 0;
    let mut planned: Vec<(String, i32)> = Vec::with_capacity(active.len());
    for rs in &active {
        let step = if to_add != 0 {
            proportion(d, rs, to_add, added)
        } else {
            0
        };
        added += step;
        planned.push((name(rs), rs_replicas(rs) + step));
    }
    if let Some(first) = planned.first_mut()
        && to_add != 0
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes.extend(planned);
    sizes
}
