//! RBAC rows: Roles and ClusterRoles show NAME AGE; bindings NAME ROLE AGE, and with `-o wide`
//! USERS GROUPS SERVICEACCOUNTS.

use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use serde_json::Value;

use super::{Column, col};

pub(super) const BINDING_COLUMNS: [Column; 4] = [
    col("Role", 0, "The role the binding grants, as kind/name."),
    col("Users", 1, "Users the binding applies to."),
    col("Groups", 1, "Groups the binding applies to."),
    col(
        "ServiceAccounts",
        1,
        "Service accounts the binding applies to, as namespace/name.",
    ),
];

pub(super) fn binding_cells(
    role: &RoleRef,
    subjects: Option<&[Subject]>,
) -> (Vec<Value>, Vec<Value>) {
    let of_kind = |kind: &str| -> Value {
        let names: Vec<String> = subjects
            .unwrap_or_default()
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| match (&s.namespace, kind) {
                (Some(ns), "ServiceAccount") => format!("{ns}/{}", s.name),
                _ => s.name.clone(),
            })
            .collect();
        Value::String(names.join(", "))
    };
    (
        vec![Value::String(format!("{}/{}", role.kind, role.name))],
        vec![of_kind("User"), of_kind("Group"), of_kind("ServiceAccount")],
    )
}
