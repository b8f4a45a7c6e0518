//! Tests of Endpoints derivation and Endpoints-to-EndpointSlice mirroring.

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use serde_json::{Value, json};

use super::*;
use crate::controllers::endpoint_slices::{MANAGED_BY_LABEL, desired_slices};

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}

fn service(spec: Value) -> Service {
    from(json!({"metadata": {"name": "web", "namespace": "default", "uid": "u"}, "spec": spec}))
}

#[test]
fn endpoints_for_splits_ready_and_not_ready() {
    let svc = service(
        json!({"selector": {"app": "web"}, "ipFamilies": ["IPv4"], "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
    );
    let pods: Vec<Pod> = vec![
        from(
            json!({"metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"}}, "status": {"podIP": "10.0.0.1"}}),
        ),
        from(
            json!({"metadata": {"name": "b", "namespace": "default", "labels": {"app": "web"}},
            "status": {"podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "False"}]}}),
        ),
        from(
            json!({"metadata": {"name": "c", "namespace": "default", "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"podIP": "10.0.0.3"}}),
        ),
    ];
    let ep = endpoints_for(&svc, &desired_slices(&svc, &pods));
    assert_eq!(ep.metadata.name.as_deref(), Some("web"));
    assert!(
        !should_mirror(&ep),
        "controller-written Endpoints are not mirrored"
    );
    let subsets = ep.subsets.clone().unwrap_or_default();
    assert_eq!(subsets.len(), 1);
    let ips = |list: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
        list.iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1"]);
    assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.2"]);
    assert_eq!(subsets[0].ports.clone().unwrap_or_default()[0].port, 8080);
    let empty = endpoints_for(&svc, &[]);
    assert!(empty.subsets.is_none());
    assert!(!endpoints_differ(&ep, &ep));
    assert!(endpoints_differ(&empty, &ep));
}

#[test]
fn mirrors_user_endpoints() {
    let svc = service(json!({"ports": [{"port": 5432}]}));
    let ep: Endpoints = from(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "ep-uid"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::1"}, {"ip": "bogus"}],
                     "notReadyAddresses": [{"ip": "192.0.2.11"}],
                     "ports": [{"name": "pg", "port": 5432}]}]
    }));
    let slices = mirror_slices(&svc, &ep);
    assert_eq!(slices.len(), 2);
    let v4 = slices
        .iter()
        .find(|s| s.address_type == "IPv4")
        .unwrap_or_else(|| panic!("no IPv4 slice"));
    let labels = v4.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some(MIRROR_CONTROLLER_NAME)
    );
    let owner = &v4.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Endpoints", "ep-uid")
    );
    let ready: Vec<(String, Option<bool>)> = v4
        .endpoints
        .iter()
        .map(|e| {
            (
                e.addresses[0].clone(),
                e.conditions.as_ref().and_then(|c| c.ready),
            )
        })
        .collect();
    assert_eq!(
        ready,
        [
            ("192.0.2.10".to_string(), Some(true)),
            ("192.0.2.11".to_string(), Some(false))
        ]
    );
    assert_eq!(v4.ports.clone().unwrap_or_default()[0].port, Some(5432));
    let mut skipped = ep.clone();
    skipped.metadata.labels = Some([(SKIP_MIRROR_LABEL.to_string(), "true".to_string())].into());
    assert!(mirror_slices(&svc, &skipped).is_empty());
}

#[test]
fn mirroring_stops_at_the_kubernetes_limit() {
    let svc = service(json!({"ports": [{"port": 80}]}));
    let addresses: Vec<Value> = (0..1200)
        .map(|i| json!({"ip": format!("10.2.{}.{}", i / 250, i % 250 + 1)}))
        .collect();
    let ep: Endpoints = from(json!({"metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}]}));
    let total: usize = mirror_slices(&svc, &ep)
        .iter()
        .map(|s| s.endpoints.len())
        .sum();
    assert_eq!(total, MAX_MIRRORED_ADDRESSES);
}
