//! The UDP socket loop. hickory's own UDP server spawns a task per datagram and sends every
//! response through a channel to the socket task; for answers that come straight from the
//! in-memory table that is most of the cost of a query. Here each request is decoded with
//! hickory's [`Request`], handed to the same [`DnsHandler`] (a hickory `RequestHandler`) and
//! polled once in place: a table answer completes in that poll and its response is written to
//! the socket directly. Only requests that wait (forwarding upstream) get a task of their own.
//!
//! Queries for the table's own names in the common shape are answered before any of that, from
//! the table's pre-encoded records (`crate::wire`); the rest take the path above.
//!
//! Malformed datagrams are treated as hickory's server treats them: shorter than a header or a
//! response message, dropped; a header followed by an undecodable body, FORMERR.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use hickory_proto::ProtoError;
use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::DnsHandler;

/// Largest datagram read; bigger ones are cut and then fail to decode.
const RECV_BUFFER: usize = 4096;

/// Datagrams read in a row without waiting on the socket: under load the receive queue is
/// rarely empty, and reading it directly skips a readiness future and the stop check per query.
const BATCH: usize = 32;

/// Serves `socket` with `handler` until `stop` is cancelled.
pub(crate) async fn serve(socket: UdpSocket, handler: DnsHandler, stop: CancellationToken) {
    let socket = Arc::new(socket);
    let handler = Arc::new(handler);
    let mut buffer = vec![0u8; RECV_BUFFER];
    let mut response = Vec::with_capacity(512);
    // One stop future for the whole loop, not a new waiter registration per wait.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let mut received = tokio::select! {
            biased;
            () = &mut stopped => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        for read in 1.. {
            match received {
                Ok((len, src)) => {
                    if let Some(raw) = buffer.get(..len) {
                        serve_one(&socket, &handler, raw, src, &mut response).await;
                    }
                }
                // ICMP errors of earlier sends surface here (connection refused): keep going.
                Err(err) => debug!(%err, "udp receive failed"),
            }
            if read == BATCH {
                break;
            }
            received = socket.try_recv_from(&mut buffer);
            if received
                .as_ref()
                .is_err_and(|err| err.kind() == std::io::ErrorKind::WouldBlock)
            {
                break;
            }
        }
    }
}

/// Answers one datagram: from the table's encoded answers when it can, else through the
/// hickory handler.
async fn serve_one(
    socket: &Arc<UdpSocket>,
    handler: &Arc<DnsHandler>,
    raw: &[u8],
    src: SocketAddr,
    response: &mut Vec<u8>,
) {
    if !can_answer(src) {
        debug!(%src, "udp request from an address that cannot be answered");
        return;
    }
    if handler.respond_fast(raw, response) {
        send_fast(socket, response, src).await;
        return;
    }
    let responder = UdpResponder {
        socket: socket.clone(),
        dst: src,
    };
    let Some(request) = decode(raw, src, &responder) else {
        return;
    };
    let handler = handler.clone();
    let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        handler
            .handle_request::<_, TokioTime>(&request, responder)
            .await;
    });
    // Table answers finish in the first poll; only the rest (upstream exchanges) need a
    // task. Tokio resources register the waker of each poll, so the spawned task is woken
    // by its own waker from then on.
    if task
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
    {
        tokio::spawn(task);
    }
}

/// Sends a fast-path response, waiting for room in the socket buffer if need be (as
/// [`UdpResponder`] does).
async fn send_fast(socket: &UdpSocket, bytes: &[u8], dst: SocketAddr) {
    let sent = match socket.try_send_to(bytes, dst) {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
            socket.send_to(bytes, dst).await
        }
        sent => sent,
    };
    if let Err(err) = sent {
        debug!(%dst, %err, "udp response not sent");
    }
}

/// The request in `raw`, or `None` when it is dropped or answered FORMERR here.
fn decode(raw: &[u8], src: SocketAddr, responder: &UdpResponder) -> Option<Request> {
    let header = Header::read(&mut BinDecoder::new(raw)).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    match Request::from_bytes(raw.to_vec(), src, Protocol::Udp) {
        Ok(request) => Some(request),
        Err(err) => {
            debug!(%src, %err, "undecodable udp request");
            let queries = Queries::read(&mut BinDecoder::new(&[]), 0).ok()?;
            let response = MessageResponseBuilder::new(&queries, None)
                .error_msg(&header.metadata, ResponseCode::FormErr);
            if let Ok((_, bytes)) = encode(response) {
                responder.send_now(&bytes);
            }
            None
        }
    }
}

/// Whether a response can go to `src` (not port 0, not an unspecified or broadcast address).
fn can_answer(src: SocketAddr) -> bool {
    if src.port() == 0 {
        return false;
    }
    match src.ip() {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unspecified(),
    }
}

/// Encodes a response within the payload size the client advertised (512 bytes without
/// EDNS).
pub(crate) fn emit_within_limit<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<(ResponseInfo, Vec<u8>), (u16, ProtoError)> {
    let id = response.metadata().id;
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(response.edns().map_or(512, |e| e.max_payload()));
    match response.destructive_emit(&mut encoder) {
        Ok(info) => Ok((info, bytes)),
        Err(err) => Err((id, err)),
    }
}

/// [`emit_within_limit`]; a response that cannot be encoded becomes a bare SERVFAIL, as in
/// hickory's server.
fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> Result<(ResponseInfo, Vec<u8>), NetError> {
    let (id, err) = match emit_within_limit(response) {
        Ok(encoded) => return Ok(encoded),
        Err(failed) => failed,
    };
    warn!(%err, "cannot encode dns response; answering SERVFAIL");
    let mut bytes = Vec::with_capacity(12);
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut BinEncoder::new(&mut bytes))?;
    Ok((ResponseInfo::from(header), bytes))
}

/// Writes one response to the client's address on the shared socket.
#[derive(Clone)]
struct UdpResponder {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

impl UdpResponder {
    /// Sends without waiting; a full socket buffer drops the response, as UDP may.
    fn send_now(&self, bytes: &[u8]) {
        if let Err(err) = self.socket.try_send_to(bytes, self.dst) {
            debug!(dst = %self.dst, %err, "udp response not sent");
        }
    }
}

#[async_trait::async_trait]
impl ResponseHandler for UdpResponder {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode(response)?;
        match self.socket.try_send_to(&bytes, self.dst) {
            Ok(_) => Ok(info),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                self.socket.send_to(&bytes, self.dst).await?;
                Ok(info)
            }
            Err(err) => Err(err.into()),
        }
    }
}
