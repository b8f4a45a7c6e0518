//! switchyard's control plane: an embedded, durable store of Kubernetes v1 objects (Namespace,
//! Node, Pod, Service, Endpoints, EndpointSlice, and the RBAC kinds) with resourceVersions and list+watch, served over
//! a subset of the Kubernetes REST API so `kubectl` and `kube-rs` clients work against it, plus the
//! in-process controllers that allocate addresses and derive EndpointSlices.
//!
//! `proxy/` and `dns/` never link this crate: they use the list+watch client `cluster_watch`,
//! which this crate also uses (its `trim` module cuts cached objects down).

pub mod admission;
pub mod api;
pub mod authz;
pub mod controllers;
pub mod error;
pub mod health;
pub mod object;
pub mod scheduler;
pub mod security;
pub mod selector;
pub mod serve;
pub mod server;
pub(crate) mod store;

pub use api::ApiState;
pub use error::{ApiError, FieldCause};
pub use object::{Kind, Object};
pub use server::{ControlPlane, ControlPlaneConfig, StartError};
