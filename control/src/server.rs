//! Starts the whole control plane: opens the store (which runs the admission repair pass),
//! serves the HTTP API, and starts the in-process controllers against it; shuts it all down
//! in order (stop accepting, end watches, drain, stop controllers, close the database).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::admission::{Admission, AdmissionConfig};
use crate::api::{self, ApiState};
use crate::controllers::{self, ControllerConfig};
use crate::security::kubeconfig::{self, ClientSpec};
use crate::security::{Credentials, LOOPBACK_SERVER_NAME, SecurityConfig, SecurityError};
use crate::serve::{self, ConnectionStats, ServeLimits};
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
    /// TLS, authentication and the plain-HTTP test mode.
    pub security: SecurityConfig,
    /// Bounds on connections, request sizes and requests in flight.
    pub limits: ServeLimits,
    /// The ClusterIP of `kube-system/kube-dns`, made at bootstrap (`None`: no such Service).
    pub cluster_dns: Option<std::net::IpAddr>,
    /// Which controllers run (`--controllers`).
    pub controllers: crate::controllers::enabled::EnabledControllers,
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
    /// Certificates, keys, tokens or the listen address of the plain-HTTP mode.
    #[error(transparent)]
    Security(#[from] SecurityError),
}

/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    local_addr: SocketAddr,
    credentials: Credentials,
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
        // Checked before the store opens, so a bad flag never leaves a half-started server.
        let credentials = Credentials::prepare(&config.security, &config.data_dir, config.listen)?;
        let fd_limit = serve::raise_fd_limit();
        let mut limits = config.limits.clone();
        limits.max_connections = serve::effective_max_connections(limits.max_connections, fd_limit);
        let admission = Admission::new(config.admission.clone())
            .map_err(|e| StartError::Plan(e.to_string()))?;
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
        let health_of_store = store.clone();
        api.components().register(
            "store",
            Arc::new(move || match health_of_store.write_failure() {
                Some(why) => Err(format!("the store cannot write: {why}")),
                None if health_of_store.closing().is_cancelled() => {
                    Err("the store is closing".to_string())
                }
                None => Ok(()),
            }),
        );
        let guard = Arc::new(api::guard::Guard::new(
            credentials
                .tls
                .is_some()
                .then(|| credentials.authenticator.clone()),
            limits.max_requests_inflight,
            limits.max_mutating_requests_inflight,
        ));
        let app = api::router(api.clone(), guard, &limits);
        let stop_serving = CancellationToken::new();
        let server = tokio::spawn(serve::serve(
            listener,
            app,
            credentials.tls.clone(),
            limits,
            Arc::new(ConnectionStats::default()),
            stop_serving.clone(),
        ));
        tracing::info!(address = %local_addr, scheme = credentials.scheme(), "control plane API listening");
        if let Err(error) = write_admin_kubeconfig(&config.data_dir, &credentials, local_addr) {
            tracing::error!(%error, "cannot write the admin kubeconfig");
        }
        let controller_config = ControllerConfig {
            api_address: local_addr,
            cluster_dns: config.cluster_dns,
            enabled: config.controllers.clone(),
        };
        let client = credentials
            .loopback_config(local_addr)
            .map_err(|e| e.to_string())
            .and_then(|c| kube::Client::try_from(c).map_err(|e| e.to_string()));
        let controllers = match client {
            Ok(client) => {
                // Built-in objects first, so that a client who sees /readyz 200 finds the
                // `default` namespace and `default/kubernetes` there.
                bootstrap(&client, &controller_config).await;
                api.mark_bootstrapped();
                let controllers = controllers::spawn(client, controller_config);
                api.components()
                    .register_task("controller-manager", controllers.abort_handle());
                controllers
            }
            Err(error) => {
                tracing::error!(%error, "cannot build the controllers' API client; controllers not started");
                tokio::spawn(async {})
            }
        };
        Ok(ControlPlane {
            local_addr,
            credentials,
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

    /// The API state.
    pub fn api_state(&self) -> ApiState {
        self.api.clone()
    }

    /// The URL of the API (`https://127.0.0.1:PORT`; `http://` in the plain-HTTP mode).
    pub fn url(&self) -> String {
        self.credentials.url(self.local_addr)
    }

    /// The credentials of this control plane: its CA, admin token and TLS configuration.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A client configuration for this process's own clients (a superuser token).
    pub fn loopback_config(&self) -> Result<kube::Config, SecurityError> {
        self.credentials.loopback_config(self.local_addr)
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

/// Writes `<data-dir>/admin.kubeconfig` (0600): the API's URL, the CA and the admin token.
fn write_admin_kubeconfig(
    data_dir: &std::path::Path,
    credentials: &Credentials,
    local_addr: SocketAddr,
) -> Result<(), String> {
    let server = credentials.url(local_addr);
    let yaml = kubeconfig::render(&ClientSpec {
        server: &server,
        ca_pem: credentials.ca_pem.as_deref(),
        tls_server_name: credentials
            .custom_serving_cert
            .then_some(LOOPBACK_SERVER_NAME),
        user: crate::security::ADMIN_USER,
        token: Some(&credentials.admin_token),
        client_cert: None,
    })
    .map_err(|e| e.to_string())?;
    kubeconfig::write(&kubeconfig::admin_path(data_dir), &yaml).map_err(|e| e.to_string())
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
