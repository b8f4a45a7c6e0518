use serde_json::{Value, json};

use super::incoming::{TEMPLATE_GENERATION, UNLIMITED};
use super::*;
use crate::object::Object;

/// The tutorial's Deployment: no selector, no strategy.
fn tutorial_deployment(api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "Deployment",
        "metadata": {"name": "tomcat-deployment"},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "tomcat", "tier": "frontend"}},
                "spec": {"containers": [{"name": "tomcat", "image": "tomcat",
                    "ports": [{"containerPort": 80}]}]},
            },
        },
    })
}

fn stored(version: LegacyVersion, kind: Kind, value: Value) -> Value {
    to_stored(version, kind, value).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn extensions_deployment_gets_its_versions_defaults() {
    let v = stored(
        LegacyVersion::ExtensionsV1beta1,
        Kind::Deployment,
        tutorial_deployment("extensions/v1beta1"),
    );
    assert_eq!(v["apiVersion"], "apps/v1");
    let labels = json!({"app": "tomcat", "tier": "frontend"});
    assert_eq!(v["spec"]["selector"], json!({"matchLabels": labels}));
    assert_eq!(v["metadata"]["labels"], labels);
    assert_eq!(v["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        v["spec"]["strategy"]["rollingUpdate"],
        json!({"maxUnavailable": 1, "maxSurge": 1})
    );
    assert_eq!(v["spec"]["revisionHistoryLimit"], UNLIMITED);
    assert_eq!(v["spec"]["progressDeadlineSeconds"], UNLIMITED);
    // It decodes as an apps/v1 Deployment.
    let obj = Object::from_json(Kind::Deployment, v).unwrap_or_else(|e| panic!("{e}"));
    let Object::Deployment(d) = obj else {
        panic!("not a Deployment")
    };
    let spec = d.spec.unwrap_or_default();
    assert_eq!(spec.revision_history_limit, Some(i32::MAX));
    assert_eq!(spec.selector.match_labels.map(|m| m.len()), Some(2));
}

#[test]
fn apps_v1beta1_deployment_defaults_differ_from_extensions() {
    let v = stored(
        LegacyVersion::AppsV1beta1,
        Kind::Deployment,
        tutorial_deployment("apps/v1beta1"),
    );
    assert_eq!(v["apiVersion"], "apps/v1");
    assert!(v["spec"]["selector"]["matchLabels"].is_object());
    assert_eq!(
        v["spec"]["strategy"]["rollingUpdate"],
        json!({"maxUnavailable": "25%", "maxSurge": "25%"})
    );
    assert_eq!(v["spec"]["revisionHistoryLimit"], 2);
    assert_eq!(v["spec"]["progressDeadlineSeconds"], 600);
}

#[test]
fn apps_v1beta2_changes_only_the_api_version() {
    let body = tutorial_deployment("apps/v1beta2");
    let v = stored(LegacyVersion::AppsV1beta2, Kind::Deployment, body.clone());
    let mut expected = body;
    expected["apiVersion"] = "apps/v1".into();
    assert_eq!(v, expected);
}

#[test]
fn given_values_are_kept() {
    let mut body = tutorial_deployment("extensions/v1beta1");
    body["metadata"]["labels"] = json!({"own": "label"});
    body["spec"]["selector"] = json!({"matchLabels": {"app": "tomcat"}});
    body["spec"]["revisionHistoryLimit"] = json!(3);
    body["spec"]["strategy"] = json!({"type": "Recreate"});
    let v = stored(LegacyVersion::ExtensionsV1beta1, Kind::Deployment, body);
    assert_eq!(v["metadata"]["labels"], json!({"own": "label"}));
    assert_eq!(
        v["spec"]["selector"],
        json!({"matchLabels": {"app": "tomcat"}})
    );
    assert_eq!(v["spec"]["revisionHistoryLimit"], 3);
    assert_eq!(v["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn rollback_to_is_refused_naming_the_field() {
    let mut body = tutorial_deployment("extensions/v1beta1");
    body["spec"]["rollbackTo"] = json!({"revision": 1});
    let err = to_stored(LegacyVersion::ExtensionsV1beta1, Kind::Deployment, body)
        .err()
        .unwrap_or_else(|| panic!("rollbackTo was accepted"));
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("spec.rollbackTo: Forbidden"),
        "{}",
        err.message
    );
    let mut body = tutorial_deployment("apps/v1beta1");
    body["spec"]["rollbackTo"] = Value::Null;
    let v = stored(LegacyVersion::AppsV1beta1, Kind::Deployment, body);
    assert!(v["spec"].get("rollbackTo").is_none());
}

#[test]
fn another_api_version_is_a_bad_request() {
    let err = to_stored(
        LegacyVersion::ExtensionsV1beta1,
        Kind::Deployment,
        tutorial_deployment("apps/v1"),
    )
    .err()
    .unwrap_or_else(|| panic!("apps/v1 body accepted at extensions/v1beta1"));
    assert_eq!(err.code, 400);
    assert!(err.message.contains("apiVersion"), "{}", err.message);
}

#[test]
fn extensions_replica_set_and_daemon_set_defaults() {
    let mut rs = tutorial_deployment("extensions/v1beta1");
    rs["kind"] = "ReplicaSet".into();
    let v = stored(LegacyVersion::ExtensionsV1beta1, Kind::ReplicaSet, rs);
    assert!(v["spec"]["selector"]["matchLabels"].is_object());
    assert!(v["spec"].get("strategy").is_none());

    let mut ds = tutorial_deployment("extensions/v1beta1");
    ds["kind"] = "DaemonSet".into();
    ds["spec"]["templateGeneration"] = json!(4);
    let v = stored(
        LegacyVersion::ExtensionsV1beta1,
        Kind::DaemonSet,
        ds.clone(),
    );
    assert_eq!(v["spec"]["updateStrategy"]["type"], "OnDelete");
    assert!(v["spec"].get("templateGeneration").is_none());
    assert_eq!(v["metadata"]["annotations"][TEMPLATE_GENERATION], "4");
    ds["spec"]
        .as_object_mut()
        .map(|s| s.remove("templateGeneration"));
    let v = stored(
        LegacyVersion::ExtensionsV1beta1,
        Kind::DaemonSet,
        ds.clone(),
    );
    assert_eq!(v["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
    ds["spec"]["templateGeneration"] = json!(-1);
    let err = to_stored(LegacyVersion::ExtensionsV1beta1, Kind::DaemonSet, ds).err();
    assert_eq!(err.map(|e| e.code), Some(422));
}

#[test]
fn apps_v1beta1_stateful_set_updates_on_delete() {
    let mut sts = tutorial_deployment("apps/v1beta1");
    sts["kind"] = "StatefulSet".into();
    let v = stored(LegacyVersion::AppsV1beta1, Kind::StatefulSet, sts);
    assert_eq!(v["spec"]["updateStrategy"]["type"], "OnDelete");
    assert!(v["spec"]["selector"]["matchLabels"].is_object());
}

#[test]
fn stored_objects_go_out_in_the_legacy_shape() {
    let mut ds = tutorial_deployment("apps/v1");
    ds["kind"] = "DaemonSet".into();
    ds["metadata"]["annotations"] = json!({TEMPLATE_GENERATION: "7"});
    let out = to_legacy(
        LegacyVersion::ExtensionsV1beta1,
        Kind::DaemonSet,
        ds.clone(),
    );
    assert_eq!(out["apiVersion"], "extensions/v1beta1");
    assert_eq!(out["spec"]["templateGeneration"], 7);
    assert!(out["metadata"].get("annotations").is_none());
    // apps/v1beta2 keeps the annotation: only extensions/v1beta1 had the field.
    let out = to_legacy(LegacyVersion::AppsV1beta2, Kind::DaemonSet, ds);
    assert_eq!(out["apiVersion"], "apps/v1beta2");
    assert_eq!(out["metadata"]["annotations"][TEMPLATE_GENERATION], "7");
}

#[test]
fn a_round_trip_through_a_legacy_version_is_stable() {
    for version in LegacyVersion::ALL {
        for kind in version.kinds() {
            let mut body = tutorial_deployment(version.api_version());
            body["kind"] = kind.name().into();
            let once = stored(version, *kind, body);
            let again = stored(version, *kind, to_legacy(version, *kind, once.clone()));
            assert_eq!(once, again, "{} {kind}", version.api_version());
        }
    }
}

#[test]
fn versions_are_found_by_group_and_version() {
    assert_eq!(
        LegacyVersion::find("extensions", "v1beta1"),
        Some(LegacyVersion::ExtensionsV1beta1)
    );
    assert_eq!(LegacyVersion::find("apps", "v1"), None);
    assert_eq!(LegacyVersion::of_group("apps").count(), 2);
    assert!(
        LegacyVersion::AppsV1beta1
            .kinds()
            .contains(&Kind::StatefulSet)
    );
    assert!(
        !LegacyVersion::AppsV1beta1
            .kinds()
            .contains(&Kind::ReplicaSet)
    );
    assert!(
        !LegacyVersion::ExtensionsV1beta1
            .kinds()
            .contains(&Kind::StatefulSet)
    );
}

#[test]
fn tables_embed_objects_in_the_legacy_shape() {
    let mut table = json!({"rows": [
        {"cells": ["a"], "object": tutorial_deployment("apps/v1")},
        {"cells": ["b"], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}},
    ]});
    let unchanged = table.clone();
    table_objects(None, Kind::Deployment, &mut table);
    assert_eq!(table, unchanged);
    table_objects(
        Some(LegacyVersion::ExtensionsV1beta1),
        Kind::Deployment,
        &mut table,
    );
    assert_eq!(
        table["rows"][0]["object"]["apiVersion"],
        "extensions/v1beta1"
    );
    assert_eq!(table["rows"][1]["object"]["apiVersion"], "meta.k8s.io/v1");
}
