//! Service defaulting, as kube-apiserver applies it to v1 Services before validation: type,
//! protocols, targetPorts, session affinity, traffic policies, `clusterIP`/`clusterIPs` kept in
//! step. IP families are resolved separately ([`super::families`]). Never validates, never
//! allocates; malformed values are left for validation to report.

use k8s_openapi::api::core::v1::{ClientIPConfig, ServiceSpec, SessionAffinityConfig};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The default ClientIP affinity timeout: three hours.
pub(super) const DEFAULT_AFFINITY_TIMEOUT: i32 = 10_800;

/// Fills in every defaulted field of `spec`.
pub(super) fn apply(spec: &mut ServiceSpec) {
    let ty = spec
        .type_
        .get_or_insert_with(|| "ClusterIP".to_string())
        .clone();
    for port in spec.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_string());
        if port.target_port.is_none() && (1..=65535).contains(&port.port) {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    if ty == "ExternalName" {
        return;
    }
    let affinity = spec
        .session_affinity
        .get_or_insert_with(|| "None".to_string());
    if affinity == "ClientIP" {
        let config = spec
            .session_affinity_config
            .get_or_insert_with(SessionAffinityConfig::default);
        let client = config.client_ip.get_or_insert_with(ClientIPConfig::default);
        client
            .timeout_seconds
            .get_or_insert(DEFAULT_AFFINITY_TIMEOUT);
    }
    spec.internal_traffic_policy
        .get_or_insert_with(|| "Cluster".to_string());
    if ty == "NodePort" || ty == "LoadBalancer" {
        spec.external_traffic_policy
            .get_or_insert_with(|| "Cluster".to_string());
    }
    if ty == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    sync_cluster_ips(spec);
}

/// Keeps `clusterIP` and `clusterIPs` in step when only one of them is given.
pub(super) fn sync_cluster_ips(spec: &mut ServiceSpec) {
    let single = spec.cluster_ip.clone().filter(|s| !s.is_empty());
    let many = spec.cluster_ips.clone().filter(|v| !v.is_empty());
    match (single, many) {
        (Some(ip), None) => spec.cluster_ips = Some(vec![ip]),
        (None, Some(ips)) => spec.cluster_ip = ips.first().cloned(),
        _ => {}
    }
}
