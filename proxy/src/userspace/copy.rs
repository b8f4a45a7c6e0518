//! Forwarding bytes both ways between a client and an endpoint connection, with half-close:
//! end of stream from one side half-closes the other side's write direction and leaves the
//! opposite direction running until it ends too. Uses [`super::splice`] on Linux and a plain
//! buffered copy elsewhere (or when asked to). It never picks endpoints or touches metrics other
//! than the byte counters it is given.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};

use socket2::SockRef;
use tokio::net::TcpStream;

/// Buffer size of the portable copy path.
const COPY_BUF: usize = 32 * 1024;

/// How bytes are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `splice(2)` through a pipe (Linux only; falls back to `Copy` elsewhere).
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
pub(crate) async fn forward(
    client: &TcpStream,
    endpoint: &TcpStream,
    mode: Mode,
    counters: Counters<'_>,
) -> io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    if mode == Mode::Splice {
        return tokio::try_join!(
            super::splice::pump(client, endpoint, counters.upstream),
            super::splice::pump(endpoint, client, counters.downstream),
        );
    }
    tokio::try_join!(
        pump(client, endpoint, counters.upstream),
        pump(endpoint, client, counters.downstream),
    )
}

/// Portable one-direction copy with the same contract as `splice::pump`.
async fn pump(src: &TcpStream, dst: &TcpStream, counter: &AtomicU64) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        src.readable().await?;
        let n = match src.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        };
        let mut written = 0;
        while written < n {
            dst.writable().await?;
            match dst.try_write(&buf[written..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => written += m,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
        total += n as u64;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    shutdown_write(dst);
    Ok(total)
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
