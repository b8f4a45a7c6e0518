//! The object kinds the store holds, as k8s-openapi types, and the facts about each kind
//! (API group, version, plural, scope, subresources) that the store, the HTTP API and the CLI
//! share.
//!
//! Every kind is one row of the [`kinds!`] table below: its enum variant, its k8s-openapi type
//! and a [`KindInfo`]. Adding a kind is adding a row (plus, where it matters, its admission
//! and its Table columns); the enum, the `Object` variants, JSON decoding, schemas and every
//! per-kind fact come from the row.

use std::fmt;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, Pod, ReplicationController, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The API group of the RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The facts about one kind that paths, discovery, the store and admission need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The API group: empty for the core group.
    pub group: &'static str,
    /// The version served and stored (`v1`, `v2`).
    pub version: &'static str,
    /// The lower-case plural used in URL paths, e.g. `services`.
    pub plural: &'static str,
    /// The lower-case singular name, e.g. `service`.
    pub singular: &'static str,
    /// Short names kubectl accepts, e.g. `svc`.
    pub short_names: &'static [&'static str],
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
    /// Whether the kind has a `status` written only through the `/status` subresource.
    pub status: bool,
    /// Whether the kind has a `spec` whose changes bump `metadata.generation`.
    pub spec: bool,
    /// Whether the kind serves the `/scale` subresource (autoscaling/v1 Scale over
    /// `spec.replicas`).
    pub scale: bool,
    /// Whether `kubectl get all` lists the kind (the `all` category).
    pub in_all: bool,
    /// The JSON path (field names joined by `.`) of the kind's pod spec, when it has one:
    /// `spec` for a Pod, `spec.template.spec` for the workload kinds.
    pub pod_spec: Option<&'static str>,
}

impl KindInfo {
    /// A namespaced core/v1 kind with no spec, status or subresource; rows override fields.
    const CORE: KindInfo = KindInfo {
        group: "",
        version: "v1",
        plural: "",
        singular: "",
        short_names: &[],
        namespaced: true,
        status: false,
        spec: false,
        scale: false,
        in_all: false,
        pod_spec: None,
    };
    /// A namespaced apps/v1 workload: spec, status, scale, pod template, in `all`.
    const WORKLOAD: KindInfo = KindInfo {
        group: "apps",
        status: true,
        spec: true,
        scale: true,
        in_all: true,
        pod_spec: Some("spec.template.spec"),
        ..KindInfo::CORE
    };
    /// A kind with a spec and a status subresource (generation bumps on spec changes).
    const SPEC_STATUS: KindInfo = KindInfo {
        status: true,
        spec: true,
        ..KindInfo::CORE
    };
    /// An RBAC kind (no spec or status).
    const RBAC: KindInfo = KindInfo {
        group: RBAC_GROUP,
        ..KindInfo::CORE
    };
}

/// A k8s-openapi type stored as one [`Kind`]: decodable, encodable, with a schema.
pub(crate) trait StoredType:
    DeserializeOwned + Serialize + k8s_openapi::schemars::JsonSchema + 'static
{
    /// Wraps the value as an [`Object`].
    fn into_object(self) -> Object;
}

/// Code generic over the k8s-openapi type of a kind, run through [`Kind::visit`].
pub(crate) trait KindVisitor {
    /// What the visit produces.
    type Output;
    /// Runs with `T`, the type of the kind visited.
    fn visit<T: StoredType>(self, kind: Kind) -> Self::Output;
}

/// Generates [`Kind`], [`Object`] and their per-kind plumbing from one table of rows
/// `Variant(Type) => KindInfo { .. }`.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) => $info:expr; )*) => {
        /// A kind of object the control store understands.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl Kind {
            /// Every kind, in a stable order.
            pub const ALL: [Kind; [$(stringify!($variant)),*].len()] = [$(Kind::$variant),*];

            /// The `kind` field value, e.g. `Service`.
            pub fn name(self) -> &'static str {
                match self {
                    $( Kind::$variant => stringify!($variant), )*
                }
            }

            /// Everything known about the kind.
            pub fn info(self) -> &'static KindInfo {
                match self {
                    $( Kind::$variant => {
                        const INFO: KindInfo = $info;
                        &INFO
                    } )*
                }
            }

            /// Runs `visitor` with the k8s-openapi type of this kind.
            pub(crate) fn visit<V: KindVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $( Kind::$variant => visitor.visit::<$ty>(self), )*
                }
            }
        }

        $(
            impl StoredType for $ty {
                fn into_object(self) -> Object {
                    Object::$variant(self)
                }
            }
        )*

        /// One stored object: a k8s-openapi value of one of the supported kinds.
        // Objects are moved rarely and usually held in an `Arc`; boxing each variant would
        // only add an allocation.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Object {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $( Object::$variant(_) => Kind::$variant, )*
                }
            }

            /// The object's metadata.
            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $( Object::$variant(o) => &o.metadata, )*
                }
            }

            /// The object's metadata, mutably.
            pub fn meta_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $( Object::$variant(o) => &mut o.metadata, )*
                }
            }

            /// The object as JSON, with `apiVersion` and `kind` set.
            pub fn to_json(&self) -> serde_json::Value {
                let value = match self {
                    $( Object::$variant(o) => serde_json::to_value(o), )*
                };
                // k8s-openapi types always serialize; a failure would be a bug in the type.
                value.unwrap_or(serde_json::Value::Null)
            }
        }
    };
}

kinds! {
    /// `v1 Namespace` (cluster-scoped).
    Namespace(Namespace) => KindInfo {
        plural: "namespaces", singular: "namespace", short_names: &["ns"],
        namespaced: false, ..KindInfo::SPEC_STATUS
    };
    /// `v1 Node` (cluster-scoped).
    Node(Node) => KindInfo {
        plural: "nodes", singular: "node", short_names: &["no"],
        namespaced: false, ..KindInfo::SPEC_STATUS
    };
    /// `v1 Pod`.
    Pod(Pod) => KindInfo {
        plural: "pods", singular: "pod", short_names: &["po"], in_all: true,
        pod_spec: Some("spec"), ..KindInfo::SPEC_STATUS
    };
    /// `v1 Service`.
    Service(Service) => KindInfo {
        plural: "services", singular: "service", short_names: &["svc"], in_all: true,
        ..KindInfo::SPEC_STATUS
    };
    /// `v1 Endpoints` (legacy; mirrored to EndpointSlices).
    Endpoints(Endpoints) => KindInfo {
        plural: "endpoints", singular: "endpoints", short_names: &["ep"], ..KindInfo::CORE
    };
    /// `discovery.k8s.io/v1 EndpointSlice`.
    EndpointSlice(EndpointSlice) => KindInfo {
        group: "discovery.k8s.io", plural: "endpointslices", singular: "endpointslice",
        ..KindInfo::CORE
    };
    /// `rbac.authorization.k8s.io/v1 Role`.
    Role(Role) => KindInfo { plural: "roles", singular: "role", ..KindInfo::RBAC };
    /// `rbac.authorization.k8s.io/v1 ClusterRole` (cluster-scoped).
    ClusterRole(ClusterRole) => KindInfo {
        plural: "clusterroles", singular: "clusterrole", namespaced: false, ..KindInfo::RBAC
    };
    /// `rbac.authorization.k8s.io/v1 RoleBinding`.
    RoleBinding(RoleBinding) => KindInfo {
        plural: "rolebindings", singular: "rolebinding", ..KindInfo::RBAC
    };
    /// `rbac.authorization.k8s.io/v1 ClusterRoleBinding` (cluster-scoped).
    ClusterRoleBinding(ClusterRoleBinding) => KindInfo {
        plural: "clusterrolebindings", singular: "clusterrolebinding", namespaced: false,
        ..KindInfo::RBAC
    };
    /// `v1 ReplicationController`.
    ReplicationController(ReplicationController) => KindInfo {
        plural: "replicationcontrollers", singular: "replicationcontroller",
        short_names: &["rc"], group: "", ..KindInfo::WORKLOAD
    };
    /// `v1 ConfigMap`.
    ConfigMap(ConfigMap) => KindInfo {
        plural: "configmaps", singular: "configmap", short_names: &["cm"], ..KindInfo::CORE
    };
    /// `v1 Secret`.
    Secret(Secret) => KindInfo { plural: "secrets", singular: "secret", ..KindInfo::CORE };
    /// `v1 ServiceAccount`.
    ServiceAccount(ServiceAccount) => KindInfo {
        plural: "serviceaccounts", singular: "serviceaccount", short_names: &["sa"],
        ..KindInfo::CORE
    };
    /// `apps/v1 Deployment`.
    Deployment(Deployment) => KindInfo {
        plural: "deployments", singular: "deployment", short_names: &["deploy"],
        ..KindInfo::WORKLOAD
    };
    /// `apps/v1 ReplicaSet`.
    ReplicaSet(ReplicaSet) => KindInfo {
        plural: "replicasets", singular: "replicaset", short_names: &["rs"],
        ..KindInfo::WORKLOAD
    };
    /// `apps/v1 StatefulSet`.
    StatefulSet(StatefulSet) => KindInfo {
        plural: "statefulsets", singular: "statefulset", short_names: &["sts"],
        ..KindInfo::WORKLOAD
    };
    /// `apps/v1 DaemonSet` (no scale: one Pod per node).
    DaemonSet(DaemonSet) => KindInfo {
        plural: "daemonsets", singular: "daemonset", short_names: &["ds"], scale: false,
        ..KindInfo::WORKLOAD
    };
    /// `apps/v1 ControllerRevision`.
    ControllerRevision(ControllerRevision) => KindInfo {
        group: "apps", plural: "controllerrevisions", singular: "controllerrevision",
        ..KindInfo::CORE
    };
    /// `batch/v1 Job`.
    Job(Job) => KindInfo {
        group: "batch", plural: "jobs", singular: "job", scale: false, ..KindInfo::WORKLOAD
    };
    /// `batch/v1 CronJob`.
    CronJob(CronJob) => KindInfo {
        group: "batch", plural: "cronjobs", singular: "cronjob", short_names: &["cj"],
        scale: false, pod_spec: Some("spec.jobTemplate.spec.template.spec"),
        ..KindInfo::WORKLOAD
    };
    /// `autoscaling/v2 HorizontalPodAutoscaler`.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler) => KindInfo {
        group: "autoscaling", version: "v2", plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler", short_names: &["hpa"], in_all: true,
        ..KindInfo::SPEC_STATUS
    };
    /// `policy/v1 PodDisruptionBudget`.
    PodDisruptionBudget(PodDisruptionBudget) => KindInfo {
        group: "policy", plural: "poddisruptionbudgets", singular: "poddisruptionbudget",
        short_names: &["pdb"], ..KindInfo::SPEC_STATUS
    };
}

impl Kind {
    /// The `kind` of the list type, e.g. `ServiceList`.
    pub fn list_name(self) -> String {
        format!("{}List", self.name())
    }

    /// The lower-case plural used in URL paths, e.g. `services`.
    pub fn plural(self) -> &'static str {
        self.info().plural
    }

    /// The lower-case singular name, e.g. `service`.
    pub fn singular(self) -> &'static str {
        self.info().singular
    }

    /// Short names kubectl accepts, e.g. `svc`.
    pub fn short_names(self) -> &'static [&'static str] {
        self.info().short_names
    }

    /// The API group: empty for the core group.
    pub fn group(self) -> &'static str {
        self.info().group
    }

    /// The version served and stored, e.g. `v1`.
    pub fn version(self) -> &'static str {
        self.info().version
    }

    /// The full `apiVersion`, e.g. `v1` or `discovery.k8s.io/v1`.
    pub fn api_version(self) -> String {
        group_version(self.group(), self.version())
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        self.info().namespaced
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
            let named = bare == k.plural()
                || bare == k.singular()
                || bare == k.name().to_ascii_lowercase()
                || k.short_names().contains(&bare);
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
            "" => format!("/api/{}", self.version()),
            group => format!("/apis/{group}/{}", self.version()),
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

/// `group/version`, or just `version` for the core group.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Object {
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

    /// Decodes JSON of the given kind into an object. The error names the field that failed
    /// (serde's path) and is a 400 BadRequest.
    pub fn from_json(kind: Kind, value: serde_json::Value) -> Result<Object, ApiError> {
        struct Decode(serde_json::Value);
        impl KindVisitor for Decode {
            type Output = Result<Object, ApiError>;
            fn visit<T: StoredType>(self, kind: Kind) -> Self::Output {
                serde_json::from_value::<T>(self.0)
                    .map(T::into_object)
                    .map_err(|e| {
                        ApiError::bad_request(format!("invalid {} object: {e}", kind.name()))
                    })
            }
        }
        kind.visit(Decode(value))
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
        assert_eq!(Kind::parse("deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::parse("rc"), Some(Kind::ReplicationController));
        assert_eq!(Kind::parse("deployments.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::parse("hpa"), Some(Kind::HorizontalPodAutoscaler));
        assert_eq!(Kind::parse("frobnicators"), None);
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
    fn versions_come_from_the_table() {
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert_eq!(Kind::ReplicationController.api_version(), "v1");
        assert_eq!(
            Kind::HorizontalPodAutoscaler.collection_path(Some("a")),
            "/apis/autoscaling/v2/namespaces/a/horizontalpodautoscalers"
        );
        assert_eq!(
            Kind::from_type_meta("apps/v1", "ReplicaSet"),
            Some(Kind::ReplicaSet)
        );
        let mut plurals: Vec<&str> = Kind::ALL.iter().map(|k| k.plural()).collect();
        plurals.sort_unstable();
        plurals.dedup();
        assert_eq!(plurals.len(), Kind::ALL.len(), "plurals are unique");
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
