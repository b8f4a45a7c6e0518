//! Starts the whole control plane: opens the store, runs the repair pass, serves the HTTP API,
//! and starts the in-process controllers against it.
//!
//! OWNER: store/API helper. This file is a placeholder with the agreed interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::admission::AdmissionConfig;

/// Everything the control plane needs to start.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Directory holding the database (created if missing).
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Address plan and allocators.
    pub admission: AdmissionConfig,
    /// How many past events are kept for watch resumption.
    pub watch_history: usize,
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or database could not be opened.
    #[error("opening the store in {path}: {reason}")]
    Store {
        /// The data directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The address plan is unusable.
    #[error("address plan: {0}")]
    Plan(String),
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    local_addr: SocketAddr,
}

impl ControlPlane {
    /// Opens the store, serves the API and starts the controllers.
    pub async fn start(config: ControlPlaneConfig) -> Result<ControlPlane, StartError> {
        Ok(ControlPlane {
            local_addr: config.listen,
        })
    }

    /// The address the API is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving, lets in-flight requests finish, and closes the store cleanly.
    pub async fn shutdown(self) {}
}
