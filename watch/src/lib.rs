//! List+watch of the cluster objects the data plane needs, folded into immutable snapshots.
//!
//! This crate is all that `proxy/` and `dns/` link of the cluster side: never the store or the
//! API server of `control`. It talks to an API server through `kube` (ours on loopback, ours on
//! another host, or a real kube-apiserver), so the same code serves every deployment. One task per kind lists and watches (re-listing on 410 Expired,
//! with backoff); a single folding task applies events to a [`ClusterState`] and publishes a new
//! `Arc<ClusterState>` on a `tokio::sync::watch` channel. Consumers never see a half-applied
//! relist: a relist is buffered and swapped in whole. [`ClusterState::synced`] turns true only once
//! every watched kind has completed its first full list.
//!
//! Snapshots keep indexes the fold maintains, so readers do not scan: [`EndpointSlices`] finds a
//! Service's slices through its `kubernetes.io/service-name` label.
//!
//! It never writes to the API.

mod client;
mod fold;
mod slices;
mod state;
pub mod trim;

pub use client::{ClientError, client_for, status_code};
pub use fold::{WatchConfig, WatchHandle, spawn};
pub use slices::EndpointSlices;
pub use state::{ClusterState, ObjectKey, SERVICE_NAME_LABEL};
