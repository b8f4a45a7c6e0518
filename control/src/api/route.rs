//! Maps a request path onto what it names: a discovery document, a collection, one object,
//! its `/status` or `/scale` subresource, or a Pod's runtime subresources (`exec`, `log`, ...).
//! Pure string work; no state, no I/O.

use super::legacy::LegacyVersion;
use crate::error::ApiError;
use crate::object::Kind;

/// A resource the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// One of the stored kinds.
    Stored(Kind),
    /// `events` (core and `events.k8s.io`): always empty, read-only, so `kubectl describe`
    /// works.
    Events {
        /// Whether the path was `events.k8s.io/v1` (else core `v1`).
        events_group: bool,
    },
    /// A review (create only, never stored): access and identity questions.
    Review(Review),
    /// `componentstatuses` (core, cluster-scoped): the server's parts' health, read-only.
    ComponentStatuses,
    /// `pods/<name>/binding`: assigns a Pod to a Node (create only).
    PodBinding,
}

/// The review resources: questions answered, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Review {
    /// `authorization.k8s.io/v1 SelfSubjectAccessReview`: may I ...?
    SelfSubjectAccess,
    /// `authorization.k8s.io/v1 SubjectAccessReview`: may this user ...?
    SubjectAccess,
    /// `authentication.k8s.io/v1 SelfSubjectReview`: who am I?
    SelfSubject,
}

impl Review {
    /// Every review resource.
    pub(crate) const ALL: [Review; 3] = [
        Review::SelfSubjectAccess,
        Review::SubjectAccess,
        Review::SelfSubject,
    ];

    /// The API group.
    pub(crate) fn group(self) -> &'static str {
        match self {
            Review::SelfSubjectAccess | Review::SubjectAccess => "authorization.k8s.io",
            Review::SelfSubject => "authentication.k8s.io",
        }
    }

    /// The `kind`.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Review::SelfSubjectAccess => "SelfSubjectAccessReview",
            Review::SubjectAccess => "SubjectAccessReview",
            Review::SelfSubject => "SelfSubjectReview",
        }
    }

    /// The plural used in paths.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Review::SelfSubjectAccess => "selfsubjectaccessreviews",
            Review::SubjectAccess => "subjectaccessreviews",
            Review::SelfSubject => "selfsubjectreviews",
        }
    }
}

/// The object or collection a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The resource.
    pub resource: Resource,
    /// The namespace in the path (`None`: cluster-scoped, or all namespaces).
    pub namespace: Option<String>,
    /// The object name (`None`: the collection).
    pub name: Option<String>,
    /// Whether the path ends in `/status`.
    pub status: bool,
    /// Another subresource the path names (`/scale`, a Pod's `/exec`, ...).
    pub subresource: Option<Subresource>,
    /// The legacy group-version the path names (`/apis/extensions/v1beta1/...`), whose
    /// shape bodies and answers have; `None` for the stored version.
    pub legacy: Option<LegacyVersion>,
}

/// The subresources besides `/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    /// `/scale` of the kinds with `spec.replicas` (autoscaling/v1 Scale).
    Scale,
    /// A Pod subresource that needs a container runtime (`exec`, `attach`, `log`,
    /// `portforward`): answered with a clear error.
    Runtime(&'static str),
}

/// The Pod subresources that need a container runtime.
const RUNTIME_SUBRESOURCES: [&str; 4] = ["exec", "attach", "log", "portforward"];

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/api`: the core APIVersions.
    CoreVersions,
    /// `/apis`: the APIGroupList.
    Groups,
    /// `/apis/<group>`: one APIGroup.
    Group(&'static str),
    /// `/api/v1` or `/apis/<group>/v1`: the APIResourceList of a group (`""` for core).
    Resources(&'static str),
    /// `/apis/extensions/v1beta1`, `/apis/apps/v1beta1`, ...: the APIResourceList of a
    /// legacy group-version.
    LegacyResources(LegacyVersion),
    /// A collection or object.
    Objects(Target),
}

/// The groups served besides the core group and those of the stored kinds (each kind's
/// group is served at the kind's version).
const EXTRA_GROUPS: [&str; 3] = [
    "events.k8s.io",
    "authorization.k8s.io",
    "authentication.k8s.io",
];

/// Every group served besides the core group, in a stable order: the stored kinds' groups,
/// then the others, then the groups served only at legacy versions (`extensions`), last so
/// that kubectl prefers `deployments.apps` over `deployments.extensions`, as it did against
/// kube-apiserver.
pub(crate) fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for group in Kind::ALL
        .into_iter()
        .map(Kind::group)
        .chain(EXTRA_GROUPS)
        .chain(LegacyVersion::ALL.into_iter().map(LegacyVersion::group))
        .filter(|g| !g.is_empty())
    {
        if !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

/// The version `group`'s objects are stored at: its kinds' version, else `v1`.
pub(crate) fn version_of(group: &str) -> &'static str {
    Kind::ALL
        .into_iter()
        .find(|k| k.group() == group)
        .map_or("v1", Kind::version)
}

/// Every version `group` is served at, the preferred one first: the stored version (unless
/// the group is served only at legacy versions), then its legacy versions, newest first.
pub(crate) fn versions_of(group: &str) -> Vec<&'static str> {
    let legacy_only = !Kind::ALL.iter().any(|k| k.group() == group)
        && !EXTRA_GROUPS.contains(&group)
        && LegacyVersion::of_group(group).next().is_some();
    let stored = (!legacy_only).then(|| version_of(group));
    stored
        .into_iter()
        .chain(LegacyVersion::of_group(group).map(LegacyVersion::version))
        .collect()
}

/// Resolves a path below `/api` or `/apis`.
pub(crate) fn resolve(path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api"] => Ok(Route::CoreVersions),
        ["apis"] => Ok(Route::Groups),
        ["api", "v1"] => Ok(Route::Resources("")),
        ["api", "v1", rest @ ..] => objects("", None, rest, path),
        ["apis", group] => known_group(group, path).map(Route::Group),
        ["apis", group, version] => match LegacyVersion::find(group, version) {
            Some(legacy) => Ok(Route::LegacyResources(legacy)),
            None => known_version(group, version, path).map(Route::Resources),
        },
        ["apis", group, version, rest @ ..] => match LegacyVersion::find(group, version) {
            Some(legacy) => objects(legacy.group(), Some(legacy), rest, path),
            None => objects(known_version(group, version, path)?, None, rest, path),
        },
        _ => Err(ApiError::no_route(path)),
    }
}

fn known_group(group: &str, path: &str) -> Result<&'static str, ApiError> {
    groups()
        .into_iter()
        .find(|g| *g == group)
        .ok_or_else(|| ApiError::no_route(path))
}

fn known_version(group: &str, version: &str, path: &str) -> Result<&'static str, ApiError> {
    let group = known_group(group, path)?;
    if versions_of(group).contains(&version) {
        Ok(group)
    } else {
        Err(ApiError::no_route(path))
    }
}

/// Finds the resource named `plural` in `group`, or among the kinds of `legacy`.
fn resource(
    group: &str,
    legacy: Option<LegacyVersion>,
    plural: &str,
    path: &str,
) -> Result<Resource, ApiError> {
    if let Some(legacy) = legacy {
        return legacy
            .kinds()
            .iter()
            .find(|k| k.plural() == plural)
            .map(|k| Resource::Stored(*k))
            .ok_or_else(|| ApiError::no_route(path));
    }
    if plural == "events" && (group.is_empty() || group == "events.k8s.io") {
        return Ok(Resource::Events {
            events_group: !group.is_empty(),
        });
    }
    if plural == "componentstatuses" && group.is_empty() {
        return Ok(Resource::ComponentStatuses);
    }
    if let Some(review) = Review::ALL
        .into_iter()
        .find(|r| r.plural() == plural && r.group() == group)
    {
        return Ok(Resource::Review(review));
    }
    Kind::ALL
        .into_iter()
        .find(|k| k.plural() == plural && k.group() == group)
        .map(Resource::Stored)
        .ok_or_else(|| ApiError::no_route(path))
}

fn objects(
    group: &'static str,
    legacy: Option<LegacyVersion>,
    rest: &[&str],
    path: &str,
) -> Result<Route, ApiError> {
    // `namespaces/<ns>/status` is the Namespace's own status, not a resource called "status".
    let (namespace, rest) = match rest {
        ["namespaces", ns, "status"] if group.is_empty() => {
            return Ok(Route::Objects(Target {
                resource: Resource::Stored(Kind::Namespace),
                namespace: None,
                name: Some(ns.to_string()),
                status: true,
                subresource: None,
                legacy: None,
            }));
        }
        ["namespaces", ns, plural, more @ ..] => (Some(ns.to_string()), {
            let mut v = vec![*plural];
            v.extend_from_slice(more);
            v
        }),
        other => (None, other.to_vec()),
    };
    if let ["pods", name, "binding"] = rest.as_slice()
        && group.is_empty()
        && namespace.is_some()
        && !name.is_empty()
    {
        return Ok(Route::Objects(Target {
            resource: Resource::PodBinding,
            namespace,
            name: Some(name.to_string()),
            status: false,
            subresource: None,
            legacy: None,
        }));
    }
    let (plural, name, status, sub) = match rest.as_slice() {
        [plural] => (*plural, None, false, None),
        [plural, name] => (*plural, Some(name.to_string()), false, None),
        [plural, name, "status"] => (*plural, Some(name.to_string()), true, None),
        [plural, name, "scale"] => (
            *plural,
            Some(name.to_string()),
            false,
            Some(Subresource::Scale),
        ),
        ["pods", name, sub] => match RUNTIME_SUBRESOURCES.iter().find(|s| *s == sub) {
            Some(sub) => (
                "pods",
                Some(name.to_string()),
                false,
                Some(Subresource::Runtime(sub)),
            ),
            None => return Err(ApiError::no_route(path)),
        },
        _ => return Err(ApiError::no_route(path)),
    };
    let resource = resource(group, legacy, plural, path)?;
    if let Some(name) = &name
        && name.is_empty()
    {
        return Err(ApiError::no_route(path));
    }
    let namespaced = match resource {
        Resource::Stored(kind) => kind.namespaced(),
        Resource::Events { .. } => true,
        Resource::Review(_) | Resource::ComponentStatuses => false,
        Resource::PodBinding => true,
    };
    if namespace.is_some() && !namespaced {
        return Err(ApiError::no_route(path));
    }
    if namespace.is_none() && namespaced && name.is_some() {
        return Err(ApiError::no_route(path));
    }
    if status && !matches!(resource, Resource::Stored(k) if crate::store::has_status(k)) {
        return Err(ApiError::no_route(path));
    }
    if sub == Some(Subresource::Scale) && !matches!(resource, Resource::Stored(k) if k.info().scale)
    {
        return Err(ApiError::no_route(path));
    }
    Ok(Route::Objects(Target {
        resource,
        namespace,
        name,
        status,
        subresource: sub,
        legacy,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match resolve(path) {
            Ok(Route::Objects(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resolves_namespaced_cluster_and_all_namespace_paths() {
        let t = target("/api/v1/namespaces/default/services/web");
        assert_eq!(t.resource, Resource::Stored(Kind::Service));
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name.as_deref(), Some("web"));
        let t = target("/api/v1/services");
        assert_eq!((t.namespace, t.name), (None, None));
        let t = target("/api/v1/namespaces/default");
        assert_eq!(t.resource, Resource::Stored(Kind::Namespace));
        assert_eq!(t.name.as_deref(), Some("default"));
        let t = target("/api/v1/namespaces/default/status");
        assert!(t.status && t.name.as_deref() == Some("default"));
        let t = target("/api/v1/nodes/n1/status");
        assert!(t.status);
        let t = target("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/s");
        assert_eq!(t.resource, Resource::Stored(Kind::EndpointSlice));
        let t = target("/apis/events.k8s.io/v1/namespaces/a/events");
        assert_eq!(t.resource, Resource::Events { events_group: true });
        let t = target("/apis/rbac.authorization.k8s.io/v1/namespaces/a/rolebindings/b");
        assert_eq!(t.resource, Resource::Stored(Kind::RoleBinding));
        let t = target("/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node");
        assert_eq!(t.name.as_deref(), Some("system:node"));
        let t = target("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(t.resource, Resource::Stored(Kind::Deployment));
        assert_eq!(t.subresource, Some(Subresource::Scale));
        let t = target("/api/v1/namespaces/a/replicationcontrollers/rc/scale");
        assert_eq!(t.subresource, Some(Subresource::Scale));
        let t = target("/api/v1/namespaces/a/pods/p/exec");
        assert_eq!(t.subresource, Some(Subresource::Runtime("exec")));
        let t = target("/apis/autoscaling/v2/namespaces/a/horizontalpodautoscalers/h");
        assert_eq!(t.resource, Resource::Stored(Kind::HorizontalPodAutoscaler));
        let t = target("/api/v1/namespaces/a/pods/p/binding");
        assert_eq!(t.resource, Resource::PodBinding);
        assert_eq!(t.name.as_deref(), Some("p"));
        let t = target("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
        assert_eq!(t.resource, Resource::Review(Review::SelfSubjectAccess));
    }

    #[test]
    fn resolves_legacy_group_versions_to_the_stored_kinds() {
        let t = target("/apis/extensions/v1beta1/namespaces/a/deployments/web");
        assert_eq!(t.resource, Resource::Stored(Kind::Deployment));
        assert_eq!(t.legacy, Some(LegacyVersion::ExtensionsV1beta1));
        let t = target("/apis/apps/v1beta2/namespaces/a/replicasets/rs/scale");
        assert_eq!(t.legacy, Some(LegacyVersion::AppsV1beta2));
        assert_eq!(t.subresource, Some(Subresource::Scale));
        let t = target("/apis/apps/v1beta1/statefulsets");
        assert_eq!(t.resource, Resource::Stored(Kind::StatefulSet));
        let t = target("/apis/apps/v1/namespaces/a/deployments/web");
        assert_eq!(t.legacy, None);
        assert_eq!(
            resolve("/apis/extensions/v1beta1"),
            Ok(Route::LegacyResources(LegacyVersion::ExtensionsV1beta1))
        );
        assert_eq!(resolve("/apis/extensions"), Ok(Route::Group("extensions")));
        assert_eq!(versions_of("apps"), ["v1", "v1beta2", "v1beta1"]);
        assert_eq!(versions_of("extensions"), ["v1beta1"]);
        assert_eq!(versions_of("batch"), ["v1"]);
        assert_eq!(groups().last(), Some(&"extensions"));
    }

    #[test]
    fn rejects_paths_that_name_nothing() {
        for path in [
            "/api/v1/services/web",
            "/api/v1/namespaces/a/nodes",
            "/api/v1/endpointslices",
            "/apis/apps/v1/deployments/web",
            "/apis/apps/v1beta9/deployments",
            "/apis/autoscaling/v1/horizontalpodautoscalers",
            "/apis/apps/v1/namespaces/a/daemonsets/d/scale",
            "/api/v1/namespaces/a/configmaps/c/status",
            "/api/v1/namespaces/a/services/s/exec",
            "/api/v1/namespaces/a/services/web/scale",
            "/api/v1/namespaces/a/services/web/binding",
            "/api/v1/pods/p/binding",
            "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/s/status",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/a/clusterroles",
            "/apis/authentication.k8s.io/v1/namespaces/a/selfsubjectreviews",
            "/apis/extensions/v1beta1/namespaces/a/statefulsets",
            "/apis/extensions/v1beta1/namespaces/a/daemonsets/d/scale",
            "/apis/extensions/v1/namespaces/a/deployments",
            "/apis/apps/v1beta1/namespaces/a/replicasets",
            "/apis/apps/v1beta2/namespaces/a/services",
        ] {
            assert!(resolve(path).is_err(), "{path}");
        }
    }
}
