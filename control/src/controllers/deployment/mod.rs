//! The Deployment controller: turns each apps/v1 Deployment into ReplicaSets, one per pod
//! template, and rolls Pods from the old ones to the new one as kube-controller-manager's
//! deployment controller does (RollingUpdate within `maxSurge`/`maxUnavailable`, Recreate),
//! keeping the revision annotations `kubectl rollout` reads and the Deployment's status.
//!
//! - [`hash`]: the `pod-template-hash` of a template and template equality ignoring it;
//! - [`revision`]: the revision, revision-history and replicas annotations;
//! - [`rolling`]: surge/unavailable arithmetic and the rolling-update steps;
//! - [`scaling`]: scaling events and proportional scaling of a rollout in progress;
//! - [`status`]: the status and the `Available`/`Progressing` conditions;
//! - [`history`]: which old ReplicaSets `revisionHistoryLimit` deletes;
//! - [`claim`]: which ReplicaSets a Deployment owns, adopts or releases;
//! - `sync`: one Deployment's reconcile, writing through the API;
//! - `runner`: reflectors over Deployments and ReplicaSets and the work queue.
//!
//! The pure modules decide; only `sync` writes, and only through `kube` clients, so the
//! controller works against our API or a real kube-apiserver. It never creates Pods (that is
//! the ReplicaSet controller's job) and never touches the store.

pub mod claim;
pub mod hash;
pub mod history;
pub mod revision;
pub mod rolling;
mod runner;
pub mod scaling;
pub mod status;
mod sync;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

/// The label that ties a ReplicaSet (its selector, template and Pods) to one pod template.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The revision of a Deployment and of each of its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The earlier revisions of a ReplicaSet made new again by a rollback, comma separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas` plus the surge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// The reason for a change, copied from the Deployment to its new ReplicaSet.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// A namespaced Deployment name: the unit of work of the controller's queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentKey {
    /// The Deployment's namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
}

impl std::fmt::Display for DeploymentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// `spec.replicas` of a Deployment (1 when unset, as apps/v1 defaults it).
pub fn desired_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.replicas` of a ReplicaSet (1 when unset).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub(crate) use runner::run;

#[cfg(test)]
mod tests;
