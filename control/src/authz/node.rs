//! The node restriction (kube-apiserver's Node authorizer and NodeRestriction admission,
//! simplified): a node identity (`system:node:<name>` in `system:nodes`) may write only its own
//! Node object and its status, the status of Pods bound to it (`spec.nodeName`), and Events.
//! Reads and reviews (`kubectl auth can-i`) are left to RBAC (the `system:node` and
//! `system:basic-user` roles). Pure: the caller supplies the Pod lookup.

use super::attributes::Attributes;
use super::defaults::{NODE_USER_PREFIX, NODES_GROUP};
use crate::security::UserInfo;

/// The node `user` acts for, when it is a node identity.
pub fn node_of(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

/// Why node `node` may not make the request `attrs`, or `None` when the restriction lets it
/// through to RBAC. `created_name` is the name in the body of a create; `pod_node` answers the
/// `spec.nodeName` of a stored Pod by namespace and name.
pub fn restrict(
    node: &str,
    attrs: &Attributes,
    created_name: Option<&str>,
    pod_node: impl FnOnce(&str, &str) -> Option<String>,
) -> Option<String> {
    let Attributes::Resource(r) = attrs else {
        return None;
    };
    if matches!(r.verb.as_str(), "get" | "list" | "watch") {
        return None;
    }
    let writes = matches!(r.verb.as_str(), "create" | "update" | "patch");
    match (
        r.group.as_str(),
        r.resource.as_str(),
        r.subresource.as_str(),
    ) {
        ("", "nodes", "" | "status") if writes => {
            let target = match r.verb.as_str() {
                "create" => created_name.unwrap_or_default(),
                _ => r.name.as_str(),
            };
            (target != node)
                .then(|| format!("node \"{node}\" is not allowed to modify node \"{target}\""))
        }
        ("", "pods", "status") if r.verb != "create" && writes => {
            let bound = pod_node(&r.namespace, &r.name);
            (bound.as_deref() != Some(node)).then(|| {
                format!(
                    "node \"{node}\" can only update pod status for pods with spec.nodeName set \
                     to itself"
                )
            })
        }
        ("" | "events.k8s.io", "events", "") if writes => None,
        // Reviews only ask questions; RBAC (`system:basic-user`) decides.
        ("authorization.k8s.io" | "authentication.k8s.io", _, _) => None,
        _ => Some(format!(
            "node \"{node}\" is not allowed to {} {}",
            r.verb,
            r.full_resource()
        )),
    }
}
