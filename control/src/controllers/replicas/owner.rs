//! ReplicationControllers and ReplicaSets seen as one [`Owner`]: the fields the controller
//! reads, with the selector compiled to a [`Selector`]. Pure conversions; nothing here talks
//! to the API.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::SyncError;
use super::status::ReplicaStatus;
use crate::selector::Selector;

/// Which of the two kinds an owner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    /// core/v1 ReplicationController (a map selector).
    ReplicationController,
    /// apps/v1 ReplicaSet (a `LabelSelector`).
    ReplicaSet,
}

impl OwnerKind {
    /// The `apiVersion` written into ownerReferences.
    pub fn api_version(self) -> &'static str {
        match self {
            OwnerKind::ReplicationController => "v1",
            OwnerKind::ReplicaSet => "apps/v1",
        }
    }

    /// The API group (`""` for core).
    fn group(self) -> &'static str {
        match self {
            OwnerKind::ReplicationController => "",
            OwnerKind::ReplicaSet => "apps",
        }
    }

    /// The kind's name.
    pub fn kind(self) -> &'static str {
        match self {
            OwnerKind::ReplicationController => "ReplicationController",
            OwnerKind::ReplicaSet => "ReplicaSet",
        }
    }

    /// The kind an ownerReference names, when it is one of the two. As upstream, only the group
    /// of its `apiVersion` counts, not the version.
    pub fn of_reference(reference: &OwnerReference) -> Option<OwnerKind> {
        let group = reference
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group);
        [OwnerKind::ReplicationController, OwnerKind::ReplicaSet]
            .into_iter()
            .find(|k| k.kind() == reference.kind && k.group() == group)
    }
}

/// One owner: its kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey {
    /// The kind.
    pub kind: OwnerKind,
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.kind(), self.namespace, self.name)
    }
}

/// The controller ownerReference of `pod` (the one with `controller: true`), if any.
pub fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The owner `pod`'s controller ownerReference names, when it is an RC or RS.
pub fn controller_key(pod: &Pod) -> Option<OwnerKey> {
    let reference = controller_of(pod)?;
    Some(OwnerKey {
        kind: OwnerKind::of_reference(reference)?,
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: reference.name.clone(),
    })
}

/// Whether an owner's `selector` selects `labels`: an empty selector selects nothing, as
/// upstream guards against a selector that would claim every Pod of the namespace.
pub fn selects(selector: &Selector, labels: Option<&BTreeMap<String, String>>) -> bool {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    !selector.is_empty() && selector.matches(labels.unwrap_or(&EMPTY))
}

/// What the controller reads of an RC or RS.
#[derive(Debug, Clone)]
pub struct Owner {
    /// Kind, namespace, name.
    pub key: OwnerKey,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation` (0 when unset).
    pub generation: i64,
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `spec.minReadySeconds` (default 0).
    pub min_ready_seconds: i32,
    /// The compiled selector; an empty one selects nothing.
    pub selector: Selector,
    /// `spec.template` (empty when missing).
    pub template: PodTemplateSpec,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The status as stored.
    pub status: ReplicaStatus,
}

impl Owner {
    /// The view of a ReplicationController.
    pub fn from_rc(rc: &ReplicationController) -> Result<Owner, SyncError> {
        let spec = rc.spec.clone().unwrap_or_default();
        let selector = Selector::from_map(&spec.selector.unwrap_or_default());
        Owner::build(
            OwnerKind::ReplicationController,
            &rc.metadata,
            (spec.replicas, spec.min_ready_seconds, spec.template),
            selector,
            ReplicaStatus::of_rc(rc.status.as_ref()),
        )
    }

    /// The view of a ReplicaSet.
    pub fn from_rs(rs: &ReplicaSet) -> Result<Owner, SyncError> {
        let spec = rs.spec.clone().unwrap_or_default();
        let key = key_of(OwnerKind::ReplicaSet, &rs.metadata);
        let selector =
            Selector::from_label_selector(&spec.selector).map_err(|e| SyncError::Owner {
                owner: key.to_string(),
                reason: e.to_string(),
            })?;
        Owner::build(
            OwnerKind::ReplicaSet,
            &rs.metadata,
            (spec.replicas, spec.min_ready_seconds, spec.template),
            selector,
            ReplicaStatus::of_rs(rs.status.as_ref()),
        )
    }

    fn build(
        kind: OwnerKind,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        (replicas, min_ready_seconds, template): (
            Option<i32>,
            Option<i32>,
            Option<PodTemplateSpec>,
        ),
        selector: Selector,
        status: ReplicaStatus,
    ) -> Result<Owner, SyncError> {
        let key = key_of(kind, meta);
        let uid = meta
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| SyncError::Owner {
                owner: key.to_string(),
                reason: "metadata.uid is missing".to_string(),
            })?;
        Ok(Owner {
            key,
            uid,
            generation: meta.generation.unwrap_or_default(),
            replicas: replicas.unwrap_or(1).max(0),
            min_ready_seconds: min_ready_seconds.unwrap_or_default().max(0),
            selector,
            template: template.unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            status,
        })
    }

    /// Whether the selector selects `labels` (see [`selects`]).
    pub fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        selects(&self.selector, labels)
    }

    /// Whether `pod`'s controller ownerReference is this owner (by uid).
    pub fn controls(&self, pod: &Pod) -> bool {
        controller_of(pod).is_some_and(|r| r.uid == self.uid)
    }

    /// The ownerReference a Pod this owner controls carries.
    pub fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.key.kind.api_version().to_string(),
            kind: self.key.kind.kind().to_string(),
            name: self.key.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

fn key_of(
    kind: OwnerKind,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> OwnerKey {
    OwnerKey {
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
    }
}
