//! The TCP path: accept on a service address, pick an endpoint (retrying others on connect
//! failure), then forward bytes both ways until both sides are done. A connection holds its own
//! `Route`, so table updates and listener closes never cut it. It never changes listeners.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::copy::{self, Counters};
use super::route::{Ctx, Route};
use super::stats::{Held, HeldArc};

/// Pause after an accept error (e.g. out of descriptors) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts until `stop` fires, serving each connection on its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    route: Arc<ArcSwap<Route>>,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let route = route.load_full();
                if !route.source_allowed(peer.ip()) {
                    route.port.metrics.source_refused.inc();
                    tracing::debug!(service = %route.port.id, client = %peer,
                        "source outside loadBalancerSourceRanges; connection closed");
                    drop(stream);
                    continue;
                }
                ctx.tracker.spawn(serve(stream, peer, route, ctx.clone()));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves one accepted connection to the end.
async fn serve(client: TcpStream, peer: SocketAddr, route: Arc<Route>, ctx: Arc<Ctx>) {
    let metrics = &route.port.metrics;
    metrics.total.inc();
    let _open = Held::new(metrics.active.inner());
    let mut tried = Vec::new();
    let mut connected = None;
    for attempt in 0..ctx.connect_attempts {
        let Some(backend) = route.pick(ctx.policy, peer.ip(), &tried) else {
            break;
        };
        if attempt > 0 {
            metrics.retries.inc();
        }
        // Counted from the attempt on, so least-connections sees connects in flight.
        let on_endpoint = HeldArc::new(backend.active.clone());
        match connect(backend.addr, ctx.connect_timeout).await {
            Ok(stream) => {
                connected = Some((stream, backend, on_endpoint));
                break;
            }
            Err(err) => {
                metrics.connect_failures.inc();
                tracing::debug!(service = %route.port.id, endpoint = %backend.addr, error = %err,
                    "endpoint connect failed");
                tried.push(backend.addr);
            }
        }
    }
    let Some((upstream, backend, _on_endpoint)) = connected else {
        metrics.rejected.inc();
        tracing::debug!(service = %route.port.id, client = %peer, tried = tried.len(),
            "no endpoint took the connection; resetting");
        reset(&client);
        return;
    };
    let counters = Counters {
        upstream: metrics.bytes_to_endpoint.inner(),
        downstream: metrics.bytes_to_client.inner(),
    };
    tokio::select! {
        result = copy::forward(&client, &upstream, ctx.copy_mode, counters) => {
            if let Err(err) = result {
                tracing::debug!(service = %route.port.id, client = %peer, endpoint = %backend.addr,
                    error = %err, "connection ended with an error");
                reset(&client);
            }
        }
        _ = ctx.drain.cancelled() => {
            tracing::debug!(client = %peer, "closing connection at shutdown");
        }
    }
}

/// Connects to `addr` within `timeout`, with `TCP_NODELAY` set (the client side has it from
/// the listener: accepted sockets inherit it). Success is read from the readiness itself: a
/// refused, reset or unreachable connect shows as write-closed, so only a failure costs the
/// `SO_ERROR` look-up.
async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = new_socket(addr)?;
    if let Err(err) = socket.set_tcp_nodelay(true) {
        tracing::debug!(error = %err, "TCP_NODELAY failed");
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err)
            if err.raw_os_error() == Some(libc::EINPROGRESS)
                || err.kind() == io::ErrorKind::WouldBlock => {}
        Err(err) => return Err(err),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    let ready = match tokio::time::timeout(timeout, stream.ready(Interest::WRITABLE)).await {
        Ok(ready) => ready?,
        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
    };
    if ready.is_write_closed() {
        return Err(stream
            .take_error()?
            .unwrap_or_else(|| io::ErrorKind::ConnectionRefused.into()));
    }
    Ok(stream)
}

/// A non-blocking TCP socket for `addr`'s family (one `socket` call on Linux).
fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    #[cfg(target_os = "linux")]
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(target_os = "linux"))]
    let socket = {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

/// Makes the coming close an RST (`SO_LINGER` 0), as a refused service connection should look.
fn reset(stream: &TcpStream) {
    if let Err(err) = SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %err, "SO_LINGER 0 failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_reports_success_and_refusal() -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let open = listener.local_addr()?;
        let stream = connect(open, Duration::from_secs(5)).await?;
        let (accepted, _) = listener.accept().await?;
        assert_eq!(accepted.peer_addr()?, stream.local_addr()?);
        assert!(stream.nodelay()?, "endpoint socket lacks TCP_NODELAY");
        drop(listener);
        let refused = connect(open, Duration::from_secs(5)).await;
        assert!(
            matches!(&refused, Err(err) if err.kind() == io::ErrorKind::ConnectionRefused),
            "connect to a closed port: {refused:?}"
        );
        Ok(())
    }
}
