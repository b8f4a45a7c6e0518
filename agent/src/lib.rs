//! The node agent: the networking half of a kubelet, for the Pods bound to one node.
//!
//! For every Pod whose `spec.nodeName` is this node and that has an IP, the agent runs the
//! containers' `readinessProbe`, `startupProbe` and `livenessProbe` (tcpSocket, httpGet and
//! grpc)
//! with kubelet's timing and threshold rules, and writes the Pod's `Ready` and
//! `ContainersReady` conditions, phase `Running` and `containerStatuses[].ready` through the
//! `pods/status` subresource, only when they change. The EndpointSlice controller turns that
//! readiness into what a Service forwards to.
//!
//! The agent reads the cluster through `cluster-watch` snapshots and writes through a
//! `kube::Client`; it never links the store. It starts, stops and restarts nothing: a failed
//! liveness probe is reported (an Event and a metric), never acted on, and `exec` probes, which
//! need a container runtime, are reported as unsupported and never counted as passing.
//!
//! Every resource is bounded: probes in flight (a semaphore), each probe's time (its
//! `timeoutSeconds`), Pods probed, queued Events, and the status writes (one per Pod at a time).

mod agent;
mod error;
mod events;
mod metrics;
pub mod probe;
mod status;
pub mod threshold;
mod worker;
mod writer;

pub use agent::{AgentConfig, NodeAgent};
pub use error::AgentError;
