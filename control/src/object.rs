//! The object kinds the store holds, as k8s-openapi types, and the facts about each kind
//! (API group, plural, scope) that the store, the HTTP API and the CLI share.

use std::fmt;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A kind of object the control store understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1 Namespace` (cluster-scoped).
    Namespace,
    /// `v1 Node` (cluster-scoped).
    Node,
    /// `v1 Pod`.
    Pod,
    /// `v1 Service`.
    Service,
    /// `v1 Endpoints` (legacy; mirrored to EndpointSlices).
    Endpoints,
    /// `discovery.k8s.io/v1 EndpointSlice`.
    EndpointSlice,
    /// `rbac.authorization.k8s.io/v1 Role`.
    Role,
    /// `rbac.authorization.k8s.io/v1 ClusterRole` (cluster-scoped).
    ClusterRole,
    /// `rbac.authorization.k8s.io/v1 RoleBinding`.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1 ClusterRoleBinding` (cluster-scoped).
    ClusterRoleBinding,
}

/// The API group of the RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 10] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
    ];

    /// The `kind` field value, e.g. `Service`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// The `kind` of the list type, e.g. `ServiceList`.
    pub fn list_name(self) -> String {
        format!("{}List", self.name())
    }

    /// The lower-case plural used in URL paths, e.g. `services`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
        }
    }

    /// The lower-case singular name, e.g. `service`.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Node => "node",
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::Role => "role",
            Kind::ClusterRole => "clusterrole",
            Kind::RoleBinding => "rolebinding",
            Kind::ClusterRoleBinding => "clusterrolebinding",
        }
    }

    /// Short names kubectl accepts, e.g. `svc`.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::Service => &["svc"],
            Kind::Endpoints => &["ep"],
            Kind::EndpointSlice
            | Kind::Role
            | Kind::ClusterRole
            | Kind::RoleBinding
            | Kind::ClusterRoleBinding => &[],
        }
    }

    /// The API group: empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                RBAC_GROUP
            }
            _ => "",
        }
    }

    /// The full `apiVersion`, e.g. `v1` or `discovery.k8s.io/v1`.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io/v1"
            }
            _ => "v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::Node | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }

    /// Finds a kind by any name a user may type: kind, plural, singular or short name,
    /// case-insensitively (`svc`, `Services`, `endpointslices.discovery.k8s.io`).
    pub fn parse(text: &str) -> Option<Kind> {
        let lower = text.to_ascii_lowercase();
        let (bare, group) = match lower.split_once('.') {
            Some((bare, group)) => (bare, Some(group)),
            None => (lower.as_str(), None),
        };
        Kind::ALL.into_iter().find(|k| {
            let named =
                bare == k.plural() || bare == k.singular() || k.short_names().contains(&bare);
            let group_ok = group.is_none_or(|g| {
                g == k.group() || (!k.group().is_empty() && g.ends_with(&format!(".{}", k.group())))
            });
            named && group_ok
        })
    }

    /// The URL path of the collection: `/api/v1/namespaces/{ns}/services`, or the
    /// all-namespaces / cluster-scoped form `/api/v1/services` when `namespace` is `None`.
    pub fn collection_path(self, namespace: Option<&str>) -> String {
        let base = match self.group() {
            "" => "/api/v1".to_string(),
            group => format!("/apis/{group}/v1"),
        };
        match namespace {
            Some(ns) if self.namespaced() => format!("{base}/namespaces/{ns}/{}", self.plural()),
            _ => format!("{base}/{}", self.plural()),
        }
    }

    /// The URL path of one object.
    pub fn object_path(self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }

    /// Finds a kind by its `apiVersion` and `kind` fields, as in a manifest.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == api_version && k.name() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stored object: a k8s-openapi value of one of the supported kinds.
// Objects are moved rarely and usually held in an `Arc`; boxing each variant would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Namespace.
    Namespace(Namespace),
    /// A Node.
    Node(Node),
    /// A Pod.
    Pod(Pod),
    /// A Service.
    Service(Service),
    /// A legacy Endpoints object.
    Endpoints(Endpoints),
    /// An EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// An RBAC Role.
    Role(Role),
    /// An RBAC ClusterRole.
    ClusterRole(ClusterRole),
    /// An RBAC RoleBinding.
    RoleBinding(RoleBinding),
    /// An RBAC ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Endpoints(_) => Kind::Endpoints,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Role(_) => Kind::Role,
            Object::ClusterRole(_) => Kind::ClusterRole,
            Object::RoleBinding(_) => Kind::RoleBinding,
            Object::ClusterRoleBinding(_) => Kind::ClusterRoleBinding,
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::ClusterRole(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
        }
    }

    /// The object's metadata, mutably.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Namespace(o) => &mut o.metadata,
            Object::Node(o) => &mut o.metadata,
            Object::Pod(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::Endpoints(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::Role(o) => &mut o.metadata,
            Object::ClusterRole(o) => &mut o.metadata,
            Object::RoleBinding(o) => &mut o.metadata,
            Object::ClusterRoleBinding(o) => &mut o.metadata,
        }
    }

    /// `metadata.name`, or empty when unset.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, or `None` for cluster-scoped kinds or when unset.
    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// `metadata.resourceVersion` parsed as the store's revision number, when set and numeric.
    pub fn resource_version(&self) -> Option<u64> {
        self.meta().resource_version.as_deref()?.parse().ok()
    }

    /// The object as JSON, with `apiVersion` and `kind` set.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Object::Namespace(o) => serde_json::to_value(o),
            Object::Node(o) => serde_json::to_value(o),
            Object::Pod(o) => serde_json::to_value(o),
            Object::Service(o) => serde_json::to_value(o),
            Object::Endpoints(o) => serde_json::to_value(o),
            Object::EndpointSlice(o) => serde_json::to_value(o),
            Object::Role(o) => serde_json::to_value(o),
            Object::ClusterRole(o) => serde_json::to_value(o),
            Object::RoleBinding(o) => serde_json::to_value(o),
            Object::ClusterRoleBinding(o) => serde_json::to_value(o),
        };
        // k8s-openapi types always serialize; a failure would be a bug in the type itself.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Decodes JSON of the given kind into an object. The error names the field that failed
    /// (serde's path) and is a 400 BadRequest.
    pub fn from_json(kind: Kind, value: serde_json::Value) -> Result<Object, ApiError> {
        fn decode<T: DeserializeOwned>(
            kind: Kind,
            value: serde_json::Value,
        ) -> Result<T, ApiError> {
            serde_json::from_value(value)
                .map_err(|e| ApiError::bad_request(format!("invalid {} object: {e}", kind.name())))
        }
        Ok(match kind {
            Kind::Namespace => Object::Namespace(decode(kind, value)?),
            Kind::Node => Object::Node(decode(kind, value)?),
            Kind::Pod => Object::Pod(decode(kind, value)?),
            Kind::Service => Object::Service(decode(kind, value)?),
            Kind::Endpoints => Object::Endpoints(decode(kind, value)?),
            Kind::EndpointSlice => Object::EndpointSlice(decode(kind, value)?),
            Kind::Role => Object::Role(decode(kind, value)?),
            Kind::ClusterRole => Object::ClusterRole(decode(kind, value)?),
            Kind::RoleBinding => Object::RoleBinding(decode(kind, value)?),
            Kind::ClusterRoleBinding => Object::ClusterRoleBinding(decode(kind, value)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_spellings() {
        assert_eq!(Kind::parse("svc"), Some(Kind::Service));
        assert_eq!(Kind::parse("Services"), Some(Kind::Service));
        assert_eq!(Kind::parse("endpointslices"), Some(Kind::EndpointSlice));
        assert_eq!(Kind::parse("ep"), Some(Kind::Endpoints));
        assert_eq!(Kind::parse("deployment"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(
            Kind::Service.object_path(Some("default"), "web"),
            "/api/v1/namespaces/default/services/web"
        );
        assert_eq!(Kind::Node.collection_path(Some("x")), "/api/v1/nodes");
        assert_eq!(
            Kind::EndpointSlice.collection_path(None),
            "/apis/discovery.k8s.io/v1/endpointslices"
        );
    }

    #[test]
    fn json_round_trip_sets_type_meta() {
        let obj = Object::from_json(
            Kind::Service,
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}),
        );
        let json = obj.map(|o| o.to_json()).unwrap_or_default();
        assert_eq!(json["kind"], "Service");
        assert_eq!(json["apiVersion"], "v1");
    }

    #[test]
    fn bad_field_type_is_a_bad_request_naming_the_field() {
        let err = Object::from_json(
            Kind::Service,
            serde_json::json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": "x"}]}}),
        )
        .err();
        let err = err.map(|e| e.message).unwrap_or_default();
        assert!(err.contains("invalid Service object"), "{err}");
    }
}
