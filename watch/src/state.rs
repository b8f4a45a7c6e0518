//! The immutable snapshot of cluster objects that consumers read.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use imbl::OrdMap;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::slices::EndpointSlices;

/// `namespace/name` of a namespaced object (namespace empty for cluster-scoped ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// A consistent view of the watched objects at one moment. Cheap to clone (persistent maps).
///
/// The view may be stale by the watch latency; it is never partially relisted.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// Services by `namespace/name`.
    pub services: OrdMap<ObjectKey, Arc<Service>>,
    /// EndpointSlices by `namespace/name` (of the slice, not the service), indexed by Service.
    pub endpoint_slices: EndpointSlices,
    /// Pods by `namespace/name`; empty unless [`crate::WatchConfig::pods`] was set.
    pub pods: OrdMap<ObjectKey, Arc<Pod>>,
    /// Nodes by name (namespace empty); empty unless [`super::WatchConfig::nodes`] was set.
    pub nodes: OrdMap<ObjectKey, Arc<Node>>,
    /// True once every watched kind has completed its first full list.
    pub synced: bool,
    /// Increases by one for every published snapshot.
    pub revision: u64,
    /// When the newest event folded into this snapshot was received, for sync-latency metrics.
    pub last_event_at: Option<Instant>,
}

impl ClusterState {
    /// The EndpointSlices that belong to a service (label `kubernetes.io/service-name`), in name
    /// order. Reads the index [`EndpointSlices`] keeps: O(log n + k), not a namespace scan.
    pub fn slices_for_service<'a>(
        &'a self,
        namespace: &'a str,
        service: &'a str,
    ) -> impl Iterator<Item = &'a Arc<EndpointSlice>> + 'a {
        self.endpoint_slices.for_service(namespace, service)
    }
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
