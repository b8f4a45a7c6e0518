//! Admission: kind-specific validation, defaulting and address allocation, run by the store's
//! single writer for every create, update and delete, before the write is committed.
//!
//! - Services: ports 1–65535, protocols TCP/UDP/SCTP, type, sessionAffinity ClientIP timeout
//!   1–86400 (default 10800); ClusterIP(s) and NodePorts allocated through `ipam` (requested
//!   values honoured, dual-stack `ipFamilyPolicy`), released when no longer used.
//! - Nodes: `spec.podCIDR(s)` allocated from the cluster CIDR(s).
//! - Pods: bound to a node (`spec.nodeName`) without `status.podIP` get one from the node's CIDR.
//!
//! Allocations are derived from objects ([`claims`]), so the store can release exactly what a
//! committed change stopped using, undo what an aborted change took, and rebuild all allocator
//! state from the stored objects after a restart.
//!
//! OWNER: admission/controllers helper. This file is a placeholder with the agreed interface.

pub mod names;

use std::ops::RangeInclusive;

use ipnet::IpNet;

use crate::error::ApiError;
use crate::object::Object;

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
        }
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
}

impl Admission {
    /// Builds the allocators for `config`; fails on an unusable address plan.
    pub fn new(config: AdmissionConfig) -> Result<Admission, ApiError> {
        Ok(Admission { config })
    }

    /// The address plan in force.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Validates and defaults `obj` (for Create/Update; `old` is the stored object on Update) and
    /// allocates what it needs. On error nothing stays allocated.
    pub fn admit(
        &self,
        op: Operation,
        obj: &mut Object,
        old: Option<&Object>,
    ) -> Result<(), ApiError> {
        let _ = (op, obj, old);
        Ok(())
    }

    /// The store committed the change `old -> new` (either may be `None`): release what `old`
    /// claimed and `new` does not.
    pub fn committed(&self, old: Option<&Object>, new: Option<&Object>) {
        let _ = (old, new);
    }

    /// The store failed to commit `old -> new`: release what `new` claimed and `old` did not.
    pub fn aborted(&self, old: Option<&Object>, new: Option<&Object>) {
        let _ = (old, new);
    }

    /// Rebuilds every allocator from the stored objects (startup repair pass).
    pub fn rebuild<'a>(&self, objects: impl Iterator<Item = &'a Object>) -> RepairReport {
        let _ = objects.count();
        RepairReport::default()
    }
}
