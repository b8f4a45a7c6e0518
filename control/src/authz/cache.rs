//! The authorizer's copy of the RBAC policy: rebuilt from a store snapshot only when one of
//! the four RBAC maps changed since the last build (the persistent maps are compared by
//! pointer, so a request costs a few pointer compares, never a scan of the store).

use std::sync::{Arc, Mutex};

use imbl::OrdMap;

use super::policy::{Objects, Policy};
use crate::object::{Kind, Object};
use crate::store::{ObjectKey, Snapshot};

type Map = OrdMap<ObjectKey, Arc<Object>>;

const RBAC_KINDS: [Kind; 4] = [
    Kind::Role,
    Kind::ClusterRole,
    Kind::RoleBinding,
    Kind::ClusterRoleBinding,
];

#[derive(Debug)]
struct Built {
    maps: [Map; 4],
    policy: Arc<Policy>,
}

/// The cached policy; shared by every request.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    built: Mutex<Option<Built>>,
}

impl PolicyCache {
    /// The policy for the RBAC objects of `snapshot`.
    pub(crate) fn policy(&self, snapshot: &Snapshot) -> Arc<Policy> {
        let maps = RBAC_KINDS.map(|k| snapshot.of_kind(k).clone());
        // A panic while building leaves `None` or an older build: both are safe to reuse.
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = built.as_ref()
            && b.maps.iter().zip(&maps).all(|(a, b)| a.ptr_eq(b))
        {
            return Arc::clone(&b.policy);
        }
        let policy = Arc::new(build(&maps));
        tracing::debug!(
            revision = snapshot.revision,
            grants = policy.len(),
            "RBAC policy rebuilt"
        );
        *built = Some(Built {
            maps,
            policy: Arc::clone(&policy),
        });
        policy
    }
}

fn build(maps: &[Map; 4]) -> Policy {
    let [roles, cluster_roles, role_bindings, cluster_role_bindings] = maps;
    let roles = typed(roles, |o| match o {
        Object::Role(r) => Some(r),
        _ => None,
    });
    let cluster_roles = typed(cluster_roles, |o| match o {
        Object::ClusterRole(r) => Some(r),
        _ => None,
    });
    let role_bindings = typed(role_bindings, |o| match o {
        Object::RoleBinding(r) => Some(r),
        _ => None,
    });
    let cluster_role_bindings = typed(cluster_role_bindings, |o| match o {
        Object::ClusterRoleBinding(r) => Some(r),
        _ => None,
    });
    Policy::build(Objects {
        roles: &roles,
        cluster_roles: &cluster_roles,
        role_bindings: &role_bindings,
        cluster_role_bindings: &cluster_role_bindings,
    })
}

/// The objects of `map` that `pick` recognises as its kind (in a map of one kind, all of them).
fn typed<T>(map: &Map, pick: fn(&Object) -> Option<&T>) -> Vec<&T> {
    map.values().filter_map(|o| pick(o)).collect()
}
