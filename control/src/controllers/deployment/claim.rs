//! Which ReplicaSets a Deployment controls: those whose controller reference names it and
//! whose labels its selector matches. An orphan ReplicaSet the selector matches is adopted
//! (unless either is being deleted); one it controls that the selector no longer matches is
//! released. ReplicaSets controlled by anything else are never touched. Pure.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::selector::Selector;

/// What the Deployment does with one ReplicaSet of its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by the Deployment and matched by its selector.
    Owned,
    /// An orphan the selector matches: the Deployment becomes its controller.
    Adopt,
    /// Controlled by the Deployment but no longer matched: its controller reference goes.
    Release,
    /// Someone else's, or not matched.
    Ignore,
}

/// The ReplicaSet's controller reference, if any.
pub fn controller_of(rs: &ReplicaSet) -> Option<&OwnerReference> {
    rs.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The controller reference a Deployment's ReplicaSets carry.
pub fn owner_reference(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "Deployment".to_string(),
        name: d.metadata.name.clone().unwrap_or_default(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Decides what the Deployment (with its parsed `selector`) does with `rs`.
pub fn claim(d: &Deployment, selector: &Selector, rs: &ReplicaSet) -> Claim {
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    let matches = !selector.is_empty() && selector.matches(&labels);
    let deleting = d.metadata.deletion_timestamp.is_some();
    match controller_of(rs) {
        Some(r) if Some(&r.uid) == d.metadata.uid.as_ref() => {
            if matches {
                Claim::Owned
            } else if deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if matches && !deleting && rs.metadata.deletion_timestamp.is_none() => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// `rs` with the Deployment as its controller.
pub fn adopted(d: &Deployment, rs: &ReplicaSet) -> ReplicaSet {
    let mut rs = rs.clone();
    rs.metadata
        .owner_references
        .get_or_insert_with(Vec::new)
        .push(owner_reference(d));
    rs
}

/// `rs` without the Deployment's controller reference.
pub fn released(d: &Deployment, rs: &ReplicaSet) -> ReplicaSet {
    let mut rs = rs.clone();
    if let Some(refs) = rs.metadata.owner_references.as_mut() {
        refs.retain(|r| Some(&r.uid) != d.metadata.uid.as_ref());
    }
    if rs
        .metadata
        .owner_references
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        rs.metadata.owner_references = None;
    }
    rs
}
