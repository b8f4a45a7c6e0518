use k8s_openapi::api::core::v1::Container;
use serde_json::json;

use super::*;

fn containers() -> Vec<Container> {
    serde_json::from_value(json!([
        {"name": "plain"},
        {"name": "ready", "readinessProbe": {"tcpSocket": {"port": 1}}},
        {"name": "slow", "startupProbe": {"tcpSocket": {"port": 1}},
                         "readinessProbe": {"tcpSocket": {"port": 1}}},
    ]))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ready(view: &PodView) -> Vec<bool> {
    view.desired().containers.iter().map(|c| c.ready).collect()
}

#[test]
fn a_container_without_probes_is_ready_at_once_and_the_others_wait() {
    let view = PodView::new("u".into(), &containers(), vec![]);
    assert_eq!(ready(&view), vec![true, false, false]);
    assert_eq!(view.started(), vec![true, true, false]);
}

#[test]
fn startup_gates_readiness() {
    let mut view = PodView::new("u".into(), &containers(), vec![]);
    view.apply(2, ProbeKind::Readiness, Published::Success);
    assert_eq!(ready(&view), vec![true, false, false], "not started yet");
    view.apply(2, ProbeKind::Startup, Published::Success);
    assert_eq!(view.started(), vec![true, true, true]);
    view.apply(1, ProbeKind::Readiness, Published::Success);
    assert_eq!(ready(&view), vec![true, true, true]);
    view.apply(1, ProbeKind::Readiness, Published::Failure);
    assert_eq!(ready(&view), vec![true, false, true]);
}

#[test]
fn liveness_never_decides_readiness() {
    let mut view = PodView::new("u".into(), &containers(), vec![]);
    view.apply(0, ProbeKind::Liveness, Published::Failure);
    assert_eq!(ready(&view), vec![true, false, false]);
}

#[test]
fn the_fingerprint_changes_with_probes_and_ip_only() {
    let pod = |ip: &str, port: i32, label: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u", "labels": {"l": label}},
            "spec": {"containers": [{"name": "c", "readinessProbe": {"tcpSocket": {"port": port}}}]},
            "status": {"podIP": ip},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let base = fingerprint(&pod("10.0.0.1", 80, "a"));
    assert_eq!(base, fingerprint(&pod("10.0.0.1", 80, "b")));
    assert_ne!(base, fingerprint(&pod("10.0.0.2", 80, "a")));
    assert_ne!(base, fingerprint(&pod("10.0.0.1", 81, "a")));
}
