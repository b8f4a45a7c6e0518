use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::*;

fn service(json: serde_json::Value) -> Arc<Service> {
    Arc::new(serde_json::from_value(json).unwrap_or_default())
}

fn slice(json: serde_json::Value) -> Arc<EndpointSlice> {
    Arc::new(
        serde_json::from_value(json).unwrap_or_else(|_| EndpointSlice {
            address_type: String::new(),
            endpoints: Vec::new(),
            metadata: Default::default(),
            ports: None,
        }),
    )
}

fn fixture() -> ClusterState {
    let mut state = ClusterState::default();
    state.services.insert(
        ObjectKey::new("default", "web"),
        service(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "sessionAffinity": "ClientIP",
                "externalIPs": ["192.0.2.7"],
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP"}
                ]
            }
        })),
    );
    state.services.insert(
        ObjectKey::new("default", "headless"),
        service(serde_json::json!({
            "metadata": {"name": "headless", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
        })),
    );
    state.endpoint_slices.insert(
        ObjectKey::new("default", "web-abc"),
        slice(serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "dns", "port": 5353, "protocol": "UDP"}],
            "endpoints": [
                {"addresses": ["10.244.0.5"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.244.1.5"], "conditions": {"ready": false}, "nodeName": "n2"}
            ]
        })),
    );
    state
}

#[test]
fn builds_one_entry_per_port_and_skips_headless() {
    let table = ServiceTable::build(
        &fixture(),
        &NodeContext {
            node_name: "n1".into(),
        },
    );
    let ids: Vec<String> = table.ports.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(ids, ["default/web:dns/udp", "default/web:http/tcp"]);
    let http = &table.ports[1];
    assert_eq!(http.port, 80);
    assert_eq!(http.node_port, Some(30080));
    assert_eq!(http.affinity_timeout, Some(Duration::from_secs(10800)));
    assert_eq!(
        http.external_ips,
        vec![
            "192.0.2.7"
                .parse::<IpAddr>()
                .unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ]
    );
    assert_eq!(http.endpoints.len(), 2);
    assert!(http.endpoints.iter().all(|e| e.port == 8080));
    assert!(http.endpoints.iter().any(|e| e.is_local && e.ready));
    let usable = http.cluster_endpoints(http.cluster_ips[0]);
    assert_eq!(usable.len(), 1);
    assert_eq!(table.ports[0].endpoints[0].port, 5353);
}
