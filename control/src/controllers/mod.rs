//! In-process controllers that act through the API like any client: the EndpointSlice
//! controller (Services' selectors × Pods' readiness), legacy Endpoints mirroring, the
//! ReplicationController / ReplicaSet controller ([`replicas`]), the Deployment controller
//! (Deployments → ReplicaSets, [`deployment`]), the bootstrap of built-in objects (`default`,
//! `kube-system`, `default/kubernetes`), and the garbage collector ([`gc`]: owner references,
//! orphan and foreground deletion).
//!
//! They use only `kube` clients, so they work against our API or a real kube-apiserver. Desired
//! state is computed by pure functions ([`endpoint_slices::desired_slices`],
//! [`endpoint_slices::plan`], [`endpoints_mirror::endpoints_for`],
//! [`endpoints_mirror::mirror_slices`]); the runner only watches, queues and writes the
//! differences. They never touch the store directly.

pub mod bootstrap;
mod cache_index;
pub mod cluster_dns;
pub mod deployment;
pub mod enabled;
pub mod endpoint_slices;
pub mod endpoints_mirror;
mod gc;
mod metrics;
mod prune;
pub(crate) mod queue;
mod reconcile;
pub(crate) mod reflect;
pub mod replicas;
mod tracker;

use std::net::{IpAddr, SocketAddr};

pub(crate) use metrics::register as register_metrics;

/// What the controllers need to know about the server they run in.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The address clients reach the API on: the endpoint of `default/kubernetes`.
    pub api_address: SocketAddr,
    /// The ClusterIP of `kube-system/kube-dns`, when the cluster DNS Service is wanted.
    pub cluster_dns: Option<IpAddr>,
    /// Which controllers run (the bootstrap always does).
    pub enabled: enabled::EnabledControllers,
}

/// Starts every controller against `client`; they run until the returned handle is aborted.
pub fn spawn(client: kube::Client, config: ControllerConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let enabled = config.enabled.clone();
        tasks.spawn(bootstrap::run(client.clone(), config));
        if enabled.runs("replicaset") {
            tasks.spawn(replicas::run(client.clone()));
        }
        if enabled.runs("deployment") {
            tasks.spawn(deployment::run(client.clone()));
        }
        if enabled.runs("garbagecollector") {
            tasks.spawn(gc::run(client.clone()));
        }
        if enabled.runs("endpointslice") {
            tasks.spawn(reconcile::run(client));
        }
        // Dropping the set (when this task is aborted) aborts them all.
        while let Some(result) = tasks.join_next().await {
            if let Err(error) = result
                && error.is_panic()
            {
                tracing::error!(%error, "controller task panicked");
            }
        }
    })
}
