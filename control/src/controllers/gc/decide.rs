//! The collector's decisions as pure functions: what to do with an object given what a live
//! look at each of its owners showed, what a foreground owner still waits for, and which
//! dependents an orphaning owner lets go in one pass. No I/O; the runner gathers the inputs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::graph::Node;
use crate::object::Kind;
use crate::store::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation};

/// The most writes one orphaning pass makes; the rest wait for the next pass.
pub(super) const MAX_WRITES_PER_JOB: usize = 256;

/// What a live GET of one owner showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerState {
    /// No object with that uid exists (not found, or a new object under the same name).
    Absent,
    /// It exists and is being deleted with `foregroundDeletion`: it waits for its dependents.
    WaitingForDependents,
    /// It exists.
    Present,
}

/// What to do with an object after looking at its owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Leave it.
    Keep,
    /// It keeps a present owner: remove only the references to these (absent or waiting)
    /// owners, by uid.
    DropOwners(Vec<String>),
    /// No owner remains: delete it with this propagation.
    Delete(Propagation),
}

/// Decides, as kube-controller-manager's collector does: an object with a present owner is
/// kept (references to absent or waiting owners are dropped); one whose owners wait for their
/// dependents and that has dependents itself is deleted in the foreground (its own dependents
/// go first); otherwise it is deleted with the policy its finalizers ask for, Background by
/// default.
pub(crate) fn decide(
    owners: &[(OwnerReference, OwnerState)],
    has_dependents: bool,
    finalizers: &[String],
) -> Action {
    if owners.is_empty() {
        return Action::Keep;
    }
    let of = |state: OwnerState| owners.iter().filter(move |(_, s)| *s == state);
    if of(OwnerState::Present).next().is_some() {
        let drop: Vec<String> = owners
            .iter()
            .filter(|(_, s)| *s != OwnerState::Present)
            .map(|(r, _)| r.uid.clone())
            .collect();
        return if drop.is_empty() {
            Action::Keep
        } else {
            Action::DropOwners(drop)
        };
    }
    if of(OwnerState::WaitingForDependents).next().is_some() && has_dependents {
        return Action::Delete(Propagation::Foreground);
    }
    let policy = finalizers
        .iter()
        .find_map(|f| match f.as_str() {
            ORPHAN_FINALIZER => Some(Propagation::Orphan),
            FOREGROUND_FINALIZER => Some(Propagation::Foreground),
            _ => None,
        })
        .unwrap_or(Propagation::Background);
    Action::Delete(policy)
}

/// What a foreground owner's next step is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForegroundStep {
    /// No dependent blocks it any more: remove `foregroundDeletion`.
    RemoveFinalizer,
    /// Dependents with `blockOwnerDeletion` remain: look at these (the dependents not being
    /// deleted yet) to delete them.
    Wait {
        /// Uids of dependents to attempt to delete.
        delete: Vec<String>,
    },
}

/// The next step of the owner `owner_uid`, being deleted in the foreground, given its known
/// dependents.
pub(crate) fn foreground_step(owner_uid: &str, dependents: &[Node]) -> ForegroundStep {
    let blocks = |d: &Node| {
        d.owners
            .iter()
            .any(|r| r.uid == owner_uid && r.block_owner_deletion == Some(true))
    };
    if !dependents.iter().any(blocks) {
        return ForegroundStep::RemoveFinalizer;
    }
    ForegroundStep::Wait {
        delete: dependents
            .iter()
            .filter(|d| !d.deleting)
            .map(|d| d.identity.uid.clone())
            .collect(),
    }
}

/// The kind an owner reference names: by `kind` and the group of `apiVersion`, any version
/// (one object is served under every version of its group). `None` for a kind this server
/// does not know.
pub(crate) fn owner_kind(owner: &OwnerReference) -> Option<Kind> {
    let group = owner
        .api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    Kind::ALL
        .into_iter()
        .find(|k| k.name() == owner.kind && k.group() == group)
}

/// The owner-reference patch that removes `owner_uid` from an object whose uid is
/// `dependent_uid` (a strategic merge patch deleting by the list's merge key; the object's uid
/// is a precondition, so a new object of the same name is never touched).
pub(crate) fn drop_owner_patch(dependent_uid: &str, owner_uids: &[String]) -> serde_json::Value {
    let removals: Vec<serde_json::Value> = owner_uids
        .iter()
        .map(|uid| serde_json::json!({"$patch": "delete", "uid": uid}))
        .collect();
    serde_json::json!({"metadata": {"ownerReferences": removals, "uid": dependent_uid}})
}
