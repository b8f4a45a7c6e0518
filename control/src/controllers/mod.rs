//! In-process controllers that act through the API like any client: the EndpointSlice
//! controller (Services' selectors × Pods' readiness), legacy Endpoints mirroring, and the
//! bootstrap of built-in objects (`default`, `kube-system`, `default/kubernetes`).
//!
//! OWNER: admission/controllers helper. This file is a placeholder with the agreed interface.

use std::net::SocketAddr;

/// What the controllers need to know about the server they run in.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The address clients reach the API on: the endpoint of `default/kubernetes`.
    pub api_address: SocketAddr,
}

/// Starts every controller against `client`; they run until the returned handle is aborted.
pub fn spawn(client: kube::Client, config: ControllerConfig) -> tokio::task::JoinHandle<()> {
    let _ = (client, config);
    tokio::spawn(async {})
}
