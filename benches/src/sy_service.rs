//! Puts a service in front of given backends in a running `switchyard run`: a selector-less
//! NodePort Service plus a manual Endpoints object (mirrored by switchyard into EndpointSlices),
//! then waits until the NodePort on 127.0.0.1 answers HTTP through the proxy.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Creates service `name` (optionally with `sessionAffinity: ClientIP`) over `backends`;
/// returns the NodePort.
pub async fn create(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    backends: &[SocketAddr],
    client_ip_affinity: bool,
) -> anyhow::Result<u16> {
    let mut spec = json!({
        "type": "NodePort",
        "ports": [{"name": "tcp", "port": 80, "protocol": "TCP"}],
    });
    if client_ip_affinity {
        spec["sessionAffinity"] = json!("ClientIP");
    }
    let svc =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec});
    let created: Value = post(
        http,
        &format!("{base}/api/v1/namespaces/default/services"),
        &svc,
    )
    .await?;
    let node_port = created
        .pointer("/spec/ports/0/nodePort")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .context("created service has no nodePort")?;
    let subsets: Vec<Value> = backends
        .iter()
        .map(|b| json!({"addresses": [{"ip": b.ip().to_string()}], "ports": [{"name": "tcp", "port": b.port(), "protocol": "TCP"}]}))
        .collect();
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": subsets});
    post(
        http,
        &format!("{base}/api/v1/namespaces/default/endpoints"),
        &ep,
    )
    .await?;
    Ok(node_port)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let resp = http.post(url).json(body).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "POST {url}: HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    serde_json::from_str(&text).context("response JSON")
}

/// Waits (up to `limit`) until an HTTP GET to `addr` gets a 200 (any backend).
pub async fn wait_http(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if get_once(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("nothing answered HTTP on {addr} within {limit:?}")
}

/// One `GET /` on a fresh connection; returns the `X-Backend` index.
pub async fn get_once(addr: SocketAddr) -> anyhow::Result<usize> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await??;
    s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "unexpected reply: {}",
        text.chars().take(80).collect::<String>()
    );
    text.lines()
        .find_map(|l| l.strip_prefix("X-Backend: "))
        .and_then(|v| v.trim().parse().ok())
        .context("reply without X-Backend")
}
