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
