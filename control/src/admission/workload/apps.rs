//! ReplicationController (core/v1) and the apps/v1 kinds: ReplicaSet, Deployment,
//! StatefulSet, DaemonSet. Defaults are apps/v1's: `replicas` 1; Deployment strategy
//! `RollingUpdate` with 25%/25%, `revisionHistoryLimit` 10, `progressDeadlineSeconds` 600;
//! StatefulSet `OrderedReady`, `RollingUpdate` with partition 0, history 10, PVCs retained;
//! DaemonSet `RollingUpdate` with `maxUnavailable` 1 and `maxSurge` 0, history 10.
//! (`minReadySeconds` defaults to 0, which kube-apiserver leaves out of the object, and so
//! does this module.)

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Causes;
use super::template::{label_selector, map_selector, non_negative, pod_template};
use crate::object::Object;

const ALWAYS: &[&str] = &["Always"];

/// apps/v1 selectors cannot change once set.
fn immutable_selector(new: Option<&LabelSelector>, old: Option<&LabelSelector>, c: &mut Causes) {
    if let (Some(new), Some(old)) = (new, old)
        && new != old
    {
        c.invalid("spec.selector", new, "field is immutable");
    }
}

/// v1 ReplicationController: a missing selector (and missing object labels) default to the
/// template's labels, `replicas` to 1.
pub(super) fn replication_controller(
    rc: &mut ReplicationController,
    old: Option<&Object>,
    c: &mut Causes,
) {
    let old = match old {
        Some(Object::ReplicationController(o)) => o.spec.as_ref(),
        _ => None,
    };
    let spec = rc.spec.get_or_insert_with(Default::default);
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .filter(|l| !l.is_empty());
    if let Some(labels) = template_labels {
        if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
            spec.selector = Some(labels.clone());
        }
        if rc.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
            rc.metadata.labels = Some(labels);
        }
    }
    spec.replicas.get_or_insert(1);
    non_negative("spec.replicas", spec.replicas, c);
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, c);
    map_selector(spec.selector.as_ref(), spec.template.as_ref(), "spec", c);
    pod_template(
        spec.template.as_mut(),
        old.and_then(|o| o.template.as_ref()),
        "spec",
        ALWAYS,
        c,
    );
}

/// apps/v1 ReplicaSet.
pub(super) fn replica_set(rs: &mut ReplicaSet, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::ReplicaSet(o)) => o.spec.as_ref(),
        _ => None,
    };
    let Some(spec) = rs.spec.as_mut() else {
        c.required("spec.selector", "");
        return;
    };
    spec.replicas.get_or_insert(1);
    non_negative("spec.replicas", spec.replicas, c);
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, c);
    label_selector(Some(&spec.selector), spec.template.as_ref(), "spec", c);
    immutable_selector(Some(&spec.selector), old.map(|o| &o.selector), c);
    pod_template(
        spec.template.as_mut(),
        old.and_then(|o| o.template.as_ref()),
        "spec",
        ALWAYS,
        c,
    );
}

/// An int-or-percent rolling-update bound: not negative, a percentage at most 100%.
fn int_or_percent(path: &str, value: Option<&IntOrString>, c: &mut Causes) -> bool {
    match value {
        None => true,
        Some(IntOrString::Int(n)) => {
            non_negative(path, Some(*n), c);
            *n == 0
        }
        Some(IntOrString::String(s)) => {
            let Some(n) = s.strip_suffix('%').and_then(|n| n.parse::<i32>().ok()) else {
                c.invalid(path, s, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
                return false;
            };
            if !(0..=100).contains(&n) {
                c.invalid(path, s, "must not be greater than 100%");
            }
            n == 0
        }
    }
}

/// apps/v1 Deployment.
pub(super) fn deployment(d: &mut Deployment, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::Deployment(o)) => o.spec.as_ref(),
        _ => None,
    };
    let Some(spec) = d.spec.as_mut() else {
        c.required("spec.selector", "");
        return;
    };
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    let ty = strategy
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_string())
        .clone();
    match ty.as_str() {
        "RollingUpdate" => {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            let quarter = || IntOrString::String("25%".to_string());
            rolling.max_unavailable.get_or_insert_with(quarter);
            rolling.max_surge.get_or_insert_with(quarter);
            let path = "spec.strategy.rollingUpdate";
            let no_surge =
                int_or_percent(&format!("{path}.maxSurge"), rolling.max_surge.as_ref(), c);
            let no_unavailable = int_or_percent(
                &format!("{path}.maxUnavailable"),
                rolling.max_unavailable.as_ref(),
                c,
            );
            if no_surge && no_unavailable {
                c.invalid(
                    &format!("{path}.maxUnavailable"),
                    &0,
                    "may not be 0 when `maxSurge` is 0",
                );
            }
        }
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                c.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        other => c.not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"]),
    }
    non_negative("spec.replicas", spec.replicas, c);
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, c);
    non_negative("spec.revisionHistoryLimit", spec.revision_history_limit, c);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if let Some(deadline) = spec.progress_deadline_seconds
        && deadline <= min_ready
    {
        c.invalid(
            "spec.progressDeadlineSeconds",
            &deadline,
            "must be greater than minReadySeconds",
        );
    }
    label_selector(Some(&spec.selector), Some(&spec.template), "spec", c);
    immutable_selector(Some(&spec.selector), old.map(|o| &o.selector), c);
    pod_template(
        Some(&mut spec.template),
        old.map(|o| &o.template),
        "spec",
        ALWAYS,
        c,
    );
}

/// apps/v1 StatefulSet.
pub(super) fn stateful_set(s: &mut StatefulSet, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::StatefulSet(o)) => o.spec.as_ref(),
        _ => None,
    };
    let Some(spec) = s.spec.as_mut() else {
        c.required("spec.selector", "");
        return;
    };
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    let policy = spec
        .pod_management_policy
        .get_or_insert_with(|| "OrderedReady".to_string());
    if !matches!(policy.as_str(), "OrderedReady" | "Parallel") {
        c.not_supported(
            "spec.podManagementPolicy",
            policy,
            &["OrderedReady", "Parallel"],
        );
    }
    let update = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    let ty = update
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_string());
    if ty == "RollingUpdate" {
        let rolling = update
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        rolling.partition.get_or_insert(0);
        non_negative(
            "spec.updateStrategy.rollingUpdate.partition",
            rolling.partition,
            c,
        );
    }
    let retain = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    retain
        .when_deleted
        .get_or_insert_with(|| "Retain".to_string());
    retain
        .when_scaled
        .get_or_insert_with(|| "Retain".to_string());
    non_negative("spec.replicas", spec.replicas, c);
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, c);
    label_selector(Some(&spec.selector), Some(&spec.template), "spec", c);
    immutable_selector(Some(&spec.selector), old.map(|o| &o.selector), c);
    pod_template(
        Some(&mut spec.template),
        old.map(|o| &o.template),
        "spec",
        ALWAYS,
        c,
    );
}

/// apps/v1 DaemonSet.
pub(super) fn daemon_set(d: &mut DaemonSet, old: Option<&Object>, c: &mut Causes) {
    let old = match old {
        Some(Object::DaemonSet(o)) => o.spec.as_ref(),
        _ => None,
    };
    let Some(spec) = d.spec.as_mut() else {
        c.required("spec.selector", "");
        return;
    };
    spec.revision_history_limit.get_or_insert(10);
    let update = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    let ty = update
        .type_
        .get_or_insert_with(|| "RollingUpdate".to_string());
    if ty == "RollingUpdate" {
        let rolling = update
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    non_negative("spec.minReadySeconds", spec.min_ready_seconds, c);
    label_selector(Some(&spec.selector), Some(&spec.template), "spec", c);
    immutable_selector(Some(&spec.selector), old.map(|o| &o.selector), c);
    pod_template(
        Some(&mut spec.template),
        old.map(|o| &o.template),
        "spec",
        ALWAYS,
        c,
    );
}
