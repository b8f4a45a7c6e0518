//! The Deployment's status as kube-controller-manager writes it, and what `kubectl rollout
//! status` reads: replica counts summed over the ReplicaSets, the `Available` condition
//! (`MinimumReplicasAvailable` / `MinimumReplicasUnavailable`) and the `Progressing` condition
//! (`NewReplicaSetCreated`, `FoundNewReplicaSet`, `ReplicaSetUpdated`, `NewReplicaSetAvailable`,
//! `DeploymentPaused`, `DeploymentResumed`, `ProgressDeadlineExceeded`) with upstream's
//! messages. Counts of zero are left out, as the API's Go types omit them. Pure functions; `now`
//! is passed in.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::rolling::max_unavailable;
use super::{desired_replicas, rs_available, rs_replicas};

/// The `Available` condition type.
pub const AVAILABLE: &str = "Available";
/// The `Progressing` condition type.
pub const PROGRESSING: &str = "Progressing";
/// Progressing: a new ReplicaSet was created.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing: the ReplicaSet of the current template was found.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing: the rollout made progress.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing: the rollout is complete.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing: no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing: `spec.paused` was set.
pub const PAUSED: &str = "DeploymentPaused";
/// Progressing: `spec.paused` was cleared.
pub const RESUMED: &str = "DeploymentResumed";

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// The current time at the precision the API keeps (whole seconds).
pub fn now_seconds() -> Time {
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// A condition of `status` by type.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// A condition of the Deployment's stored status by type.
pub fn deployment_condition<'a>(d: &'a Deployment, type_: &str) -> Option<&'a DeploymentCondition> {
    condition(d.status.as_ref()?, type_)
}

/// A new condition stamped with `now`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// Puts `c` into `status`: no change when a condition of its type has the same status and
/// reason; the transition time kept when only the reason or message changes.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(existing) = conditions.iter_mut().find(|e| e.type_ == c.type_) {
        if existing.status == c.status && existing.reason == c.reason {
            return;
        }
        if existing.status == c.status {
            c.last_transition_time = existing.last_transition_time.clone();
        }
        *existing = c;
    } else {
        conditions.push(c);
    }
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// Whether the Deployment has a progress deadline (`progressDeadlineSeconds` set).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

/// The status computed from the ReplicaSets (`all` includes `new`), with the `Available`
/// condition; the other conditions are carried over from the stored status.
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: &Time,
) -> DeploymentStatus {
    let actual = |rs: &ReplicaSet| count(rs.status.as_ref().map(|s| s.replicas));
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let stored = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation.filter(|g| *g != 0),
        replicas: nonzero(all.iter().map(|rs| actual(rs)).sum()),
        updated_replicas: nonzero(new.map(actual).unwrap_or(0)),
        ready_replicas: nonzero(
            all.iter()
                .map(|rs| count(rs.status.as_ref().and_then(|s| s.ready_replicas)))
                .sum(),
        ),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero((total - available).max(0)),
        collision_count: stored.collision_count,
        conditions: stored.conditions.clone(),
        terminating_replicas: stored.terminating_replicas,
    };
    let c = if available >= desired_replicas(d) - max_unavailable(d) {
        new_condition(
            AVAILABLE,
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_string(),
            now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_string(),
            now,
        )
    };
    set_condition(&mut status, c);
    status
}

/// Whether `status` shows the rollout finished: every replica updated and available, no old
/// ones left, the current generation observed.
pub fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = desired_replicas(d);
    count(status.updated_replicas) == desired
        && count(status.replicas) == desired
        && count(status.available_replicas) == desired
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over the Deployment's stored status: more updated, ready or
/// available replicas, or fewer old ones.
pub fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// When the progress deadline passes, counted from the Progressing condition's last update.
pub fn deadline(d: &Deployment, status: &DeploymentStatus) -> Option<jiff::Timestamp> {
    let seconds = d.spec.as_ref()?.progress_deadline_seconds?;
    let c = condition(status, PROGRESSING)?;
    let from = c.last_update_time.as_ref()?.0;
    from.checked_add(jiff::SignedDuration::from_secs(i64::from(seconds)))
        .ok()
}

/// Whether the rollout has made no progress within `progressDeadlineSeconds`.
pub fn is_timed_out(d: &Deployment, status: &DeploymentStatus, now: &Time) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    match condition(status, PROGRESSING) {
        None => false,
        Some(c) if c.reason.as_deref() == Some(NEW_RS_AVAILABLE) => false,
        Some(c) if c.reason.as_deref() == Some(TIMED_OUT) => true,
        Some(_) => deadline(d, status).is_some_and(|at| now.0 > at),
    }
}

/// The status a rollout step ends with: [`calculate`] plus the Progressing condition
/// (complete, progressing, or timed out).
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: &Time,
) -> DeploymentStatus {
    let mut status = calculate(d, all, new, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, PROGRESSING);
        return status;
    }
    let name = d.metadata.name.clone().unwrap_or_default();
    let subject = match new.and_then(|rs| rs.metadata.name.as_deref()) {
        Some(rs) => format!("ReplicaSet {rs:?}"),
        None => format!("Deployment {name:?}"),
    };
    let current = deployment_condition(d, PROGRESSING).cloned();
    let finished = count(status.replicas) == count(status.updated_replicas)
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if finished {
        return status;
    }
    if is_complete(d, &status) {
        let c = new_condition(
            PROGRESSING,
            "True",
            NEW_RS_AVAILABLE,
            format!("{subject} has successfully progressed."),
            now,
        );
        set_condition(&mut status, c);
    } else if is_progressing(d, &status) {
        let mut c = new_condition(
            PROGRESSING,
            "True",
            RS_UPDATED,
            format!("{subject} is progressing."),
            now,
        );
        // Every field but the transition time moves on (the update time is the deadline's base).
        if let Some(current) = &current {
            if current.status == "True" {
                c.last_transition_time = current.last_transition_time.clone();
            }
            remove_condition(&mut status, PROGRESSING);
        }
        set_condition(&mut status, c);
    } else if is_timed_out(d, &status, now) {
        let c = new_condition(
            PROGRESSING,
            "False",
            TIMED_OUT,
            format!("{subject} has timed out progressing."),
            now,
        );
        set_condition(&mut status, c);
    }
    status
}

/// The Progressing condition `spec.paused` calls for, when the stored one is not it yet:
/// `DeploymentPaused` when paused, `DeploymentResumed` when a paused Deployment is resumed
/// (a reported timeout stays).
pub fn pause_condition(d: &Deployment, now: &Time) -> Option<DeploymentCondition> {
    if !has_progress_deadline(d) {
        return None;
    }
    let current = deployment_condition(d, PROGRESSING);
    let reason = current.and_then(|c| c.reason.as_deref());
    if reason == Some(TIMED_OUT) {
        return None;
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    match (paused, reason == Some(PAUSED)) {
        (true, false) => Some(new_condition(
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused".to_string(),
            now,
        )),
        (false, true) => Some(new_condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed".to_string(),
            now,
        )),
        _ => None,
    }
}

/// When the Deployment should be looked at again for its progress deadline: the deadline of
/// a rollout still progressing, `None` when complete, timed out, or without a deadline.
pub fn recheck_at(d: &Deployment, status: &DeploymentStatus) -> Option<jiff::Timestamp> {
    if !has_progress_deadline(d) || is_complete(d, status) {
        return None;
    }
    let c = condition(status, PROGRESSING)?;
    if c.status != "True" || c.reason.as_deref() == Some(NEW_RS_AVAILABLE) {
        return None;
    }
    deadline(d, status)
}
