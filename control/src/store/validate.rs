//! Kind-independent checks of object metadata: names (DNS-1123 subdomain, DNS-1035 label for
//! Services, DNS-1123 label for Namespaces), label and annotation keys and values, finalizers,
//! ownerReferences (the identifying fields set, at most one controller).
//!
//! Every failure is a [`FieldCause`] naming the field; this module never changes an object.

use std::collections::BTreeMap;

use crate::error::FieldCause;
use crate::object::{Kind, Object};

const SUBDOMAIN_MAX: usize = 253;
const LABEL_MAX: usize = 63;
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Whether `s` is a DNS-1123 label: lower-case alphanumerics and `-`, starting and ending
/// alphanumeric, at most 63 characters.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= SUBDOMAIN_MAX && s.split('.').all(is_dns1123_label)
}

/// Whether `s` is a DNS-1035 label: a DNS-1123 label that starts with a letter.
pub(crate) fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Checks `metadata.name` for `kind`; the error names the rule broken.
pub(crate) fn name(kind: Kind, name: &str) -> Result<(), FieldCause> {
    let field = "metadata.name";
    if name.is_empty() {
        return Err(FieldCause::required(field));
    }
    let (ok, rule) = match kind {
        Kind::Service => (
            is_dns1035_label(name),
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
             with an alphabetic character, end with an alphanumeric character, and be at most \
             63 characters",
        ),
        Kind::Namespace => (
            is_dns1123_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', start and end with an alphanumeric character, and be at most 63 characters",
        ),
        Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => (
            crate::authz::validate::path_segment_problem(name).is_none(),
            "RBAC object names may not be '.' or '..' and may not contain '/' or '%'",
        ),
        _ => (
            is_dns1123_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', start and end with an alphanumeric character, and be at most 253 \
             characters",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(FieldCause::invalid(
            field,
            format!("Invalid value: {name:?}: {rule}"),
        ))
    }
}

/// Whether `s` is a label name part / value: alphanumerics, `-`, `_`, `.`, starting and
/// ending alphanumeric, at most 63 characters.
fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Checks a qualified key (`[prefix/]name`, prefix a DNS-1123 subdomain).
fn qualified_key(field: &str, key: &str) -> Result<(), FieldCause> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return Err(FieldCause::invalid(
            field,
            format!("Invalid value: {key:?}: prefix part must be a lowercase RFC 1123 subdomain"),
        ));
    }
    if !is_qualified_part(name) {
        return Err(FieldCause::invalid(
            field,
            format!(
                "Invalid value: {key:?}: name part must consist of alphanumeric characters, \
                 '-', '_' or '.', start and end with an alphanumeric character, and be at most \
                 63 characters"
            ),
        ));
    }
    Ok(())
}

/// Checks labels, annotations and finalizers; returns every problem found.
pub(crate) fn metadata(obj: &Object) -> Vec<FieldCause> {
    let meta = obj.meta();
    let mut causes = Vec::new();
    let empty = BTreeMap::new();
    for (key, value) in meta.labels.as_ref().unwrap_or(&empty) {
        if let Err(c) = qualified_key("metadata.labels", key) {
            causes.push(c);
        }
        if !value.is_empty() && !is_qualified_part(value) {
            causes.push(FieldCause::invalid(
                "metadata.labels",
                format!(
                    "Invalid value: {value:?}: a valid label value must be 63 characters or \
                     less, empty, or begin and end with an alphanumeric character, with '-', \
                     '_' or '.' between"
                ),
            ));
        }
    }
    let mut total = 0;
    for (key, value) in meta.annotations.as_ref().unwrap_or(&empty) {
        if let Err(c) = qualified_key("metadata.annotations", key) {
            causes.push(c);
        }
        total += key.len() + value.len();
    }
    if total > ANNOTATIONS_MAX_BYTES {
        causes.push(FieldCause::invalid(
            "metadata.annotations",
            format!("Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"),
        ));
    }
    for (i, finalizer) in meta.finalizers.iter().flatten().enumerate() {
        let field = format!("metadata.finalizers[{i}]");
        if let Err(c) = qualified_key(&field, finalizer) {
            causes.push(c);
        }
    }
    owner_references(
        meta.owner_references.as_deref().unwrap_or_default(),
        &mut causes,
    );
    causes
}

/// Each ownerReference names its owner (apiVersion, kind, name, uid), and at most one is the
/// controller, as kube-apiserver requires (so two controllers racing to adopt a Pod cannot
/// both succeed).
fn owner_references(
    refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
    causes: &mut Vec<FieldCause>,
) {
    for r in refs {
        for (field, value, what) in [
            ("apiVersion", &r.api_version, "version"),
            ("kind", &r.kind, "kind"),
            ("name", &r.name, "name"),
            ("uid", &r.uid, "uid"),
        ] {
            if value.is_empty() {
                causes.push(FieldCause::invalid(
                    &format!("metadata.ownerReferences.{field}"),
                    format!("Invalid value: \"\": {what} must not be empty"),
                ));
            }
        }
    }
    let controllers: Vec<String> = refs
        .iter()
        .filter(|r| r.controller == Some(true))
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    if controllers.len() > 1 {
        causes.push(FieldCause::invalid(
            "metadata.ownerReferences",
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in \
                 references for {}",
                controllers.join(" and ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_dns_rules() {
        assert!(is_dns1123_subdomain("a.b-c.d1"));
        assert!(!is_dns1123_subdomain("A"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(is_dns1035_label("web-1"));
        assert!(!is_dns1035_label("1web"));
        assert!(!is_dns1035_label(&"a".repeat(64)));
        assert!(name(Kind::Service, "a.b").is_err());
        assert!(name(Kind::Pod, "a.b").is_ok());
        assert!(name(Kind::Namespace, "a.b").is_err());
    }

    #[test]
    fn owner_references_name_their_owner_and_one_controller() {
        let pod = |refs: serde_json::Value| {
            serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(serde_json::json!({
                "metadata": {"name": "p", "ownerReferences": refs}
            }))
            .map(|pod| metadata(&Object::Pod(pod)))
        };
        let owner = |name: &str, uid: &str, controller: bool| {
            serde_json::json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                               "uid": uid, "controller": controller})
        };
        let ok = pod(serde_json::json!([
            owner("a", "1", true),
            owner("b", "2", false)
        ]));
        assert!(matches!(ok, Ok(ref c) if c.is_empty()), "{ok:?}");
        let two = pod(serde_json::json!([
            owner("a", "1", true),
            owner("b", "2", true)
        ]));
        let causes = two.map_err(|e| e.to_string()).unwrap_or_default();
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(
            causes[0].message.contains("ReplicaSet/a and ReplicaSet/b"),
            "{causes:?}"
        );
        let empty = pod(serde_json::json!([owner("a", "", false)]));
        let causes = empty.map_err(|e| e.to_string()).unwrap_or_default();
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "metadata.ownerReferences.uid");
    }

    #[test]
    fn label_keys_and_values_are_checked() {
        assert!(qualified_key("f", "app.kubernetes.io/name").is_ok());
        assert!(qualified_key("f", "Bad_Key.ok").is_ok());
        assert!(qualified_key("f", "UPPER/x").is_err());
        assert!(qualified_key("f", "a/-x").is_err());
        assert!(qualified_key("f", "").is_err());
        assert!(is_qualified_part("v1.2_3"));
        assert!(!is_qualified_part("white space"));
    }
}
