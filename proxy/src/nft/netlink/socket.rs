//! The netlink socket to nf_tables: opened in the right network namespace, sends a batch and
//! collects the kernel's errors for it. Safe code only (nix wraps the syscalls).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use super::wire;
use crate::nft::error::SyncError;

/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// How long to wait for the kernel's answer before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The little-endian u32 at `at` (netlink headers are in host order; callers check bounds).
fn le32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// A netlink socket bound to nf_tables in one network namespace.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    /// Next sequence number; the lock also serialises transactions on this socket.
    seq: Mutex<u32>,
}

fn io_error(context: &str, err: nix::Error) -> SyncError {
    SyncError::Spawn {
        program: format!("netlink ({context})"),
        source: std::io::Error::from(err),
    }
}

fn open_here() -> Result<OwnedFd, SyncError> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| io_error("socket", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| io_error("bind", e))?;
    let timeout = TimeVal::new(ANSWER_TIMEOUT.as_secs() as i64, 0);
    setsockopt(&fd, sockopt::ReceiveTimeout, &timeout).map_err(|e| io_error("timeout", e))?;
    Ok(fd)
}

/// Batches above this size raise the socket's send buffer first.
const BIG_BATCH: usize = 128 * 1024;

impl NetlinkSocket {
    /// A socket in the current network namespace, or in the named one (`ip netns` name):
    /// opened on a short-lived thread that joins the namespace, so this thread stays put.
    ///
    /// # Errors
    /// The namespace does not exist or the socket cannot be opened (not root).
    pub fn open(netns: Option<&str>) -> Result<NetlinkSocket, SyncError> {
        let fd = match netns {
            None => open_here()?,
            Some(name) => {
                let path = format!("/var/run/netns/{name}");
                std::thread::scope(|scope| {
                    scope
                        .spawn(|| -> Result<OwnedFd, SyncError> {
                            let ns = File::open(&path).map_err(|source| SyncError::Spawn {
                                program: format!("netlink (open {path})"),
                                source,
                            })?;
                            setns(&ns, CloneFlags::CLONE_NEWNET)
                                .map_err(|e| io_error("setns", e))?;
                            open_here()
                        })
                        .join()
                        .unwrap_or_else(|_| {
                            Err(SyncError::Unavailable("netlink opener panicked".into()))
                        })
                })?
            }
        };
        Ok(NetlinkSocket {
            fd,
            seq: Mutex::new(1),
        })
    }

    /// The sequence number the next batch should start at.
    pub fn next_seq(&self) -> u32 {
        *self.seq.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a batch whose messages use sequence numbers up to `next` (exclusive), then a
    /// generation request numbered `next`; returns the (sequence, errno) of every error the
    /// kernel reported before answering that request (the kernel handles the batch inside
    /// `send`, so all its errors come first).
    pub(super) fn transact(&self, batch: &[u8], next: u32) -> Result<Vec<(u32, i32)>, SyncError> {
        let mut seq = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq = next.wrapping_add(1);
        if batch.len() > BIG_BATCH {
            // The kernel takes a batch in one message, which must fit the send buffer; as
            // root the buffer may exceed the sysctl limit (nft does the same).
            let want = batch.len().saturating_add(BIG_BATCH);
            setsockopt(&self.fd, sockopt::SndBufForce, &want)
                .map_err(|e| io_error("SO_SNDBUFFORCE", e))?;
        }
        send(self.fd.as_raw_fd(), batch, MsgFlags::empty()).map_err(|e| io_error("send", e))?;
        send(self.fd.as_raw_fd(), &wire::get_gen(next), MsgFlags::empty())
            .map_err(|e| io_error("send", e))?;
        let mut errors = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| io_error("recv", e))?;
            if n == 0 {
                return Err(io_error("recv", nix::Error::ECONNRESET));
            }
            let mut at = 0;
            while at + 16 <= n {
                let len = le32(&buf, at) as usize;
                let kind = u16::from_le_bytes([buf[at + 4], buf[at + 5]]);
                let msg_seq = le32(&buf, at + 8);
                if len < 16 || at + len > n {
                    return Err(io_error("short netlink message", nix::Error::EBADMSG));
                }
                if kind == NLMSG_ERROR && len >= 20 {
                    // struct nlmsgerr: a negative errno (0 is an ack), then the request's header.
                    let errno = le32(&buf, at + 16) as i32;
                    if errno != 0 {
                        // The error names the request it answers in its copy of the header.
                        let request_seq = if len >= 36 {
                            le32(&buf, at + 28)
                        } else {
                            msg_seq
                        };
                        if request_seq == next {
                            return Err(io_error(
                                "generation request",
                                nix::Error::from_raw(-errno),
                            ));
                        }
                        errors.push((request_seq, -errno));
                    }
                }
                if msg_seq == next {
                    return Ok(errors);
                }
                at += (len + 3) & !3;
            }
        }
    }
}
