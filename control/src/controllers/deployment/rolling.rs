//! The arithmetic of a rolling update, as kube-controller-manager does it: `maxSurge` and
//! `maxUnavailable` resolved against `spec.replicas` (percentages rounded up for the surge and
//! down for unavailability; both zero means one may be unavailable), how far the new
//! ReplicaSet may grow, and how far the old ones may shrink while enough Pods stay available.
//! Pure functions over the objects; the caller writes the results.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{desired_replicas, rs_available, rs_replicas};

/// Whether the Deployment rolls (`RollingUpdate`, the default) rather than recreates.
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// An int-or-percent value scaled against `total`; a percentage is rounded up or down as
/// asked. A malformed value counts as 0 (admission refuses those).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let Some(percent) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let product = percent * i64::from(total);
            let value = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
    }
}

/// The Deployment's rolling-update parameters, defaulted to 25% each.
fn parameters(d: &Deployment) -> (IntOrString, IntOrString) {
    let quarter = || IntOrString::String("25%".to_string());
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    (
        rolling
            .and_then(|r| r.max_surge.clone())
            .unwrap_or_else(quarter),
        rolling
            .and_then(|r| r.max_unavailable.clone())
            .unwrap_or_else(quarter),
    )
}

/// `(maxSurge, maxUnavailable)` as numbers of Pods for `desired` replicas: the surge rounded
/// up, unavailability down, and unavailability 1 when both come out 0.
pub fn resolve_fenceposts(
    surge: &IntOrString,
    unavailable: &IntOrString,
    desired: i32,
) -> (i32, i32) {
    let surge = scaled_value(surge, desired, true);
    let unavailable = scaled_value(unavailable, desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// How many Pods above `spec.replicas` a rolling Deployment may run (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    let (surge, unavailable) = parameters(d);
    resolve_fenceposts(&surge, &unavailable, desired_replicas(d)).0
}

/// How many of `spec.replicas` may be unavailable during a rolling update (0 for Recreate or
/// no replicas; never more than `spec.replicas`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = desired_replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    let (surge, unavailable) = parameters(d);
    resolve_fenceposts(&surge, &unavailable, desired)
        .1
        .min(desired)
}

/// The size the new ReplicaSet should have now: for a rolling update, grown towards
/// `spec.replicas` as far as `replicas + maxSurge` Pods in all ReplicaSets allow (`all`
/// includes `new`); for Recreate, `spec.replicas`.
pub fn new_rs_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let desired = desired_replicas(d);
    let current_new = rs_replicas(new);
    if !is_rolling(d) {
        return desired;
    }
    let max_total = desired.saturating_add(max_surge(d));
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    if current >= max_total {
        return current_new;
    }
    let up = (max_total - current).min(desired - current_new);
    current_new + up
}

/// The size the new ReplicaSet should be scaled to in this step of a rolling update, or `None`
/// when it already has `spec.replicas`.
pub fn new_rs_target(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> Option<i32> {
    let desired = desired_replicas(d);
    let current = rs_replicas(new);
    match current.cmp(&desired) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(desired),
        std::cmp::Ordering::Less => Some(new_rs_replicas(d, all, new)),
    }
}

/// The available Pods of a ReplicaSet that count towards the minimum: never more than its
/// `spec.replicas`, since Pods beyond it are about to go (a status written before a scale-down
/// would otherwise count them, and the next step would scale down too far).
fn counted_available(rs: &ReplicaSet) -> i32 {
    rs_available(rs).min(rs_replicas(rs))
}

/// The sizes the old ReplicaSets (`olds`, oldest first) should be scaled down to in this step
/// of a rolling update, in the same order: first the unavailable Pods of old ReplicaSets go
/// (they count for nothing), then available ones while `spec.replicas - maxUnavailable` Pods
/// stay available across all ReplicaSets.
pub fn old_rs_targets(d: &Deployment, new: Option<&ReplicaSet>, olds: &[&ReplicaSet]) -> Vec<i32> {
    let mut targets: Vec<i32> = olds.iter().map(|rs| rs_replicas(rs)).collect();
    let old_count: i32 = targets.iter().sum();
    if old_count == 0 {
        return targets;
    }
    let new_spec = new.map(rs_replicas).unwrap_or(0);
    let all_count = old_count + new_spec;
    let min_available = desired_replicas(d) - max_unavailable(d);
    let new_unavailable = new.map(|rs| new_spec - counted_available(rs)).unwrap_or(0);
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return targets;
    }
    // Unhealthy old Pods first: removing them costs no availability.
    let mut cleaned = 0;
    for (target, rs) in targets.iter_mut().zip(olds) {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = *target - counted_available(rs);
        if *target == 0 || unhealthy <= 0 {
            continue;
        }
        let down = unhealthy.min(max_scaled_down - cleaned);
        *target -= down;
        cleaned += down;
    }
    // Then available ones, as far as the minimum availability allows.
    let available: i32 = olds.iter().map(|rs| counted_available(rs)).sum::<i32>()
        + new.map(counted_available).unwrap_or(0);
    if available <= min_available {
        return targets;
    }
    let total = available - min_available;
    let mut scaled = 0;
    for target in &mut targets {
        if scaled >= total {
            break;
        }
        if *target == 0 {
            continue;
        }
        let down = (*target).min(total - scaled);
        *target -= down;
        scaled += down;
    }
    targets
}

/// Whether the ReplicaSet has all the Deployment's replicas, annotated as such, and available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let desired = desired_replicas(d);
    rs_replicas(rs) == desired
        && super::revision::desired_annotation(rs) == Some(desired)
        && rs_available(rs) == desired
}
