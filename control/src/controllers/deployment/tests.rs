//! Unit tests of the pure parts: hash stability, rolling-update arithmetic (with a simulated
//! rollout checking the surge and availability bounds at every step), revision numbering,
//! history cleanup, proportional scaling, status conditions and claiming.

#![allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::claim::{Claim, adopted, claim, owner_reference};
use super::hash::{equal_ignoring_hash, pod_template_hash, with_hash};
use super::revision::{append_history, max_revision, set_new_rs_annotations};
use super::rolling::{
    max_surge, max_unavailable, new_rs_target, old_rs_targets, resolve_fenceposts, scaled_value,
};
use super::status::{self, NEW_RS_AVAILABLE, PROGRESSING, RS_UPDATED};
use super::*;
use crate::selector::Selector;

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

fn int_or(text: &str) -> IntOrString {
    match text.parse::<i32>() {
        Ok(n) => IntOrString::Int(n),
        Err(_) => IntOrString::String(text.into()),
    }
}

fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("d-uid".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..LabelSelector::default()
            },
            template: template("nginx:1.27"),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(int_or(surge)),
                    max_unavailable: Some(int_or(unavailable)),
                }),
            }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn rs(name: &str, replicas: i32, available: i32, revision: Option<i64>) -> ReplicaSet {
    let annotations =
        revision.map(|r| BTreeMap::from([(REVISION_ANNOTATION.to_string(), r.to_string())]));
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            annotations,
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            template: Some(template(name)),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(available),
            available_replicas: Some(available),
            observed_generation: Some(1),
            ..ReplicaSetStatus::default()
        }),
    }
}

fn set_spec(rs: &mut ReplicaSet, replicas: i32) {
    if let Some(spec) = rs.spec.as_mut() {
        spec.replicas = Some(replicas);
    }
}

fn now() -> Time {
    Time(jiff::Timestamp::from_second(1_700_000_000).unwrap())
}

#[test]
fn equal_templates_hash_equal_and_changes_hash_differently() {
    let a = pod_template_hash(&template("nginx:1.27"), None);
    assert_eq!(a, pod_template_hash(&template("nginx:1.27"), None));
    assert_ne!(a, pod_template_hash(&template("nginx:1.28"), None));
    assert_ne!(a, pod_template_hash(&template("nginx:1.27"), Some(1)));
    assert!(!a.is_empty() && a.len() <= 10, "{a}");
    assert!(
        a.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{a}"
    );
    let labelled = with_hash(&template("nginx:1.27"), &a);
    assert!(equal_ignoring_hash(&labelled, &template("nginx:1.27")));
    assert!(!equal_ignoring_hash(&labelled, &template("nginx:1.28")));
    // As kubectl sends a template back: empty structs where the stored form has none.
    let mut round_trip = template("nginx:1.27");
    round_trip.spec.as_mut().unwrap().containers[0].resources = Some(Default::default());
    round_trip.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
    assert!(equal_ignoring_hash(&labelled, &round_trip));
}

#[test]
fn percentages_round_surge_up_and_unavailability_down() {
    assert_eq!(scaled_value(&int_or("25%"), 3, true), 1);
    assert_eq!(scaled_value(&int_or("25%"), 3, false), 0);
    assert_eq!(scaled_value(&int_or("25%"), 10, true), 3);
    assert_eq!(scaled_value(&int_or("25%"), 10, false), 2);
    assert_eq!(resolve_fenceposts(&int_or("0"), &int_or("0%"), 5), (0, 1));
    assert_eq!(resolve_fenceposts(&int_or("2"), &int_or("1"), 5), (2, 1));
    let d = deployment(3, "25%", "25%");
    assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
    assert_eq!(
        max_unavailable(&deployment(2, "0", "5")),
        2,
        "capped at replicas"
    );
}

/// Rolls `d` from one old ReplicaSet of `replicas` to a new one, Pods becoming available as
/// soon as they are wanted, and checks the bounds at every step.
fn simulate(d: &Deployment) -> usize {
    let desired = desired_replicas(d);
    let (surge, unavailable) = (max_surge(d), max_unavailable(d));
    let mut old = rs("old", desired, desired, Some(1));
    let mut new = rs("new", 0, 0, Some(2));
    for step in 0..100 {
        if rs_replicas(&old) == 0 && rs_available(&new) == desired {
            return step;
        }
        let all = [&old, &new];
        if let Some(target) = new_rs_target(d, &all, &new).filter(|t| *t != rs_replicas(&new)) {
            set_spec(&mut new, target);
        } else {
            let targets = old_rs_targets(d, Some(&new), &[&old]);
            set_spec(&mut old, targets[0]);
            // Scaling down removes available Pods at once.
            let left = rs_available(&old).min(targets[0]);
            old.status.as_mut().unwrap().available_replicas = Some(left);
        }
        let total = rs_replicas(&old) + rs_replicas(&new);
        assert!(total <= desired + surge, "step {step}: {total} Pods wanted");
        let available = rs_available(&old) + rs_available(&new);
        assert!(
            available >= desired - unavailable,
            "step {step}: only {available} available"
        );
        // The new Pods become available.
        let n = rs_replicas(&new);
        new.status.as_mut().unwrap().available_replicas = Some(n);
    }
    panic!("rollout did not finish in 100 steps");
}

#[test]
fn rolling_update_keeps_surge_and_availability_bounds() {
    assert!(simulate(&deployment(3, "25%", "25%")) > 1);
    assert!(simulate(&deployment(10, "2", "3")) > 1);
    assert!(simulate(&deployment(5, "0", "1")) > 1);
    assert!(simulate(&deployment(4, "100%", "0")) > 1);
}

#[test]
fn unavailable_old_pods_go_first() {
    let d = deployment(4, "1", "1");
    let old_a = rs("a", 2, 0, Some(1));
    let old_b = rs("b", 2, 2, Some(2));
    let new = rs("c", 1, 1, Some(3));
    // 5 wanted, 3 available, minimum 3: only the unavailable Pods of `a` may go.
    assert_eq!(
        old_rs_targets(&d, Some(&new), &[&old_a, &old_b]),
        vec![0, 2]
    );
}

#[test]
fn new_replica_set_gets_next_revision_and_rollback_keeps_history() {
    let mut d = deployment(3, "25%", "25%");
    d.metadata.annotations = Some(BTreeMap::from([
        (
            CHANGE_CAUSE_ANNOTATION.to_string(),
            "kubectl set image".to_string(),
        ),
        (
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            "{}".to_string(),
        ),
    ]));
    let olds = [rs("a", 0, 0, Some(1)), rs("b", 3, 3, Some(2))];
    let next = max_revision(&olds) + 1;
    assert_eq!(next, 3);
    let mut fresh = rs("c", 0, 0, None);
    assert!(set_new_rs_annotations(&d, &mut fresh, next, false, 1));
    let a = fresh.metadata.annotations.clone().unwrap();
    assert_eq!(a[REVISION_ANNOTATION], "3");
    assert_eq!(a[CHANGE_CAUSE_ANNOTATION], "kubectl set image");
    assert_eq!(a[DESIRED_REPLICAS_ANNOTATION], "3");
    assert_eq!(a[MAX_REPLICAS_ANNOTATION], "4");
    assert!(!a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    assert!(!a.contains_key(REVISION_HISTORY_ANNOTATION));
    // Rolled back to revision 1: it becomes 3 and remembers 1.
    let mut back = rs("a", 0, 0, Some(1));
    assert!(set_new_rs_annotations(&d, &mut back, 3, true, 1));
    let a = back.metadata.annotations.clone().unwrap();
    assert_eq!(a[REVISION_ANNOTATION], "3");
    assert_eq!(a[REVISION_HISTORY_ANNOTATION], "1");
    assert!(
        !a.contains_key(DESIRED_REPLICAS_ANNOTATION),
        "only for new ones"
    );
    // And again later: 5, remembering 1 and 3.
    assert!(set_new_rs_annotations(&d, &mut back, 5, true, 1));
    assert_eq!(
        back.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY_ANNOTATION],
        "1,3"
    );
    // Nothing changes when it is already the newest.
    assert!(!set_new_rs_annotations(&d, &mut back, 5, true, 1));
}

#[test]
fn revision_history_is_bounded() {
    let long: Vec<String> = (1..=600).map(|n| n.to_string()).collect();
    let joined = append_history(&long.join(","), "601");
    assert!(joined.len() <= revision::MAX_REVISION_HISTORY_CHARS);
    assert!(joined.ends_with(",600,601"), "{joined}");
    assert_eq!(append_history("", "4"), "4");
}

#[test]
fn history_limit_deletes_oldest_scaled_down_sets() {
    let mut d = deployment(3, "25%", "25%");
    d.spec.as_mut().unwrap().revision_history_limit = Some(2);
    let sets = [
        rs("r4", 0, 0, Some(4)),
        rs("r1", 0, 0, Some(1)),
        rs("r2", 1, 1, Some(2)),
        rs("r3", 0, 0, Some(3)),
        rs("r5", 0, 0, Some(5)),
    ];
    let refs: Vec<&ReplicaSet> = sets.iter().collect();
    // Three too many: r1, r2, r3 by revision; r2 still has a replica.
    assert_eq!(history::to_delete(&d, &refs), vec!["r1", "r3"]);
    d.spec.as_mut().unwrap().revision_history_limit = Some(10);
    assert!(history::to_delete(&d, &refs).is_empty());
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // 10 replicas, surge 3: old 8 and new 5 were sized for max 13; now 20 (surge 5, max 25).
    let mut d = deployment(20, "25%", "25%");
    let mut old = rs("old", 8, 8, Some(1));
    let mut new = rs("new", 5, 0, Some(2));
    for set in [&mut old, &mut new] {
        revision::set_replicas_annotations(set, 10, 13);
    }
    assert!(scaling::is_scaling_event(&d, &[&old, &new]));
    let sizes = scaling::scaled_sizes(&d, Some(&new), &[&old]);
    assert_eq!(sizes["old"] + sizes["new"], 25, "{sizes:?}");
    assert_eq!(sizes["old"], 15, "{sizes:?}");
    // One active set simply takes the new size.
    d.spec.as_mut().unwrap().replicas = Some(7);
    let sizes = scaling::scaled_sizes(
        &d,
        Some(&rs("new", 3, 3, Some(2))),
        &[&rs("old", 0, 0, Some(1))],
    );
    assert_eq!(sizes, BTreeMap::from([("new".to_string(), 7)]));
}

#[test]
fn status_reports_progress_then_completion() {
    let d = deployment(3, "25%", "25%");
    let old = rs("old", 2, 2, Some(1));
    let new = rs("new", 2, 1, Some(2));
    let s = status::rollout(&d, &[&old, &new], Some(&new), &now());
    assert_eq!(s.replicas, Some(4));
    assert_eq!(s.updated_replicas, Some(2));
    assert_eq!(s.available_replicas, Some(3));
    assert_eq!(s.unavailable_replicas, Some(1));
    assert_eq!(s.observed_generation, Some(1));
    let available = status::condition(&s, status::AVAILABLE).unwrap();
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
    let progressing = status::condition(&s, PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some(RS_UPDATED));
    assert_eq!(
        progressing.message.as_deref(),
        Some("ReplicaSet \"new\" is progressing.")
    );
    let mut d = d;
    d.status = Some(s);
    let done = rs("new", 3, 3, Some(2));
    let s = status::rollout(&d, &[&rs("old", 0, 0, Some(1)), &done], Some(&done), &now());
    let progressing = status::condition(&s, PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some(NEW_RS_AVAILABLE));
    assert_eq!(
        progressing.message.as_deref(),
        Some("ReplicaSet \"new\" has successfully progressed.")
    );
    assert_eq!(s.unavailable_replicas, None, "zero counts are left out");
    assert!(status::is_complete(&d, &s));
    assert_eq!(status::recheck_at(&d, &s), None);
}

#[test]
fn a_stalled_rollout_times_out_after_its_deadline() {
    let mut d = deployment(3, "25%", "25%");
    let old = rs("old", 3, 3, Some(1));
    let new = rs("new", 1, 0, Some(2));
    let s = status::rollout(&d, &[&old, &new], Some(&new), &now());
    let at = status::recheck_at(&d, &s).unwrap();
    assert_eq!(at.as_second(), now().0.as_second() + 600);
    d.status = Some(s);
    let later = Time(jiff::Timestamp::from_second(now().0.as_second() + 601).unwrap());
    let s = status::rollout(&d, &[&old, &new], Some(&new), &later);
    let c = status::condition(&s, PROGRESSING).unwrap();
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some(status::TIMED_OUT));
}

#[test]
fn pausing_and_resuming_set_the_progressing_reason() {
    let mut d = deployment(3, "25%", "25%");
    assert!(status::pause_condition(&d, &now()).is_none());
    d.spec.as_mut().unwrap().paused = Some(true);
    let c = status::pause_condition(&d, &now()).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("Unknown", Some(status::PAUSED))
    );
    d.status = Some(Default::default());
    status::set_condition(d.status.as_mut().unwrap(), c);
    assert!(status::pause_condition(&d, &now()).is_none());
    d.spec.as_mut().unwrap().paused = Some(false);
    let c = status::pause_condition(&d, &now()).unwrap();
    assert_eq!(c.reason.as_deref(), Some(status::RESUMED));
}

#[test]
fn claims_follow_controller_references_and_the_selector() {
    let d = deployment(3, "25%", "25%");
    let selector = Selector::from_label_selector(&d.spec.as_ref().unwrap().selector).unwrap();
    let mut orphan = rs("orphan", 1, 1, None);
    orphan.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
    assert_eq!(claim(&d, &selector, &orphan), Claim::Adopt);
    let mine = adopted(&d, &orphan);
    assert_eq!(claim(&d, &selector, &mine), Claim::Owned);
    let mut moved = mine.clone();
    moved.metadata.labels = Some(BTreeMap::from([("app".into(), "other".into())]));
    assert_eq!(claim(&d, &selector, &moved), Claim::Release);
    let mut theirs = orphan.clone();
    let mut other = owner_reference(&d);
    other.uid = "someone-else".into();
    theirs.metadata.owner_references = Some(vec![other]);
    assert_eq!(claim(&d, &selector, &theirs), Claim::Ignore);
    let unrelated = rs("unrelated", 1, 1, None);
    assert_eq!(claim(&d, &selector, &unrelated), Claim::Ignore);
}

#[test]
fn a_status_from_before_a_scale_down_does_not_count_extra_pods() {
    let d = deployment(3, "1", "1");
    // The old set was scaled to 2 but its status still reports 3 available.
    let mut old = rs("old", 2, 3, Some(1));
    old.metadata.generation = Some(2);
    let new = rs("new", 1, 1, Some(2));
    // Counted: 2 + 1 available, minimum 2: one more may go, not two.
    assert_eq!(old_rs_targets(&d, Some(&new), &[&old]), vec![1]);
}
