//! What a request asks to do, in the terms RBAC rules speak: verb, API group, resource,
//! subresource, namespace and name for resource requests, or a path for everything else.
//! Derived from the method, path and query alone (as kube-apiserver's request info), so it
//! never depends on whether the path names something this server serves.

use http::Method;

/// The request attributes an authorizer decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// A request for an API resource (`/api/v1/...`, `/apis/<group>/<version>/...`).
    Resource(ResourceAttributes),
    /// Any other path (`/healthz`, `/metrics`, `/api`, `/apis/<group>`, `/openapi/v3`...).
    NonResource {
        /// The lower-case HTTP method: `get`, `post`, `put`, `patch`, `delete`.
        verb: String,
        /// The request path.
        path: String,
    },
}

/// The attributes of a resource request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// The API group; empty for the core group.
    pub group: String,
    /// The resource's plural name, e.g. `services`.
    pub resource: String,
    /// The subresource, e.g. `status`; empty when none.
    pub subresource: String,
    /// The namespace; empty for cluster-scoped resources and requests across all namespaces.
    pub namespace: String,
    /// The object name; empty for collections.
    pub name: String,
}

impl ResourceAttributes {
    /// `resource` or `resource/subresource`.
    pub fn full_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

impl Attributes {
    /// The verb (resource verb, or lower-case HTTP method for non-resource paths).
    pub fn verb(&self) -> &str {
        match self {
            Attributes::Resource(r) => &r.verb,
            Attributes::NonResource { verb, .. } => verb,
        }
    }

    /// The attributes of a request with `method` on `path` with the raw `query`.
    pub fn from_request(method: &Method, path: &str, query: Option<&str>) -> Attributes {
        let non_resource = || Attributes::NonResource {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => (*group, rest),
            _ => return non_resource(),
        };
        let (watch_prefix, rest) = match rest {
            ["watch", more @ ..] if !more.is_empty() => (true, more),
            other => (false, other),
        };
        let mut attrs = ResourceAttributes {
            group: group.to_string(),
            ..ResourceAttributes::default()
        };
        // `namespaces/<ns>/<resource>/...` moves the namespace out; `namespaces/<ns>` and
        // `namespaces/<ns>/status` are the Namespace object itself, in its own namespace.
        let rest: &[&str] = match rest {
            ["namespaces", ns, more @ ..] => {
                attrs.namespace = ns.to_string();
                match more {
                    [] | ["status" | "finalize"] => rest,
                    _ => more,
                }
            }
            other => other,
        };
        if let Some(resource) = rest.first() {
            attrs.resource = resource.to_string();
        }
        if let Some(name) = rest.get(1) {
            attrs.name = name.to_string();
        }
        if let Some(sub) = rest.get(2) {
            attrs.subresource = sub.to_string();
        }
        let watch_query = query.is_some_and(|q| {
            q.split('&')
                .any(|pair| matches!(pair, "watch=true" | "watch=1" | "watch"))
        });
        let collection = attrs.name.is_empty();
        attrs.verb = match *method {
            Method::GET | Method::HEAD if watch_prefix || (collection && watch_query) => "watch",
            Method::GET | Method::HEAD if collection => "list",
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if collection => "deletecollection",
            Method::DELETE => "delete",
            _ => return non_resource_verb(method, path),
        }
        .to_string();
        Attributes::Resource(attrs)
    }
}

fn non_resource_verb(method: &Method, path: &str) -> Attributes {
    // An unknown method on a resource path: no rule names it, so it is denied unless the user
    // may do anything.
    Attributes::Resource(ResourceAttributes {
        verb: method.as_str().to_ascii_lowercase(),
        resource: path.to_string(),
        ..ResourceAttributes::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(method: Method, path: &str, query: Option<&str>) -> ResourceAttributes {
        match Attributes::from_request(&method, path, query) {
            Attributes::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resource_requests() {
        let cases: [(Method, &str, Option<&str>, [&str; 6]); 9] = [
            (
                Method::GET,
                "/api/v1/namespaces/a/services",
                None,
                ["list", "", "services", "", "a", ""],
            ),
            (
                Method::GET,
                "/api/v1/services",
                Some("watch=true"),
                ["watch", "", "services", "", "", ""],
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/a/pods",
                None,
                ["watch", "", "pods", "", "a", ""],
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/a/pods/p/status",
                None,
                ["update", "", "pods", "status", "a", "p"],
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a",
                None,
                ["get", "", "namespaces", "", "a", "a"],
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/a/status",
                None,
                ["update", "", "namespaces", "status", "a", "a"],
            ),
            (
                Method::DELETE,
                "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices",
                None,
                [
                    "deletecollection",
                    "discovery.k8s.io",
                    "endpointslices",
                    "",
                    "a",
                    "",
                ],
            ),
            (
                Method::PATCH,
                "/api/v1/nodes/n1",
                None,
                ["patch", "", "nodes", "", "", "n1"],
            ),
            (
                Method::POST,
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                None,
                [
                    "create",
                    "rbac.authorization.k8s.io",
                    "clusterroles",
                    "",
                    "",
                    "",
                ],
            ),
        ];
        for (method, path, query, [verb, group, res, sub, ns, name]) in cases {
            let r = resource(method, path, query);
            assert_eq!(
                (
                    r.verb.as_str(),
                    r.group.as_str(),
                    r.resource.as_str(),
                    r.subresource.as_str(),
                    r.namespace.as_str(),
                    r.name.as_str()
                ),
                (verb, group, res, sub, ns, name),
                "{path}"
            );
        }
    }

    #[test]
    fn non_resource_requests() {
        for path in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/discovery.k8s.io",
            "/apis/discovery.k8s.io/v1",
            "/healthz",
            "/metrics",
            "/openapi/v3/api/v1",
        ] {
            assert_eq!(
                Attributes::from_request(&Method::GET, path, None),
                Attributes::NonResource {
                    verb: "get".into(),
                    path: path.into()
                },
                "{path}"
            );
        }
    }
}
