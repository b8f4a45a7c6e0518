//! Service rows: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE [SELECTOR].

use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

use super::{Column, col, none_if_empty};

pub(super) const COLUMNS: [Column; 5] = [
    col(
        "Type",
        0,
        "The service type: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col("Cluster-IP", 0, "The virtual IP of the service."),
    col("External-IP", 0, "External addresses of the service."),
    col(
        "Port(s)",
        0,
        "Ports of the service (port[:nodePort]/protocol).",
    ),
    col("Selector", 1, "The labels selecting the service's pods."),
];

pub(super) fn cells(svc: &Service) -> (Vec<Value>, Vec<Value>) {
    let spec = svc.spec.clone().unwrap_or_default();
    let kind = spec
        .type_
        .clone()
        .unwrap_or_else(|| "ClusterIP".to_string());
    let cluster_ip = none_if_empty(spec.cluster_ip.as_deref().unwrap_or_default());
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(np) if np != 0 => format!("{}:{np}/{proto}", p.port),
                _ => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    let selector: Vec<String> = spec
        .selector
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (
        vec![
            Value::String(kind),
            Value::String(cluster_ip),
            Value::String(external_ip(svc)),
            Value::String(ports),
        ],
        vec![Value::String(none_if_empty(&selector.join(",")))],
    )
}

/// EXTERNAL-IP as kubectl prints it: external IPs, load-balancer ingress, `<pending>` for a
/// LoadBalancer without one, the external name for ExternalName, else `<none>`.
fn external_ip(svc: &Service) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let mut ips: Vec<String> = spec.external_ips.clone().unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ExternalName" => return spec.external_name.clone().unwrap_or_default(),
        "LoadBalancer" => {
            let ingress: Vec<String> = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip.or(i.hostname))
                .collect();
            let mut all = ingress;
            all.append(&mut ips);
            if all.is_empty() {
                return "<pending>".to_string();
            }
            return all.join(",");
        }
        _ => {}
    }
    none_if_empty(&ips.join(","))
}
