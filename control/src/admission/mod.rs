//! Admission: kind-specific validation, defaulting and address allocation, run by the store's
//! single writer for every create, update and delete, before the write is committed.
//!
//! - Services ([`service`]): type, ports, protocols, targetPorts, session affinity, traffic
//!   policies and IP families validated and defaulted as kube-apiserver does for v1 Services;
//!   externalIPs only from [`AdmissionConfig::allowed_external_ip_cidrs`], source ranges must
//!   be CIDRs, `status.loadBalancer` only through the `/status` subresource; ClusterIP(s) and
//!   NodePorts allocated through `ipam` (requested values honoured).
//! - Nodes: `spec.podCIDR(s)` allocated from the cluster CIDR(s).
//! - Pods ([`pod`]): defaulted as kube-apiserver does ([`pod::default_pod_spec`]); containers
//!   (at least one, unique DNS-label names), probes, ports and hostnames validated; bound to a
//!   known node without `status.podIP` (on create or by the binding), they get one from the
//!   node's CIDR(s); requested pod IPs are recorded.
//! - Endpoints, EndpointSlices, Namespaces: validated only.
//! - Workloads ([`workload`]: ReplicationControllers, ReplicaSets, Deployments, StatefulSets,
//!   DaemonSets, Jobs, CronJobs, HorizontalPodAutoscalers, PodDisruptionBudgets): replicas,
//!   selectors that must match the pod template's labels, the template's pod spec as a Pod's,
//!   and the apps/v1 defaults (replicas 1, rolling-update strategies, history limits).
//! - ConfigMaps, Secrets, ServiceAccounts ([`config`]): data keys and total size; a Secret's
//!   `stringData` folded into `data`.
//!
//! Allocations are derived from objects ([`allocations::claims`]), so the store can release
//! exactly what a committed change stopped using, undo what an aborted change took, and rebuild
//! all allocator state from the stored objects after a restart. Everything is validated before
//! anything is allocated, and a failed admission leaves nothing allocated. This module never
//! reads or writes the store itself.

pub mod allocations;
mod config;
mod endpoint_slice;
mod endpoints;
mod error;
mod field;
pub mod names;
mod namespace;
mod node;
pub mod pod;
mod reservation;
mod service;
mod workload;

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

use ipnet::IpNet;

use crate::object::{Kind, Object};

use allocations::Allocators;
pub use allocations::{Claim, Family, claims};
pub use error::AdmissionError;
use reservation::Reservation;

/// The longest EndpointSlice Kubernetes accepts (`endpoints` entries).
pub const MAX_SLICE_ENDPOINTS: usize = 1000;

/// What the writer is doing with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A replacement of an existing object (PUT, PATCH, status update).
    Update,
    /// A deletion.
    Delete,
}

/// The cluster's address plan.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Service ClusterIP ranges, one per family (first is the primary family).
    pub service_cidrs: Vec<IpNet>,
    /// Pod network ranges, one per family, split into per-node CIDRs.
    pub cluster_cidrs: Vec<IpNet>,
    /// NodePort range, default 30000–32767.
    pub node_port_range: RangeInclusive<u16>,
    /// Per-node CIDR prefix length for IPv4 (default 24).
    pub node_cidr_mask_v4: u8,
    /// Per-node CIDR prefix length for IPv6 (default 64).
    pub node_cidr_mask_v6: u8,
    /// Ranges `spec.externalIPs` may come from (`--allowed-external-ip-cidrs`); empty (the
    /// default) refuses every new externalIP, since each one redirects nodes' own traffic.
    pub allowed_external_ip_cidrs: Vec<IpNet>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            service_cidrs: vec![
                "10.96.0.0/12"
                    .parse()
                    .unwrap_or(IpNet::V4(Default::default())),
            ],
            cluster_cidrs: vec![
                "10.244.0.0/16"
                    .parse()
                    .unwrap_or(IpNet::V4(Default::default())),
            ],
            node_port_range: 30000..=32767,
            node_cidr_mask_v4: 24,
            node_cidr_mask_v6: 64,
            allowed_external_ip_cidrs: Vec::new(),
        }
    }
}

impl AdmissionConfig {
    /// The families of the service CIDRs, primary first.
    pub fn service_families(&self) -> Vec<Family> {
        self.service_cidrs
            .iter()
            .map(|n| Family::of_net(*n))
            .collect()
    }
}

/// What the startup repair pass found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepairReport {
    /// Number of allocations restored from stored objects.
    pub restored: usize,
    /// Human-readable problems: duplicates, values outside the configured ranges.
    pub problems: Vec<String>,
}

/// Validation, defaulting and allocation for every write. Shared by the store's writer.
#[derive(Debug)]
pub struct Admission {
    config: AdmissionConfig,
    allocators: Mutex<Allocators>,
}

/// The allocator a kind's admission may use, and the address plan.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a AdmissionConfig,
    pub(crate) reservation: Reservation<'a>,
}

impl Admission {
    /// Builds the allocators for `config`; fails on an unusable address plan.
    pub fn new(config: AdmissionConfig) -> Result<Admission, AdmissionError> {
        let allocators = Allocators::new(&config)
            .map_err(|why| AdmissionError::Internal(format!("address plan: {why}")))?;
        Ok(Admission {
            config,
            allocators: Mutex::new(allocators),
        })
    }

    /// The address plan in force.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Allocators> {
        // A panic while holding the lock cannot leave the allocators half-updated in a way that
        // matters more than refusing every later write would; keep serving.
        self.allocators
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates and defaults `obj` (for Create/Update; `old` is the stored object on Update) and
    /// allocates what it needs. On error nothing stays allocated.
    pub fn admit(
        &self,
        op: Operation,
        obj: &mut Object,
        old: Option<&Object>,
    ) -> Result<(), AdmissionError> {
        if op == Operation::Delete {
            return Ok(());
        }
        if let Some(old) = old
            && old.kind() != obj.kind()
        {
            return Err(AdmissionError::Internal(format!(
                "admission: update of a {} with a stored {}",
                obj.kind(),
                old.kind()
            )));
        }
        let mut ctx = Context {
            config: &self.config,
            reservation: Reservation::new(self.lock()),
        };
        match obj {
            Object::Service(svc) => {
                let old = match old {
                    Some(Object::Service(o)) => Some(o),
                    _ => None,
                };
                service::admit(&mut ctx, svc, old)?;
            }
            Object::Node(node) => {
                let old = match old {
                    Some(Object::Node(o)) => Some(o),
                    _ => None,
                };
                node::admit(&mut ctx, node, old)?;
            }
            Object::Pod(pod) => {
                let old = match old {
                    Some(Object::Pod(o)) => Some(o),
                    _ => None,
                };
                pod::admit(&mut ctx, pod, old)?;
            }
            Object::Endpoints(ep) => endpoints::admit(ep)?,
            Object::EndpointSlice(slice) => {
                let old = match old {
                    Some(Object::EndpointSlice(o)) => Some(o),
                    _ => None,
                };
                endpoint_slice::admit(slice, old)?;
            }
            Object::Namespace(ns) => namespace::admit(ns),
            Object::Role(_)
            | Object::ClusterRole(_)
            | Object::RoleBinding(_)
            | Object::ClusterRoleBinding(_) => crate::authz::validate::admit(obj, old)?,
            Object::ConfigMap(_) | Object::Secret(_) | Object::ServiceAccount(_) => {
                config::admit(obj, old)?
            }
            _ => workload::admit(obj, old)?,
        }
        ctx.reservation.keep();
        drop(ctx);
        if obj.kind() == Kind::Node {
            // Pods admitted later in the same write batch must see the node's CIDRs; an
            // aborted batch restores the previous ones.
            self.lock().set_node(obj.name(), Some(node_cidrs(obj)));
        }
        Ok(())
    }

    /// The store committed the change `old -> new` (either may be `None`): release what `old`
    /// claimed and `new` does not.
    pub fn committed(&self, old: Option<&Object>, new: Option<&Object>) {
        let mut alloc = self.lock();
        let keep: HashSet<Claim> = new.map(claims).unwrap_or_default().into_iter().collect();
        for claim in old.map(claims).unwrap_or_default() {
            if !keep.contains(&claim) && alloc.release(&claim) {
                tracing::debug!(%claim, "released");
            }
        }
        if let Some(obj) = new.or(old)
            && obj.kind() == Kind::Node
        {
            let cidrs = new.map(node_cidrs);
            alloc.set_node(obj.name(), cidrs);
        }
    }

    /// The store failed to commit `old -> new`: release what `new` claimed and `old` did not.
    pub fn aborted(&self, old: Option<&Object>, new: Option<&Object>) {
        let mut alloc = self.lock();
        let keep: HashSet<Claim> = old.map(claims).unwrap_or_default().into_iter().collect();
        for claim in new.map(claims).unwrap_or_default() {
            if !keep.contains(&claim) {
                alloc.release(&claim);
            }
        }
        if let Some(obj) = new.or(old)
            && obj.kind() == Kind::Node
        {
            alloc.set_node(obj.name(), old.map(node_cidrs));
        }
    }

    /// Rebuilds every allocator from the stored objects (startup repair pass). Every object is
    /// kept; values that cannot be held (duplicates, outside the ranges) are reported.
    pub fn rebuild<'a>(&self, objects: impl Iterator<Item = &'a Object>) -> RepairReport {
        let mut report = RepairReport::default();
        let mut alloc = self.lock();
        match Allocators::new(&self.config) {
            Ok(fresh) => *alloc = fresh,
            Err(why) => {
                report.problems.push(format!("address plan: {why}"));
                return report;
            }
        }
        let mut objects: Vec<&Object> = objects.collect();
        // Nodes first, so pods' IPs land in known node CIDRs.
        objects.sort_by_key(|o| match o.kind() {
            Kind::Node => 0,
            Kind::Service => 1,
            _ => 2,
        });
        for obj in objects {
            if obj.kind() == Kind::Node {
                alloc.set_node(obj.name(), Some(node_cidrs(obj)));
            }
            for claim in claims(obj) {
                match alloc.take(&claim) {
                    Ok(true) => report.restored += 1,
                    Ok(false) => {}
                    Err(e) => {
                        let who = match obj.namespace() {
                            Some(ns) => format!("{} {ns}/{}", obj.kind(), obj.name()),
                            None => format!("{} {}", obj.kind(), obj.name()),
                        };
                        let problem = format!("{who}: {claim}: {e}");
                        tracing::warn!(%problem, "allocation repair");
                        report.problems.push(problem);
                    }
                }
            }
        }
        report
    }
}

/// A Node object's pod CIDRs (`spec.podCIDRs`, else `spec.podCIDR`).
fn node_cidrs(obj: &Object) -> Vec<IpNet> {
    claims(obj)
        .into_iter()
        .filter_map(|c| match c {
            Claim::PodCidr(net) => Some(net),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
