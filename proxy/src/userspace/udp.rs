//! The UDP path: one flow per client address (and, on wildcard listeners, per local address
//! the client sent to). The first datagram of a flow picks an endpoint and opens a connected
//! upstream socket; replies are sent back through the listening socket, so they come from the
//! service address (on wildcard listeners, the one the client used: `pktinfo`). A flow idle
//! for `udp_idle_timeout` is forgotten.
//! Datagrams up to 64 KiB pass whole. It never changes listeners.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::SockRef;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::balance::Pool;
use super::pktinfo;
use super::route::{Ctx, Route};
use super::stats::{Held, PortMetrics};

/// Receive buffer: larger than any UDP payload, so nothing is ever truncated.
const DATAGRAM_MAX: usize = 65536;

/// One client's flow as the receive loop sees it.
#[derive(Debug)]
struct Flow {
    upstream: Arc<UdpSocket>,
    state: Arc<FlowState>,
    metrics: Arc<PortMetrics>,
    /// The endpoint it talks to.
    endpoint: SocketAddr,
    /// The pool it was picked from; when the listener's pool changes, the flow is checked.
    pool: Arc<Pool>,
    /// Ends the flow's reply task.
    cancel: CancellationToken,
}

/// What the receive loop and the flow's reply task share.
#[derive(Debug, Default)]
struct FlowState {
    /// Set by the reply task when the flow ends (idle or stop).
    done: AtomicBool,
    /// Datagrams from the client so far (activity for the idle timeout).
    datagrams: AtomicU64,
}

/// Relays datagrams for one listening socket until `stop` fires.
pub(crate) async fn serve(
    socket: UdpSocket,
    route: Arc<ArcSwap<Route>>,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) {
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let socket = Arc::new(socket);
    // Keyed by client and, on wildcard listeners, the local address it sent to.
    let mut flows: HashMap<(SocketAddr, Option<IpAddr>), Flow> = HashMap::new();
    let mut prune_at = 64;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => break,
            received = receive(&socket, &mut buf, wildcard) => received,
        };
        let (len, client, local) = match received {
            Ok(received) => received,
            Err(err) => {
                // ICMP errors for earlier replies surface here on some kernels; keep serving.
                tracing::debug!(error = %err, "udp receive failed");
                continue;
            }
        };
        {
            // Every datagram, not only a flow's first: the ranges may shrink mid-flow.
            let current = route.load();
            if !current.source_allowed(client.ip()) {
                current.port.metrics.source_refused.inc();
                continue;
            }
        }
        if flows.len() >= prune_at {
            flows.retain(|_, flow| !flow.state.done.load(Ordering::Relaxed));
            prune_at = (flows.len() * 2).max(64);
        }
        let key = (client, local);
        let live = match flows.get_mut(&key) {
            Some(flow) if !flow.state.done.load(Ordering::Relaxed) => still_routed(flow, &route),
            _ => false,
        };
        if !live {
            if let Some(old) = flows.remove(&key) {
                old.cancel.cancel();
            }
            match open_flow(&socket, key, &route, &ctx, &stop).await {
                Some(flow) => flows.insert(key, flow),
                None => continue,
            };
        }
        let Some(flow) = flows.get(&key) else {
            continue;
        };
        flow.state.datagrams.fetch_add(1, Ordering::Relaxed);
        // A direct non-blocking send: tokio's `try_send` would refuse until the reactor has
        // seen the new socket writable, and awaiting here would stall every other client.
        match SockRef::from(&*flow.upstream).send(&buf[..len]) {
            Ok(_) => {
                flow.metrics.bytes_to_endpoint.inc_by(len as u64);
            }
            Err(err) => {
                flow.metrics.rejected.inc();
                tracing::debug!(client = %client, error = %err, "udp send to endpoint failed");
            }
        }
    }
}

/// One datagram from the listener: length, client, and on wildcard listeners the local
/// address the client sent to.
async fn receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    wildcard: bool,
) -> std::io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    if wildcard {
        return pktinfo::recv_from(socket, buf).await;
    }
    let (len, client) = socket.recv_from(buf).await?;
    Ok((len, client, None))
}

/// Whether `flow` may keep its endpoint under the listener's current route: yes while the
/// endpoint is still in the pool (the common case costs one pointer comparison).
fn still_routed(flow: &mut Flow, route: &ArcSwap<Route>) -> bool {
    let current = route.load();
    if Arc::ptr_eq(&current.pool, &flow.pool) {
        return true;
    }
    if current
        .pool
        .backends()
        .iter()
        .any(|b| b.addr == flow.endpoint)
    {
        flow.pool = current.pool.clone();
        return true;
    }
    tracing::debug!(endpoint = %flow.endpoint, "udp flow's endpoint left the service; re-picking");
    false
}

/// Picks an endpoint for a new client and starts the flow's reply task; `None` (counted) when
/// there is no endpoint or the upstream socket cannot be opened.
async fn open_flow(
    listener: &Arc<UdpSocket>,
    (client, local): (SocketAddr, Option<IpAddr>),
    route: &ArcSwap<Route>,
    ctx: &Arc<Ctx>,
    stop: &CancellationToken,
) -> Option<Flow> {
    let route = route.load_full();
    let metrics = &route.port.metrics;
    let Some(backend) = route.pick(ctx.policy, client.ip(), &[]) else {
        metrics.rejected.inc();
        tracing::debug!(service = %route.port.id, client = %client, "no endpoint; datagram dropped");
        return None;
    };
    let any: IpAddr = match backend.addr {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let upstream = match UdpSocket::bind((any, 0)).await {
        Ok(upstream) => upstream,
        Err(err) => {
            metrics.connect_failures.inc();
            tracing::warn!(error = %err, "udp upstream socket failed");
            return None;
        }
    };
    if let Err(err) = upstream.connect(backend.addr).await {
        metrics.connect_failures.inc();
        tracing::debug!(endpoint = %backend.addr, error = %err, "udp connect failed");
        return None;
    }
    let upstream = Arc::new(upstream);
    let state = Arc::new(FlowState::default());
    let metrics = route.port.metrics.clone();
    let (endpoint, pool) = (backend.addr, route.pool.clone());
    let cancel = stop.child_token();
    let task = {
        let (listener, upstream, state) = (listener.clone(), upstream.clone(), state.clone());
        let (idle, stop) = (ctx.udp_idle_timeout, cancel.clone());
        async move {
            let _flow = Held::new(route.port.metrics.udp_flows.inner());
            let _on_endpoint = Held::new(&backend.active);
            let flow = FlowIo {
                listener: &listener,
                upstream: &upstream,
                client,
                local,
                state: &state,
            };
            replies(flow, &route.port.metrics, idle, &stop).await;
            state.done.store(true, Ordering::Relaxed);
        }
    };
    ctx.tracker.spawn(task);
    Some(Flow {
        upstream,
        state,
        metrics,
        endpoint,
        pool,
        cancel,
    })
}

/// The sockets and shared state one reply task works with.
struct FlowIo<'a> {
    listener: &'a UdpSocket,
    upstream: &'a UdpSocket,
    client: SocketAddr,
    /// The source replies name (wildcard listeners); `None`: the listener's own address.
    local: Option<IpAddr>,
    state: &'a FlowState,
}

/// Sends the endpoint's replies to the client through the listening socket until the flow saw
/// no datagram either way for `idle`, or the listener stops.
async fn replies(
    flow: FlowIo<'_>,
    metrics: &PortMetrics,
    idle: Duration,
    stop: &CancellationToken,
) {
    let FlowIo {
        listener,
        upstream,
        client,
        local,
        state,
    } = flow;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut seen = state.datagrams.load(Ordering::Relaxed);
    let mut deadline = Instant::now() + idle;
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(deadline) => {
                let now_seen = state.datagrams.load(Ordering::Relaxed);
                if now_seen == seen {
                    return;
                }
                seen = now_seen;
                deadline = Instant::now() + idle;
                continue;
            }
            received = upstream.recv(&mut buf) => received,
        };
        match received {
            Ok(len) => {
                deadline = Instant::now() + idle;
                match pktinfo::send_to(listener, &buf[..len], client, local).await {
                    Ok(_) => {
                        metrics.bytes_to_client.inc_by(len as u64);
                    }
                    Err(err) => tracing::debug!(client = %client, error = %err, "udp reply failed"),
                }
            }
            Err(err) => {
                // ECONNREFUSED from an ICMP port unreachable: the endpoint is not listening.
                metrics.connect_failures.inc();
                tracing::debug!(client = %client, error = %err, "udp endpoint error");
            }
        }
    }
}
