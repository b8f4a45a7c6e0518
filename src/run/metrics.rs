//! The process's `/metrics` (Prometheus text of DNS, the proxy and the node agent) and `/healthz` (the proxy's
//! freshness, 503 when stale) endpoint. The control plane serves its own on the API port.
//!
//! Each part encodes its own prometheus-client registry in the Prometheus text format 0.0.4;
//! that format has no end marker and the parts' metric names are disjoint, so the body is the
//! parts' encodings one after another.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::parts::ProxyPart;

/// What the endpoint reports on.
#[derive(Clone)]
struct Sources {
    dns: Option<Arc<dns::DnsServer>>,
    proxy: Option<Arc<ProxyPart>>,
    agent: Option<Arc<node_agent::NodeAgent>>,
}

/// A running metrics endpoint.
pub struct MetricsServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
    /// Stops the server when dropped, so a dropped `MetricsServer` stops serving too.
    stop: DropGuard,
}

impl MetricsServer {
    /// Binds `addr` and serves until shut down.
    pub async fn start(
        addr: SocketAddr,
        dns: Option<Arc<dns::DnsServer>>,
        proxy: Option<Arc<ProxyPart>>,
        agent: Option<Arc<node_agent::NodeAgent>>,
    ) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(Sources { dns, proxy, agent });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "metrics endpoint failed");
            }
        });
        Ok(MetricsServer {
            local_addr,
            task,
            stop: stop.drop_guard(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and releases the parts it reports on.
    pub async fn shutdown(self) {
        let MetricsServer { task, stop, .. } = self;
        drop(stop);
        let _ = task.await;
    }
}

async fn metrics(
    State(sources): State<Sources>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut text = String::new();
    if let Some(dns) = &sources.dns {
        text.push_str(&dns.metrics_text());
    }
    if let Some(proxy) = &sources.proxy {
        text.push_str(&proxy.metrics_text());
    }
    if let Some(agent) = &sources.agent {
        text.push_str(&agent.metrics_text());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            proxy::metrics::CONTENT_TYPE,
        )],
        text,
    )
}

/// kube-proxy's `/healthz`: a JSON body with `lastUpdated` and `currentTime`, 503 when stale.
async fn healthz(
    State(sources): State<Sources>,
) -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    String,
) {
    let (code, body, media) = match &sources.proxy {
        Some(proxy) => {
            let (code, body) = proxy.health();
            (code, body, "application/json")
        }
        None => (200, "ok\n".to_string(), "text/plain; charset=utf-8"),
    };
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(axum::http::header::CONTENT_TYPE, media)],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_parts_registries_as_prometheus_text() {
        let config = dns::DnsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..dns::DnsConfig::default()
        };
        let (_clusters, watched) =
            tokio::sync::watch::channel(Arc::new(cluster_watch::ClusterState::default()));
        let dns = dns::DnsServer::start(config, watched)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dns = Arc::new(dns);
        let server = MetricsServer::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(dns.clone()),
            None,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://{}/metrics", server.local_addr());
        let response = reqwest::get(&url).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            response
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
        let samples = testkit::parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            testkit::value_of(&samples, "switchyard_dns_ready", &[]),
            Some(0.0),
            "{text}"
        );
        server.shutdown().await;
        if let Ok(dns) = Arc::try_unwrap(dns) {
            dns.shutdown().await;
        }
    }
}
