//! The planning functions on hand-made owners and Pods: claims (own, adopt, release, leave
//! alone), scaling with the burst cap and the deletion ranking, slow-start batches, the Pod
//! made from a template, and the status a set of Pods gives.
#![allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use serde_json::{Value, json};

use super::*;
use crate::controllers::replicas::owner::{Owner, OwnerKind, controller_key};
use crate::controllers::replicas::status::{self, ManageError, REPLICA_FAILURE, ReplicaStatus};
use crate::controllers::replicas::template::pod_for;

fn rc(replicas: i32) -> Owner {
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "myweb", "namespace": "default", "uid": "rc-1", "generation": 3},
        "spec": {"replicas": replicas, "selector": {"app": "myweb"},
                 "template": {"metadata": {"labels": {"app": "myweb", "tier": "front"},
                                           "annotations": {"note": "x"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .unwrap();
    Owner::from_rc(&rc).unwrap()
}

fn rs_with_expressions() -> Owner {
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "frontend", "namespace": "default", "uid": "rs-1"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"tier": "frontend"},
                              "matchExpressions": [{"key": "env", "operator": "In",
                                                    "values": ["prod", "staging"]}]},
                 "template": {"metadata": {"labels": {"tier": "frontend", "env": "prod"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .unwrap();
    Owner::from_rs(&rs).unwrap()
}

/// A Pod with `labels`, controlled by the owner with `controller` uid (if any), and `extra`
/// merged into it.
fn pod(name: &str, labels: Value, controller: Option<&str>, extra: Value) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"),
                     "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Pending"}
    });
    if let Some(uid) = controller {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1",
            "kind": "ReplicationController", "name": "myweb", "uid": uid, "controller": true}]);
    }
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn names(pods: &[&Pod]) -> Vec<String> {
    pods.iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

fn ready(at: &str) -> Value {
    json!({"spec": {"nodeName": "n1"},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": "True",
                                      "lastTransitionTime": at}]}})
}

#[test]
fn claims_own_adopt_release_and_leave_alone() {
    let owner = rc(2);
    let app = json!({"app": "myweb"});
    let pods = [
        pod("mine", app.clone(), Some("rc-1"), json!({})),
        pod("orphan", app.clone(), None, json!({})),
        pod(
            "relabelled",
            json!({"app": "other"}),
            Some("rc-1"),
            json!({}),
        ),
        pod("theirs", app.clone(), Some("rc-2"), json!({})),
        pod("stranger", json!({"app": "other"}), None, json!({})),
        pod(
            "done",
            app.clone(),
            Some("rc-1"),
            json!({"status": {"phase": "Succeeded"}}),
        ),
        pod(
            "failed-orphan",
            app.clone(),
            None,
            json!({"status": {"phase": "Failed"}}),
        ),
        pod(
            "leaving",
            app.clone(),
            None,
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        ),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let c = claim(&owner, &refs);
    assert_eq!(names(&c.owned), ["mine"]);
    assert_eq!(names(&c.adopt), ["orphan"]);
    assert_eq!(names(&c.release), ["relabelled"]);
}

#[test]
fn an_owner_being_deleted_neither_adopts_nor_releases() {
    let mut owner = rc(2);
    owner.deleting = true;
    let pods = [
        pod("mine", json!({"app": "myweb"}), Some("rc-1"), json!({})),
        pod("orphan", json!({"app": "myweb"}), None, json!({})),
        pod(
            "relabelled",
            json!({"app": "other"}),
            Some("rc-1"),
            json!({}),
        ),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let c = claim(&owner, &refs);
    assert_eq!(names(&c.owned), ["mine"]);
    assert!(c.adopt.is_empty());
    assert!(c.release.is_empty());
}

#[test]
fn match_expressions_select_for_a_replica_set() {
    let owner = rs_with_expressions();
    let pods = [
        pod(
            "prod",
            json!({"tier": "frontend", "env": "prod"}),
            None,
            json!({}),
        ),
        pod(
            "dev",
            json!({"tier": "frontend", "env": "dev"}),
            None,
            json!({}),
        ),
        pod("no-env", json!({"tier": "frontend"}), None, json!({})),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    assert_eq!(names(&claim(&owner, &refs).adopt), ["prod"]);
}

#[test]
fn an_empty_selector_selects_nothing() {
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "x", "namespace": "default", "uid": "u"},
        "spec": {"selector": {}}
    }))
    .unwrap();
    let owner = Owner::from_rc(&rc).unwrap();
    assert!(!owner.selects(Some(&[("a".to_string(), "b".to_string())].into())));
    assert_eq!(owner.replicas, 1, "spec.replicas defaults to 1");
}

#[test]
fn an_owner_without_uid_or_with_a_bad_selector_is_refused() {
    let rc: ReplicationController =
        serde_json::from_value(json!({"metadata": {"name": "x", "namespace": "default"}})).unwrap();
    let err = Owner::from_rc(&rc).unwrap_err().to_string();
    assert!(
        err.contains("ReplicationController default/x") && err.contains("uid"),
        "{err}"
    );
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "y", "namespace": "default", "uid": "u"},
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}
    }))
    .unwrap();
    let err = Owner::from_rs(&rs).unwrap_err().to_string();
    assert!(err.contains("matchExpressions[0].values"), "{err}");
}

#[test]
fn scale_creates_the_missing_and_caps_a_burst() {
    let owner = rc(3);
    let pods = [pod("a", json!({"app": "myweb"}), Some("rc-1"), json!({}))];
    let refs: Vec<&Pod> = pods.iter().collect();
    assert_eq!(scale(&owner, &refs), Scale::Create(2));
    assert_eq!(scale(&rc(1), &refs), Scale::Keep);
    assert_eq!(scale(&rc(10_000), &[]), Scale::Create(BURST_REPLICAS));
    assert_eq!(scale(&rc(0), &[]), Scale::Keep);
}

#[test]
fn scale_down_deletes_in_upstream_rank_order() {
    let owner = rc(1);
    let app = || json!({"app": "myweb"});
    let at = |t: &str| json!({"metadata": {"creationTimestamp": t}});
    let pods = [
        pod(
            "ready-old",
            app(),
            Some("rc-1"),
            ready("2026-01-01T00:00:00Z"),
        ),
        pod(
            "ready-new",
            app(),
            Some("rc-1"),
            ready("2026-01-01T01:00:00Z"),
        ),
        pod(
            "running-not-ready",
            app(),
            Some("rc-1"),
            json!({"spec": {"nodeName": "n2"}, "status": {"phase": "Running"}}),
        ),
        pod(
            "pending-assigned",
            app(),
            Some("rc-1"),
            json!({"spec": {"nodeName": "n2"}}),
        ),
        pod(
            "unassigned-old",
            app(),
            Some("rc-1"),
            at("2026-01-01T00:00:00Z"),
        ),
        pod(
            "unassigned-new",
            app(),
            Some("rc-1"),
            at("2026-01-02T00:00:00Z"),
        ),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let Scale::Delete(order) = scale(&owner, &refs) else {
        panic!("expected deletes");
    };
    assert_eq!(
        order,
        [
            "unassigned-new",
            "unassigned-old",
            "pending-assigned",
            "running-not-ready",
            "ready-new",
        ]
    );
}

#[test]
fn deletion_cost_and_doubled_up_nodes_rank_before_ready_time() {
    let owner = rc(1);
    let app = || json!({"app": "myweb"});
    let on = |node: &str, at: &str| {
        let mut v = ready(at);
        v["spec"]["nodeName"] = node.into();
        v
    };
    let mut cheap = on("n3", "2026-01-01T00:00:00Z");
    cheap["metadata"] =
        json!({"annotations": {"controller.kubernetes.io/pod-deletion-cost": "-5"}});
    let pods = [
        pod(
            "alone-newest",
            app(),
            Some("rc-1"),
            on("n1", "2026-01-03T00:00:00Z"),
        ),
        pod(
            "shared-a",
            app(),
            Some("rc-1"),
            on("n2", "2026-01-01T00:00:00Z"),
        ),
        pod(
            "shared-b",
            app(),
            Some("rc-1"),
            on("n2", "2026-01-02T00:00:00Z"),
        ),
        pod("cheap", app(), Some("rc-1"), cheap),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let Scale::Delete(order) = scale(&owner, &refs) else {
        panic!("expected deletes");
    };
    assert_eq!(order, ["cheap", "shared-b", "shared-a"]);
}

#[test]
fn slow_start_doubles_batches() {
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(1), [1]);
    assert_eq!(slow_start_batches(3), [1, 2]);
    assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
    assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
}

#[test]
fn pods_come_from_the_template_with_a_controller_reference() {
    let owner = rc(1);
    let pod = pod_for(&owner);
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("myweb-"));
    assert_eq!(pod.metadata.name, None);
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(pod.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(pod.metadata.annotations.as_ref().unwrap()["note"], "x");
    let r = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            r.api_version.as_str(),
            r.kind.as_str(),
            r.name.as_str(),
            r.uid.as_str()
        ),
        ("v1", "ReplicationController", "myweb", "rc-1")
    );
    assert_eq!(
        (r.controller, r.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(
        pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("nginx")
    );
    // The reference leads back to the owner.
    let mut named = pod.clone();
    named.metadata.name = Some("myweb-abcde".into());
    assert_eq!(controller_key(&named), Some(owner.key.clone()));
    assert!(owner.controls(&named));
    let rs = rs_with_expressions();
    let r = pod_for(&rs).metadata.owner_references.unwrap().remove(0);
    assert_eq!(
        (r.api_version.as_str(), r.kind.as_str()),
        ("apps/v1", "ReplicaSet")
    );
    assert_eq!(OwnerKind::of_reference(&r), Some(OwnerKind::ReplicaSet));
}

#[test]
fn status_counts_labelled_ready_and_available_pods() {
    let mut owner = rc(3);
    owner.min_ready_seconds = 60;
    let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
    let full = || json!({"app": "myweb", "tier": "front"});
    let pods = [
        pod(
            "long-ready",
            full(),
            Some("rc-1"),
            ready("2026-01-01T00:00:00Z"),
        ),
        pod(
            "just-ready",
            json!({"app": "myweb"}),
            Some("rc-1"),
            ready("2026-01-01T00:09:30Z"),
        ),
        pod("pending", full(), Some("rc-1"), json!({})),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let s = status::desired(&owner, &refs, None, now);
    assert_eq!(
        s,
        ReplicaStatus {
            replicas: 3,
            fully_labeled_replicas: 2,
            ready_replicas: 2,
            available_replicas: 1,
            observed_generation: 3,
            failure: None,
        }
    );
    // The Pod Ready 30 s ago becomes available 30 s (and a second) from now.
    assert_eq!(
        status::next_availability(&owner, &refs, now),
        Some(std::time::Duration::from_secs(31))
    );
    owner.min_ready_seconds = 0;
    assert_eq!(
        status::desired(&owner, &refs, None, now).available_replicas,
        2
    );
    assert_eq!(status::next_availability(&owner, &refs, now), None);
}

#[test]
fn replica_failure_is_set_kept_and_cleared() {
    let mut owner = rc(1);
    let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let error = ManageError {
        reason: "FailedCreate",
        message: "pods \"myweb-\" is forbidden: exceeded quota".into(),
    };
    let failed = status::desired(&owner, &[], Some(&error), now);
    let failure = failed.failure.clone().unwrap();
    assert_eq!(
        (failure.status.as_str(), failure.reason.as_str()),
        ("True", "FailedCreate")
    );
    assert!(failure.message.contains("exceeded quota"));
    // Written into the RC, read back the same.
    let mut stored: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "myweb"},
        "status": {"replicas": 0, "conditions": [{"type": "Other", "status": "True"}]}
    }))
    .unwrap();
    status::write_rc(&mut stored, &failed);
    let conditions = stored.status.as_ref().unwrap().conditions.clone().unwrap();
    assert_eq!(conditions.len(), 2, "other conditions are kept");
    assert_eq!(conditions[1].type_, REPLICA_FAILURE);
    assert_eq!(ReplicaStatus::of_rc(stored.status.as_ref()), failed);
    // A later failure keeps the first condition as it is.
    owner.status = failed.clone();
    let later = ManageError {
        reason: "FailedCreate",
        message: "another".into(),
    };
    let again = status::desired(&owner, &[], Some(&later), now);
    assert_eq!(again, failed);
    // A sync without failure removes it.
    let cleared = status::desired(&owner, &[], None, now);
    assert_eq!(cleared.failure, None);
    let mut rs = ReplicaSet::default();
    status::write_rs(&mut rs, &failed);
    status::write_rs(&mut rs, &cleared);
    assert_eq!(rs.status.as_ref().unwrap().conditions, None);
    assert_eq!(ReplicaStatus::of_rs(rs.status.as_ref()), cleared);
}
