//! One query/response exchange with one upstream over UDP or TCP (RFC 1035 §4.2, RFC 7766):
//! a fresh ephemeral socket and a random ID per query, and a reply accepted only if its ID and
//! question match. Bounded by a timeout; it never retries (the caller decides).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest datagram read from an upstream.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams with a wrong ID or question tolerated before giving up on an exchange.
const MAX_STRAY_DATAGRAMS: usize = 16;

/// Why an exchange produced no usable reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// No reply within the timeout.
    #[error("upstream {0} timed out")]
    Timeout(SocketAddr),
    /// A socket operation failed.
    #[error("upstream {upstream} {phase}: {source}")]
    Io {
        /// The upstream.
        upstream: SocketAddr,
        /// What was being done: bind, connect, send, receive.
        phase: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The reply could not be decoded or does not answer the question.
    #[error("upstream {upstream} sent a bad reply: {reason}")]
    BadReply {
        /// The upstream.
        upstream: SocketAddr,
        /// What is wrong with it.
        reason: String,
    },
}

/// True when `reply` answers `request` (same ID, a response, the same question).
fn matches(request: &Message, reply: &Message) -> bool {
    reply.metadata.id == request.metadata.id
        && reply.metadata.message_type == MessageType::Response
        && match (request.queries.first(), reply.queries.first()) {
            (Some(asked), Some(got)) => same_question(asked, got),
            // Some servers omit the question on errors such as FORMERR; the ID must do.
            (Some(_), None) => reply.queries.is_empty(),
            _ => false,
        }
}

fn same_question(a: &Query, b: &Query) -> bool {
    a.name() == b.name() && a.query_type() == b.query_type() && a.query_class() == b.query_class()
}

/// Sends `request` (already encoded as `wire`) over UDP and waits for the matching reply.
pub(crate) async fn udp(
    upstream: SocketAddr,
    request: &Message,
    wire: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let io = |phase| {
        move |source| ExchangeError::Io {
            upstream,
            phase,
            source,
        }
    };
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io("bind"))?;
    socket.connect(upstream).await.map_err(io("connect"))?;
    let exchange = async {
        socket.send(wire).await.map_err(io("send"))?;
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        for _ in 0..MAX_STRAY_DATAGRAMS {
            let len = socket.recv(&mut buffer).await.map_err(io("receive"))?;
            let Some(datagram) = buffer.get(..len) else {
                continue;
            };
            match Message::from_vec(datagram) {
                Ok(reply) if matches(request, &reply) => return Ok(reply),
                Ok(_) => {
                    tracing::debug!(%upstream, "ignoring a reply that does not match the query")
                }
                Err(error) => {
                    tracing::debug!(%upstream, %error, "ignoring an undecodable datagram")
                }
            }
        }
        Err(ExchangeError::BadReply {
            upstream,
            reason: format!("{MAX_STRAY_DATAGRAMS} datagrams without a matching reply"),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout(upstream))?
}

/// Sends `request` over a new TCP connection (two-byte length prefix) and reads one reply.
pub(crate) async fn tcp(
    upstream: SocketAddr,
    request: &Message,
    wire: &[u8],
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let io = |phase| {
        move |source| ExchangeError::Io {
            upstream,
            phase,
            source,
        }
    };
    let length = u16::try_from(wire.len()).map_err(|_| ExchangeError::BadReply {
        upstream,
        reason: "query longer than 65535 bytes".to_owned(),
    })?;
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await.map_err(io("connect"))?;
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(wire);
        stream.write_all(&framed).await.map_err(io("send"))?;
        let mut prefix = [0u8; 2];
        stream
            .read_exact(&mut prefix)
            .await
            .map_err(io("receive"))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut body).await.map_err(io("receive"))?;
        let reply = Message::from_vec(&body).map_err(|e| ExchangeError::BadReply {
            upstream,
            reason: e.to_string(),
        })?;
        if !matches(request, &reply) {
            return Err(ExchangeError::BadReply {
                upstream,
                reason: "reply does not match the query".to_owned(),
            });
        }
        Ok(reply)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout(upstream))?
}
