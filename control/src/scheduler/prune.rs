//! What the scheduler's Pod cache keeps of each Pod: identity, labels and owners (spreading),
//! the placement fields (node, scheduler name, node selector, node affinity, tolerations),
//! container resources, phase and the `PodScheduled` condition. Pruned on the watch stream,
//! before the cache, since the cache holds every Pod for as long as the scheduler runs.

use k8s_openapi::api::core::v1::{Affinity, Container, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Reduces a Pod to what [`super::pick::decide`] and the runner read.
pub(crate) fn pod_for_scheduling(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        labels: meta.labels,
        owner_references: meta.owner_references,
        deletion_timestamp: meta.deletion_timestamp,
        ..ObjectMeta::default()
    };
    let resources_only = |c: Container| Container {
        name: c.name,
        resources: c.resources,
        ..Container::default()
    };
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        containers: spec.containers.into_iter().map(resources_only).collect(),
        init_containers: spec
            .init_containers
            .map(|list| list.into_iter().map(resources_only).collect()),
        overhead: spec.overhead,
        node_name: spec.node_name,
        scheduler_name: spec.scheduler_name,
        node_selector: spec.node_selector,
        affinity: spec.affinity.map(|a| Affinity {
            node_affinity: a.node_affinity,
            ..Affinity::default()
        }),
        tolerations: spec.tolerations,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        conditions: status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "PodScheduled")
                .collect()
        }),
        ..PodStatus::default()
    });
}
