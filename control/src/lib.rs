//! switchyard's control plane: an embedded, durable store of Kubernetes v1 objects (Namespace,
//! Node, Pod, Service, Endpoints, EndpointSlice, and the RBAC kinds) with resourceVersions and list+watch, served over
//! a subset of the Kubernetes REST API so `kubectl` and `kube-rs` clients work against it, plus the
//! in-process controllers that allocate addresses and derive EndpointSlices.
//!
//! `proxy/` and `dns/` use only [`watch`]; everything else here is the server side.

pub mod admission;
pub mod api;
pub mod authz;
pub mod controllers;
pub mod error;
pub mod object;
pub mod security;
pub mod selector;
pub mod serve;
pub mod server;
pub(crate) mod store;
pub mod trim;
pub mod watch;

pub use api::ApiState;
pub use error::{ApiError, FieldCause};
pub use object::{Kind, Object};
pub use server::{ControlPlane, ControlPlaneConfig, StartError};
