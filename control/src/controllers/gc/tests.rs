//! Unit tests of the graph's jobs and the pure decisions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use super::Job;
use super::absent::{ABSENT_CAPACITY, AbsentOwners};
use super::decide::{
    Action, ForegroundStep, OwnerState, decide, drop_owner_patch, foreground_step, owner_kind,
};
use super::graph::{Graph, Node};
use crate::object::Kind;
use crate::store::Propagation;

fn owner_ref(kind: &str, name: &str, uid: &str, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: if kind == "Pod" { "v1" } else { "apps/v1" }.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(block),
    }
}

fn node(kind: Kind, uid: &str, owners: Vec<OwnerReference>) -> Node {
    let meta = ObjectMeta {
        name: Some(format!("{}-{uid}", kind.singular())),
        namespace: Some("default".into()),
        uid: Some(uid.into()),
        owner_references: Some(owners),
        ..ObjectMeta::default()
    };
    Node::from_meta(kind, &meta).unwrap_or_else(|| panic!("node {uid}"))
}

fn deleting(mut node: Node, finalizer: &str) -> Node {
    let meta = ObjectMeta {
        name: Some(node.identity.name.clone()),
        namespace: node.identity.namespace.clone(),
        uid: Some(node.identity.uid.clone()),
        owner_references: Some(std::mem::take(&mut node.owners)),
        deletion_timestamp: Some(Time(jiff::Timestamp::UNIX_EPOCH)),
        finalizers: Some(vec![finalizer.to_string()]),
        ..ObjectMeta::default()
    };
    Node::from_meta(node.identity.kind, &meta).unwrap_or_else(|| panic!("node"))
}

/// A synced graph: Deployment d1 → ReplicaSet rs1 → Pods p1, p2.
fn chain() -> Graph {
    let mut g = Graph::default();
    for kind in super::runner::WATCHED {
        g.relist_start(kind);
    }
    g.observe(node(Kind::Deployment, "d1", vec![]));
    g.observe(node(
        Kind::ReplicaSet,
        "rs1",
        vec![owner_ref("Deployment", "deployment-d1", "d1", true)],
    ));
    for p in ["p1", "p2"] {
        g.observe(node(
            Kind::Pod,
            p,
            vec![owner_ref("ReplicaSet", "replicaset-rs1", "rs1", true)],
        ));
    }
    for kind in super::runner::WATCHED {
        assert!(g.relist_done(kind).is_empty(), "no jobs before sync");
    }
    assert!(g.mark_synced().is_empty(), "a whole chain needs no work");
    g
}

#[test]
fn nothing_is_queued_before_the_first_full_list() {
    let mut g = Graph::default();
    assert!(
        g.observe(node(
            Kind::Pod,
            "p",
            vec![owner_ref("ReplicaSet", "x", "missing", true)]
        ))
        .is_empty()
    );
    assert_eq!(g.mark_synced(), vec![Job::AttemptDelete("p".into())]);
    assert!(
        g.mark_synced().is_empty(),
        "syncing twice queues nothing more"
    );
}

#[test]
fn a_deleted_owner_queues_its_dependents() {
    let mut g = chain();
    assert_eq!(
        g.forget("rs1"),
        vec![
            Job::AttemptDelete("p1".into()),
            Job::AttemptDelete("p2".into())
        ]
    );
    assert!(g.forget("rs1").is_empty(), "forgetting twice is a no-op");
    assert_eq!(
        g.dependents_of("rs1").len(),
        2,
        "the Pods still name the gone owner"
    );
    assert!(g.forget("p1").is_empty() && g.forget("p2").is_empty());
    assert!(!g.has_dependents("rs1"));
}

#[test]
fn a_new_object_with_an_unknown_owner_is_looked_at_once() {
    let mut g = chain();
    let stray = node(
        Kind::Pod,
        "stray",
        vec![owner_ref("ReplicaSet", "never", "never-existed", true)],
    );
    assert_eq!(
        g.observe(stray.clone()),
        vec![Job::AttemptDelete("stray".into())]
    );
    assert!(
        g.observe(stray).is_empty(),
        "an unchanged update queues nothing"
    );
    let owned = node(
        Kind::Pod,
        "p3",
        vec![owner_ref("ReplicaSet", "replicaset-rs1", "rs1", true)],
    );
    assert!(g.observe(owned).is_empty(), "a known owner needs no look");
}

#[test]
fn orphan_and_foreground_owners_queue_their_jobs() {
    let mut g = chain();
    let rs = g.node("rs1").cloned().unwrap_or_else(|| panic!("rs1"));
    assert_eq!(
        g.observe(deleting(rs.clone(), "orphan")),
        vec![Job::Orphan("rs1".into())]
    );
    assert_eq!(
        g.observe(deleting(rs, "foregroundDeletion")),
        vec![Job::Foreground("rs1".into())]
    );
    // A dependent that goes, or drops its reference, makes the owner look again.
    assert_eq!(g.forget("p1"), vec![Job::Foreground("rs1".into())]);
    let freed = node(Kind::Pod, "p2", vec![]);
    assert_eq!(g.observe(freed), vec![Job::Foreground("rs1".into())]);
    // A new dependent of a waiting owner is looked at.
    let late = node(
        Kind::Pod,
        "p9",
        vec![owner_ref("ReplicaSet", "replicaset-rs1", "rs1", true)],
    );
    assert_eq!(g.observe(late), vec![Job::AttemptDelete("p9".into())]);
}

#[test]
fn a_relist_forgets_what_it_no_longer_shows() {
    let mut g = chain();
    g.relist_start(Kind::ReplicaSet);
    assert_eq!(
        g.relist_done(Kind::ReplicaSet),
        vec![
            Job::AttemptDelete("p1".into()),
            Job::AttemptDelete("p2".into())
        ]
    );
    assert!(g.node("rs1").is_none() && g.node("d1").is_some());
}

fn present(uid: &str) -> (OwnerReference, OwnerState) {
    (owner_ref("ReplicaSet", uid, uid, true), OwnerState::Present)
}

fn with(uid: &str, state: OwnerState) -> (OwnerReference, OwnerState) {
    (owner_ref("ReplicaSet", uid, uid, true), state)
}

#[test]
fn decide_keeps_objects_with_a_present_owner() {
    assert_eq!(decide(&[], false, &[]), Action::Keep);
    assert_eq!(decide(&[present("a")], false, &[]), Action::Keep);
    assert_eq!(
        decide(
            &[
                present("a"),
                with("b", OwnerState::Absent),
                with("c", OwnerState::WaitingForDependents)
            ],
            true,
            &[]
        ),
        Action::DropOwners(vec!["b".into(), "c".into()])
    );
}

#[test]
fn decide_deletes_orphans_with_the_right_policy() {
    let gone = [with("a", OwnerState::Absent)];
    assert_eq!(
        decide(&gone, true, &[]),
        Action::Delete(Propagation::Background)
    );
    assert_eq!(
        decide(&gone, false, &["orphan".to_string()]),
        Action::Delete(Propagation::Orphan)
    );
    let waiting = [with("a", OwnerState::WaitingForDependents)];
    assert_eq!(
        decide(&waiting, true, &[]),
        Action::Delete(Propagation::Foreground)
    );
    assert_eq!(
        decide(&waiting, false, &[]),
        Action::Delete(Propagation::Background)
    );
}

#[test]
fn foreground_waits_only_for_blocking_dependents() {
    let blocking = node(
        Kind::Pod,
        "p1",
        vec![owner_ref("ReplicaSet", "rs", "rs1", true)],
    );
    let loose = node(
        Kind::Pod,
        "p2",
        vec![owner_ref("ReplicaSet", "rs", "rs1", false)],
    );
    assert_eq!(
        foreground_step("rs1", std::slice::from_ref(&loose)),
        ForegroundStep::RemoveFinalizer
    );
    assert_eq!(foreground_step("rs1", &[]), ForegroundStep::RemoveFinalizer);
    let going = deleting(blocking.clone(), "example.com/slow");
    assert_eq!(
        foreground_step("rs1", &[going, loose.clone()]),
        ForegroundStep::Wait {
            delete: vec!["p2".into()]
        }
    );
    assert_eq!(
        foreground_step("rs1", &[blocking, loose]),
        ForegroundStep::Wait {
            delete: vec!["p1".into(), "p2".into()]
        }
    );
}

#[test]
fn owner_kinds_resolve_by_group_and_name() {
    let rs = owner_ref("ReplicaSet", "a", "u", true);
    assert_eq!(owner_kind(&rs), Some(Kind::ReplicaSet));
    let mut old = rs.clone();
    old.api_version = "apps/v1beta2".into();
    assert_eq!(owner_kind(&old), Some(Kind::ReplicaSet));
    let mut core = rs.clone();
    core.api_version = "v1".into();
    core.kind = "ReplicationController".into();
    assert_eq!(owner_kind(&core), Some(Kind::ReplicationController));
    let mut custom = rs;
    custom.api_version = "example.com/v1".into();
    custom.kind = "Widget".into();
    assert_eq!(owner_kind(&custom), None);
}

#[test]
fn the_drop_patch_deletes_by_uid_with_the_dependents_uid() {
    let patch = drop_owner_patch("dep", &["o1".to_string()]);
    assert_eq!(
        patch,
        serde_json::json!({"metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": "o1"}], "uid": "dep"}})
    );
}

#[test]
fn the_absent_set_is_bounded() {
    let mut absent = AbsentOwners::default();
    for i in 0..ABSENT_CAPACITY + 10 {
        absent.insert(&format!("u{i}"));
    }
    assert!(!absent.contains("u0"), "the oldest were forgotten");
    assert!(absent.contains(&format!("u{}", ABSENT_CAPACITY + 9)));
}
