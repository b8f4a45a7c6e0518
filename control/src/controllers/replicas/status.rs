//! The status an owner's Pods give it, as kube-controller-manager computes it: `replicas`
//! (active Pods it controls), `fullyLabeledReplicas` (those carrying every template label),
//! `readyReplicas`, `availableReplicas` (Ready for longer than `minReadySeconds`),
//! `observedGeneration`, and the `ReplicaFailure` condition while creating or deleting Pods
//! fails. Pure functions; the runner writes the result only when it differs from the stored
//! status.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Pod, ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::owner::Owner;

/// The condition type set while Pods cannot be created or deleted.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The part of an RC's or RS's status this controller owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// `status.replicas`.
    pub replicas: i32,
    /// `status.fullyLabeledReplicas`.
    pub fully_labeled_replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// The `ReplicaFailure` condition, when present.
    pub failure: Option<Failure>,
}

/// The `ReplicaFailure` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `True` when set by this controller.
    pub status: String,
    /// `FailedCreate` or `FailedDelete`.
    pub reason: String,
    /// The API's message for the failed write.
    pub message: String,
    /// `lastTransitionTime`.
    pub since: Option<Timestamp>,
}

/// A failed create or delete of one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageError {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    /// The API's message.
    pub message: String,
}

fn failure_of(
    type_: &str,
    status: &str,
    reason: Option<&String>,
    message: Option<&String>,
    since: Option<&Time>,
) -> Option<Failure> {
    (type_ == REPLICA_FAILURE).then(|| Failure {
        status: status.to_string(),
        reason: reason.cloned().unwrap_or_default(),
        message: message.cloned().unwrap_or_default(),
        since: since.map(|t| t.0),
    })
}

impl ReplicaStatus {
    /// The stored status of a ReplicationController.
    pub fn of_rc(status: Option<&ReplicationControllerStatus>) -> ReplicaStatus {
        let Some(s) = status else {
            return ReplicaStatus::default();
        };
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or_default(),
            ready_replicas: s.ready_replicas.unwrap_or_default(),
            available_replicas: s.available_replicas.unwrap_or_default(),
            observed_generation: s.observed_generation.unwrap_or_default(),
            failure: s.conditions.iter().flatten().find_map(|c| {
                failure_of(
                    &c.type_,
                    &c.status,
                    c.reason.as_ref(),
                    c.message.as_ref(),
                    c.last_transition_time.as_ref(),
                )
            }),
        }
    }

    /// The stored status of a ReplicaSet.
    pub fn of_rs(status: Option<&ReplicaSetStatus>) -> ReplicaStatus {
        let Some(s) = status else {
            return ReplicaStatus::default();
        };
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or_default(),
            ready_replicas: s.ready_replicas.unwrap_or_default(),
            available_replicas: s.available_replicas.unwrap_or_default(),
            observed_generation: s.observed_generation.unwrap_or_default(),
            failure: s.conditions.iter().flatten().find_map(|c| {
                failure_of(
                    &c.type_,
                    &c.status,
                    c.reason.as_ref(),
                    c.message.as_ref(),
                    c.last_transition_time.as_ref(),
                )
            }),
        }
    }
}

/// When `pod` became Ready, if it is Ready: `Some(None)` when Ready without a transition time.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether `pod` has been Ready for longer than `min_ready_seconds` at `now` (a Pod Ready
/// without a transition time counts only when `min_ready_seconds` is 0).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since
            .checked_add(jiff::SignedDuration::from_secs(i64::from(
                min_ready_seconds,
            )))
            .is_ok_and(|at| at < now),
    }
}

/// Whether `pod` carries every label of `owner`'s template with the template's value.
fn fully_labeled(owner: &Owner, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    owner
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn count(pods: &[&Pod], f: impl Fn(&Pod) -> bool) -> i32 {
    i32::try_from(pods.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
}

/// The status `owner` should show for the active Pods it controls, `pods`, after a sync whose
/// create or delete failed with `error` (if any). An existing `ReplicaFailure` condition is
/// kept as it is while failures go on, and removed after a sync without one.
pub fn desired(
    owner: &Owner,
    pods: &[&Pod],
    error: Option<&ManageError>,
    now: Timestamp,
) -> ReplicaStatus {
    let failure = match (error, &owner.status.failure) {
        (None, _) => None,
        (Some(_), Some(old)) => Some(old.clone()),
        (Some(e), None) => Some(Failure {
            status: "True".to_string(),
            reason: e.reason.to_string(),
            message: e.message.clone(),
            since: Some(now),
        }),
    };
    ReplicaStatus {
        replicas: count(pods, |_| true),
        fully_labeled_replicas: count(pods, |p| fully_labeled(owner, p)),
        ready_replicas: count(pods, |p| ready_since(p).is_some()),
        available_replicas: count(pods, |p| is_available(p, owner.min_ready_seconds, now)),
        observed_generation: owner.generation,
        failure,
    }
}

/// How long until the first of `pods` that is Ready but not yet available becomes available,
/// so the owner is synced again then (none when no Pod is waiting for `minReadySeconds`).
pub fn next_availability(owner: &Owner, pods: &[&Pod], now: Timestamp) -> Option<Duration> {
    if owner.min_ready_seconds <= 0 {
        return None;
    }
    let wait = jiff::SignedDuration::from_secs(i64::from(owner.min_ready_seconds));
    pods.iter()
        .filter_map(|p| ready_since(p).flatten())
        .filter_map(|since| since.checked_add(wait).ok())
        .filter(|at| *at >= now)
        .map(|at| at.duration_since(now))
        .min()
        .and_then(|d| Duration::try_from(d).ok())
        .map(|d| d + Duration::from_secs(1))
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// `status` written into a ReplicationController, other conditions kept.
pub fn write_rc(rc: &mut ReplicationController, status: &ReplicaStatus) {
    let old = rc.status.take().unwrap_or_default();
    let mut conditions: Vec<ReplicationControllerCondition> = old
        .conditions
        .into_iter()
        .flatten()
        .filter(|c| c.type_ != REPLICA_FAILURE)
        .collect();
    if let Some(f) = &status.failure {
        conditions.push(ReplicationControllerCondition {
            type_: REPLICA_FAILURE.to_string(),
            status: f.status.clone(),
            reason: Some(f.reason.clone()),
            message: Some(f.message.clone()),
            last_transition_time: f.since.map(Time),
        });
    }
    rc.status = Some(ReplicationControllerStatus {
        replicas: status.replicas,
        fully_labeled_replicas: nonzero(status.fully_labeled_replicas),
        ready_replicas: nonzero(status.ready_replicas),
        available_replicas: nonzero(status.available_replicas),
        observed_generation: Some(status.observed_generation),
        conditions: (!conditions.is_empty()).then_some(conditions),
    });
}

/// `status` written into a ReplicaSet, other conditions kept.
pub fn write_rs(rs: &mut ReplicaSet, status: &ReplicaStatus) {
    let old = rs.status.take().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .into_iter()
        .flatten()
        .filter(|c| c.type_ != REPLICA_FAILURE)
        .collect();
    if let Some(f) = &status.failure {
        conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.to_string(),
            status: f.status.clone(),
            reason: Some(f.reason.clone()),
            message: Some(f.message.clone()),
            last_transition_time: f.since.map(Time),
        });
    }
    rs.status = Some(ReplicaSetStatus {
        replicas: status.replicas,
        fully_labeled_replicas: nonzero(status.fully_labeled_replicas),
        ready_replicas: nonzero(status.ready_replicas),
        available_replicas: nonzero(status.available_replicas),
        observed_generation: Some(status.observed_generation),
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: old.terminating_replicas,
    });
}
