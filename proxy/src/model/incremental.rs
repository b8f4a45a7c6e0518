//! Keeps a [`ServiceTable`] current with a stream of cluster snapshots, rebuilding only the
//! Services a snapshot changed.
//!
//! [`TableBuilder::update`] diffs the new `ClusterState` against the previous one with
//! `OrdMap::diff` (which skips the subtrees both share), so a one-slice change costs the diff
//! walk down to that slice, the rebuild of one Service's ports and one copy of the port
//! vector's `Arc`s. Every port it does not rebuild is the previous table's `Arc`, and a
//! rebuilt port equal to its predecessor is replaced by that predecessor, so consumers can tell
//! untouched ports by pointer. [`ServiceTable::build`] stays the reference it must agree with.
//!
//! It never blocks on anything and never talks to the API; the reflector runs it off the async
//! threads.

use std::collections::BTreeSet;
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey, SERVICE_NAME_LABEL};
use imbl::ordmap::DiffItem;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::build::ports_of_service;
use super::{NodeContext, ServicePort, ServiceTable};

/// Below this many Services a snapshot is always folded in incrementally; above it, a snapshot
/// that changes more than half of them is rebuilt whole (a relist, say), which is cheaper than
/// splicing.
const FULL_REBUILD_MIN_SERVICES: usize = 256;

/// How an update produced its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Every Service was rebuilt (first snapshot, node change, resync, or most Services changed).
    Full,
    /// Only this many Services (those the snapshot changed) were rebuilt.
    Services(usize),
}

/// The result of folding one snapshot into the table.
#[derive(Debug, Clone)]
pub struct TableUpdate {
    /// The table for the snapshot (the previous `Arc` when nothing changed).
    pub table: Arc<ServiceTable>,
    /// Whether the table differs from the previous one.
    pub changed: bool,
    /// How it was produced.
    pub rebuild: Rebuild,
}

/// Folds cluster snapshots into service tables incrementally (see the module docs). One per
/// consumer; it keeps the previous snapshot and table.
#[derive(Debug)]
pub struct TableBuilder {
    node: NodeContext,
    /// The snapshot the table was last brought to; `None`: rebuild everything next.
    last: Option<Arc<ClusterState>>,
    /// The table handed out last, kept across a resync so unchanged ports keep their `Arc`.
    table: Arc<ServiceTable>,
}

impl TableBuilder {
    /// A builder for the node `node`; its first update builds the whole table.
    pub fn new(node: NodeContext) -> TableBuilder {
        TableBuilder {
            node,
            last: None,
            table: Arc::default(),
        }
    }

    /// The table of the last update (empty before the first).
    pub fn table(&self) -> &Arc<ServiceTable> {
        &self.table
    }

    /// Makes the next update rebuild every Service.
    pub fn resync(&mut self) {
        self.last = None;
    }

    /// Changes the node the table is built for; the next update rebuilds every Service.
    pub fn set_node(&mut self, node: NodeContext) {
        if node != self.node {
            self.node = node;
            self.resync();
        }
    }

    /// Brings the table to `state` and returns it.
    pub fn update(&mut self, state: Arc<ClusterState>) -> TableUpdate {
        let (ports, rebuild) = match self.last.take() {
            Some(last) => {
                let affected = affected_services(&last, &state);
                let total = state.services.len().max(last.services.len());
                if total > FULL_REBUILD_MIN_SERVICES && affected.len() * 2 > total {
                    (self.rebuild_all(&state), Rebuild::Full)
                } else {
                    let count = affected.len();
                    (self.splice(&state, &affected), Rebuild::Services(count))
                }
            }
            None => (self.rebuild_all(&state), Rebuild::Full),
        };
        let changed = match ports {
            Some(ports) if !same_ports(&ports, &self.table.ports) => {
                self.table = Arc::new(ServiceTable { ports });
                true
            }
            _ => false,
        };
        self.last = Some(state);
        TableUpdate {
            table: self.table.clone(),
            changed,
            rebuild,
        }
    }

    /// Every Service's ports, each Service's slices read from the fold's index.
    fn rebuild_all(&self, state: &ClusterState) -> Option<Vec<Arc<ServicePort>>> {
        let mut ports = Vec::with_capacity(self.table.ports.len());
        for (key, service) in &state.services {
            let mine: Vec<&EndpointSlice> = state
                .slices_for_service(&key.namespace, &key.name)
                .map(|slice| slice.as_ref())
                .collect();
            let fresh = ports_of_service(service, &key.namespace, &key.name, &mine, &self.node);
            ports.extend(fresh.into_iter().map(|port| self.reuse(port)));
        }
        Some(ports)
    }

    /// The previous table's `Arc` for `port` when it is equal, else a new one.
    fn reuse(&self, port: ServicePort) -> Arc<ServicePort> {
        match self.table.get(&port.id) {
            Some(old) if **old == port => old.clone(),
            _ => Arc::new(port),
        }
    }

    /// The previous ports with those of the `affected` Services rebuilt; `None` when none of
    /// them changed.
    fn splice(
        &self,
        state: &ClusterState,
        affected: &BTreeSet<ObjectKey>,
    ) -> Option<Vec<Arc<ServicePort>>> {
        let old = &self.table.ports;
        // (range of the Service's ports in `old`, its new ports), in id order.
        let mut replacements = Vec::new();
        let mut cursor = 0;
        let mut any_changed = false;
        for key in affected {
            let owner = (key.namespace.as_str(), key.name.as_str());
            let start = cursor + old[cursor..].partition_point(|p| service_of(p) < owner);
            let end = start + old[start..].partition_point(|p| service_of(p) == owner);
            let before = &old[start..end];
            let fresh: Vec<Arc<ServicePort>> = match state.services.get(key) {
                Some(service) => {
                    let slices: Vec<&EndpointSlice> = state
                        .slices_for_service(&key.namespace, &key.name)
                        .map(|s| s.as_ref())
                        .collect();
                    ports_of_service(service, &key.namespace, &key.name, &slices, &self.node)
                        .into_iter()
                        .map(|port| reuse_from(before, port))
                        .collect()
                }
                None => Vec::new(),
            };
            any_changed |= !same_ports(&fresh, before);
            replacements.push((start..end, fresh));
            cursor = end;
        }
        if !any_changed {
            return None;
        }
        let mut ports = Vec::with_capacity(old.len() + 8);
        let mut cursor = 0;
        for (range, fresh) in replacements {
            ports.extend_from_slice(&old[cursor..range.start]);
            ports.extend(fresh);
            cursor = range.end;
        }
        ports.extend_from_slice(&old[cursor..]);
        Some(ports)
    }
}

/// `before`'s `Arc` for `port` when it is equal, else a new one.
fn reuse_from(before: &[Arc<ServicePort>], port: ServicePort) -> Arc<ServicePort> {
    match before.binary_search_by(|p| p.id.cmp(&port.id)) {
        Ok(i) if *before[i] == port => before[i].clone(),
        _ => Arc::new(port),
    }
}

/// The Service a port belongs to, ordered as [`ObjectKey`] orders it.
fn service_of(port: &ServicePort) -> (&str, &str) {
    (port.id.namespace.as_str(), port.id.name.as_str())
}

/// Whether two port lists hold the same `Arc`s (pointer equality: no deep compare).
fn same_ports(a: &[Arc<ServicePort>], b: &[Arc<ServicePort>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

/// The Service an EndpointSlice names with its `kubernetes.io/service-name` label.
fn service_name(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)
        .map(String::as_str)
}

/// The Services whose ports may differ between `old` and `new`: every Service added, changed or
/// removed, and every Service a changed slice names, before or after the change.
fn affected_services(old: &ClusterState, new: &ClusterState) -> BTreeSet<ObjectKey> {
    let mut affected = BTreeSet::new();
    for item in old.services.diff(&new.services) {
        let key = match item {
            DiffItem::Add(key, _) | DiffItem::Remove(key, _) => key,
            DiffItem::Update { new: (key, _), .. } => key,
        };
        affected.insert(key.clone());
    }
    let mut named = |key: &ObjectKey, slice: &EndpointSlice| {
        if let Some(service) = service_name(slice) {
            affected.insert(ObjectKey::new(key.namespace.as_str(), service));
        }
    };
    for item in old.endpoint_slices.diff(&new.endpoint_slices) {
        match item {
            DiffItem::Add(key, slice) | DiffItem::Remove(key, slice) => named(key, slice),
            DiffItem::Update {
                old: (key, before),
                new: (_, after),
            } => {
                named(key, before);
                named(key, after);
            }
        }
    }
    affected
}

#[cfg(test)]
mod tests;
