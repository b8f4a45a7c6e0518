//! Unit tests of the strategic merge rules on hand-written documents.

use serde_json::json;

use super::*;

fn patched(kind: Kind, mut doc: Value, patch: Value) -> Value {
    apply(kind, &mut doc, &patch).unwrap_or_else(|e| panic!("{e}"));
    doc
}

#[test]
fn service_ports_merge_by_port_and_protocol() {
    let doc = json!({"spec": {"ports": [
        {"port": 53, "protocol": "UDP", "name": "dns"},
        {"port": 53, "name": "dns-tcp"},
        {"port": 80, "name": "http"}]}});
    let out = patched(
        Kind::Service,
        doc,
        json!({"spec": {"ports": [
            {"port": 53, "protocol": "TCP", "targetPort": 5353},
            {"port": 80, "$patch": "delete"},
            {"port": 443, "name": "https"}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 53, "protocol": "UDP", "name": "dns"},
               {"port": 53, "name": "dns-tcp", "protocol": "TCP", "targetPort": 5353},
               {"port": 443, "name": "https"}])
    );
}

#[test]
fn containers_env_and_ports_merge_by_their_keys() {
    let doc = json!({"spec": {"containers": [{"name": "a", "image": "x",
        "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}]}});
    let out = patched(
        Kind::Pod,
        doc,
        json!({"spec": {"containers": [{"name": "a",
            "env": [{"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80, "name": "http"}]}]}}),
    );
    let c = &out["spec"]["containers"][0];
    assert_eq!(c["image"], "x");
    assert_eq!(
        c["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(c["ports"], json!([{"containerPort": 80, "name": "http"}]));
}

#[test]
fn directives_replace_delete_and_primitive_lists() {
    let doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
        "spec": {"selector": {"app": "old", "tier": "web"}}});
    let out = patched(
        Kind::Service,
        doc,
        json!({"metadata": {"labels": {"a": null, "c": "3"}, "finalizers": ["z"],
            "$deleteFromPrimitiveList/finalizers": ["x"]},
            "spec": {"selector": {"$patch": "replace", "app": "new"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    assert_eq!(out["metadata"]["finalizers"], json!(["y", "z"]));
    assert_eq!(out["spec"]["selector"], json!({"app": "new"}));
}

#[test]
fn conditions_merge_by_type_and_list_replace_marker_works() {
    let doc = json!({"status": {"conditions": [{"type": "Ready", "status": "False"},
        {"type": "Initialized", "status": "True"}]}, "spec": {"podCIDRs": ["10.0.0.0/24"]}});
    let out = patched(
        Kind::Node,
        doc,
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]},
            "spec": {"podCIDRs": [{"$patch": "replace"}, "10.1.0.0/24"]}}),
    );
    assert_eq!(
        out["status"]["conditions"][0],
        json!({"type": "Ready", "status": "True"})
    );
    assert_eq!(
        out["status"]["conditions"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(out["spec"]["podCIDRs"], json!(["10.1.0.0/24"]));
}

#[test]
fn set_element_order_reorders_merged_lists() {
    let doc = json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}});
    let out = patched(
        Kind::Service,
        doc,
        json!({"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 80}],
            "ports": [{"port": 80, "name": "http"}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 443}, {"port": 80, "name": "http"}])
    );
}

#[test]
fn endpoint_slice_lists_are_replaced() {
    let doc = json!({"endpoints": [{"addresses": ["10.0.0.1"]}]});
    let out = patched(
        Kind::EndpointSlice,
        doc,
        json!({"endpoints": [{"addresses": ["10.0.0.2"]}]}),
    );
    assert_eq!(out["endpoints"], json!([{"addresses": ["10.0.0.2"]}]));
}

#[test]
fn bad_directives_are_rejected() {
    let mut doc = json!({});
    assert!(apply(Kind::Service, &mut doc, &json!({"$patch": "explode"})).is_err());
    assert!(apply(Kind::Service, &mut doc, &json!([1])).is_err());
    let mut doc = json!({"spec": {"ports": [{"port": 80}]}});
    assert!(
        apply(
            Kind::Service,
            &mut doc,
            &json!({"spec": {"ports": [{"name": "x"}]}})
        )
        .is_err()
    );
}

#[test]
fn long_lists_merge_through_indexes_with_the_same_results() {
    // 20,000 elements each side: a pairwise scan would compare 4e8 times; the indexes once each.
    let n = 20_000;
    let finalizers: Vec<Value> = (0..n).map(|i| json!(format!("f{i}"))).collect();
    let more: Vec<Value> = (n / 2..n + n / 2).map(|i| json!(format!("f{i}"))).collect();
    let ports: Vec<Value> = (0..n).map(|i| json!({"port": i, "name": "old"})).collect();
    let patch_ports: Vec<Value> = (0..n)
        .map(|i| match i % 3 {
            0 => json!({"port": i, "$patch": "delete"}),
            1 => json!({"port": i, "name": "new"}),
            _ => json!({"port": i + n, "name": "added"}),
        })
        .collect();
    let out = patched(
        Kind::Service,
        json!({"metadata": {"finalizers": finalizers}, "spec": {"ports": ports}}),
        json!({"metadata": {"finalizers": more}, "spec": {"ports": patch_ports}}),
    );
    let merged = out["metadata"]["finalizers"].as_array().map_or(0, Vec::len);
    assert_eq!(merged, n + n / 2);
    let ports = out["spec"]["ports"].as_array().cloned().unwrap_or_default();
    // Every third deleted, every third renamed, every third left and one added for it.
    let deleted = (0..n).filter(|i| i % 3 == 0).count();
    let added = (0..n).filter(|i| i % 3 == 2).count();
    assert_eq!(ports.len(), n - deleted + added);
    assert_eq!(ports[0], json!({"port": 1, "name": "new"}));
    assert_eq!(ports[1], json!({"port": 2, "name": "old"}));
    assert!(ports.contains(&json!({"port": n + 2, "name": "added"})));
}
