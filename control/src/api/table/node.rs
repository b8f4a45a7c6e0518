//! Node rows: NAME STATUS ROLES AGE VERSION [INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
//! CONTAINER-RUNTIME].

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use super::{Column, col, none_if_empty};

pub(super) const COLUMNS: [Column; 8] = [
    col("Status", 0, "Whether the node is Ready."),
    col("Roles", 0, "Roles from node-role.kubernetes.io/ labels."),
    col("Version", 0, "The kubelet version the node reports."),
    col("Internal-IP", 1, "The node's InternalIP address."),
    col("External-IP", 1, "The node's ExternalIP address."),
    col("OS-Image", 1, "The node's OS image."),
    col("Kernel-Version", 1, "The node's kernel version."),
    col("Container-Runtime", 1, "The node's container runtime."),
];

/// AGE's place among the leading columns: after STATUS and ROLES, before VERSION.
pub(super) const AGE_AT: usize = 2;

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";

pub(super) fn cells(node: &Node) -> (Vec<Value>, Vec<Value>) {
    let status = node.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| match c.status.as_str() {
            "True" => "Ready",
            "False" => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    let mut state = ready.to_string();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        state.push_str(",SchedulingDisabled");
    }
    let roles: Vec<String> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix(ROLE_PREFIX))
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    let address = |kind: &str| {
        status
            .addresses
            .iter()
            .flatten()
            .find(|a| a.type_ == kind)
            .map(|a| a.address.clone())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = status.node_info.clone().unwrap_or_default();
    (
        vec![
            Value::String(state),
            Value::String(none_if_empty(&roles.join(","))),
            Value::String(info.kubelet_version.clone()),
        ],
        vec![
            Value::String(address("InternalIP")),
            Value::String(address("ExternalIP")),
            Value::String(none_if_empty(&info.os_image)),
            Value::String(none_if_empty(&info.kernel_version)),
            Value::String(none_if_empty(&info.container_runtime_version)),
        ],
    )
}
