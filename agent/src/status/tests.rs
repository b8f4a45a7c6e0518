use serde_json::json;

use super::*;

fn pod(status: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1", "resourceVersion": "5"},
        "spec": {"nodeName": "n", "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}]},
        "status": status,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn desired(a: bool, b: bool) -> DesiredStatus {
    DesiredStatus {
        uid: "u1".into(),
        containers: vec![
            ContainerView {
                name: "a".into(),
                started: true,
                ready: a,
            },
            ContainerView {
                name: "b".into(),
                started: true,
                ready: b,
            },
        ],
        unsupported: vec![],
    }
}

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or_else(|e| panic!("{e}"))
}

/// Applies a status patch the simple way our tests need: the patch's status replaces these
/// fields (conditions are listed whole by the agent).
fn applied(mut pod: Pod, patch: &Value) -> Pod {
    let mut value = serde_json::to_value(&pod).unwrap_or_else(|e| panic!("{e}"));
    for field in ["phase", "conditions", "containerStatuses"] {
        value["status"][field] = patch["status"][field].clone();
    }
    pod = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    pod
}

#[test]
fn a_new_pod_gets_running_conditions_and_container_statuses() {
    let p = pod(json!({"podIP": "10.0.0.1"}));
    let patch = patch(&p, &desired(true, false), at(100)).unwrap_or_else(|| panic!("no patch"));
    let status = &patch["status"];
    assert_eq!(status["phase"], "Running");
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [b]");
    assert_eq!(ready["lastTransitionTime"], "1970-01-01T00:01:40Z");
    assert_eq!(status["containerStatuses"][0]["name"], "a");
    assert_eq!(status["containerStatuses"][0]["ready"], true);
    assert_eq!(status["containerStatuses"][0]["image"], "img-a");
    assert_eq!(status["containerStatuses"][1]["ready"], false);
    assert_eq!(status["containerStatuses"][1]["started"], true);
}

#[test]
fn nothing_is_written_when_the_pod_already_shows_it() {
    let p = pod(json!({}));
    let want = desired(true, true);
    let first = patch(&p, &want, at(100)).unwrap_or_else(|| panic!("no patch"));
    let p = applied(p, &first);
    assert!(shows(&p, &want));
    assert_eq!(patch(&p, &want, at(200)), None);
}

#[test]
fn last_transition_time_moves_only_when_the_status_flips() {
    let p = pod(json!({}));
    let p = applied(
        p.clone(),
        &patch(&p, &desired(false, false), at(100)).unwrap_or_default(),
    );
    // Still unready, another message: the time stays.
    let second = patch(&p, &desired(true, false), at(200)).unwrap_or_default();
    assert_eq!(second["status"]["conditions"][1]["type"], "Ready");
    assert_eq!(
        second["status"]["conditions"][1]["lastTransitionTime"],
        "1970-01-01T00:01:40Z"
    );
    let p = applied(p, &second);
    // Ready now: the time is the flip's.
    let third = patch(&p, &desired(true, true), at(300)).unwrap_or_default();
    assert_eq!(third["status"]["conditions"][1]["status"], "True");
    assert_eq!(
        third["status"]["conditions"][1]["lastTransitionTime"],
        "1970-01-01T00:05:00Z"
    );
}

#[test]
fn a_status_someone_else_overwrote_is_written_again() {
    let p = pod(json!({}));
    let want = desired(false, true);
    let p = applied(p.clone(), &patch(&p, &want, at(100)).unwrap_or_default());
    let mut value = serde_json::to_value(&p).unwrap_or_default();
    value["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    let overwritten: Pod = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    assert!(!shows(&overwritten, &want));
    assert!(patch(&overwritten, &want, at(200)).is_some());
}

#[test]
fn unsupported_probes_show_in_a_condition_that_clears() {
    let p = pod(json!({}));
    let mut want = desired(false, true);
    want.unsupported = vec!["container a: readinessProbe exec cannot run here".into()];
    let first = patch(&p, &want, at(100)).unwrap_or_default();
    let condition = first["status"]["conditions"][2].clone();
    assert_eq!(condition["type"], PROBES_SUPPORTED);
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "UnsupportedProbe");
    let p = applied(p, &first);
    let cleared = patch(&p, &desired(true, true), at(200)).unwrap_or_default();
    assert_eq!(cleared["status"]["conditions"][2]["type"], PROBES_SUPPORTED);
    assert_eq!(cleared["status"]["conditions"][2]["status"], "True");
}

#[test]
fn a_stale_snapshot_is_compared_with_the_written_pod() {
    let snapshot = Arc::new(pod(json!({})));
    let mut written = pod(json!({}));
    written.metadata.resource_version = Some("6".into());
    let written = ("5".to_string(), Arc::new(written));
    assert!(Arc::ptr_eq(newest(&snapshot, Some(&written)), &written.1));
    let mut caught_up = pod(json!({}));
    caught_up.metadata.resource_version = Some("6".into());
    let caught_up = Arc::new(caught_up);
    assert!(Arc::ptr_eq(newest(&caught_up, Some(&written)), &caught_up));
}
