//! What the controller's Pod cache keeps of each Pod. A reflector holds every Pod of the cluster
//! for as long as the controller runs, and a Pod's spec (env, probes, resources, volumes) and
//! managed fields are most of its size; the controller reads only the handful of fields kept
//! here. Pruning happens on the watch stream, before the object reaches the cache. (Services
//! only lose their bulk metadata: [`cluster_watch::trim::bulk_metadata`].)

use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Reduces a Pod to what the EndpointSlice controller reads: identity, labels, deletion
/// timestamp, node, hostname/subdomain, container port names, phase, IPs and the Ready
/// condition. [`super::endpoint_slices::desired_slices`] gives the same slices for the pruned
/// Pod as for the whole one.
pub(crate) fn pod_for_endpoints(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        labels: meta.labels,
        deletion_timestamp: meta.deletion_timestamp,
        ..ObjectMeta::default()
    };
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        containers: spec.containers.into_iter().map(container_ports).collect(),
        hostname: spec.hostname,
        subdomain: spec.subdomain,
        node_name: spec.node_name,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        pod_ip: status.pod_ip,
        pod_ips: status.pod_ips,
        conditions: status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| PodCondition {
                    type_: c.type_,
                    status: c.status,
                    ..PodCondition::default()
                })
                .collect()
        }),
        ..PodStatus::default()
    });
}

/// A container with only its name and the name, protocol and number of its ports.
fn container_ports(container: Container) -> Container {
    Container {
        name: container.name,
        ports: container.ports.map(|ports| {
            ports
                .into_iter()
                .map(|p| ContainerPort {
                    name: p.name,
                    protocol: p.protocol,
                    container_port: p.container_port,
                    ..ContainerPort::default()
                })
                .collect()
        }),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn full_pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {
                "name": "web-1", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"},
                "annotations": {cluster_watch::trim::LAST_APPLIED: "{}", "team": "a"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "r1"}],
                "managedFields": [{"manager": "kubectl"}],
                "deletionTimestamp": "2026-12-03T00:00:00Z"
            },
            "spec": {
                "nodeName": "n1", "hostname": "h", "subdomain": "web",
                "containers": [{
                    "name": "app", "image": "img:1",
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP", "hostPort": 80}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}
                }],
                "volumes": [{"name": "v", "emptyDir": {}}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                "hostIP": "192.168.0.1",
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
                ],
                "containerStatuses": [{"name": "app", "image": "img:1", "imageID": "", "ready": false, "restartCount": 0}]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_pruned_pod_keeps_exactly_the_fields_the_controller_reads() {
        let mut pod = full_pod();
        pod_for_endpoints(&mut pod);
        let expected: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": "web-1", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"}, "deletionTimestamp": "2026-12-03T00:00:00Z"
            },
            "spec": {
                "nodeName": "n1", "hostname": "h", "subdomain": "web",
                "containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "False"}]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pod, expected);
    }
}
