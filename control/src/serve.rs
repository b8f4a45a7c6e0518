//! The API's connection loop: accepts TCP connections up to a cap, completes the TLS handshake
//! within a deadline, reads the client certificate's identity, and serves HTTP/1.1 and HTTP/2
//! through hyper with a header-read deadline. Graceful shutdown lets in-flight requests end.
//!
//! Everything a client can hold open here is bounded: connections ([`ServeLimits::max_connections`],
//! past which a new connection is closed at once), the time to finish a handshake and to send
//! request headers (a silent or slow client is dropped), and HTTP/2 streams per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::security::PeerIdentity;

/// Bounds on what clients can make the API server hold.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Open connections at most; one more is closed right after `accept`. Clipped at start to
    /// what the file descriptor limit leaves room for.
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a client has to send a request's headers (HTTP/1.1; also how long an idle
    /// keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// Time a client has to send a request body.
    pub body_timeout: Duration,
    /// Largest request body, in bytes (Kubernetes' limit: 3 MiB).
    pub max_body_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams_per_connection: u32,
    /// Non-mutating requests (get, list) served at once; more get 429. Watches are not
    /// counted, as in kube-apiserver.
    pub max_requests_inflight: usize,
    /// Mutating requests served at once; more get 429.
    pub max_mutating_requests_inflight: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 8192,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_body_bytes: 3 * 1024 * 1024,
            max_streams_per_connection: 250,
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
        }
    }
}

/// File descriptors kept free for the store, DNS, the proxy and outgoing connections when the
/// connection cap is clipped to the descriptor limit.
const RESERVED_FDS: u64 = 512;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the open-file limit");
                hard
            }
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit");
            1024
        }
    }
}

/// The connection cap in force: the configured one, or less when the descriptor limit
/// cannot hold it.
pub fn effective_max_connections(configured: usize, fd_limit: u64) -> usize {
    let room = fd_limit.saturating_sub(RESERVED_FDS).max(64);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if configured > room {
        tracing::warn!(
            configured,
            clipped = room,
            "the open-file limit is too low for --max-connections; clipped"
        );
        room
    } else {
        configured
    }
}

/// Counters of the connection loop.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Connections closed at once because the cap was reached.
    pub refused_over_cap: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub handshake_failures: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
}

/// The peer of a connection, put into every request it carries.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: SocketAddr,
}

/// Serves `router` on `listener` until `stop` fires, then shuts connections down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ServeLimits,
    stats: Arc<ConnectionStats>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, remote) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            stats.refused_over_cap.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, "connection cap reached; closing");
            drop(stream);
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let stats = stats.clone();
        let watcher = graceful.watcher();
        let info = ConnectionInfo { remote };
        tokio::spawn(async move {
            let _permit = permit;
            let Some(acceptor) = acceptor else {
                serve_connection(TokioIo::new(stream), router, info, None, &limits, watcher).await;
                return;
            };
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(PeerIdentity::from_certificate);
            serve_connection(TokioIo::new(tls), router, info, peer, &limits, watcher).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn serve_connection<I>(
    io: I,
    router: Router,
    info: ConnectionInfo,
    peer: Option<PeerIdentity>,
    limits: &ServeLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let remote = info.remote;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        if let Some(peer) = &peer {
            request.extensions_mut().insert(peer.clone());
        }
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let connection = builder.serve_connection_with_upgrades(io, service);
    if let Err(error) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(%remote, %error, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        assert_eq!(effective_max_connections(8192, 1_048_576), 8192);
        assert_eq!(effective_max_connections(8192, 4096), 4096 - 512);
        assert_eq!(effective_max_connections(8192, 100), 64);
    }
}
