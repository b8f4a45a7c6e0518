//! The legacy group-versions of the workload kinds that old manifests and tutorials use:
//! `extensions/v1beta1`, `apps/v1beta1` and `apps/v1beta2`. They are served at their own
//! paths, but every object is stored once, as apps/v1: a body sent to a legacy path gets the
//! defaults that version applied and the apps/v1 shape ([`to_stored`]), and every object a
//! legacy path answers is given the legacy shape ([`to_legacy`]). So a Deployment created
//! through `extensions/v1beta1` is the Deployment `kubectl get deploy` (apps/v1) lists, and
//! the other way round.
//!
//! k8s-openapi has no types for these versions, so both directions work on JSON values and
//! touch only the fields where the versions differ; the typed apps/v1 decoding and admission
//! run afterwards, as for any apps/v1 body. Pure functions: never touches the store.
//!
//! The `/scale` subresource at a legacy path answers an `autoscaling/v1` Scale (and discovery
//! says so), which kubectl's scale client reads; the legacy `Scale` kinds of these versions
//! are not served.

mod incoming;
mod outgoing;

pub(crate) use incoming::to_stored;
pub(crate) use outgoing::to_legacy;

use crate::object::{Kind, Object};

/// One legacy group-version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyVersion {
    /// `extensions/v1beta1`: Deployment, ReplicaSet, DaemonSet (its Ingress, NetworkPolicy
    /// and PodSecurityPolicy are not served).
    ExtensionsV1beta1,
    /// `apps/v1beta1`: Deployment, StatefulSet, ControllerRevision.
    AppsV1beta1,
    /// `apps/v1beta2`: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision.
    AppsV1beta2,
}

impl LegacyVersion {
    /// Every legacy group-version, in the order discovery lists them within a group (newest
    /// first, as kube-apiserver did).
    pub(crate) const ALL: [LegacyVersion; 3] = [
        LegacyVersion::AppsV1beta2,
        LegacyVersion::AppsV1beta1,
        LegacyVersion::ExtensionsV1beta1,
    ];

    /// The API group.
    pub(crate) fn group(self) -> &'static str {
        match self {
            LegacyVersion::ExtensionsV1beta1 => "extensions",
            LegacyVersion::AppsV1beta1 | LegacyVersion::AppsV1beta2 => "apps",
        }
    }

    /// The version within the group.
    pub(crate) fn version(self) -> &'static str {
        match self {
            LegacyVersion::ExtensionsV1beta1 | LegacyVersion::AppsV1beta1 => "v1beta1",
            LegacyVersion::AppsV1beta2 => "v1beta2",
        }
    }

    /// The `apiVersion` objects carry at this version, e.g. `extensions/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            LegacyVersion::ExtensionsV1beta1 => "extensions/v1beta1",
            LegacyVersion::AppsV1beta1 => "apps/v1beta1",
            LegacyVersion::AppsV1beta2 => "apps/v1beta2",
        }
    }

    /// The stored kinds this version serves, in discovery order.
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            LegacyVersion::ExtensionsV1beta1 => {
                &[Kind::DaemonSet, Kind::Deployment, Kind::ReplicaSet]
            }
            LegacyVersion::AppsV1beta1 => &[
                Kind::ControllerRevision,
                Kind::Deployment,
                Kind::StatefulSet,
            ],
            LegacyVersion::AppsV1beta2 => &[
                Kind::ControllerRevision,
                Kind::DaemonSet,
                Kind::Deployment,
                Kind::ReplicaSet,
                Kind::StatefulSet,
            ],
        }
    }

    /// The legacy version at `group`/`version`, if that is one.
    pub(crate) fn find(group: &str, version: &str) -> Option<LegacyVersion> {
        LegacyVersion::ALL
            .into_iter()
            .find(|v| v.group() == group && v.version() == version)
    }

    /// The legacy version a manifest's `apiVersion` names (`extensions/v1beta1`), if it
    /// serves `kind`.
    pub fn for_manifest(api_version: &str, kind: Kind) -> Option<LegacyVersion> {
        LegacyVersion::ALL
            .into_iter()
            .find(|v| v.api_version() == api_version && v.kinds().contains(&kind))
    }

    /// The URL path of `kind`'s collection at this version, in `namespace` (all namespaces
    /// when `None`): `/apis/extensions/v1beta1/namespaces/{ns}/deployments`.
    pub fn collection_path(self, kind: Kind, namespace: Option<&str>) -> String {
        let base = format!("/apis/{}", self.api_version());
        match namespace {
            Some(ns) if kind.namespaced() => format!("{base}/namespaces/{ns}/{}", kind.plural()),
            _ => format!("{base}/{}", kind.plural()),
        }
    }

    /// The legacy versions of `group`, newest first.
    pub(crate) fn of_group(group: &str) -> impl Iterator<Item = LegacyVersion> + '_ {
        LegacyVersion::ALL
            .into_iter()
            .filter(move |v| v.group() == group)
    }
}

/// The warning every answer at a legacy path carries (kubectl prints it), as kube-apiserver
/// warned of deprecated versions.
pub(crate) fn deprecation(version: LegacyVersion, kind: Kind) -> String {
    format!(
        "{} {kind} is deprecated (removed from Kubernetes in v1.16); this server stores it as \
         {} {kind}: use that version",
        version.api_version(),
        kind.api_version()
    )
}

/// The `apiVersion` a request at `legacy` (or at the stored version, when `None`) answers
/// with for `kind`.
pub(crate) fn api_version(legacy: Option<LegacyVersion>, kind: Kind) -> String {
    match legacy {
        Some(v) => v.api_version().to_string(),
        None => kind.api_version(),
    }
}

/// A body sent at `legacy` (or at the stored version, when `None`) in the stored shape; see
/// [`to_stored`] for the errors.
pub(crate) fn accept(
    legacy: Option<LegacyVersion>,
    kind: Kind,
    value: serde_json::Value,
) -> Result<serde_json::Value, crate::error::ApiError> {
    match legacy {
        Some(v) => to_stored(v, kind, value),
        None => Ok(value),
    }
}

/// `obj` as JSON in the shape of `legacy` (or as stored, when `None`).
pub(crate) fn render(legacy: Option<LegacyVersion>, obj: &Object) -> serde_json::Value {
    match legacy {
        Some(v) => to_legacy(v, obj.kind(), obj.to_json()),
        None => obj.to_json(),
    }
}

/// Gives the whole objects a Table embeds (`includeObject=Object`) the shape of `legacy`;
/// rows with only metadata are left as they are.
pub(crate) fn table_objects(
    legacy: Option<LegacyVersion>,
    kind: Kind,
    table: &mut serde_json::Value,
) {
    let Some(version) = legacy else {
        return;
    };
    let rows = table
        .get_mut("rows")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten();
    for row in rows {
        if let Some(object) = row.get_mut("object")
            && object.get("kind").and_then(serde_json::Value::as_str) == Some(kind.name())
        {
            *object = to_legacy(version, kind, object.take());
        }
    }
}

#[cfg(test)]
mod tests;
