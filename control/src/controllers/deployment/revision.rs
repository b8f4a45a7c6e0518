//! The annotations of a Deployment and its ReplicaSets that `kubectl rollout` relies on: the
//! revision of each ReplicaSet (a new one gets the highest old revision plus one; an old one
//! made new again by a rollback gets a new revision and remembers its earlier ones in
//! `revision-history`), the Deployment's own annotations copied to its new ReplicaSet (so
//! `kubernetes.io/change-cause` shows in `rollout history`), and `desired-replicas` /
//! `max-replicas` on each ReplicaSet that proportional scaling reads.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::{
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
};

/// The longest `revision-history` value kept; older revisions are dropped from its front.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Deployment annotations never copied to a ReplicaSet (they are the controller's or kubectl's
/// own bookkeeping).
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// Whether a Deployment annotation is copied to its ReplicaSets.
pub fn is_copied(key: &str) -> bool {
    !NOT_COPIED.contains(&key)
}

fn annotation<'a>(annotations: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations?.get(key).map(String::as_str)
}

/// The revision annotation of a ReplicaSet, when it holds a number.
pub fn revision_of(rs: &ReplicaSet) -> Option<i64> {
    annotation(rs.metadata.annotations.as_ref(), REVISION_ANNOTATION)?
        .parse()
        .ok()
}

/// The highest revision among `sets` (0 when none has one).
pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().filter_map(revision_of).max().unwrap_or(0)
}

/// Copies the Deployment's annotations (but the bookkeeping ones) onto the ReplicaSet;
/// whether anything changed.
pub fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let Some(from) = d.metadata.annotations.as_ref() else {
        return false;
    };
    let to = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in from.iter().filter(|(k, _)| is_copied(k)) {
        if to.get(key) != Some(value) {
            to.insert(key.clone(), value.clone());
            changed = true;
        }
    }
    changed
}

/// Appends `old` to a `revision-history` value, dropping the oldest entries while the result
/// would pass [`MAX_REVISION_HISTORY_CHARS`].
pub fn append_history(history: &str, old: &str) -> String {
    let mut entries: Vec<&str> = history.split(',').filter(|e| !e.is_empty()).collect();
    entries.push(old);
    while entries.len() > 1 && entries.join(",").len() > MAX_REVISION_HISTORY_CHARS {
        entries.remove(0);
    }
    entries.join(",")
}

/// Brings the new ReplicaSet's annotations in line with the Deployment: its annotations
/// copied, the revision raised to `new_revision` (keeping the earlier one in
/// `revision-history` when it had one: a rollback), and, for a ReplicaSet about to be created
/// (`exists` false), the replicas annotations. Whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    max_surge: i32,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = annotations.get(REVISION_ANNOTATION).cloned();
    let old_number = match old.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(n) => n,
            // Not a number: leave the revision alone, as upstream does.
            Err(_) => return changed,
        },
    };
    if old_number < new_revision {
        annotations.insert(REVISION_ANNOTATION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .map(String::as_str)
                .unwrap_or_default();
            let next = append_history(history, &old);
            annotations.insert(REVISION_HISTORY_ANNOTATION.to_string(), next);
        }
    }
    if !exists {
        let desired = super::desired_replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired.saturating_add(max_surge));
    }
    changed
}

/// Whether the ReplicaSet's `desired-replicas` / `max-replicas` differ from these.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.as_ref();
    annotation(annotations, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(annotations, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

/// Sets `desired-replicas` and `max-replicas`; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(DESIRED_REPLICAS_ANNOTATION.to_string(), desired.to_string());
    annotations.insert(MAX_REPLICAS_ANNOTATION.to_string(), max.to_string());
    true
}

/// The ReplicaSet's `desired-replicas` annotation, when it holds a number.
pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(
        rs.metadata.annotations.as_ref(),
        DESIRED_REPLICAS_ANNOTATION,
    )?
    .parse()
    .ok()
}

/// The ReplicaSet's `max-replicas` annotation, when it holds a number.
pub fn max_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs.metadata.annotations.as_ref(), MAX_REPLICAS_ANNOTATION)?
        .parse()
        .ok()
}

/// Sets the Deployment's revision annotation to `revision`; whether it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    true
}
