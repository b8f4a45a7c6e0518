//! The load-balancing client: concurrent workers, each opening one TCP connection per request
//! (the userspace proxy and nftables both pick an endpoint per connection), optionally from its
//! own loopback source address (127.0.0.2, .3, ...) so ClientIP affinity sees distinct clients.
//! It counts which backend answered (from a response header) and times every request.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// What a run saw.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LbStats {
    /// Requests per backend (header value; `?` when the header was missing).
    pub per_backend: BTreeMap<String, u64>,
    /// Per-request latency, ms.
    pub latencies_ms: Vec<f64>,
    /// Failed requests.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

/// How to drive the target.
#[derive(Debug, Clone)]
pub struct LbLoad {
    /// Service address.
    pub target: SocketAddr,
    /// Concurrent workers.
    pub workers: usize,
    /// Total requests.
    pub requests: usize,
    /// Give each worker its own 127.0.0.x source (loopback targets only).
    pub distinct_sources: bool,
    /// Worker `w` binds to this address + `w` (overrides `distinct_sources`); the addresses
    /// must exist locally.
    pub source_base: Option<Ipv4Addr>,
    /// Response header naming the backend.
    pub header: String,
    /// Host header / path.
    pub host: String,
    /// Request path.
    pub path: String,
}

/// Runs `load` to completion.
pub async fn run(load: &LbLoad) -> LbStats {
    let mut tasks = Vec::new();
    for w in 0..load.workers.max(1) {
        let share = load.requests / load.workers.max(1)
            + usize::from(w < load.requests % load.workers.max(1));
        let source = match load.source_base {
            Some(base) => Some(Ipv4Addr::from(u32::from(base).wrapping_add(w as u32))),
            None => (load.distinct_sources && load.target.ip().is_loopback())
                .then(|| Ipv4Addr::new(127, 0, ((w + 2) / 250) as u8, ((w + 2) % 250) as u8)),
        };
        let load = load.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = LbStats::default();
            for _ in 0..share {
                let start = Instant::now();
                match one(&load, source).await {
                    Ok(backend) => {
                        stats.latencies_ms.push(start.elapsed().as_secs_f64() * 1e3);
                        *stats.per_backend.entry(backend).or_default() += 1;
                    }
                    Err(e) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            stats
        }));
    }
    let mut all = LbStats::default();
    for t in tasks {
        match t.await {
            Ok(s) => {
                for (k, v) in s.per_backend {
                    *all.per_backend.entry(k).or_default() += v;
                }
                all.latencies_ms.extend(s.latencies_ms);
                all.errors += s.errors;
                if all.first_error.is_none() {
                    all.first_error = s.first_error;
                }
            }
            Err(e) => {
                all.errors += 1;
                all.first_error
                    .get_or_insert_with(|| format!("worker failed: {e}"));
            }
        }
    }
    all
}

async fn one(load: &LbLoad, source: Option<Ipv4Addr>) -> anyhow::Result<String> {
    let socket = if load.target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::from((ip, 0)))
            .with_context(|| format!("binding source {ip}"))?;
    }
    let mut stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(load.target))
        .await
        .context("connect timed out")??;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        load.path, load.host
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .context("response timed out")??;
    backend_of(&buf, &load.header)
}

/// The status must be 2xx; returns the value of `header` (case-insensitive) or `?`.
pub fn backend_of(response: &[u8], header: &str) -> anyhow::Result<String> {
    let text = String::from_utf8_lossy(response);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    anyhow::ensure!(code.starts_with('2'), "status line {status:?}");
    let want = header.to_ascii_lowercase();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.trim().to_ascii_lowercase() == want
        {
            return Ok(v.trim().to_string());
        }
    }
    Ok("?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_header_is_found_case_insensitively() -> anyhow::Result<()> {
        let r = b"HTTP/1.1 200 OK\r\nx-backend: 3\r\n\r\nbody X-Backend: 9";
        assert_eq!(backend_of(r, "X-Backend")?, "3");
        assert_eq!(backend_of(b"HTTP/1.1 204 No\r\n\r\n", "X-Backend")?, "?");
        assert!(backend_of(b"HTTP/1.1 503 Busy\r\n\r\n", "X-Backend").is_err());
        Ok(())
    }
}
