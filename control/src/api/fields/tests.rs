use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use serde_json::json;

use super::*;

#[test]
fn unknown_fields_are_named_through_nested_lists() {
    let body = json!({
        "metadata": {"name": "web", "colour": "red"},
        "spec": {"containers": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "y", "readinessProbe": {"initialDelaySecands": 3, "tcpSocket": {"port": 80, "hostt": "h"}}},
        ]},
        "extra": null,
    });
    let (pod, unknown) = typed::<Pod>(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pod.metadata.name.as_deref(), Some("web"));
    // A JSON value's keys come in sorted order.
    assert_eq!(
        unknown,
        vec![
            "extra",
            "metadata.colour",
            "spec.containers[1].readinessProbe.initialDelaySecands",
            "spec.containers[1].readinessProbe.tcpSocket.hostt",
        ]
    );
}

#[test]
fn map_values_are_never_unknown_but_fields_below_map_values_are() {
    // Labels and ConfigMap data are maps: any key is known.
    let body =
        json!({"metadata": {"name": "c", "labels": {"anything": "goes"}}, "data": {"k": "v"}});
    let (_, unknown) = typed::<ConfigMap>(&body).unwrap_or_else(|e| panic!("{e}"));
    assert!(unknown.is_empty(), "{unknown:?}");
    // A Service's selector is a map too, but its ports are typed.
    let body = json!({"spec": {"selector": {"x": "y"}, "ports": [{"port": 80, "nodeport": 1}]}});
    let (_, unknown) = typed::<Service>(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unknown, vec!["spec.ports[0].nodeport"]);
}

#[test]
fn type_errors_still_name_the_path() {
    let body = json!({"spec": {"ports": [{"port": "eighty"}]}});
    let err = typed::<Service>(&body).err().map(|e| e.path().to_string());
    assert_eq!(err.as_deref(), Some("spec.ports[0].port"));
}

#[test]
fn duplicate_keys_are_found_in_json_at_any_depth() {
    let body = br#"{"metadata": {"name": "a", "name": "b"},
        "spec": {"ports": [{"port": 1}, {"port": 2, "port": 3}]}, "spec2": 1, "spec2": 2}"#;
    let (value, duplicate) = parse_json(body).unwrap_or_else(|e| panic!("{e}"));
    // The last one wins, as in kube-apiserver.
    assert_eq!(value["metadata"]["name"], "b");
    assert_eq!(value["spec"]["ports"][1]["port"], 3);
    assert_eq!(
        duplicate,
        vec!["metadata.name", "spec.ports[1].port", "spec2"]
    );
    assert!(parse_json(b"{} x").is_err());
    assert!(parse_json(b"{\"a\": }").is_err());
}

#[test]
fn duplicate_keys_are_found_in_yaml() {
    let body =
        b"metadata:\n  name: a\n  labels:\n    x: '1'\n    x: '2'\nspec:\n  ports:\n  - port: 80\n";
    match parse_yaml(body) {
        // serde_yaml may refuse the duplicate itself; if it parses, the path is named.
        Ok((value, duplicate)) => {
            assert_eq!(value["spec"]["ports"][0]["port"], 80);
            assert_eq!(duplicate, vec!["metadata.labels.x"]);
        }
        Err(e) => assert!(e.to_string().contains("duplicate"), "{e}"),
    }
    let (value, duplicate) =
        parse_yaml(b"a: 1\n2: two\ntrue: yes\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(duplicate.is_empty());
    assert_eq!(value["2"], "two");
}

#[test]
fn judging_follows_the_directive() {
    let problems = Problems {
        unknown: vec!["spec.x".to_string(), "spec.y[0].z".to_string()],
        duplicate: vec!["metadata.name".to_string()],
    };
    let err = problems.judge(FieldValidation::Strict).err();
    assert_eq!(
        err.map(|e| (e.code, e.message)),
        Some((
            400,
            r#"strict decoding error: unknown field "spec.x", unknown field "spec.y[0].z", duplicate field "metadata.name""#
                .to_string()
        ))
    );
    assert_eq!(
        problems.judge(FieldValidation::Warn).unwrap_or_default(),
        vec![
            r#"unknown field "spec.x""#,
            r#"unknown field "spec.y[0].z""#,
            r#"duplicate field "metadata.name""#
        ]
    );
    assert!(
        problems
            .judge(FieldValidation::Ignore)
            .is_ok_and(|w| w.is_empty())
    );
    assert!(
        Problems::default()
            .judge(FieldValidation::Strict)
            .is_ok_and(|w| w.is_empty())
    );
}

#[test]
fn reports_are_bounded() {
    let mut fields = serde_json::Map::new();
    for i in 0..(MAX_REPORTED + 50) {
        fields.insert(format!("f{i}"), json!(1));
    }
    let (_, unknown) = typed::<Service>(&Value::Object(fields)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unknown.len(), MAX_REPORTED);
}
