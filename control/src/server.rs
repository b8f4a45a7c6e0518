//! Starts the whole control plane: opens the store (which runs the admission repair pass),
//! serves the HTTP API, and starts the in-process controllers against it; shuts it all down
//! in order (stop accepting, end watches, drain, stop controllers, close the database).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admission::{Admission, AdmissionConfig};
use crate::api::{self, ApiState};
use crate::controllers::{self, ControllerConfig};
use crate::store::{Store, StoreConfig};

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

/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    local_addr: SocketAddr,
    store: Store,
    api: ApiState,
    stop_serving: CancellationToken,
    server: JoinHandle<()>,
    controllers: JoinHandle<()>,
}

impl ControlPlane {
    /// Opens the store, serves the API and starts the controllers.
    pub async fn start(config: ControlPlaneConfig) -> Result<ControlPlane, StartError> {
        let store_error = |reason: String| StartError::Store {
            path: config.data_dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| store_error(e.to_string()))?;
        let admission =
            Admission::new(config.admission.clone()).map_err(|e| StartError::Plan(e.message))?;
        let store_config = StoreConfig {
            watch_history: config.watch_history,
            ..StoreConfig::default()
        };
        let data_dir = config.data_dir.clone();
        // Opening reads the whole database: keep it off the async workers.
        let store =
            tokio::task::spawn_blocking(move || Store::open(&data_dir, admission, store_config))
                .await
                .map_err(|e| store_error(e.to_string()))?
                .map_err(|e| store_error(e.to_string()))?;
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(source) => {
                store.close().await;
                return Err(StartError::Listen {
                    addr: config.listen,
                    source,
                });
            }
        };
        let local_addr = match listener.local_addr() {
            Ok(a) => a,
            Err(source) => {
                store.close().await;
                return Err(StartError::Listen {
                    addr: config.listen,
                    source,
                });
            }
        };
        let api = ApiState::new(store.clone(), local_addr);
        let app = api::router(api.clone());
        let stop_serving = CancellationToken::new();
        let stop = stop_serving.clone();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the API server failed");
            }
        });
        tracing::info!(address = %local_addr, "control plane API listening");
        let url = format!("http://{local_addr}");
        let controller_config = ControllerConfig {
            api_address: local_addr,
        };
        let controllers = match crate::watch::client_for(Some(&url)).await {
            Ok(client) => {
                // Built-in objects first, so that a client who sees /readyz 200 finds the
                // `default` namespace and `default/kubernetes` there.
                bootstrap(&client, &controller_config).await;
                api.mark_bootstrapped();
                controllers::spawn(client, controller_config)
            }
            Err(error) => {
                tracing::error!(%error, "cannot build the controllers' API client; controllers not started");
                tokio::spawn(async {})
            }
        };
        Ok(ControlPlane {
            local_addr,
            store,
            api,
            stop_serving,
            server,
            controllers,
        })
    }

    /// The address the API is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The API state, to serve the same API elsewhere ([`api::router`]).
    pub fn api_state(&self) -> ApiState {
        self.api.clone()
    }

    /// Every metric of the API and the store in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.api.metrics_text()
    }

    /// Stops serving, lets in-flight requests finish, and closes the store cleanly.
    pub async fn shutdown(self) {
        let ControlPlane {
            store,
            stop_serving,
            mut server,
            controllers,
            ..
        } = self;
        controllers.abort();
        // Stop accepting; watch streams end on the store's closing signal so the drain ends.
        stop_serving.cancel();
        store.begin_close();
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish in time; dropping them");
            server.abort();
        }
        let _ = controllers.await;
        store.close().await;
        tracing::info!("control plane stopped");
    }
}

/// How many times the bootstrap of built-in objects is tried before the server reports ready
/// anyway (the bootstrap controller keeps trying in the background).
const BOOTSTRAP_ATTEMPTS: u32 = 50;

/// Creates the built-in objects through the API, retrying briefly.
async fn bootstrap(client: &kube::Client, config: &ControllerConfig) {
    let mut delay = Duration::from_millis(20);
    for attempt in 1..=BOOTSTRAP_ATTEMPTS {
        match controllers::bootstrap::ensure_builtins(client, config).await {
            Ok(()) => return,
            Err(error) if attempt == BOOTSTRAP_ATTEMPTS => {
                tracing::error!(%error, "bootstrap of built-in objects failed; serving anyway");
            }
            Err(error) => {
                tracing::debug!(%error, attempt, "bootstrap not done yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
}
