//! The cluster nameserver: the Kubernetes DNS-Based Service Discovery specification (schema
//! 1.1.0) served from immutable snapshots of the cluster, with forwarding and a cache for every
//! name outside the cluster zone.
//!
//! One writer task folds each [`cluster_watch::ClusterState`] into a [`NameTable`] (all names,
//! reverse names, SRV sets and lower-casing done there) and publishes it with
//! `ArcSwap::store`; the query path does one `load()` and hash lookups and never takes a lock.
//! The [`TableWriter`] makes again only the names of the objects that changed between two
//! snapshots, so a change is served in well under a millisecond of table work at 10k services.
//! Names outside the zone go to the upstream resolvers through a bounded TTL cache, only for
//! clients in the recursion allow list (REFUSED for others), with a cap on upstream queries in
//! flight and one query for identical questions asked at once. UDP answers can be rate limited
//! per client network (`docs/security.md`, `## DNS`).
//!
//! This crate never writes to the API and never reads anything of `control` but its watch
//! snapshots.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//!
//! let client = cluster_watch::client_for(Some("http://127.0.0.1:6443")).await?;
//! let config = dns::DnsConfig {
//!     listen: "127.0.0.1:5353".parse()?,
//!     upstreams: dns::upstreams_from_resolv_conf(Path::new("/etc/resolv.conf"))?,
//!     ..dns::DnsConfig::default()
//! };
//! let watch_config = cluster_watch::WatchConfig {
//!     pods: config.needs_pods(),
//!     ..Default::default()
//! };
//! let watch = cluster_watch::spawn(client, watch_config);
//! let server = dns::DnsServer::start(config, watch.subscribe()).await?;
//! // ... serve until told to stop; `server.ready()` backs /readyz and
//! // `server.metrics_text()` the metrics endpoint.
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod acl;
mod autopath;
mod catalog;
mod config;
mod error;
mod forward;
mod handler;
mod metrics;
mod server;
mod udp;
mod wire;

pub use acl::{LOOPBACK_NETS, default_recursion_clients};
pub use catalog::{Answer, NameTable, TableOptions, TableWriter};
pub use config::{
    DEFAULT_MAX_UPSTREAM_INFLIGHT, DnsConfig, PodRecords, search_from_resolv_conf,
    upstreams_from_resolv_conf,
};
pub use error::DnsError;
pub use handler::DnsHandler;
pub use server::DnsServer;
