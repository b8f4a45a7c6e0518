//! Forwarding bytes both ways between a client and an endpoint connection, with half-close:
//! end of stream from one side half-closes the other side's write direction and leaves the
//! opposite direction running until it ends too. It never picks endpoints or touches metrics
//! other than the byte counters it is given.
//!
//! Each direction starts as a plain copy through a per-thread scratch buffer: one `read` and one
//! `write` per message, and a short read is taken as "socket drained" (as nginx and HAProxy do),
//! so request/response traffic costs no extra `read` that would only say `EAGAIN`. A FIN queued
//! behind the last message is seen from the readiness alone: no `read` for the end of stream,
//! and the message leaves with the half-close in one segment. A connection holds no buffer of
//! its own unless the receiver pushes back. In [`Mode::Splice`] (Linux), a direction that moves
//! [`SPLICE_AFTER`] bytes without draining is bulk traffic and continues with zero-copy
//! [`super::splice`] for the rest of the connection.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Size of the per-thread scratch buffer: the most one `read` takes.
const COPY_BUF: usize = 32 * 1024;

/// Bytes a direction moves without its source draining before it switches to splice.
pub(crate) const SPLICE_AFTER: usize = 64 * 1024;

thread_local! {
    /// Scratch buffer for the copy path: filled and written out with no await in between, so
    /// one per thread serves every connection.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; COPY_BUF].into_boxed_slice());
}

/// How bytes are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Copy while the traffic is request/response, `splice(2)` through a pipe once a direction
    /// carries bulk (Linux only; behaves as `Copy` elsewhere).
    Splice,
    /// Read into a buffer, write it out.
    Copy,
}

impl Mode {
    /// The best mode for this platform: splice on Linux, copy elsewhere.
    pub(crate) fn native() -> Mode {
        if cfg!(target_os = "linux") {
            Mode::Splice
        } else {
            Mode::Copy
        }
    }
}

/// Byte counters of one forwarded connection.
#[derive(Debug)]
pub(crate) struct Counters<'a> {
    /// Client → endpoint.
    pub(crate) upstream: &'a AtomicU64,
    /// Endpoint → client.
    pub(crate) downstream: &'a AtomicU64,
}

/// Forwards both directions until both ended; returns (client→endpoint, endpoint→client)
/// bytes. An error in either direction ends both (the connection is dropped by the caller).
/// The caller closes both sockets when this returns: the direction that ends last leaves its
/// FIN to that close (both receive queues are empty by then, so the close is graceful). The
/// first direction to end waits one scheduler turn before its half-close; if the other side
/// has ended meanwhile (a client closing right after its response, as HTTP/1.0-style clients
/// do), the close sends both FINs and no `shutdown` is needed.
pub(crate) async fn forward(
    client: &TcpStream,
    endpoint: &TcpStream,
    mode: Mode,
    counters: Counters<'_>,
) -> io::Result<(u64, u64)> {
    let ended = AtomicU8::new(0);
    tokio::try_join!(
        pump(client, endpoint, mode, counters.upstream, &ended),
        pump(endpoint, client, mode, counters.downstream, &ended),
    )
}

/// What one copy step did.
enum Step {
    /// The source reached end of stream.
    Eof,
    /// Bytes moved (the tail may wait in `pending`); `drained`: the read came up short.
    Moved { bytes: usize, drained: bool },
    /// Nothing to read after all.
    Again,
}

/// One direction: copies until end of stream (switching to splice for bulk in
/// [`Mode::Splice`]), then half-closes `dst` unless the other direction ends too (`ended`
/// counts the directions that reached end of stream).
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    mode: Mode,
    counter: &AtomicU64,
    ended: &AtomicU8,
) -> io::Result<u64> {
    let mut may_splice = mode == Mode::Splice;
    let mut total = 0u64;
    // Bytes moved since the source last drained.
    let mut burst = 0usize;
    let mut pending = Vec::new();
    // The source's FIN came with the bytes last moved: end of stream without reading it.
    let mut last = false;
    loop {
        // Read-closed readiness means the FIN was in the receive queue before the coming read
        // (a FIN is queued only in order), so a read that drains the queue takes the last bytes.
        let fin_queued = src.ready(Interest::READABLE).await?.is_read_closed();
        let (bytes, drained) = match copy_step(src, dst, &mut pending, fin_queued)? {
            Step::Eof => break,
            Step::Again => continue,
            Step::Moved { bytes, drained } => (bytes, drained),
        };
        if !pending.is_empty() {
            flush(dst, &mut pending).await?;
        }
        total += bytes as u64;
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
        if fin_queued && drained {
            last = true;
            break;
        }
        burst = if drained { 0 } else { burst + bytes };
        if may_splice && burst >= SPLICE_AFTER {
            match splice_rest(src, dst, counter).await? {
                Some(moved) => {
                    total += moved;
                    break;
                }
                None => {
                    tracing::debug!("splice unsupported for this connection; copying");
                    may_splice = false;
                }
            }
        }
    }
    end_of_stream(dst, ended, last).await;
    Ok(total)
}

/// Splices the rest of the stream; `None` when splice is unsupported (nothing moved then).
#[cfg(target_os = "linux")]
async fn splice_rest(
    src: &TcpStream,
    dst: &TcpStream,
    counter: &AtomicU64,
) -> io::Result<Option<u64>> {
    super::splice::pump(src, dst, counter).await
}

/// Splice exists only on Linux.
#[cfg(not(target_os = "linux"))]
async fn splice_rest(
    _src: &TcpStream,
    _dst: &TcpStream,
    _counter: &AtomicU64,
) -> io::Result<Option<u64>> {
    Ok(None)
}

/// The source ended: half-close `dst`, unless both directions end now, in which case the
/// caller's close sends the FINs and the `shutdown` call is saved. The first direction to end
/// yields once first, so that a peer closing at the same moment is seen; not when `corked`
/// (the last bytes wait in `dst`'s send queue for the FIN to ride along, see [`copy_step`]).
async fn end_of_stream(dst: &TcpStream, ended: &AtomicU8, corked: bool) {
    if ended.fetch_add(1, Ordering::AcqRel) > 0 {
        return;
    }
    if !corked {
        tokio::task::yield_now().await;
    }
    if ended.load(Ordering::Acquire) < 2 {
        shutdown_write(dst);
    }
}

/// Reads what `src` has into the thread's scratch buffer and writes it to `dst` at once; a tail
/// `dst` does not take now goes to `pending`. Never waits.
///
/// A read shorter than the buffer means the socket was drained: the readiness observed before
/// the read is then cleared, so the next wait needs a new event instead of costing a `read`
/// that returns `EAGAIN`. Readiness that arrived meanwhile carries a newer tick and survives.
///
/// When `fin_queued` and the read drains the socket, these are the stream's last bytes: they
/// are written corked (`MSG_MORE`, Linux), so the half-close that follows at once sends them
/// and the FIN in one segment instead of two.
fn copy_step(
    src: &TcpStream,
    dst: &TcpStream,
    pending: &mut Vec<u8>,
    fin_queued: bool,
) -> io::Result<Step> {
    SCRATCH.with(|scratch| {
        // The scratch buffer is never borrowed across an await; a nested borrow cannot happen,
        // but costs only an allocation if it ever did.
        let mut own;
        let mut guard;
        let buf: &mut [u8] = match scratch.try_borrow_mut() {
            Ok(borrowed) => {
                guard = borrowed;
                &mut guard[..]
            }
            Err(_) => {
                own = vec![0u8; COPY_BUF];
                &mut own[..]
            }
        };
        let capacity = buf.len();
        let mut got = None;
        let read = src.try_io(Interest::READABLE, || {
            let n = src.try_read(buf)?;
            got = Some(n);
            if n > 0 && n < capacity {
                // Drained: report "would block" so the readiness is cleared (data is in `got`).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        let n = match (read, got) {
            (_, Some(0)) => return Ok(Step::Eof),
            (_, Some(n)) => n,
            (Err(err), None) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Again),
            (Err(err), None) => return Err(err),
            (Ok(()), None) => return Ok(Step::Again),
        };
        let data = buf.get(..n).unwrap_or_default();
        let written = if fin_queued && n < capacity {
            write_last(dst, data)
        } else {
            dst.try_write(data)
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => pending.extend_from_slice(data.get(written..).unwrap_or_default()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => pending.extend_from_slice(data),
            Err(err) => return Err(err),
        }
        Ok(Step::Moved {
            bytes: n,
            drained: n < capacity,
        })
    })
}

/// Writes the stream's last bytes to `dst` corked (`MSG_MORE`): they stay queued until the
/// half-close or close that follows sends them with the FIN. Never waits.
#[cfg(target_os = "linux")]
fn write_last(dst: &TcpStream, data: &[u8]) -> io::Result<usize> {
    dst.try_io(Interest::WRITABLE, || {
        SockRef::from(dst).send_with_flags(data, libc::MSG_MORE | libc::MSG_NOSIGNAL)
    })
}

/// Without `MSG_MORE` the last bytes go out as any others.
#[cfg(not(target_os = "linux"))]
fn write_last(dst: &TcpStream, data: &[u8]) -> io::Result<usize> {
    dst.try_write(data)
}

/// Writes all of `pending` to `dst`, waiting for room as needed, and releases its memory.
async fn flush(dst: &TcpStream, pending: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    while written < pending.len() {
        dst.writable().await?;
        match dst.try_write(pending.get(written..).unwrap_or_default()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(m) => written += m,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
    *pending = Vec::new();
    Ok(())
}

/// Sends FIN on `stream` (half-close). A peer that is already gone is not an error here: the
/// other direction will notice.
pub(crate) fn shutdown_write(stream: &TcpStream) {
    if let Err(err) = SockRef::from(stream).shutdown(Shutdown::Write)
        && err.kind() != io::ErrorKind::NotConnected
    {
        tracing::debug!(error = %err, "half-close failed");
    }
}

#[cfg(test)]
mod tests;
