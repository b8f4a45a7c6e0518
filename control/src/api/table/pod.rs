//! Pod rows: NAME READY STATUS RESTARTS AGE [IP NODE NOMINATED NODE READINESS GATES].

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{Column, col, none_if_empty};

pub(super) const COLUMNS: [Column; 7] = [
    col("Ready", 0, "Ready containers out of all containers."),
    col("Status", 0, "The pod's phase, or why it is not running."),
    col("Restarts", 0, "Container restarts."),
    col("IP", 1, "The pod's IP address."),
    col("Node", 1, "The node the pod is bound to."),
    col("Nominated Node", 1, "The node the pod is nominated to."),
    col(
        "Readiness Gates",
        1,
        "Readiness gates that are true, out of all.",
    ),
];

pub(super) fn cells(pod: &Pod) -> (Vec<Value>, Vec<Value>) {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let ready = statuses.iter().filter(|c| c.ready).count();
    let restarts: i64 = statuses.iter().map(|c| i64::from(c.restart_count)).sum();
    let mut reason = status
        .reason
        .clone()
        .or_else(|| status.phase.clone())
        .unwrap_or_else(|| "Pending".to_string());
    if let Some(waiting) = statuses
        .iter()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .next()
    {
        reason = waiting;
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = "Terminating".to_string();
    }
    let gates = spec.readiness_gates.clone().unwrap_or_default();
    let conditions = status.conditions.clone().unwrap_or_default();
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passed = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .any(|c| c.type_ == g.condition_type && c.status == "True")
            })
            .count();
        format!("{passed}/{}", gates.len())
    };
    (
        vec![
            Value::String(format!("{ready}/{}", spec.containers.len())),
            Value::String(reason),
            Value::from(restarts),
        ],
        vec![
            Value::String(none_if_empty(status.pod_ip.as_deref().unwrap_or_default())),
            Value::String(none_if_empty(spec.node_name.as_deref().unwrap_or_default())),
            Value::String(none_if_empty(
                status.nominated_node_name.as_deref().unwrap_or_default(),
            )),
            Value::String(gates_text),
        ],
    )
}
