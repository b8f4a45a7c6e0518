//! List+watch of the cluster objects the data plane needs, folded into immutable snapshots.
//!
//! This is the only part of `control` that `proxy/` and `dns/` use. It talks to an API server
//! through `kube` (ours on loopback, ours on another host, or a real kube-apiserver), so the same
//! code serves every deployment. One task per kind lists and watches (re-listing on 410 Expired,
//! with backoff); a single folding task applies events to a [`ClusterState`] and publishes a new
//! `Arc<ClusterState>` on a `tokio::sync::watch` channel. Consumers never see a half-applied
//! relist: a relist is buffered and swapped in whole. [`ClusterState::synced`] turns true only once
//! every watched kind has completed its first full list.
//!
//! It never writes to the API.

mod client;
mod fold;
mod state;

pub use client::{ClientError, client_for};
pub use fold::{WatchConfig, WatchHandle, spawn};
pub use state::{ClusterState, ObjectKey, SERVICE_NAME_LABEL};
