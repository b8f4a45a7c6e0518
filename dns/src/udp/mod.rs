//! The UDP socket loop. hickory's own UDP server spawns a task per datagram and sends every
//! response through a channel to the socket task; for answers that come straight from the
//! in-memory table that is most of the cost of a query. Here the loop reads every queued
//! datagram with one system call (`batch.rs`), answers each in place and writes the responses
//! with one more.
//!
//! Queries for the table's own names in the common shape are answered from the table's
//! pre-encoded records (`crate::wire`) into the batch's response buffers. The rest are decoded
//! with hickory's `Request` and handed to the same [`DnsHandler`] (`general.rs`), which sends
//! its own response; only requests that wait (forwarding upstream) get a task of their own.
//!
//! Responses of the general path are encoded whole and then cut to the client's payload limit
//! at record boundaries (`fit.rs`), TC set only when answer data was dropped.
//!
//! With response-rate limiting on (`rrl.rs`), every response of either path passes the
//! [`RateLimiter`] on its way out: sent, sent truncated, or dropped.
//!
//! The loop never blocks the runtime: it waits on socket readiness, and on room in the socket
//! buffer when a batch of responses does not fit.

mod batch;
mod fit;
mod general;
mod rrl;

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::DnsHandler;
use batch::Batch;

pub(crate) use general::emit_within_limit;
pub(crate) use rrl::RateLimiter;

/// Serves `socket` with `handler` until `stop` is cancelled, every response through `limiter`
/// when there is one.
pub(crate) async fn serve(
    socket: UdpSocket,
    handler: DnsHandler,
    limiter: Option<RateLimiter>,
    stop: CancellationToken,
) {
    let socket = Arc::new(socket);
    let handler = Arc::new(handler);
    let limiter = limiter.map(Arc::new);
    let fd = socket.as_raw_fd();
    let mut batch = Batch::new();
    // One stop future for the whole loop, not a new waiter registration per wait.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let ready = tokio::select! {
            biased;
            () = &mut stopped => return,
            ready = socket.readable() => ready,
        };
        if let Err(err) = ready {
            warn!(%err, "udp socket can no longer be polled; the udp loop stops");
            return;
        }
        match socket.try_io(Interest::READABLE, || batch.receive(fd)) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => continue,
            // ICMP errors of earlier sends surface here (connection refused): keep going.
            Err(err) => {
                debug!(%err, "udp receive failed");
                continue;
            }
        }
        batch.answer_each(|raw, src, response| {
            if !general::can_answer(src) {
                debug!(%src, "udp request from an address that cannot be answered");
                return false;
            }
            if handler.respond_fast(raw, response) {
                return limiter
                    .as_ref()
                    .is_none_or(|limiter| limiter.admit(src.ip(), response));
            }
            general::serve(&socket, &handler, limiter.as_ref(), raw, src);
            false
        });
        flush(&socket, &mut batch).await;
    }
}

/// Sends every response queued in `batch`, waiting for room in the socket buffer if need be
/// (as the general path's responder does); a response that cannot be sent is dropped.
async fn flush(socket: &UdpSocket, batch: &mut Batch) {
    let fd = socket.as_raw_fd();
    while batch.unsent() {
        match socket.try_io(Interest::WRITABLE, || batch.send(fd)) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                if let Err(err) = socket.writable().await {
                    debug!(%err, "udp responses not sent");
                    batch.clear();
                }
            }
            Err(err) => {
                let dst = batch.skip_one();
                debug!(?dst, %err, "udp response not sent");
            }
        }
    }
}
