//! The general path of the UDP loop: a datagram the wire fast path leaves alone is decoded
//! with hickory's [`Request`], handed to the [`DnsHandler`] (a hickory `RequestHandler`) and
//! polled once in place. A table answer completes in that poll and its response is written to
//! the socket directly; only requests that wait (forwarding upstream) get a task of their own.
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
use tracing::{debug, warn};

use super::RateLimiter;
use crate::DnsHandler;

/// UDP payload without EDNS (RFC 1035 §4.2.1), and the least any client may be sent (RFC 6891
/// §6.2.5).
const PLAIN_PAYLOAD: u16 = 512;

/// Answers one datagram through the hickory handler; the response, if any, is sent from here
/// (or from the spawned task of a request that waits on upstreams).
pub(super) fn serve(
    socket: &Arc<UdpSocket>,
    handler: &Arc<DnsHandler>,
    limiter: Option<&Arc<RateLimiter>>,
    raw: &[u8],
    src: SocketAddr,
) {
    let responder = UdpResponder {
        socket: socket.clone(),
        dst: src,
        limiter: limiter.cloned(),
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
            if let Ok((_, mut bytes)) = encode(response)
                && responder.admit(&mut bytes)
            {
                responder.send_now(&bytes);
            }
            None
        }
    }
}

/// Whether a response can go to `src` (not port 0, not an unspecified or broadcast address).
pub(super) fn can_answer(src: SocketAddr) -> bool {
    if src.port() == 0 {
        return false;
    }
    match src.ip() {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unspecified(),
    }
}

/// Encodes a response within the payload size the client advertised (512 bytes without
/// EDNS): encoded whole, then cut at record boundaries (`fit.rs`), so the datagram holds only
/// whole counted records, keeps its OPT record, and has TC set only when answer data was
/// dropped.
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
    let limit = response
        .edns()
        .map_or(PLAIN_PAYLOAD, |e| e.max_payload().max(PLAIN_PAYLOAD));
    let mut bytes = Vec::with_capacity(usize::from(PLAIN_PAYLOAD));
    let mut encoder = BinEncoder::new(&mut bytes);
    let info = response
        .destructive_emit(&mut encoder)
        .map_err(|err| (id, err))?;
    let Some(fitted) = super::fit::fit(&mut bytes, usize::from(limit)) else {
        return Err((
            id,
            ProtoError::Message("response cannot be cut to the payload limit"),
        ));
    };
    if fitted.dropped == 0 {
        return Ok((info, bytes));
    }
    debug!(
        dropped = fitted.dropped,
        truncated = fitted.truncated,
        "udp response cut to {limit} bytes"
    );
    let header = Header::read(&mut BinDecoder::new(&bytes)).map_err(|err| (id, err.into()))?;
    Ok((ResponseInfo::from(header), bytes))
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

/// Writes one response to the client's address on the shared socket, through the rate
/// limiter when there is one.
#[derive(Clone)]
struct UdpResponder {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
    limiter: Option<Arc<RateLimiter>>,
}

impl UdpResponder {
    /// Whether `bytes` go out (possibly cut to a truncated response) under the rate limit.
    fn admit(&self, bytes: &mut Vec<u8>) -> bool {
        self.limiter
            .as_ref()
            .is_none_or(|limiter| limiter.admit(self.dst.ip(), bytes))
    }

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
        let (info, mut bytes) = encode(response)?;
        if !self.admit(&mut bytes) {
            return Ok(info);
        }
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
