use serde_json::json;

use super::admit;
use crate::admission::AdmissionError;
use crate::object::{Kind, Object};

fn object(kind: Kind, value: serde_json::Value) -> Object {
    Object::from_json(kind, value).unwrap_or_else(|e| panic!("{e}"))
}

fn fields(err: Result<(), AdmissionError>) -> Vec<String> {
    match err {
        Err(AdmissionError::Invalid { causes, .. }) => causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn template(labels: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"labels": labels},
           "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}})
}

#[test]
fn rc_selector_and_labels_default_to_the_template_labels() {
    let mut rc = object(
        Kind::ReplicationController,
        json!({"metadata": {"name": "nginx"}, "spec": {"template": template(json!({"app": "nginx"}))}}),
    );
    admit(&mut rc, None).unwrap_or_else(|e| panic!("{e}"));
    let json = rc.to_json();
    assert_eq!(json["spec"]["selector"], json!({"app": "nginx"}));
    assert_eq!(json["metadata"]["labels"], json!({"app": "nginx"}));
    assert_eq!(json["spec"]["replicas"], 1);
    assert_eq!(
        json["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"], "TCP",
        "the template gets the Pod defaults"
    );
}

#[test]
fn rc_selector_must_match_the_template() {
    let mut rc = object(
        Kind::ReplicationController,
        json!({"metadata": {"name": "x"}, "spec": {"replicas": -1, "selector": {"app": "a"},
               "template": template(json!({"app": "b"}))}}),
    );
    let causes = fields(admit(&mut rc, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.replicas: Invalid value: -1")),
        "{causes:?}"
    );
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.template.metadata.labels:")
                && c.contains("`selector` does not match template `labels`")),
        "{causes:?}"
    );
}

#[test]
fn deployment_gets_apps_v1_defaults() {
    let mut d = object(
        Kind::Deployment,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
               "template": template(json!({"app": "web"}))}}),
    );
    admit(&mut d, None).unwrap_or_else(|e| panic!("{e}"));
    let spec = &d.to_json()["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], "25%");
}

#[test]
fn deployment_without_selector_or_with_a_foreign_one_is_refused() {
    let mut d = object(
        Kind::Deployment,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {},
               "template": template(json!({"app": "web"}))}}),
    );
    let causes = fields(admit(&mut d, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.selector: Invalid value")),
        "{causes:?}"
    );
    let mut d = object(
        Kind::ReplicaSet,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "db"}},
               "template": template(json!({"app": "web"}))}}),
    );
    let causes = fields(admit(&mut d, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.template.metadata.labels")),
        "{causes:?}"
    );
}

#[test]
fn recreate_with_rolling_update_and_zero_bounds_are_refused() {
    let mut d = object(
        Kind::Deployment,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
               "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
               "template": template(json!({"app": "web"}))}}),
    );
    let causes = fields(admit(&mut d, None));
    assert!(
        causes
            .iter()
            .any(|c| c.contains("may not be 0 when `maxSurge` is 0")),
        "{causes:?}"
    );
    let mut d = object(
        Kind::Deployment,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
               "strategy": {"type": "Recreate", "rollingUpdate": {}},
               "template": template(json!({"app": "web"}))}}),
    );
    let causes = fields(admit(&mut d, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.strategy.rollingUpdate: Forbidden")),
        "{causes:?}"
    );
}

#[test]
fn template_containers_are_checked_with_their_full_path() {
    let mut rs = object(
        Kind::ReplicaSet,
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "Bad_Name"}]}}}}),
    );
    let causes = fields(admit(&mut rs, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.template.spec.containers[0].name")),
        "{causes:?}"
    );
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.template.spec.restartPolicy: Unsupported")),
        "{causes:?}"
    );
}

#[test]
fn selector_of_a_replica_set_is_immutable() {
    let make = |app: &str| {
        object(
            Kind::ReplicaSet,
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": app}},
                   "template": template(json!({"app": app}))}}),
        )
    };
    let mut old = make("a");
    admit(&mut old, None).unwrap_or_else(|e| panic!("{e}"));
    let mut new = make("b");
    let causes = fields(admit(&mut new, Some(&old)));
    assert!(
        causes.iter().any(|c| c.contains("field is immutable")),
        "{causes:?}"
    );
}

#[test]
fn jobs_need_a_restart_policy_they_allow() {
    let mut job = object(
        Kind::Job,
        json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "pi", "image": "perl"}]}}}}),
    );
    let causes = fields(admit(&mut job, None));
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("spec.template.spec.restartPolicy: Unsupported")),
        "{causes:?}"
    );
}
