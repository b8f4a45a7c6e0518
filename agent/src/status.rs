//! The Pod status the agent wants, and the patch that gets a Pod there. Pure: no I/O.
//!
//! Rules (kubelet's status manager, for what this agent knows):
//! - A container has started when it has no `startupProbe`, or once that probe passed.
//! - A container is ready when it has started and either has no `readinessProbe` (kubelet
//!   treats a running container without one as ready, and every container of a Pod this agent
//!   probes counts as running) or its readiness probe's published result is Success.
//! - `ContainersReady` is True when every container is ready; `Ready` is the same (this agent
//!   does not evaluate readiness gates). False carries reason `ContainersNotReady` and the
//!   message `containers with unready status: [a b]`.
//! - `lastTransitionTime` changes only when a condition's status flips; phase is `Running`.
//! - Probes that cannot run here (exec) show in the condition `ProbesSupported`
//!   (False, reason `UnsupportedProbe`); once none is left it turns True.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStatus, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

/// The condition type naming probes the agent cannot run.
pub(crate) const PROBES_SUPPORTED: &str = "ProbesSupported";

/// What the agent knows of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerView {
    /// The container's name.
    pub name: String,
    /// Started: no startup probe, or it passed.
    pub started: bool,
    /// Ready: started, and no readiness probe or it passes.
    pub ready: bool,
}

/// The readiness the agent wants one Pod to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredStatus {
    /// The Pod's uid (a Pod recreated under the same name is another Pod).
    pub uid: String,
    /// Per container, in spec order.
    pub containers: Vec<ContainerView>,
    /// One line per probe that cannot run here.
    pub unsupported: Vec<String>,
}

impl DesiredStatus {
    fn unready(&self) -> Vec<&str> {
        self.containers
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The conditions this status sets, as (type, status, reason, message).
    fn conditions(&self, pod: &Pod) -> Vec<(&'static str, bool, Option<String>, Option<String>)> {
        let unready = self.unready();
        let (reason, message) = if unready.is_empty() {
            (None, None)
        } else {
            (
                Some("ContainersNotReady".to_string()),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let ready = unready.is_empty();
        let mut out = vec![
            ("ContainersReady", ready, reason.clone(), message.clone()),
            ("Ready", ready, reason, message),
        ];
        let had = conditions(pod).iter().any(|c| c.type_ == PROBES_SUPPORTED);
        if !self.unsupported.is_empty() {
            out.push((
                PROBES_SUPPORTED,
                false,
                Some("UnsupportedProbe".to_string()),
                Some(self.unsupported.join("; ")),
            ));
        } else if had {
            out.push((PROBES_SUPPORTED, true, None, None));
        }
        out
    }
}

fn conditions(pod: &Pod) -> &[PodCondition] {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

fn container_statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
}

fn status_word(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Whether `pod` already shows `desired` (phase, conditions, containers' ready and started).
pub(crate) fn shows(pod: &Pod, desired: &DesiredStatus) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase != Some("Running") {
        return false;
    }
    let existing = conditions(pod);
    let conditions_match = desired
        .conditions(pod)
        .iter()
        .all(|(kind, value, reason, message)| {
            existing.iter().any(|c| {
                c.type_ == *kind
                    && c.status == status_word(*value)
                    && c.reason == *reason
                    && c.message == *message
            })
        });
    let statuses = container_statuses(pod);
    conditions_match
        && desired.containers.iter().all(|want| {
            statuses.iter().any(|s| {
                s.name == want.name && s.ready == want.ready && s.started == Some(want.started)
            })
        })
}

/// The strategic-merge patch of `pods/status` that makes `pod` show `desired`, or `None`
/// when it already does. `now` stamps conditions whose status flips.
pub(crate) fn patch(pod: &Pod, desired: &DesiredStatus, now: jiff::Timestamp) -> Option<Value> {
    if shows(pod, desired) {
        return None;
    }
    let existing = conditions(pod);
    let conditions: Vec<PodCondition> = desired
        .conditions(pod)
        .into_iter()
        .map(|(kind, value, reason, message)| {
            let status = status_word(value).to_string();
            let previous = existing.iter().find(|c| c.type_ == kind);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => Some(Time(now)),
            };
            PodCondition {
                type_: kind.to_string(),
                status,
                reason,
                message,
                last_transition_time,
                ..PodCondition::default()
            }
        })
        .collect();
    let started_at = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.clone())
        .unwrap_or(Time(now));
    let images = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let old = container_statuses(pod);
    let statuses: Vec<ContainerStatus> = desired
        .containers
        .iter()
        .map(|want| {
            let mut status = old
                .iter()
                .find(|s| s.name == want.name)
                .cloned()
                .unwrap_or_else(|| ContainerStatus {
                    name: want.name.clone(),
                    image: images
                        .iter()
                        .find(|c| c.name == want.name)
                        .and_then(|c| c.image.clone())
                        .unwrap_or_default(),
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(started_at.clone()),
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                });
            status.ready = want.ready;
            status.started = Some(want.started);
            status
        })
        .collect();
    Some(json!({
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "containerStatuses": statuses,
        }
    }))
}

/// The Pod a status should be compared with: `written` (what our last patch returned) while
/// `snapshot` still has the resourceVersion that patch was based on, `snapshot` otherwise.
pub(crate) fn newest<'a>(
    snapshot: &'a Arc<Pod>,
    written: Option<&'a (String, Arc<Pod>)>,
) -> &'a Arc<Pod> {
    match written {
        Some((base, result)) if snapshot.metadata.resource_version.as_ref() == Some(base) => result,
        _ => snapshot,
    }
}

#[cfg(test)]
mod tests;
