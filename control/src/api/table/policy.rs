//! Autoscaling and disruption rows, with kube-apiserver's columns: HorizontalPodAutoscaler
//! `NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE`, PodDisruptionBudget `NAME MIN
//! AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE`, ControllerRevision `NAME CONTROLLER
//! REVISION AGE`.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::{Column, col, int};

/// HorizontalPodAutoscaler columns.
pub(super) const HPA_COLUMNS: [Column; 5] = [
    col("Reference", 0, "The object the autoscaler scales."),
    col("Targets", 0, "Current and target values of the metrics."),
    col("MinPods", 0, "The lower limit of replicas."),
    int("MaxPods", "The upper limit of replicas."),
    int("Replicas", "Current replicas of the scaled object."),
];

/// PodDisruptionBudget columns.
pub(super) const PDB_COLUMNS: [Column; 3] = [
    col("Min Available", 0, "Pods that must stay available."),
    col("Max Unavailable", 0, "Pods that may be unavailable."),
    int("Allowed Disruptions", "Pod disruptions allowed now."),
];

/// ControllerRevision columns.
pub(super) const REVISION_COLUMNS: [Column; 2] = [
    col("Controller", 0, "The controller that owns the revision."),
    int("Revision", "The revision number."),
];

/// How many metrics TARGETS lists before `+ N more...`.
const SHOWN_METRICS: usize = 2;

fn quantity_or_unknown(value: Option<String>) -> String {
    value.unwrap_or_else(|| "<unknown>".to_string())
}

/// `<current>/<target>` of one target, as kubectl prints it (utilization as percent).
fn pair(target: &MetricTarget, current: Option<&MetricValueStatus>) -> String {
    if let Some(utilization) = target.average_utilization {
        let now = current
            .and_then(|c| c.average_utilization)
            .map(|u| format!("{u}%"));
        return format!("{}/{utilization}%", quantity_or_unknown(now));
    }
    if let Some(average) = &target.average_value {
        let now = current
            .and_then(|c| c.average_value.as_ref())
            .map(|q| q.0.clone());
        return format!("{}/{} (avg)", quantity_or_unknown(now), average.0);
    }
    let now = current.and_then(|c| c.value.as_ref()).map(|q| q.0.clone());
    let target = target
        .value
        .as_ref()
        .map(|q| q.0.clone())
        .unwrap_or_default();
    format!("{}/{target}", quantity_or_unknown(now))
}

/// One metric of TARGETS: `cpu: 40%/80%`, `<unknown>/500m (avg)`, ...
fn metric(spec: &MetricSpec, statuses: &[MetricStatus]) -> String {
    let status = statuses.iter().find(|s| s.type_ == spec.type_);
    match spec.type_.as_str() {
        "Resource" => spec.resource.as_ref().map_or_else(String::new, |r| {
            let current = status
                .and_then(|s| s.resource.as_ref())
                .filter(|c| c.name == r.name)
                .map(|c| &c.current);
            format!("{}: {}", r.name, pair(&r.target, current))
        }),
        "ContainerResource" => spec
            .container_resource
            .as_ref()
            .map_or_else(String::new, |r| {
                let current = status
                    .and_then(|s| s.container_resource.as_ref())
                    .filter(|c| c.name == r.name && c.container == r.container)
                    .map(|c| &c.current);
                format!("{}: {}", r.name, pair(&r.target, current))
            }),
        "Pods" => spec.pods.as_ref().map_or_else(String::new, |p| {
            pair(
                &p.target,
                status.and_then(|s| s.pods.as_ref()).map(|c| &c.current),
            )
        }),
        "Object" => spec.object.as_ref().map_or_else(String::new, |o| {
            pair(
                &o.target,
                status.and_then(|s| s.object.as_ref()).map(|c| &c.current),
            )
        }),
        "External" => spec.external.as_ref().map_or_else(String::new, |e| {
            pair(
                &e.target,
                status.and_then(|s| s.external.as_ref()).map(|c| &c.current),
            )
        }),
        other => format!("<unknown metric type {other}>"),
    }
}

/// A HorizontalPodAutoscaler's cells.
pub(super) fn hpa_cells(hpa: &HorizontalPodAutoscaler) -> (Vec<Value>, Vec<Value>) {
    let spec = hpa.spec.as_ref();
    let status = hpa.status.as_ref();
    let reference = spec.map_or_else(String::new, |s| {
        format!("{}/{}", s.scale_target_ref.kind, s.scale_target_ref.name)
    });
    let statuses = status
        .and_then(|s| s.current_metrics.as_deref())
        .unwrap_or_default();
    let metrics: Vec<String> = spec
        .and_then(|s| s.metrics.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|m| metric(m, statuses))
        .collect();
    let targets = if metrics.is_empty() {
        "<none>".to_string()
    } else if metrics.len() > SHOWN_METRICS {
        format!(
            "{} + {} more...",
            metrics[..SHOWN_METRICS].join(", "),
            metrics.len() - SHOWN_METRICS
        )
    } else {
        metrics.join(", ")
    };
    let main = vec![
        Value::String(reference),
        Value::String(targets),
        Value::String(
            spec.and_then(|s| s.min_replicas)
                .map_or_else(|| "<unset>".to_string(), |n| n.to_string()),
        ),
        json!(spec.map_or(0, |s| s.max_replicas)),
        json!(status.and_then(|s| s.current_replicas).unwrap_or(0)),
    ];
    (main, Vec::new())
}

fn int_or_string(value: Option<&IntOrString>) -> String {
    match value {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".to_string(),
    }
}

/// A PodDisruptionBudget's cells.
pub(super) fn pdb_cells(pdb: &PodDisruptionBudget) -> (Vec<Value>, Vec<Value>) {
    let spec = pdb.spec.as_ref();
    let main = vec![
        Value::String(int_or_string(spec.and_then(|s| s.min_available.as_ref()))),
        Value::String(int_or_string(spec.and_then(|s| s.max_unavailable.as_ref()))),
        json!(pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed)),
    ];
    (main, Vec::new())
}

/// A ControllerRevision's cells.
pub(super) fn revision_cells(revision: &ControllerRevision) -> (Vec<Value>, Vec<Value>) {
    let controller = revision
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map_or_else(
            || "<none>".to_string(),
            |o| {
                let group = o.api_version.split_once('/').map_or("", |(g, _)| g);
                if group.is_empty() {
                    format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)
                } else {
                    format!("{}.{group}/{}", o.kind.to_ascii_lowercase(), o.name)
                }
            },
        );
    (
        vec![Value::String(controller), json!(revision.revision)],
        Vec::new(),
    )
}
