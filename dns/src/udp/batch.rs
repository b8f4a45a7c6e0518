//! Datagrams in and out by the batch: one `recvmmsg` reads every queued query (up to
//! [`BATCH`]), and one `sendmmsg` writes every response made from them. Besides a system call
//! per datagram each way, this saves wake-ups of the clients: responses sent back to back find
//! a client's reader already woken by the first, where one `sendto` per query, with a receive
//! and an answer in between, gives the reader time to go back to sleep and wakes it again
//! (an interprocessor interrupt each time when it runs on another CPU).
//!
//! The buffers are allocated once; the system calls go through nix's safe wrappers. Its
//! message headers hold raw pointers (not `Send`), so they are made per call and never held
//! across an await. This module only moves bytes: what is answered is up to the caller.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams read (and responses written) per system call.
pub(super) const BATCH: usize = 32;

/// Largest datagram read; bigger ones are cut and then fail to decode.
const RECV_BUFFER: usize = 4096;

/// Room reserved per response (a plain DNS response is at most 512 bytes; larger ones grow it).
const RESPONSE_CAPACITY: usize = 512;

/// Receive buffers, the senders of the datagrams in them, and the responses queued to send.
pub(super) struct Batch {
    /// [`BATCH`] receive buffers of [`RECV_BUFFER`] bytes, back to back.
    buffers: Box<[u8]>,
    /// Length and sender of each received datagram; `received` of them are valid.
    datagrams: Vec<(usize, Option<SockaddrStorage>)>,
    received: usize,
    /// Response buffers; the first `queued` hold responses, of which `sent` have gone out.
    responses: Vec<Vec<u8>>,
    destinations: Vec<Option<SockaddrStorage>>,
    queued: usize,
    sent: usize,
}

impl Batch {
    /// Empty buffers for [`BATCH`] datagrams.
    pub(super) fn new() -> Batch {
        Batch {
            buffers: vec![0; BATCH * RECV_BUFFER].into_boxed_slice(),
            datagrams: vec![(0, None); BATCH],
            received: 0,
            responses: (0..BATCH)
                .map(|_| Vec::with_capacity(RESPONSE_CAPACITY))
                .collect(),
            destinations: vec![None; BATCH],
            queued: 0,
            sent: 0,
        }
    }

    /// Reads up to [`BATCH`] queued datagrams without waiting, replacing the previous ones;
    /// returns how many.
    ///
    /// # Errors
    /// `WouldBlock` when none is queued; a pending socket error (an ICMP error of an earlier
    /// send) when it comes before any datagram.
    pub(super) fn receive(&mut self, fd: RawFd) -> std::io::Result<usize> {
        self.received = 0;
        let mut chunks = self.buffers.chunks_mut(RECV_BUFFER);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        let messages = recvmmsg(
            fd,
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        for (slot, message) in self.datagrams.iter_mut().zip(messages) {
            *slot = (message.bytes, message.address);
            self.received += 1;
        }
        Ok(self.received)
    }

    /// Calls `answer(datagram, sender, response)` for each datagram read by the last
    /// [`Batch::receive`], with an empty response buffer; when it returns true the response
    /// is queued for [`Batch::send`]. Datagrams from an address that is not IP are skipped.
    pub(super) fn answer_each(
        &mut self,
        mut answer: impl FnMut(&[u8], SocketAddr, &mut Vec<u8>) -> bool,
    ) {
        for (index, (len, source)) in self.datagrams.iter().take(self.received).enumerate() {
            let Some(src) = source.as_ref().and_then(socket_addr) else {
                continue;
            };
            let start = index * RECV_BUFFER;
            let Some(raw) = self.buffers.get(start..start + len) else {
                continue;
            };
            let (Some(out), Some(destination)) = (
                self.responses.get_mut(self.queued),
                self.destinations.get_mut(self.queued),
            ) else {
                return;
            };
            out.clear();
            if answer(raw, src, out) {
                *destination = *source;
                self.queued += 1;
            }
        }
    }

    /// True while queued responses have not all been sent (or skipped).
    pub(super) fn unsent(&self) -> bool {
        self.sent < self.queued
    }

    /// Sends the queued responses not sent yet, as many as the socket takes without waiting;
    /// returns how many went out. When all have, the queue is emptied.
    ///
    /// # Errors
    /// `WouldBlock` when the socket buffer is full; the error of the first unsent response
    /// otherwise (see [`Batch::skip_one`]).
    pub(super) fn send(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let pending = self.queued - self.sent;
        if pending == 0 {
            return Ok(0);
        }
        let mut responses = self.responses.iter().skip(self.sent);
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|_| {
            [IoSlice::new(
                responses.next().map_or(&[][..], Vec::as_slice),
            )]
        });
        let destinations = self
            .destinations
            .get(self.sent..self.queued)
            .unwrap_or_default();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(pending, None);
        let sent = sendmmsg(
            fd,
            &mut headers,
            slices.iter().take(pending),
            destinations,
            [] as [ControlMessage<'_>; 0],
            MsgFlags::empty(),
        )?
        // Counting walks the results (one per datagram sent); nothing in them is used.
        .count();
        self.sent += sent;
        self.finish_if_done();
        Ok(sent)
    }

    /// Drops the first unsent response (its send failed); returns where it was going.
    pub(super) fn skip_one(&mut self) -> Option<SocketAddr> {
        let destination = self.destinations.get(self.sent).copied().flatten();
        self.sent = (self.sent + 1).min(self.queued);
        self.finish_if_done();
        destination.as_ref().and_then(socket_addr)
    }

    /// Drops every unsent response.
    pub(super) fn clear(&mut self) {
        self.sent = 0;
        self.queued = 0;
    }

    fn finish_if_done(&mut self) {
        if self.sent >= self.queued {
            self.clear();
        }
    }
}

/// The IP socket address in `storage`, if it is one.
fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
