//! Legacy bodies in: the defaults the legacy version applied, then the apps/v1 shape.
//!
//! What differs from apps/v1, by version and kind (from kube-apiserver's defaulting of each
//! version; everything not listed is defaulted by apps/v1 admission afterwards, with the same
//! values these versions used):
//!
//! - `extensions/v1beta1` and `apps/v1beta1` Deployment, ReplicaSet (extensions), DaemonSet
//!   (extensions), StatefulSet (apps/v1beta1): an absent `spec.selector` becomes
//!   `matchLabels` of the pod template's labels, and empty `metadata.labels` become the
//!   template's labels.
//! - `extensions/v1beta1` Deployment: `RollingUpdate` defaults to `maxUnavailable: 1`,
//!   `maxSurge: 1` (also when `rollingUpdate` is given with another type, as upstream);
//!   `revisionHistoryLimit` and `progressDeadlineSeconds` default to 2147483647 (this
//!   version kept every ReplicaSet and had no deadline; apps/v1 spells both as MaxInt32).
//! - `apps/v1beta1` Deployment: `revisionHistoryLimit` 2, `progressDeadlineSeconds` 600.
//! - `spec.rollbackTo` (both Deployment versions) is refused with 422: apps/v1 has no such
//!   field and this server runs no Deployment controller that would act on it, so dropping
//!   it would accept a rollback that never happens.
//! - `extensions/v1beta1` DaemonSet: `updateStrategy.type` defaults to `OnDelete`;
//!   `spec.templateGeneration` (no apps/v1 field) moves to the annotation
//!   `deprecated.daemonset.template.generation`, as kube-apiserver stores it; `1` when
//!   neither is given.
//! - `apps/v1beta1` StatefulSet: `updateStrategy.type` defaults to `OnDelete`.
//! - `apps/v1beta2`: only `apiVersion` differs (its defaults are apps/v1's).

use serde_json::{Map, Value, json};

use super::LegacyVersion;
use crate::error::{ApiError, FieldCause};
use crate::object::Kind;

/// What `extensions/v1beta1` meant by an absent `revisionHistoryLimit` or
/// `progressDeadlineSeconds` ("keep all", "no deadline"), as apps/v1 stores it.
pub(crate) const UNLIMITED: i64 = i32::MAX as i64;

/// The annotation that carries an extensions/v1beta1 DaemonSet's `spec.templateGeneration`
/// in apps/v1.
pub(crate) const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// A body of `kind` sent at `version`, with that version's defaults applied and in the
/// apps/v1 shape. A body that is not an object is returned as is (decoding names the
/// problem). Errors: 400 when `apiVersion` names another version, 422 for `spec.rollbackTo`
/// or a `spec.templateGeneration` that is not a non-negative integer.
pub(crate) fn to_stored(
    version: LegacyVersion,
    kind: Kind,
    mut value: Value,
) -> Result<Value, ApiError> {
    let Some(obj) = value.as_object_mut() else {
        return Ok(value);
    };
    if let Some(given) = obj.get("apiVersion").and_then(Value::as_str)
        && given != version.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "apiVersion: {given:?} is not served here: expected {:?}",
            version.api_version()
        )));
    }
    obj.insert("apiVersion".to_string(), kind.api_version().into());
    match (version, kind) {
        (LegacyVersion::ExtensionsV1beta1, Kind::Deployment) => {
            refuse_rollback(kind, obj)?;
            selector_from_template(obj);
            if let Some(spec) = spec_mut(obj) {
                deployment_defaults(spec, &DEPLOYMENT_EXTENSIONS);
            }
        }
        (LegacyVersion::AppsV1beta1, Kind::Deployment) => {
            refuse_rollback(kind, obj)?;
            selector_from_template(obj);
            if let Some(spec) = spec_mut(obj) {
                deployment_defaults(spec, &DEPLOYMENT_APPS_V1BETA1);
            }
        }
        (LegacyVersion::ExtensionsV1beta1, Kind::ReplicaSet) => selector_from_template(obj),
        (LegacyVersion::ExtensionsV1beta1, Kind::DaemonSet) => {
            selector_from_template(obj);
            if let Some(spec) = spec_mut(obj) {
                update_type_on_delete(spec);
            }
            template_generation_to_annotation(kind, obj)?;
        }
        (LegacyVersion::AppsV1beta1, Kind::StatefulSet) => {
            selector_from_template(obj);
            if let Some(spec) = spec_mut(obj) {
                update_type_on_delete(spec);
            }
        }
        _ => {}
    }
    Ok(value)
}

/// Whether `map` has no value (or `null`) at `key`.
fn absent(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// The map at `key`, made an empty one when absent or `null`; `None` when it holds something
/// else (decoding reports that).
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    if absent(map, key) {
        map.insert(key.to_string(), json!({}));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

fn spec_mut(obj: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    obj.get_mut("spec").and_then(Value::as_object_mut)
}

fn name_of(obj: &Map<String, Value>) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The pod template's labels become the selector (when absent) and the object's labels (when
/// empty), as these versions defaulted them.
fn selector_from_template(obj: &mut Map<String, Value>) {
    let Some(labels) = obj
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned()
    else {
        return;
    };
    if let Some(spec) = spec_mut(obj)
        && absent(spec, "selector")
    {
        spec.insert("selector".to_string(), json!({"matchLabels": labels}));
    }
    if let Some(meta) = child(obj, "metadata") {
        let empty = meta
            .get("labels")
            .is_none_or(|l| l.is_null() || l.as_object().is_some_and(Map::is_empty));
        if empty {
            meta.insert("labels".to_string(), labels);
        }
    }
}

/// The Deployment defaults that differ between the legacy versions and apps/v1.
struct DeploymentDefaults {
    /// `maxUnavailable` and `maxSurge` of a rolling update.
    rolling: fn() -> Value,
    /// Whether a `rollingUpdate` given with another strategy type is defaulted too
    /// (extensions/v1beta1 did; apps/v1beta1 only for `RollingUpdate`).
    rolling_whenever_given: bool,
    /// `revisionHistoryLimit`.
    history: i64,
    /// `progressDeadlineSeconds`.
    deadline: i64,
}

const DEPLOYMENT_EXTENSIONS: DeploymentDefaults = DeploymentDefaults {
    rolling: || json!(1),
    rolling_whenever_given: true,
    history: UNLIMITED,
    deadline: UNLIMITED,
};

const DEPLOYMENT_APPS_V1BETA1: DeploymentDefaults = DeploymentDefaults {
    rolling: || json!("25%"),
    rolling_whenever_given: false,
    history: 2,
    deadline: 600,
};

fn deployment_defaults(spec: &mut Map<String, Value>, defaults: &DeploymentDefaults) {
    if let Some(strategy) = child(spec, "strategy") {
        if absent(strategy, "type") {
            strategy.insert("type".to_string(), "RollingUpdate".into());
        }
        let rolling_type = strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate");
        let given = !absent(strategy, "rollingUpdate");
        let defaulted = rolling_type || (given && defaults.rolling_whenever_given);
        if defaulted && let Some(rolling) = child(strategy, "rollingUpdate") {
            for field in ["maxUnavailable", "maxSurge"] {
                if absent(rolling, field) {
                    rolling.insert(field.to_string(), (defaults.rolling)());
                }
            }
        }
    }
    if absent(spec, "revisionHistoryLimit") {
        spec.insert("revisionHistoryLimit".to_string(), defaults.history.into());
    }
    if absent(spec, "progressDeadlineSeconds") {
        spec.insert(
            "progressDeadlineSeconds".to_string(),
            defaults.deadline.into(),
        );
    }
}

/// `updateStrategy.type` defaults to `OnDelete` (apps/v1: `RollingUpdate`).
fn update_type_on_delete(spec: &mut Map<String, Value>) {
    if let Some(strategy) = child(spec, "updateStrategy")
        && absent(strategy, "type")
    {
        strategy.insert("type".to_string(), "OnDelete".into());
    }
}

/// Refuses `spec.rollbackTo` (see the module doc); a `null` one is dropped.
fn refuse_rollback(kind: Kind, obj: &mut Map<String, Value>) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    let Some(spec) = spec_mut(obj) else {
        return Ok(());
    };
    match spec.remove("rollbackTo") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ApiError::invalid_many(
            kind.name(),
            &name,
            vec![FieldCause {
                field: "spec.rollbackTo".to_string(),
                reason: "FieldValueForbidden",
                message: "Forbidden: rollback through spec.rollbackTo is not supported: \
                          Deployments are stored as apps/v1, which has no rollbackTo; roll \
                          back by applying the earlier pod template"
                    .to_string(),
            }],
        )),
    }
}

/// Moves `spec.templateGeneration` to its annotation (`1` when neither is given).
fn template_generation_to_annotation(
    kind: Kind,
    obj: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    let given = spec_mut(obj).and_then(|spec| spec.remove("templateGeneration"));
    let generation = match given {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().filter(|g| *g >= 0).ok_or_else(|| {
            ApiError::invalid(
                kind.name(),
                &name,
                "spec.templateGeneration",
                format!("Invalid value: {value}: must be greater than or equal to 0"),
            )
        })?),
    };
    let Some(annotations) = child(obj, "metadata").and_then(|m| child(m, "annotations")) else {
        return Ok(());
    };
    match generation {
        Some(g) => {
            annotations.insert(TEMPLATE_GENERATION.to_string(), g.to_string().into());
        }
        None if absent(annotations, TEMPLATE_GENERATION) => {
            annotations.insert(TEMPLATE_GENERATION.to_string(), "1".into());
        }
        None => {}
    }
    Ok(())
}
