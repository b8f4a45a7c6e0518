//! Tests of the filters, the node choice and the unschedulable message.
#![allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::*;
use crate::scheduler::pick::{Decision, decide};
use crate::scheduler::usage::{PodKey, Usage, placement_of};

fn node(name: &str, labels: Value, taints: Value, cpu: &str) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {
                "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        }))
        .unwrap(),
    )
}

fn pod(spec: Value) -> Pod {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c", "image": "x"}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }))
    .unwrap()
}

fn cluster() -> Vec<Arc<Node>> {
    vec![
        node("a", json!({"zone": "east", "size": "4"}), json!([]), "2"),
        node(
            "b",
            json!({"zone": "west", "size": "16"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
            "8",
        ),
    ]
}

fn decision(p: &Pod) -> Decision {
    decide(p, &cluster(), &Usage::default())
}

#[test]
fn node_selector_and_affinity_operators() {
    let by_selector = pod(json!({"nodeSelector": {"zone": "east"}}));
    assert_eq!(decision(&by_selector), Decision::Bind("a".into()));
    let term = |expr: Value| {
        pod(json!({
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [expr]}}},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        }))
    };
    let nodes = cluster();
    let fits = |p: &Pod| -> Vec<String> {
        nodes
            .iter()
            .filter(|n| matches_affinity(p, n))
            .map(|n| node_name(n).to_string())
            .collect()
    };
    let e = |key: &str, op: &str, values: Value| {
        term(json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]}))
    };
    assert_eq!(fits(&e("zone", "In", json!(["west"]))), ["b"]);
    assert_eq!(fits(&e("zone", "NotIn", json!(["west"]))), ["a"]);
    assert_eq!(fits(&e("zone", "Exists", json!(null))), ["a", "b"]);
    assert_eq!(fits(&e("gpu", "DoesNotExist", json!(null))), ["a", "b"]);
    assert_eq!(fits(&e("size", "Gt", json!(["8"]))), ["b"]);
    assert_eq!(fits(&e("size", "Lt", json!(["8"]))), ["a"]);
    assert!(fits(&e("size", "Gt", json!(["x"]))).is_empty());
    let by_name = term(json!({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["b"]}]}));
    assert_eq!(fits(&by_name), ["b"]);
    // An empty term matches nothing.
    assert!(fits(&term(json!({}))).is_empty());
    // The affinity Pod lands on b only because it tolerates b's taint.
    assert_eq!(
        decision(&e("zone", "In", json!(["west"]))),
        Decision::Bind("b".into())
    );
}

#[test]
fn taints_need_tolerations() {
    let nodes = cluster();
    let plain = pod(json!({"nodeSelector": {"zone": "west"}}));
    let used = NodeTotals::default();
    assert_eq!(
        check(&plain, Requests::default(), &nodes[1], &used),
        vec![Unfit::Taint {
            key: "dedicated".into(),
            value: "gpu".into()
        }]
    );
    let tolerant = pod(json!({"nodeSelector": {"zone": "west"}, "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}));
    assert!(check(&tolerant, Requests::default(), &nodes[1], &used).is_empty());
    let wrong_value = pod(json!({"tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "tpu"}]}));
    assert!(!check(&wrong_value, Requests::default(), &nodes[1], &used).is_empty());
    // PreferNoSchedule never filters.
    let soft = node(
        "c",
        json!({}),
        json!([{"key": "k", "effect": "PreferNoSchedule"}]),
        "1",
    );
    assert!(check(&pod(json!({})), Requests::default(), &soft, &used).is_empty());
}

#[test]
fn unready_and_unschedulable_nodes_are_skipped() {
    let used = NodeTotals::default();
    let mut n = (*node("a", json!({}), json!([]), "1")).clone();
    n.status.as_mut().unwrap().conditions = Some(vec![]);
    assert_eq!(
        check(&pod(json!({})), Requests::default(), &n, &used),
        vec![Unfit::Taint {
            key: "node.kubernetes.io/not-ready".into(),
            value: String::new()
        }]
    );
    let mut n = (*node("a", json!({}), json!([]), "1")).clone();
    n.spec.as_mut().unwrap().unschedulable = Some(true);
    assert_eq!(
        check(&pod(json!({})), Requests::default(), &n, &used),
        vec![Unfit::Unschedulable]
    );
}

#[test]
fn requests_count_against_allocatable_minus_bound_pods() {
    let big = pod(json!({"containers": [{"name": "c", "image": "x",
        "resources": {"requests": {"cpu": "3"}}}]}));
    // Only b has 3 cpus, and b is tainted.
    let Decision::Unschedulable(message) = decision(&big) else {
        panic!("should not fit");
    };
    assert_eq!(
        message,
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
         {dedicated: gpu}."
    );
    let mut usage = Usage::default();
    let mut bound = pod(
        json!({"nodeName": "a", "containers": [{"name": "c", "image": "x",
        "resources": {"requests": {"cpu": "1500m"}}}]}),
    );
    bound.metadata.name = Some("other".into());
    usage.place(PodKey::of(&bound), placement_of(&bound).unwrap());
    let one = pod(json!({"containers": [{"name": "c", "image": "x",
        "resources": {"requests": {"cpu": "1"}}}]}));
    assert!(matches!(
        decide(&one, &cluster(), &usage),
        Decision::Unschedulable(_)
    ));
    let half = pod(json!({"containers": [{"name": "c", "image": "x",
        "resources": {"requests": {"cpu": "500m"}}}]}));
    assert_eq!(
        decide(&half, &cluster(), &usage),
        Decision::Bind("a".into())
    );
    // The pods count is a resource too.
    let mut full = (*node("a", json!({}), json!([]), "2")).clone();
    let allocatable = full.status.as_mut().unwrap().allocatable.as_mut().unwrap();
    allocatable.insert(
        "pods".into(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
    );
    assert_eq!(
        check(&half, Requests::default(), &full, &usage.totals("a")),
        vec![Unfit::TooManyPods]
    );
}

#[test]
fn replicas_spread_over_fitting_nodes() {
    let nodes = vec![
        node("a", json!({}), json!([]), "4"),
        node("b", json!({}), json!([]), "4"),
    ];
    let mut usage = Usage::default();
    let mut placed = Vec::new();
    for i in 0..4 {
        let mut p = pod(json!({}));
        p.metadata.name = Some(format!("web-{i}"));
        let Decision::Bind(node) = decide(&p, &nodes, &usage) else {
            panic!("fits");
        };
        p.spec.as_mut().unwrap().node_name = Some(node.clone());
        usage.place(PodKey::of(&p), placement_of(&p).unwrap());
        placed.push(node);
    }
    placed.sort();
    assert_eq!(placed, ["a", "a", "b", "b"]);
}

#[test]
fn messages_count_and_sort_reasons() {
    let reasons = vec![
        vec![Unfit::Affinity],
        vec![Unfit::Taint {
            key: "k".into(),
            value: "v".into(),
        }],
        vec![Unfit::Taint {
            key: "k".into(),
            value: "v".into(),
        }],
    ];
    assert_eq!(
        unschedulable_message(3, &reasons),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) \
         had untolerated taint {k: v}."
    );
    assert_eq!(
        unschedulable_message(0, &[]),
        "no nodes available to schedule pods"
    );
}
