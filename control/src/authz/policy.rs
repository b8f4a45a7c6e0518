//! The RBAC policy as an in-memory index: every binding resolved to the rules of the role it
//! names and filed under each of its subjects, so that a decision looks only at the grants of
//! the requesting user and its groups. Built from the stored Roles, ClusterRoles, RoleBindings
//! and ClusterRoleBindings; evaluating it is a pure function.
//!
//! RoleBindings grant in their own namespace (a RoleBinding may name a ClusterRole: its rules,
//! in that namespace); ClusterRoleBindings grant everywhere, including the cluster scope and
//! non-resource paths. A binding whose role does not exist grants nothing. ClusterRole
//! aggregation is honoured: an `aggregationRule` ClusterRole's rules are those of every
//! ClusterRole its selectors match (one level, as the upstream controller computes them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};

use super::attributes::{Attributes, ResourceAttributes};
use crate::security::UserInfo;

/// The prefix of service account user names: `system:serviceaccount:<ns>:<name>`.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SubjectKey {
    User(String),
    Group(String),
}

/// Rules granted by one binding.
#[derive(Debug, Clone)]
struct Grant {
    /// `Some(ns)` for a RoleBinding in `ns`; `None` for a ClusterRoleBinding.
    namespace: Option<String>,
    rules: Arc<[PolicyRule]>,
}

/// The RBAC state at one moment, indexed by subject.
#[derive(Debug, Default)]
pub struct Policy {
    grants: HashMap<SubjectKey, Vec<Grant>>,
    /// ClusterRoles' rules (aggregation applied), by name.
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    /// Roles' rules, by `(namespace, name)`.
    roles: HashMap<(String, String), Arc<[PolicyRule]>>,
}

/// The stored RBAC objects a [`Policy`] is built from.
#[derive(Debug, Default, Clone, Copy)]
pub struct Objects<'a> {
    /// Roles.
    pub roles: &'a [&'a Role],
    /// ClusterRoles.
    pub cluster_roles: &'a [&'a ClusterRole],
    /// RoleBindings.
    pub role_bindings: &'a [&'a RoleBinding],
    /// ClusterRoleBindings.
    pub cluster_role_bindings: &'a [&'a ClusterRoleBinding],
}

fn labels_match(
    labels: Option<&BTreeMap<String, String>>,
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

impl Policy {
    /// Indexes `objects`.
    pub fn build(objects: Objects<'_>) -> Policy {
        let mut cluster_roles: HashMap<&str, Arc<[PolicyRule]>> = HashMap::new();
        for role in objects.cluster_roles {
            let name = role.metadata.name.as_deref().unwrap_or_default();
            let rules: Vec<PolicyRule> = match &role.aggregation_rule {
                Some(aggregation) => {
                    let selectors = aggregation
                        .cluster_role_selectors
                        .as_deref()
                        .unwrap_or_default();
                    let mut rules: Vec<PolicyRule> = role.rules.clone().unwrap_or_default();
                    for other in objects.cluster_roles {
                        let labels = other.metadata.labels.as_ref();
                        if other.metadata.name == role.metadata.name
                            || !selectors.iter().any(|s| labels_match(labels, s))
                        {
                            continue;
                        }
                        for rule in other.rules.iter().flatten() {
                            if !rules.contains(rule) {
                                rules.push(rule.clone());
                            }
                        }
                    }
                    rules
                }
                None => role.rules.clone().unwrap_or_default(),
            };
            cluster_roles.insert(name, rules.into());
        }
        let mut roles: HashMap<(&str, &str), Arc<[PolicyRule]>> = HashMap::new();
        for role in objects.roles {
            let key = (
                role.metadata.namespace.as_deref().unwrap_or_default(),
                role.metadata.name.as_deref().unwrap_or_default(),
            );
            roles.insert(key, role.rules.clone().unwrap_or_default().into());
        }
        let mut policy = Policy::default();
        for binding in objects.cluster_role_bindings {
            let role = &binding.role_ref;
            if role.kind != "ClusterRole" {
                continue;
            }
            if let Some(rules) = cluster_roles.get(role.name.as_str()) {
                policy.file(binding.subjects.as_deref(), "", None, rules);
            }
        }
        for binding in objects.role_bindings {
            let namespace = binding.metadata.namespace.as_deref().unwrap_or_default();
            let role = &binding.role_ref;
            let rules = match role.kind.as_str() {
                "ClusterRole" => cluster_roles.get(role.name.as_str()),
                "Role" => roles.get(&(namespace, role.name.as_str())),
                _ => None,
            };
            if let Some(rules) = rules {
                policy.file(
                    binding.subjects.as_deref(),
                    namespace,
                    Some(namespace.to_string()),
                    rules,
                );
            }
        }
        policy.cluster_roles = cluster_roles
            .into_iter()
            .map(|(name, rules)| (name.to_string(), rules))
            .collect();
        policy.roles = roles
            .into_iter()
            .map(|((ns, name), rules)| ((ns.to_string(), name.to_string()), rules))
            .collect();
        policy
    }

    /// The rules of the role a `roleRef` names (`Role` in `namespace`, or `ClusterRole`).
    pub fn role_rules(&self, kind: &str, namespace: &str, name: &str) -> Option<&[PolicyRule]> {
        match kind {
            "ClusterRole" => self.cluster_roles.get(name).map(AsRef::as_ref),
            "Role" => self
                .roles
                .get(&(namespace.to_string(), name.to_string()))
                .map(AsRef::as_ref),
            _ => None,
        }
    }

    fn file(
        &mut self,
        subjects: Option<&[Subject]>,
        binding_namespace: &str,
        namespace: Option<String>,
        rules: &Arc<[PolicyRule]>,
    ) {
        for subject in subjects.unwrap_or_default() {
            let key = match subject.kind.as_str() {
                "User" => SubjectKey::User(subject.name.clone()),
                "Group" => SubjectKey::Group(subject.name.clone()),
                "ServiceAccount" => {
                    let ns = subject
                        .namespace
                        .as_deref()
                        .filter(|ns| !ns.is_empty())
                        .unwrap_or(binding_namespace);
                    SubjectKey::User(format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{}", subject.name))
                }
                _ => continue,
            };
            self.grants.entry(key).or_default().push(Grant {
                namespace: namespace.clone(),
                rules: Arc::clone(rules),
            });
        }
    }

    /// Whether some binding of `user` (by name or group) has a rule that allows `attrs`.
    pub fn allows(&self, user: &UserInfo, attrs: &Attributes) -> bool {
        let keys = std::iter::once(SubjectKey::User(user.name.clone()))
            .chain(user.groups.iter().cloned().map(SubjectKey::Group));
        keys.filter_map(|key| self.grants.get(&key))
            .flatten()
            .any(|grant| grant_allows(grant, attrs))
    }

    /// Number of (subject, binding) entries: for logs.
    pub fn len(&self) -> usize {
        self.grants.values().map(Vec::len).sum()
    }

    /// Whether no binding grants anything.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

fn grant_allows(grant: &Grant, attrs: &Attributes) -> bool {
    match attrs {
        Attributes::Resource(r) => {
            let in_scope = match &grant.namespace {
                None => true,
                Some(ns) => !r.namespace.is_empty() && *ns == r.namespace,
            };
            in_scope && grant.rules.iter().any(|rule| resource_rule_allows(rule, r))
        }
        Attributes::NonResource { verb, path } => {
            grant.namespace.is_none()
                && grant
                    .rules
                    .iter()
                    .any(|rule| non_resource_rule_allows(rule, verb, path))
        }
    }
}

fn has(list: Option<&Vec<String>>, value: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|v| v == "*" || v == value))
}

/// Whether `rule` allows the resource request `r`.
pub fn resource_rule_allows(rule: &PolicyRule, r: &ResourceAttributes) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || *v == r.verb) {
        return false;
    }
    if !has(rule.api_groups.as_ref(), &r.group) {
        return false;
    }
    let full = r.full_resource();
    let resource_ok = rule.resources.iter().flatten().any(|res| {
        res == "*"
            || *res == full
            || (!r.subresource.is_empty() && res.strip_prefix("*/") == Some(r.subresource.as_str()))
    });
    if !resource_ok {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => names.contains(&r.name),
    }
}

/// Whether `rule` allows `verb` on the non-resource `path`.
pub fn non_resource_rule_allows(rule: &PolicyRule, verb: &str, path: &str) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || v == verb) {
        return false;
    }
    rule.non_resource_urls.iter().flatten().any(|url| {
        url == "*"
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}
