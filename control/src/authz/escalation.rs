//! Privilege escalation prevention, as kube-apiserver's RBAC storage does it: a user may
//! create or change a Role or ClusterRole only if they already hold every permission it grants
//! (in the Role's namespace, or cluster-wide for a ClusterRole), unless they may `escalate` it;
//! and may create or change a binding only if they hold every permission of the role it names,
//! unless they may `bind` that role. Pure: decided against a [`Policy`].

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};

use super::attributes::{Attributes, ResourceAttributes};
use super::policy::Policy;
use crate::object::RBAC_GROUP;
use crate::security::UserInfo;

/// At most this many single permissions are checked for one object; a larger rule set is
/// refused rather than spending unbounded time.
pub const MAX_CHECKS: usize = 20_000;

/// The role being written.
#[derive(Debug, Clone, Copy)]
pub struct RoleWrite<'a> {
    /// A ClusterRole (else a Role in `namespace`).
    pub cluster: bool,
    /// The Role's namespace; empty for a ClusterRole.
    pub namespace: &'a str,
    /// The role's name.
    pub name: &'a str,
    /// Its rules.
    pub rules: &'a [PolicyRule],
    /// Whether it has an `aggregationRule` (its rules would be other roles').
    pub aggregated: bool,
}

/// Why `user` may not write `role`, or `None` when they may.
pub fn role_write(policy: &Policy, user: &UserInfo, role: RoleWrite<'_>) -> Option<String> {
    let RoleWrite {
        cluster,
        namespace,
        name,
        rules,
        aggregated,
    } = role;
    let escalate = ResourceAttributes {
        verb: "escalate".to_string(),
        group: RBAC_GROUP.to_string(),
        resource: if cluster { "clusterroles" } else { "roles" }.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        ..ResourceAttributes::default()
    };
    if policy.allows(user, &Attributes::Resource(escalate)) {
        return None;
    }
    if aggregated {
        return Some(format!(
            "user {:?} must be allowed to escalate clusterroles to use an aggregationRule",
            user.name
        ));
    }
    missing(policy, user, namespace, rules)
}

/// Why `user` may not write a binding in `namespace` (empty: a ClusterRoleBinding) to
/// `role`, or `None` when they may.
pub fn binding_write(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    role: &RoleRef,
) -> Option<String> {
    let bind = ResourceAttributes {
        verb: "bind".to_string(),
        group: RBAC_GROUP.to_string(),
        resource: match role.kind.as_str() {
            "Role" => "roles",
            _ => "clusterroles",
        }
        .to_string(),
        namespace: if role.kind == "Role" {
            namespace.to_string()
        } else {
            String::new()
        },
        name: role.name.clone(),
        ..ResourceAttributes::default()
    };
    if policy.allows(user, &Attributes::Resource(bind.clone())) {
        return None;
    }
    // A RoleBinding may also use `bind` granted in its own namespace for a ClusterRole.
    if !namespace.is_empty() && role.kind == "ClusterRole" {
        let local = ResourceAttributes {
            namespace: namespace.to_string(),
            ..bind
        };
        if policy.allows(user, &Attributes::Resource(local)) {
            return None;
        }
    }
    match policy.role_rules(&role.kind, namespace, &role.name) {
        Some(rules) => missing(policy, user, namespace, rules),
        None => Some(format!(
            "{} {:?} not found: only a user who may bind it can refer to a missing role",
            role.kind, role.name
        )),
    }
}

/// The permissions in `rules` that `user` does not hold in `namespace`, as a reason; `None`
/// when they hold them all.
fn missing(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Option<String> {
    let mut checks = 0usize;
    let mut lacking = Vec::new();
    for rule in rules {
        let one = |attrs: Attributes, lacking: &mut Vec<String>| {
            if !policy.allows(user, &attrs) {
                lacking.push(describe(&attrs));
            }
        };
        for verb in &rule.verbs {
            for url in rule.non_resource_urls.iter().flatten() {
                checks += 1;
                if checks > MAX_CHECKS {
                    return Some(too_many());
                }
                let attrs = Attributes::NonResource {
                    verb: verb.clone(),
                    path: url.clone(),
                };
                if namespace.is_empty() {
                    one(attrs, &mut lacking);
                }
            }
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    let (resource, subresource) = match resource.split_once('/') {
                        Some((r, s)) => (r.to_string(), s.to_string()),
                        None => (resource.clone(), String::new()),
                    };
                    let names: Vec<String> = match rule.resource_names.as_deref() {
                        None | Some([]) => vec![String::new()],
                        Some(names) => names.to_vec(),
                    };
                    for name in names {
                        checks += 1;
                        if checks > MAX_CHECKS {
                            return Some(too_many());
                        }
                        let attrs = Attributes::Resource(ResourceAttributes {
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            subresource: subresource.clone(),
                            namespace: namespace.to_string(),
                            name,
                        });
                        one(attrs, &mut lacking);
                    }
                }
            }
        }
    }
    if lacking.is_empty() {
        return None;
    }
    lacking.dedup();
    let shown: Vec<&str> = lacking.iter().take(10).map(String::as_str).collect();
    let more = lacking.len().saturating_sub(shown.len());
    let mut reason = format!(
        "user {:?} is attempting to grant RBAC permissions not currently held: {}",
        user.name,
        shown.join("; ")
    );
    if more > 0 {
        reason.push_str(&format!(" (and {more} more)"));
    }
    Some(reason)
}

fn too_many() -> String {
    format!(
        "the rules expand to more than {MAX_CHECKS} single permissions; only a user who may \
         escalate or bind may write them"
    )
}

fn describe(attrs: &Attributes) -> String {
    match attrs {
        Attributes::Resource(r) => {
            let mut s = format!(
                "{} {:?} in API group {:?}",
                r.verb,
                r.full_resource(),
                r.group
            );
            if !r.name.is_empty() {
                s.push_str(&format!(" named {:?}", r.name));
            }
            s
        }
        Attributes::NonResource { verb, path } => format!("{verb} path {path:?}"),
    }
}
