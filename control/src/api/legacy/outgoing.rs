//! Stored objects out: the apps/v1 JSON of an object in the shape of a legacy version.
//!
//! Only `apiVersion` and one field differ: an `extensions/v1beta1` DaemonSet shows the
//! `deprecated.daemonset.template.generation` annotation as `spec.templateGeneration` (and
//! not as an annotation), as kube-apiserver did. Values apps/v1 spells differently are
//! shown as stored: an `extensions/v1beta1` Deployment created without a history limit or
//! deadline shows 2147483647 for both, which is what that version's defaulting wrote too.
//! Fields newer than the legacy version (e.g. a DaemonSet's `maxSurge`) are left in: legacy
//! clients ignore fields they do not know.

use serde_json::Value;

use super::LegacyVersion;
use super::incoming::TEMPLATE_GENERATION;
use crate::object::Kind;

/// The stored JSON of an object of `kind` as `version` shows it.
pub(crate) fn to_legacy(version: LegacyVersion, kind: Kind, mut value: Value) -> Value {
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    obj.insert("apiVersion".to_string(), version.api_version().into());
    if (version, kind) == (LegacyVersion::ExtensionsV1beta1, Kind::DaemonSet) {
        let annotations = obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut);
        let generation = annotations.and_then(|a| {
            let text = a.remove(TEMPLATE_GENERATION)?;
            text.as_str().and_then(|t| t.parse::<i64>().ok())
        });
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            && meta
                .get("annotations")
                .and_then(Value::as_object)
                .is_some_and(serde_json::Map::is_empty)
        {
            meta.remove("annotations");
        }
        if let Some(generation) = generation
            && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.insert("templateGeneration".to_string(), generation.into());
        }
    }
    value
}
