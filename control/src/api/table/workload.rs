//! Workload rows, with the columns kubectl prints:
//! ReplicationController and ReplicaSet `NAME DESIRED CURRENT READY AGE`, Deployment
//! `NAME READY UP-TO-DATE AVAILABLE AGE`, StatefulSet `NAME READY AGE`, DaemonSet
//! `NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE`; with `-o wide`
//! each adds `CONTAINERS IMAGES` (and `SELECTOR` where kubectl shows it).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use super::{Column, col, int, none_if_empty};

const DESIRED: Column = int("Desired", "The number of desired replicas.");
const CURRENT: Column = int("Current", "The number of actual replicas.");
const READY_COUNT: Column = int("Ready", "The number of ready replicas.");
pub(super) const CONTAINERS: Column =
    col("Containers", 1, "Names of each container in the template.");
pub(super) const IMAGES: Column = col(
    "Images",
    1,
    "Images referenced by each container in the template.",
);
pub(super) const SELECTOR: Column = col("Selector", 1, "Label selector for the Pods.");

/// ReplicationController and ReplicaSet columns.
pub(super) const REPLICA_COLUMNS: [Column; 6] =
    [DESIRED, CURRENT, READY_COUNT, CONTAINERS, IMAGES, SELECTOR];

/// Deployment columns.
pub(super) const DEPLOYMENT_COLUMNS: [Column; 6] = [
    col("Ready", 0, "Ready replicas of the desired replicas."),
    int("Up-to-date", "Replicas updated to the newest template."),
    int("Available", "Replicas available to serve."),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// StatefulSet columns.
pub(super) const STATEFUL_COLUMNS: [Column; 3] = [
    col("Ready", 0, "Ready replicas of the desired replicas."),
    CONTAINERS,
    IMAGES,
];

/// DaemonSet columns.
pub(super) const DAEMON_COLUMNS: [Column; 9] = [
    DESIRED,
    CURRENT,
    READY_COUNT,
    int("Up-to-date", "Pods updated to the newest template."),
    int("Available", "Pods available to serve."),
    col("Node Selector", 0, "The node selector of the Pods."),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// `CONTAINERS` and `IMAGES` cells of a pod template.
pub(super) fn template_cells(template: Option<&PodTemplateSpec>) -> Vec<Value> {
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or_default())
        .collect();
    vec![
        Value::String(none_if_empty(&names.join(","))),
        Value::String(none_if_empty(&images.join(","))),
    ]
}

/// A map selector as `a=b,c=d`.
fn map_selector(map: Option<&BTreeMap<String, String>>) -> String {
    let pairs: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    none_if_empty(&pairs.join(","))
}

/// A label selector as kubectl prints it: `a=b,c in (x,y),!d`.
pub(super) fn label_selector(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "<none>".to_string();
    };
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    none_if_empty(&parts.join(","))
}

fn count(n: Option<i32>) -> Value {
    json!(n.unwrap_or(0))
}

/// A ReplicationController's cells.
pub(super) fn rc_cells(rc: &ReplicationController) -> (Vec<Value>, Vec<Value>) {
    let spec = rc.spec.as_ref();
    let status = rc.status.as_ref();
    let main = vec![
        count(spec.and_then(|s| s.replicas)),
        count(status.map(|s| s.replicas)),
        count(status.and_then(|s| s.ready_replicas)),
    ];
    let mut wide = template_cells(spec.and_then(|s| s.template.as_ref()));
    wide.push(Value::String(map_selector(
        spec.and_then(|s| s.selector.as_ref()),
    )));
    (main, wide)
}

/// A ReplicaSet's cells.
pub(super) fn rs_cells(rs: &ReplicaSet) -> (Vec<Value>, Vec<Value>) {
    let spec = rs.spec.as_ref();
    let status = rs.status.as_ref();
    let main = vec![
        count(spec.and_then(|s| s.replicas)),
        count(status.map(|s| s.replicas)),
        count(status.and_then(|s| s.ready_replicas)),
    ];
    let mut wide = template_cells(spec.and_then(|s| s.template.as_ref()));
    wide.push(Value::String(label_selector(spec.map(|s| &s.selector))));
    (main, wide)
}

/// A Deployment's cells.
pub(super) fn deployment_cells(d: &Deployment) -> (Vec<Value>, Vec<Value>) {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(0);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let main = vec![
        Value::String(format!("{ready}/{desired}")),
        count(status.and_then(|s| s.updated_replicas)),
        count(status.and_then(|s| s.available_replicas)),
    ];
    let mut wide = template_cells(spec.map(|s| &s.template));
    wide.push(Value::String(label_selector(spec.map(|s| &s.selector))));
    (main, wide)
}

/// A StatefulSet's cells.
pub(super) fn stateful_cells(s: &StatefulSet) -> (Vec<Value>, Vec<Value>) {
    let spec = s.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(0);
    let ready = s
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let main = vec![Value::String(format!("{ready}/{desired}"))];
    (main, template_cells(spec.map(|s| &s.template)))
}

/// A DaemonSet's cells.
pub(super) fn daemon_cells(d: &DaemonSet) -> (Vec<Value>, Vec<Value>) {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    let template = spec.map(|s| &s.template);
    let node_selector = map_selector(
        template
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.node_selector.as_ref()),
    );
    let main = vec![
        json!(status.map(|s| s.desired_number_scheduled).unwrap_or(0)),
        json!(status.map(|s| s.current_number_scheduled).unwrap_or(0)),
        json!(status.map(|s| s.number_ready).unwrap_or(0)),
        count(status.and_then(|s| s.updated_number_scheduled)),
        count(status.and_then(|s| s.number_available)),
        Value::String(node_selector),
    ];
    let mut wide = template_cells(template);
    wide.push(Value::String(label_selector(spec.map(|s| &s.selector))));
    (main, wide)
}
