//! The owner → dependents graph by uid, folded from the watch events of every watched kind,
//! and the work each change calls for. Pure: no I/O, no clock; the runner feeds it events and
//! queues the [`Job`]s it returns.
//!
//! It holds only what the collector reads (identity, owner references, deletion state), one
//! small entry per watched object, so its size follows the API's own object count.
//! No job is returned before [`Graph::mark_synced`] (every kind listed once): until then an
//! owner may simply not be listed yet.

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::Job;
use crate::object::Kind;
use crate::store::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// Which object a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Its kind (one of the watched kinds).
    pub kind: Kind,
    /// Its namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What the collector keeps of one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// The object.
    pub identity: Identity,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// It has a `deletionTimestamp`.
    pub deleting: bool,
    /// It is being deleted with the `orphan` finalizer.
    pub orphaning: bool,
    /// It is being deleted with the `foregroundDeletion` finalizer.
    pub foreground: bool,
}

impl Node {
    /// The node of an object of `kind`; `None` without a name or uid.
    pub(crate) fn from_meta(kind: Kind, meta: &ObjectMeta) -> Option<Node> {
        let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
        let name = meta.name.clone().filter(|n| !n.is_empty())?;
        let deleting = meta.deletion_timestamp.is_some();
        let has =
            |finalizer: &str| deleting && meta.finalizers.iter().flatten().any(|f| f == finalizer);
        Some(Node {
            identity: Identity {
                kind,
                namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
                name,
                uid,
            },
            owners: meta.owner_references.clone().unwrap_or_default(),
            deleting,
            orphaning: has(ORPHAN_FINALIZER),
            foreground: has(FOREGROUND_FINALIZER),
        })
    }

    fn uid(&self) -> &str {
        &self.identity.uid
    }
}

/// The graph: nodes by uid and, for every uid named as an owner, the uids naming it.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, BTreeSet<String>>,
    /// Uids seen during a relist of each kind, until the relist ends.
    relists: HashMap<Kind, HashSet<String>>,
    synced: bool,
}

impl Graph {
    /// The node of `uid`, if that object is watched and exists.
    pub(crate) fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// The known objects naming `uid` as an owner, in uid order.
    pub(crate) fn dependents_of(&self, uid: &str) -> Vec<Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d).cloned())
            .collect()
    }

    /// Whether any known object names `uid` as an owner.
    pub(crate) fn has_dependents(&self, uid: &str) -> bool {
        self.dependents
            .get(uid)
            .is_some_and(|d| d.iter().any(|d| self.nodes.contains_key(d)))
    }

    /// How many objects the graph holds.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether every kind was listed once.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    /// Whether an owner reference points at an object the graph does not show, or at one
    /// waiting for its dependents: either way the dependent needs a look.
    fn needs_attention(&self, owner: &OwnerReference) -> bool {
        self.nodes.get(&owner.uid).is_none_or(|o| o.foreground)
    }

    /// An object was added or changed.
    pub(crate) fn observe(&mut self, node: Node) -> Vec<Job> {
        let uid = node.uid().to_string();
        let previous = self.nodes.insert(uid.clone(), node.clone());
        let old_owners = previous.map(|p| p.owners).unwrap_or_default();
        let owners_changed = old_owners != node.owners;
        for gone in old_owners
            .iter()
            .filter(|r| !node.owners.iter().any(|n| n.uid == r.uid))
        {
            self.unlink(&gone.uid, &uid);
        }
        for owner in &node.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        if let Some(seen) = self.relists.get_mut(&node.identity.kind) {
            seen.insert(uid.clone());
        }
        if !self.synced {
            return Vec::new();
        }
        let mut jobs = self.jobs_for(&node, owners_changed);
        // A foreground owner waits on its blocking dependents: one that dropped or changed its
        // reference may be the last.
        for before in old_owners.iter().filter(|r| !node.owners.contains(*r)) {
            if self.nodes.get(&before.uid).is_some_and(|o| o.foreground) {
                jobs.push(Job::Foreground(before.uid.clone()));
            }
        }
        jobs
    }

    /// The jobs one node calls for by itself.
    fn jobs_for(&self, node: &Node, owners_changed: bool) -> Vec<Job> {
        let mut jobs = Vec::new();
        if node.orphaning {
            jobs.push(Job::Orphan(node.uid().to_string()));
        }
        if node.foreground {
            jobs.push(Job::Foreground(node.uid().to_string()));
        }
        if owners_changed && !node.deleting && node.owners.iter().any(|o| self.needs_attention(o)) {
            jobs.push(Job::AttemptDelete(node.uid().to_string()));
        }
        jobs
    }

    /// An object was deleted.
    pub(crate) fn forget(&mut self, uid: &str) -> Vec<Job> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        for owner in &node.owners {
            self.unlink(&owner.uid, uid);
        }
        if !self.synced {
            return Vec::new();
        }
        let mut jobs: Vec<Job> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter(|d| self.nodes.contains_key(*d))
            .map(|d| Job::AttemptDelete(d.clone()))
            .collect();
        for owner in &node.owners {
            if self.nodes.get(&owner.uid).is_some_and(|o| o.foreground) {
                jobs.push(Job::Foreground(owner.uid.clone()));
            }
        }
        jobs
    }

    /// A (re)list of `kind` starts: the objects it does not show are deleted at its end.
    pub(crate) fn relist_start(&mut self, kind: Kind) {
        self.relists.insert(kind, HashSet::new());
    }

    /// The relist of `kind` ended: forgets the objects of `kind` it did not show.
    pub(crate) fn relist_done(&mut self, kind: Kind) -> Vec<Job> {
        let Some(seen) = self.relists.remove(&kind) else {
            return Vec::new();
        };
        let stale: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.identity.kind == kind && !seen.contains(n.uid()))
            .map(|n| n.uid().to_string())
            .collect();
        stale.iter().flat_map(|uid| self.forget(uid)).collect()
    }

    /// Every kind was listed: from now on changes return jobs, and this returns the work the
    /// listed state already calls for (owners missing or waiting, orphaning and foreground
    /// deletions under way).
    pub(crate) fn mark_synced(&mut self) -> Vec<Job> {
        if self.synced {
            return Vec::new();
        }
        self.synced = true;
        let mut jobs: Vec<Job> = self
            .nodes
            .values()
            .flat_map(|n| self.jobs_for(n, true))
            .collect();
        jobs.sort();
        jobs
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }
}
