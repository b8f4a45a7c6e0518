//! Server-owned metadata, filled as kube-apiserver does: `uid`, `creationTimestamp`,
//! `generation`, `resourceVersion`, `deletionTimestamp`, and the split between the main
//! resource (which cannot change `status`) and the `/status` subresource (which can change
//! nothing else).
//!
//! Pure functions over objects; no storage, no admission.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rand::Rng;

use super::StoreError;
use crate::object::{Kind, Object};

/// Characters kube-apiserver uses for `generateName` suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Now, truncated to whole seconds (Kubernetes timestamps carry seconds).
pub(crate) fn now() -> Time {
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// `prefix` plus five random characters, as `generateName` asks.
pub(crate) fn generated_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())]))
        .collect();
    format!("{prefix}{suffix}")
}

/// Whether objects of `kind` have a `status` the main resource must not change.
pub(crate) fn has_status(kind: Kind) -> bool {
    kind.info().status
}

/// Whether objects of `kind` have a `spec` (and so a meaningful `generation`).
fn has_spec(kind: Kind) -> bool {
    kind.info().spec
}

/// Fills the metadata of a new object.
pub(crate) fn fill_on_create(obj: &mut Object) {
    let kind = obj.kind();
    let meta = obj.meta_mut();
    meta.uid = Some(uuid::Uuid::new_v4().to_string());
    meta.creation_timestamp = Some(now());
    meta.generation = Some(1);
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.resource_version = None;
    if !kind.namespaced() {
        meta.namespace = None;
    }
    if let Object::Namespace(ns) = obj {
        label_namespace(&mut ns.metadata);
        let status = ns.status.get_or_insert_with(Default::default);
        if status.phase.is_none() {
            status.phase = Some("Active".to_string());
        }
    }
}

/// Sets the immutable `kubernetes.io/metadata.name` label every Namespace carries.
fn label_namespace(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    let name = meta.name.clone().unwrap_or_default();
    meta.labels
        .get_or_insert_with(Default::default)
        .insert("kubernetes.io/metadata.name".to_string(), name);
}

/// Builds the stored form of an update from the client's `new` and the stored `old`: server
/// fields come from `old`, `status` from `old` on the main resource, everything but `status`
/// from `old` on the `/status` subresource. `generation` stays; [`bump_generation`] sets it
/// once admission has defaulted the new object.
pub(crate) fn carry_over(old: &Object, new: Object, status: bool) -> Result<Object, StoreError> {
    let kind = old.kind();
    let mut merged = if status && has_status(kind) {
        let mut json = old.to_json();
        let new_json = new.to_json();
        match new_json.get("status") {
            Some(s) => json["status"] = s.clone(),
            None => {
                if let Some(map) = json.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        Object::from_json(kind, json).map_err(|e| StoreError::bad_request(e.message))?
    } else if has_status(kind) {
        let mut json = new.to_json();
        match old.to_json().get("status") {
            Some(s) => json["status"] = s.clone(),
            None => {
                if let Some(map) = json.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        Object::from_json(kind, json).map_err(|e| StoreError::bad_request(e.message))?
    } else {
        new
    };
    let old_meta = old.meta();
    let meta = merged.meta_mut();
    meta.uid = old_meta.uid.clone();
    meta.creation_timestamp = old_meta.creation_timestamp.clone();
    meta.deletion_timestamp = old_meta.deletion_timestamp.clone();
    meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
    meta.namespace = old_meta.namespace.clone();
    meta.name = old_meta.name.clone();
    meta.generate_name = meta
        .generate_name
        .take()
        .or_else(|| old_meta.generate_name.clone());
    meta.generation = old_meta.generation;
    if let Object::Namespace(ns) = &mut merged {
        label_namespace(&mut ns.metadata);
    }
    Ok(merged)
}

/// Sets `new.metadata.generation` to the stored one plus one when `spec` changed (compared
/// after admission, so a defaulted field the client left out is no change).
pub(crate) fn bump_generation(old: &Object, new: &mut Object) {
    let generation = old.meta().generation.unwrap_or(1);
    let changed = has_spec(old.kind()) && old.to_json().get("spec") != new.to_json().get("spec");
    new.meta_mut().generation = Some(if changed { generation + 1 } else { generation });
}

/// Whether two stored forms differ in anything but `resourceVersion`.
pub(crate) fn same_content(a: &Object, b: &Object) -> bool {
    let mut a = a.clone();
    a.meta_mut().resource_version = b.meta().resource_version.clone();
    a == *b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(value: serde_json::Value) -> Object {
        Object::from_json(Kind::Service, value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn main_resource_keeps_status_and_bumps_generation_on_spec_change() {
        let mut old = svc(
            json!({"metadata": {"name": "a", "uid": "u1", "generation": 1},
            "spec": {"ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
        );
        fill_on_create(&mut old);
        let new = svc(json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 81}]}}));
        let mut merged = carry_over(&old, new, false).unwrap_or_else(|e| panic!("{e}"));
        bump_generation(&old, &mut merged);
        assert_eq!(merged.meta().generation, Some(2));
        assert_eq!(merged.meta().uid, old.meta().uid);
        assert_eq!(merged.to_json()["status"], old.to_json()["status"]);
        let same = svc(merged.to_json());
        let mut again = carry_over(&merged, same, false).unwrap_or_else(|e| panic!("{e}"));
        bump_generation(&merged, &mut again);
        assert_eq!(again.meta().generation, Some(2));
    }

    #[test]
    fn status_subresource_changes_only_status() {
        let old = svc(json!({"metadata": {"name": "a", "labels": {"x": "1"}},
            "spec": {"ports": [{"port": 80}]}}));
        let new = svc(
            json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 81}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
        );
        let merged = carry_over(&old, new, true).unwrap_or_else(|e| panic!("{e}"));
        let json = merged.to_json();
        assert_eq!(json["spec"]["ports"][0]["port"], 80);
        assert_eq!(json["metadata"]["labels"]["x"], "1");
        assert_eq!(
            json["status"]["loadBalancer"]["ingress"][0]["ip"],
            "1.2.3.4"
        );
    }

    #[test]
    fn generated_names_have_the_prefix_and_five_more_characters() {
        let name = generated_name("web-");
        assert!(name.starts_with("web-"));
        assert_eq!(name.len(), 9);
    }
}
