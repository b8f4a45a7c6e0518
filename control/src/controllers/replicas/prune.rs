//! What the controller's Pod cache keeps of each Pod: identity, labels, owners, the
//! deletion-cost annotation, creation and deletion timestamps, node, phase, the Ready condition
//! and container restart counts; everything [`super::plan`], [`super::rank`] and
//! [`super::status`] read. Pruned on the watch stream, before the cache, since the cache holds
//! every Pod of the cluster for as long as the controller runs.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::rank::DELETION_COST;

/// Reduces a Pod to what the ReplicaSet / ReplicationController controller reads.
pub(super) fn pod_for_replicas(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    let annotations = meta
        .annotations
        .and_then(|mut a| a.remove_entry(DELETION_COST))
        .map(|entry| [entry].into_iter().collect());
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        labels: meta.labels,
        annotations,
        owner_references: meta.owner_references,
        creation_timestamp: meta.creation_timestamp,
        deletion_timestamp: meta.deletion_timestamp,
        ..ObjectMeta::default()
    };
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        node_name: spec.node_name,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        conditions: status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| PodCondition {
                    type_: c.type_,
                    status: c.status,
                    last_transition_time: c.last_transition_time,
                    ..PodCondition::default()
                })
                .collect()
        }),
        container_statuses: status.container_statuses.map(|list| {
            list.into_iter()
                .map(|c| ContainerStatus {
                    name: c.name,
                    restart_count: c.restart_count,
                    ..ContainerStatus::default()
                })
                .collect()
        }),
        ..PodStatus::default()
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_controller_reads() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abcde", "namespace": "default", "uid": "p1",
                         "labels": {"app": "web"},
                         "annotations": {"controller.kubernetes.io/pod-deletion-cost": "5", "note": "big"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "web", "uid": "r1", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx",
                     "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"},
                                      {"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{"name": "c", "image": "nginx", "imageID": "x",
                                              "ready": true, "restartCount": 3}]}
        }))
        .unwrap();
        pod_for_replicas(&mut pod);
        let annotations = pod.metadata.annotations.clone().unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations[DELETION_COST], "5");
        assert_eq!(pod.metadata.owner_references.as_ref().unwrap()[0].uid, "r1");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert!(spec.containers.is_empty());
        let status = pod.status.as_ref().unwrap();
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(conditions.len(), 1);
        assert!(conditions[0].last_transition_time.is_some());
        assert_eq!(
            status.container_statuses.as_ref().unwrap()[0].restart_count,
            3
        );
    }
}
