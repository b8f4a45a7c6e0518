//! Authorization: whether an authenticated user may make a request, decided before any work is
//! done. The decision is [`decide`], a pure function of the user, the request [`Attributes`]
//! and a [`Policy`] (the stored RBAC objects, indexed), in this order:
//!
//! 1. members of `system:masters` may do anything;
//! 2. node identities are held to the [`node`] restriction for writes;
//! 3. RBAC: some Role/ClusterRole bound to the user or one of its groups allows it;
//! 4. writes of Roles and bindings grant nothing the writer lacks ([`escalation`]; checked by
//!    the API, which has the object to be written).
//!
//! Anything else is denied with kube-apiserver's 403 message ([`forbidden`]). This module
//! never writes the store; [`PolicyCache`] reads the RBAC maps of a store snapshot.

pub mod attributes;
mod cache;
pub mod defaults;
pub mod escalation;
pub mod node;
pub mod policy;
pub mod validate;

#[cfg(test)]
mod tests;

pub use attributes::{Attributes, ResourceAttributes};
pub(crate) use cache::PolicyCache;
pub use policy::Policy;

use crate::error::ApiError;
use crate::security::{MASTERS_GROUP, UserInfo};

/// The outcome of authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request is refused; `reason` (possibly empty) says why beyond "no rule allows it".
    Deny {
        /// Why, e.g. the node restriction's explanation.
        reason: String,
    },
}

impl Decision {
    /// Whether the request may proceed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Decides whether `user` may make the request `attrs`. `created_name` is the object name in
/// the body of a create (used by the node restriction); `pod_node` looks up a stored Pod's
/// `spec.nodeName` by namespace and name.
pub fn decide(
    policy: &Policy,
    user: &UserInfo,
    attrs: &Attributes,
    created_name: Option<&str>,
    pod_node: impl FnOnce(&str, &str) -> Option<String>,
) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS_GROUP) {
        return Decision::Allow;
    }
    if let Some(node) = node::node_of(user)
        && let Some(reason) = node::restrict(node, attrs, created_name, pod_node)
    {
        return Decision::Deny { reason };
    }
    if policy.allows(user, attrs) {
        Decision::Allow
    } else {
        Decision::Deny {
            reason: String::new(),
        }
    }
}

/// The 403 `Status` for a denied request, worded as kube-apiserver does:
/// `services is forbidden: User "alice" cannot list resource "services" in API group "" in the
/// namespace "default"`, followed by `: <reason>` when there is one.
pub fn forbidden(user: &UserInfo, attrs: &Attributes, reason: &str) -> ApiError {
    let (prefix, message, details) = match attrs {
        Attributes::Resource(r) => {
            let qualified = if r.group.is_empty() {
                r.resource.clone()
            } else {
                format!("{}.{}", r.resource, r.group)
            };
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", r.namespace)
            };
            let message = format!(
                "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
                user.name,
                r.verb,
                r.full_resource(),
                r.group
            );
            let prefix = if r.name.is_empty() {
                format!("{qualified} is forbidden")
            } else {
                format!("{qualified} {:?} is forbidden", r.name)
            };
            (prefix, message, Some((r.resource.clone(), r.name.clone())))
        }
        Attributes::NonResource { verb, path } => (
            "forbidden".to_string(),
            format!("User {:?} cannot {verb} path {path:?}", user.name),
            None,
        ),
    };
    let mut message = format!("{prefix}: {message}");
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        causes: Vec::new(),
        details,
    }
}
