//! Validation of the RBAC kinds (422 naming the field), as kube-apiserver checks them: rules
//! need verbs, and either API groups and resources or (ClusterRoles only) non-resource URLs,
//! never both; a binding's `roleRef` names a Role or ClusterRole (a ClusterRoleBinding only a
//! ClusterRole) in `rbac.authorization.k8s.io` and cannot change after creation; subjects are
//! Users, Groups or ServiceAccounts with a name. Never changes the object.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

use crate::admission::AdmissionError;
use crate::error::FieldCause;
use crate::object::{Object, RBAC_GROUP};

/// Checks `obj` (an RBAC object; other kinds pass) against its stored version `old`.
pub fn admit(obj: &Object, old: Option<&Object>) -> Result<(), AdmissionError> {
    let mut causes = Vec::new();
    match obj {
        Object::Role(r) => rules(r.rules.as_deref(), true, &mut causes),
        Object::ClusterRole(r) => rules(r.rules.as_deref(), false, &mut causes),
        Object::RoleBinding(b) => {
            role_ref(&b.role_ref, true, &mut causes);
            subjects(b.subjects.as_deref(), true, &mut causes);
            if let Some(Object::RoleBinding(o)) = old {
                immutable(&b.role_ref, &o.role_ref, &mut causes);
            }
        }
        Object::ClusterRoleBinding(b) => {
            role_ref(&b.role_ref, false, &mut causes);
            subjects(b.subjects.as_deref(), false, &mut causes);
            if let Some(Object::ClusterRoleBinding(o)) = old {
                immutable(&b.role_ref, &o.role_ref, &mut causes);
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(AdmissionError::invalid(
            obj.kind().name(),
            obj.name(),
            causes,
        ))
    }
}

fn rules(rules: Option<&[PolicyRule]>, namespaced: bool, causes: &mut Vec<FieldCause>) {
    for (i, rule) in rules.unwrap_or_default().iter().enumerate() {
        let field = |f: &str| format!("rules[{i}].{f}");
        if rule.verbs.is_empty() {
            causes.push(FieldCause::required(&field("verbs")));
        }
        let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        let names = rule.resource_names.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            if namespaced {
                causes.push(FieldCause::invalid(
                    &field("nonResourceURLs"),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
                causes.push(FieldCause::invalid(
                    &field("nonResourceURLs"),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if groups.is_empty() {
            causes.push(FieldCause::required(&field("apiGroups")));
        }
        if resources.is_empty() {
            causes.push(FieldCause::required(&field("resources")));
        }
    }
}

fn role_ref(r: &RoleRef, namespaced: bool, causes: &mut Vec<FieldCause>) {
    if r.api_group != RBAC_GROUP {
        causes.push(FieldCause::not_supported(
            "roleRef.apiGroup",
            format!(
                "Unsupported value: {:?}: supported values: {RBAC_GROUP:?}",
                r.api_group
            ),
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&r.kind.as_str()) {
        causes.push(FieldCause::not_supported(
            "roleRef.kind",
            format!(
                "Unsupported value: {:?}: supported values: {}",
                r.kind,
                kinds
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if r.name.is_empty() {
        causes.push(FieldCause::required("roleRef.name"));
    } else if let Some(why) = path_segment_problem(&r.name) {
        causes.push(FieldCause::invalid(
            "roleRef.name",
            format!("Invalid value: {:?}: {why}", r.name),
        ));
    }
}

fn immutable(new: &RoleRef, old: &RoleRef, causes: &mut Vec<FieldCause>) {
    if new != old {
        causes.push(FieldCause::invalid(
            "roleRef",
            "Invalid value: cannot change roleRef",
        ));
    }
}

fn subjects(subjects: Option<&[Subject]>, namespaced: bool, causes: &mut Vec<FieldCause>) {
    for (i, s) in subjects.unwrap_or_default().iter().enumerate() {
        let field = |f: &str| format!("subjects[{i}].{f}");
        if s.name.is_empty() {
            causes.push(FieldCause::required(&field("name")));
        }
        let group = s.api_group.as_deref().unwrap_or_default();
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !group.is_empty() {
                    causes.push(FieldCause::not_supported(
                        &field("apiGroup"),
                        format!("Unsupported value: {group:?}: supported values: \"\""),
                    ));
                }
                if !namespaced && s.namespace.as_deref().unwrap_or_default().is_empty() {
                    causes.push(FieldCause::required(&field("namespace")));
                }
            }
            // An empty apiGroup is what the API defaults to the RBAC group.
            "User" | "Group" => {
                if !group.is_empty() && group != RBAC_GROUP {
                    causes.push(FieldCause::not_supported(
                        &field("apiGroup"),
                        format!("Unsupported value: {group:?}: supported values: {RBAC_GROUP:?}"),
                    ));
                }
            }
            other => causes.push(FieldCause::not_supported(
                &field("kind"),
                format!(
                    "Unsupported value: {other:?}: supported values: \"ServiceAccount\", \
                     \"User\", \"Group\""
                ),
            )),
        }
    }
}

/// Why `name` cannot be a path segment (RBAC object names may hold `:`), if it cannot.
pub fn path_segment_problem(name: &str) -> Option<&'static str> {
    if name == "." || name == ".." {
        Some("may not be '.' or '..'")
    } else if name.contains('/') || name.contains('%') {
        Some("may not contain '/' or '%'")
    } else {
        None
    }
}
