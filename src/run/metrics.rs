//! The process's `/metrics` (Prometheus text of DNS and the proxy) and `/healthz` (the proxy's
//! freshness, 503 when stale) endpoint. The control plane serves its own on the API port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util_shim::CancelOnDrop;

use super::parts::ProxyPart;

/// What the endpoint reports on.
#[derive(Clone)]
struct Sources {
    dns: Option<Arc<dns::DnsServer>>,
    proxy: Option<Arc<ProxyPart>>,
}

/// A running metrics endpoint.
pub struct MetricsServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
    _stop: CancelOnDrop,
}

impl MetricsServer {
    /// Binds `addr` and serves until shut down.
    pub async fn start(
        addr: SocketAddr,
        dns: Option<Arc<dns::DnsServer>>,
        proxy: Option<Arc<ProxyPart>>,
    ) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(Sources { dns, proxy });
        let (stop, stopped) = CancelOnDrop::new();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "metrics endpoint failed");
            }
        });
        Ok(MetricsServer {
            local_addr,
            task,
            _stop: stop,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and releases the parts it reports on.
    pub async fn shutdown(self) {
        let MetricsServer { task, _stop, .. } = self;
        drop(_stop);
        let _ = task.await;
    }
}

async fn metrics(State(sources): State<Sources>) -> String {
    let mut text = String::new();
    if let Some(dns) = &sources.dns {
        text.push_str(&dns.metrics_text());
    }
    if let Some(proxy) = &sources.proxy {
        text.push_str(&proxy.metrics_text());
    }
    text
}

async fn healthz(State(sources): State<Sources>) -> (StatusCode, String) {
    let (code, body) = match &sources.proxy {
        Some(proxy) => proxy.health(),
        None => (200, "ok\n".to_string()),
    };
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

/// A tiny cancel-on-drop signal, so a dropped server stops too.
mod tokio_util_shim {
    use tokio::sync::oneshot;

    /// Fires the paired future when dropped.
    pub struct CancelOnDrop(Option<oneshot::Sender<()>>);

    impl CancelOnDrop {
        /// The guard and the future that completes when the guard is dropped.
        pub fn new() -> (
            CancelOnDrop,
            impl std::future::Future<Output = ()> + Send + 'static,
        ) {
            let (tx, rx) = oneshot::channel();
            (CancelOnDrop(Some(tx)), async move {
                let _ = rx.await;
            })
        }
    }

    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
}
