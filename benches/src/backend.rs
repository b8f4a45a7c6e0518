//! The HTTP backends the proxy and load-balancing areas send traffic to: a tiny HTTP/1.1 server
//! (keep-alive, fixed 64-byte body, `X-Backend: <index>` header) on each given loopback address,
//! each with its own artificial response delay to model uniform or skewed backends.
//!
//! Runs in its own process (`sybench backend ...`, pinned like the servers) so the client's
//! CPU never serves backends. It answers any request with 200 and never reads bodies.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves one backend per `(addr, delay)` until the process is killed.
pub fn serve(backends: Vec<(SocketAddr, Duration)>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("backend runtime")?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for (index, (addr, delay)) in backends.into_iter().enumerate() {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding backend {index} on {addr}"))?;
            tasks.push(tokio::spawn(accept_loop(listener, index, delay)));
        }
        for t in tasks {
            t.await?;
        }
        anyhow::Ok(())
    })
}

async fn accept_loop(listener: TcpListener, index: usize, delay: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, index, delay));
            }
            Err(e) => {
                tracing::warn!(index, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Answers every request on one connection; returns on EOF, error or `Connection: close`.
async fn connection(mut stream: TcpStream, index: usize, delay: Duration) {
    let body = format!("{:<63}\n", format!("backend {index}"));
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = find_head_end(&buf) else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 64 * 1024 {
                return;
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let close = head.contains("\r\nconnection: close");
        buf.drain(..end + 4);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: {index}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if stream.write_all(response.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_alive_requests_with_its_index() -> anyhow::Result<()> {
        let port = crate::peers::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        std::thread::spawn(move || serve(vec![(addr, Duration::ZERO)]));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut s = None;
            for _ in 0..100 {
                if let Ok(c) = TcpStream::connect(addr).await {
                    s = Some(c);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut s = s.context("backend never listened")?;
            for _ in 0..2 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
                let mut got = vec![0u8; 512];
                let n = s.read(&mut got).await?;
                let text = String::from_utf8_lossy(&got[..n]);
                assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
                assert!(text.contains("X-Backend: 0"), "{text}");
            }
            anyhow::Ok(())
        })
    }
}
