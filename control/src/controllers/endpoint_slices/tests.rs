//! Tests of the EndpointSlice controller's pure decisions: desired slices and the minimal write plan.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn service(spec: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
        "spec": spec
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn pod(name: &str, ip: Option<&str>, labels: Value, extra: Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {}
    });
    if let Some(ip) = ip {
        v["status"]["podIP"] = json!(ip);
    }
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => {
            for (k, v) in e {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, e) => *t = e,
    }
}

fn web() -> Service {
    service(json!({"selector": {"app": "web"}, "ipFamilies": ["IPv4"],
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}))
}

fn addresses(slices: &[EndpointSlice]) -> Vec<String> {
    let mut out: Vec<String> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter().map(|e| e.addresses[0].clone()))
        .collect();
    out.sort();
    out
}

fn ready_condition(status: &str) -> Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": status}]}})
}

#[test]
fn selects_matching_pods_with_ips() {
    let pods = vec![
        pod("a", Some("10.244.0.2"), json!({"app": "web"}), json!({})),
        pod("b", Some("10.244.0.3"), json!({"app": "db"}), json!({})),
        pod("c", None, json!({"app": "web"}), json!({})),
        pod(
            "d",
            Some("10.244.0.5"),
            json!({"app": "web"}),
            json!({"metadata": {"namespace": "other"}}),
        ),
        pod(
            "e",
            Some("10.244.0.6"),
            json!({"app": "web"}),
            json!({"status": {"phase": "Succeeded"}}),
        ),
    ];
    let slices = desired_slices(&web(), &pods);
    assert_eq!(slices.len(), 1);
    let s = &slices[0];
    assert_eq!(addresses(&slices), ["10.244.0.2"]);
    assert_eq!(s.address_type, "IPv4");
    let labels = s.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(SERVICE_NAME_LABEL).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some(CONTROLLER_NAME)
    );
    assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
    let owner = &s.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Service", "svc-uid")
    );
    let ep = &s.endpoints[0];
    let target = ep.target_ref.clone().unwrap_or_default();
    assert_eq!(target.kind.as_deref(), Some("Pod"));
    assert_eq!(target.uid.as_deref(), Some("uid-a"));
    assert_eq!(ep.node_name.as_deref(), Some("n1"));
    let ports = s.ports.clone().unwrap_or_default();
    assert_eq!(ports[0].port, Some(8080));
    assert_eq!(ports[0].name.as_deref(), Some("http"));
}

#[test]
fn no_selector_no_slices() {
    let svc = service(json!({"ports": [{"port": 80}]}));
    let pods = vec![pod(
        "a",
        Some("10.244.0.2"),
        json!({"app": "web"}),
        json!({}),
    )];
    assert!(desired_slices(&svc, &pods).is_empty());
    let empty = service(json!({"selector": {}, "ports": [{"port": 80}]}));
    assert!(desired_slices(&empty, &pods).is_empty());
}

#[test]
fn readiness_serving_and_terminating() {
    let pods = vec![
        pod(
            "ready",
            Some("10.0.0.1"),
            json!({"app": "web"}),
            ready_condition("True"),
        ),
        pod(
            "unready",
            Some("10.0.0.2"),
            json!({"app": "web"}),
            ready_condition("False"),
        ),
        pod("plain", Some("10.0.0.3"), json!({"app": "web"}), json!({})),
        pod(
            "leaving",
            Some("10.0.0.4"),
            json!({"app": "web"}),
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        ),
    ];
    let slices = desired_slices(&web(), &pods);
    let cond = |ip: &str| {
        slices[0]
            .endpoints
            .iter()
            .find(|e| e.addresses[0] == ip)
            .and_then(|e| e.conditions.clone())
            .map(|c| (c.ready, c.serving, c.terminating))
    };
    assert_eq!(
        cond("10.0.0.1"),
        Some((Some(true), Some(true), Some(false)))
    );
    assert_eq!(
        cond("10.0.0.2"),
        Some((Some(false), Some(false), Some(false)))
    );
    assert_eq!(
        cond("10.0.0.3"),
        Some((Some(true), Some(true), Some(false)))
    );
    assert_eq!(
        cond("10.0.0.4"),
        Some((Some(false), Some(true), Some(true)))
    );
    let mut publish = web();
    if let Some(spec) = publish.spec.as_mut() {
        spec.publish_not_ready_addresses = Some(true);
    }
    let slices = desired_slices(&publish, &pods);
    assert!(
        slices[0]
            .endpoints
            .iter()
            .all(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
    );
}

#[test]
fn hostname_only_when_subdomain_is_the_service() {
    let pods = vec![
        pod(
            "a",
            Some("10.0.0.1"),
            json!({"app": "web"}),
            json!({"spec": {"hostname": "a", "subdomain": "web"}}),
        ),
        pod(
            "b",
            Some("10.0.0.2"),
            json!({"app": "web"}),
            json!({"spec": {"hostname": "b", "subdomain": "other"}}),
        ),
    ];
    let slices = desired_slices(&web(), &pods);
    let hostnames: Vec<Option<String>> = slices[0]
        .endpoints
        .iter()
        .map(|e| e.hostname.clone())
        .collect();
    assert_eq!(hostnames, [Some("a".to_string()), None]);
}

#[test]
fn named_target_ports_group_pods_by_resolved_ports() {
    let other_port = json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 9090}]}]}});
    let no_port = json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "metrics", "containerPort": 9100}]}]}});
    let pods = vec![
        pod("a", Some("10.0.0.1"), json!({"app": "web"}), json!({})),
        pod("b", Some("10.0.0.2"), json!({"app": "web"}), json!({})),
        pod("c", Some("10.0.0.3"), json!({"app": "web"}), other_port),
        pod("d", Some("10.0.0.4"), json!({"app": "web"}), no_port),
    ];
    let slices = desired_slices(&web(), &pods);
    let mut by_port: BTreeMap<Option<i32>, Vec<String>> = BTreeMap::new();
    for s in &slices {
        let port = s
            .ports
            .as_ref()
            .and_then(|p| p.first())
            .and_then(|p| p.port);
        by_port
            .entry(port)
            .or_default()
            .extend(s.endpoints.iter().map(|e| e.addresses[0].clone()));
    }
    assert_eq!(
        by_port.get(&Some(8080)),
        Some(&vec!["10.0.0.1".to_string(), "10.0.0.2".to_string()])
    );
    assert_eq!(
        by_port.get(&Some(9090)),
        Some(&vec!["10.0.0.3".to_string()])
    );
    assert_eq!(
        by_port.get(&None),
        Some(&vec!["10.0.0.4".to_string()]),
        "{slices:?}"
    );
}

#[test]
fn one_slice_per_family() {
    let svc = service(
        json!({"selector": {"app": "web"}, "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80, "targetPort": 80}]}),
    );
    let p = pod(
        "a",
        None,
        json!({"app": "web"}),
        json!({"status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}}),
    );
    let slices = desired_slices(&svc, &[p]);
    let types: BTreeSet<&str> = slices.iter().map(|s| s.address_type.as_str()).collect();
    assert_eq!(types, BTreeSet::from(["IPv4", "IPv6"]));
    let single = service(
        json!({"selector": {"app": "web"}, "ipFamilies": ["IPv6"], "ports": [{"port": 80}]}),
    );
    let p = pod(
        "a",
        None,
        json!({"app": "web"}),
        json!({"status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}}),
    );
    assert_eq!(addresses(&desired_slices(&single, &[p])), ["fd00::1"]);
}

fn many_pods(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            pod(
                &format!("p{i}"),
                Some(&format!("10.1.{}.{}", i / 200, i % 200 + 1)),
                json!({"app": "web"}),
                json!({}),
            )
        })
        .collect()
}

#[test]
fn more_than_a_hundred_endpoints_split() {
    let slices = desired_slices(&web(), &many_pods(150));
    let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 50]);
}

fn named(mut slices: Vec<EndpointSlice>) -> Vec<EndpointSlice> {
    for (i, s) in slices.iter_mut().enumerate() {
        s.metadata.name = Some(format!("web-{i:05}"));
        s.metadata.resource_version = Some("1".into());
    }
    slices
}

#[test]
fn plan_is_empty_when_nothing_changed() {
    let existing = named(desired_slices(&web(), &many_pods(150)));
    let desired = desired_slices(&web(), &many_pods(150));
    assert!(plan(&desired, &existing).is_empty());
}

#[test]
fn plan_adds_to_a_slice_with_room_without_churn() {
    let existing = named(desired_slices(&web(), &many_pods(150)));
    let desired = desired_slices(&web(), &many_pods(151));
    let p = plan(&desired, &existing);
    assert!(p.create.is_empty() && p.delete.is_empty(), "{p:?}");
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].endpoints.len(), 51);
    assert_eq!(p.update[0].metadata.resource_version.as_deref(), Some("1"));
}

#[test]
fn plan_updates_only_the_slice_holding_a_changed_endpoint() {
    let pods = many_pods(150);
    let existing = named(desired_slices(&web(), &pods));
    let mut changed = pods.clone();
    changed[120] = pod(
        "p120",
        Some("10.1.0.121"),
        json!({"app": "web"}),
        ready_condition("False"),
    );
    let p = plan(&desired_slices(&web(), &changed), &existing);
    assert_eq!(
        (p.create.len(), p.update.len(), p.delete.len()),
        (0, 1, 0),
        "{p:?}"
    );
}

#[test]
fn plan_deletes_emptied_and_foreign_groups() {
    let existing = named(desired_slices(&web(), &many_pods(10)));
    let p = plan(&[], &existing);
    assert_eq!(p.delete, ["web-00000"]);
    let mut other = web();
    if let Some(spec) = other.spec.as_mut() {
        spec.ports = Some(vec![k8s_openapi::api::core::v1::ServicePort {
            port: 81,
            ..Default::default()
        }]);
    }
    let p = plan(&desired_slices(&other, &many_pods(10)), &existing);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
}

/// Applies a plan to the existing slices, as the API would.
fn applied(existing: &[EndpointSlice], p: &SlicePlan) -> Vec<EndpointSlice> {
    let mut out: Vec<EndpointSlice> = existing
        .iter()
        .filter(|s| {
            !p.delete
                .contains(&s.metadata.name.clone().unwrap_or_default())
        })
        .map(|s| {
            p.update
                .iter()
                .find(|u| u.metadata.name == s.metadata.name)
                .cloned()
                .unwrap_or_else(|| s.clone())
        })
        .collect();
    out.extend(p.create.iter().cloned());
    out
}

fn arb_pod() -> impl Strategy<Value = (u8, bool, bool, bool, bool)> {
    // (ip index, selected, ready, has named port, has ip)
    (
        0u8..250,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.9),
    )
}

fn build(specs: &[(u8, bool, bool, bool, bool)]) -> Vec<Pod> {
    let mut seen = BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .filter(|(_, s)| seen.insert(s.0))
        .map(|(i, &(ip, selected, ready, named, has_ip))| {
            let labels = if selected { json!({"app": "web"}) } else { json!({"app": "other"}) };
            let ports = if named { json!([{"name": "http", "containerPort": 8080}]) } else { json!([]) };
            let extra = json!({"spec": {"containers": [{"name": "c", "ports": ports}]},
                "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
            let addr = format!("10.9.0.{}", u16::from(ip) + 1);
            pod(&format!("p{i}"), has_ip.then_some(addr.as_str()), labels, extra)
        })
        .collect()
}

proptest! {
    #[test]
    fn every_selected_pod_appears_once_per_port_set(specs in prop::collection::vec(arb_pod(), 0..250)) {
        let pods = build(&specs);
        let slices = desired_slices(&web(), &pods);
        // The controller's cache holds pruned Pods: they must give the same slices.
        let mut pruned = pods.clone();
        pruned.iter_mut().for_each(crate::controllers::prune::pod_for_endpoints);
        prop_assert_eq!(&desired_slices(&web(), &pruned), &slices);
        for s in &slices {
            prop_assert!(s.endpoints.len() <= MAX_ENDPOINTS_PER_SLICE);
        }
        for pod in &pods {
            let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
            let selected = pod.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str) == Some("web");
            let count = |port: Option<i32>| slices.iter()
                .filter(|s| s.ports.as_ref().and_then(|p| p.first()).and_then(|p| p.port) == port)
                .flat_map(|s| &s.endpoints)
                .filter(|e| Some(&e.addresses[0]) == ip.as_ref())
                .count();
            let named = pod.spec.as_ref().is_some_and(|s| s.containers[0].ports.as_ref().is_some_and(|p| !p.is_empty()));
            let total: usize = slices.iter().flat_map(|s| &s.endpoints).filter(|e| Some(&e.addresses[0]) == ip.as_ref()).count();
            match (&ip, selected) {
                (Some(_), true) => {
                    let port = if named { Some(8080) } else { None };
                    prop_assert_eq!(count(port), 1);
                    prop_assert_eq!(total, 1);
                }
                _ => prop_assert_eq!(total, 0),
            }
        }
    }

    #[test]
    fn plan_reaches_the_desired_endpoints(
        before in prop::collection::vec(arb_pod(), 0..250),
        after in prop::collection::vec(arb_pod(), 0..250),
    ) {
        let existing = named(desired_slices(&web(), &build(&before)));
        let desired = desired_slices(&web(), &build(&after));
        let p = plan(&desired, &existing);
        let result = applied(&existing, &p);
        for s in &result {
            prop_assert!(!s.endpoints.is_empty());
            prop_assert!(s.endpoints.len() <= MAX_ENDPOINTS_PER_SLICE);
        }
        let canon = |slices: &[EndpointSlice]| {
            let mut v: Vec<String> = slices.iter().flat_map(|s| {
                let port = s.ports.as_ref().and_then(|p| p.first()).and_then(|p| p.port);
                s.endpoints.iter().map(move |e| format!("{port:?} {}", serde_json::to_string(e).unwrap_or_default()))
            }).collect();
            v.sort();
            v
        };
        prop_assert_eq!(canon(&result), canon(&desired));
        // Re-planning from the result writes nothing.
        let again = plan(&desired, &named_keep(result));
        prop_assert!(again.is_empty(), "{:?}", again);
    }
}

/// Names created slices the way the API would, keeping existing names.
fn named_keep(slices: Vec<EndpointSlice>) -> Vec<EndpointSlice> {
    slices
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            if s.metadata.name.is_none() {
                s.metadata.name = Some(format!("web-new{i:05}"));
            }
            s
        })
        .collect()
}
