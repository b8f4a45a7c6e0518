//! Zero-copy forwarding of one TCP direction through a pipe with `splice(2)` (Linux).
//!
//! Bytes move socket → pipe → socket inside the kernel; user space only waits for readiness.
//! Only bulk directions get here (see [`super::copy`]), so each pipe is enlarged to 1 MiB and a
//! splice moves up to that much. This is the only module of the userspace proxy with `unsafe`:
//! one `libc::splice` call, wrapped by [`splice_once`], and one `fcntl`, wrapped by
//! [`set_pipe_size`]. It never buffers data itself and never closes the sockets.

use std::io::{self, PipeReader, PipeWriter};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Capacity asked for each pipe (`F_SETPIPE_SZ`): 256 pages, so one splice moves up to 1 MiB.
/// Only bulk directions splice, so few pipes are this large at once.
const PIPE_SIZE: usize = 1024 * 1024;
/// Capacity of a pipe that could not be enlarged (the default, 16 pages).
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// Empty default-size pipes kept for reuse, so a short splice costs no `pipe2`/`close` calls.
static SPARE_PIPES: Mutex<Vec<(PipeReader, PipeWriter)>> = Mutex::new(Vec::new());
/// At most this many spare pipes are kept (two descriptors each).
const SPARE_MAX: usize = 256;

/// A pipe for one direction; goes back to the spare list only when known to be empty and of
/// default size (enlarged pipes count against the per-user pipe page limit, so they are closed).
struct Pipe {
    ends: Option<(PipeReader, PipeWriter)>,
    empty: bool,
    /// Its capacity: bytes asked for per splice.
    capacity: usize,
}

impl Pipe {
    fn take() -> io::Result<Pipe> {
        let spare = SPARE_PIPES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let ends = match spare {
            Some(ends) => ends,
            None => io::pipe()?,
        };
        // Over the per-user limit (EPERM) the pipe keeps its default size.
        let capacity = match set_pipe_size(ends.1.as_fd(), PIPE_SIZE) {
            Ok(capacity) => capacity,
            Err(err) => {
                tracing::debug!(error = %err, "F_SETPIPE_SZ failed; default pipe size");
                DEFAULT_PIPE_SIZE
            }
        };
        Ok(Pipe {
            ends: Some(ends),
            empty: true,
            capacity,
        })
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // A pipe that may still hold bytes (an error mid-transfer) is closed, never reused.
        if self.capacity > DEFAULT_PIPE_SIZE {
            return;
        }
        if let (true, Some(ends)) = (self.empty, self.ends.take()) {
            let mut spare = SPARE_PIPES.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.len() < SPARE_MAX {
                spare.push(ends);
            }
        }
    }
}

/// Sets the capacity of the pipe behind `fd` to at least `size` bytes; returns the capacity.
#[allow(unsafe_code)]
fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size = libc::c_int::try_from(size).map_err(io::Error::other)?;
    // SAFETY: `fd` is borrowed from a live pipe end; F_SETPIPE_SZ takes an int argument and
    // touches no memory of ours.
    let got = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(got).map_err(io::Error::other)
}

/// Moves up to `len` bytes from `from` to `to` (one of them must be a pipe) without blocking:
/// `WouldBlock` when the socket side is not ready, `Ok(0)` at end of stream.
#[allow(unsafe_code)]
fn splice_once(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are borrowed from live owners for the duration of the call; null
    // offsets are allowed (and required) for sockets and pipes; the call touches no memory of
    // ours. SPLICE_F_NONBLOCK keeps the pipe side non-blocking; the sockets are non-blocking.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Forwards everything `src` sends to `dst` until `src` reaches end of stream (the caller
/// half-closes). Adds every forwarded byte to `counter` as it goes and returns the total, or
/// `None` when `splice` is unsupported for these descriptors (`EINVAL` on the first call,
/// nothing moved).
///
/// # Errors
/// Creating the pipe, reading, writing (reset, broken pipe).
pub(crate) async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    counter: &AtomicU64,
) -> io::Result<Option<u64>> {
    let mut pipe = Pipe::take()?;
    let Some((pipe_out, pipe_in)) = pipe.ends.as_ref() else {
        return Err(io::Error::other("pipe missing"));
    };
    let capacity = pipe.capacity;
    let mut total = 0u64;
    loop {
        let filled = match src
            .async_io(Interest::READABLE, || {
                splice_once(src.as_fd(), pipe_in.as_fd(), capacity)
            })
            .await
        {
            Ok(filled) => filled,
            Err(err) if total == 0 && err.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            Err(err) => return Err(err),
        };
        if filled == 0 {
            break;
        }
        pipe.empty = false;
        let mut left = filled;
        while left > 0 {
            let sent = dst
                .async_io(Interest::WRITABLE, || {
                    splice_once(pipe_out.as_fd(), dst.as_fd(), left)
                })
                .await?;
            if sent == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            left -= sent;
        }
        pipe.empty = true;
        total += filled as u64;
        counter.fetch_add(filled as u64, Ordering::Relaxed);
    }
    Ok(Some(total))
}
