//! The grpc check: one call of the gRPC health protocol (`grpc.health.v1.Health/Check`) over
//! plaintext HTTP/2, as kubelet's gRPC prober; the probe passes when the answer is `SERVING`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::Outcome;
use super::tcp::{io_reason, join_host_port};

/// Largest answer read (a health answer is a few bytes).
const MAX_ANSWER: usize = 16 * 1024;

/// A resolved grpc probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTarget {
    /// Host (the Pod's IP).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The `service` of the HealthCheckRequest (empty: the server's overall health).
    pub service: String,
}

/// The HealthCheckRequest message in its gRPC frame.
fn request_frame(service: &str) -> Bytes {
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a); // field 1, length-delimited
        let mut len = service.len();
        while len >= 0x80 {
            message.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        message.push(len as u8);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&message);
    Bytes::from(frame)
}

/// The `status` of a HealthCheckResponse frame (0 UNKNOWN when absent).
pub(super) fn response_status(frame: &[u8]) -> Option<u64> {
    let message = frame.get(5..)?;
    let mut status = 0;
    let mut i = 0;
    while i < message.len() {
        let tag = message[i];
        i += 1;
        let (value, used) = varint(message.get(i..)?)?;
        i += used;
        match tag {
            0x08 => status = value,
            // Any other varint field is skipped; other wire types end the parse.
            t if t & 0x07 == 0 => {}
            _ => return None,
        }
    }
    Some(status)
}

fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn status_name(status: u64) -> &'static str {
    match status {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

/// Calls Check within `timeout`.
pub(super) async fn check(target: &GrpcTarget, timeout: Duration) -> Outcome {
    let address = join_host_port(&target.host, target.port);
    match tokio::time::timeout(timeout, call(target, &address)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {}s",
            timeout.as_secs()
        )),
    }
}

async fn call(target: &GrpcTarget, address: &str) -> Outcome {
    let failed =
        |why: String| Outcome::Failure(format!("failed to connect service {address:?}: {why}"));
    let tcp = match TcpStream::connect((target.host.as_str(), target.port)).await {
        Ok(tcp) => tcp,
        Err(e) => return failed(io_reason(&e)),
    };
    let (client, connection) = match h2::client::handshake(tcp).await {
        Ok(pair) => pair,
        Err(e) => return failed(e.to_string()),
    };
    let driver = tokio::spawn(connection);
    let outcome = exchange(client, target, address).await;
    driver.abort();
    outcome
}

async fn exchange(
    client: h2::client::SendRequest<Bytes>,
    target: &GrpcTarget,
    address: &str,
) -> Outcome {
    let rpc_failed = |why: String| Outcome::Failure(format!("rpc error: {why}"));
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{address}/grpc.health.v1.Health/Check"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, super::http::USER_AGENT)
        .body(());
    let Ok(request) = request else {
        return Outcome::Unknown(format!("cannot build a gRPC request for {address}"));
    };
    let mut client = match client.ready().await {
        Ok(client) => client,
        Err(e) => return rpc_failed(e.to_string()),
    };
    let (response, mut send) = match client.send_request(request, false) {
        Ok(pair) => pair,
        Err(e) => return rpc_failed(e.to_string()),
    };
    if let Err(e) = send.send_data(request_frame(&target.service), true) {
        return rpc_failed(e.to_string());
    }
    let response = match response.await {
        Ok(response) => response,
        Err(e) => return rpc_failed(e.to_string()),
    };
    let (parts, mut body) = response.into_parts();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return rpc_failed("the answer was cut off".into());
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_ANSWER {
            return rpc_failed("the answer is too large".into());
        }
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.ok().flatten();
    let grpc_status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| parts.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    if grpc_status != "0" {
        let message = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message"))
            .or_else(|| parts.headers.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        return rpc_failed(format!("code = {grpc_status} desc = {message}"));
    }
    match response_status(&data) {
        Some(1) => Outcome::Success,
        Some(status) => Outcome::Failure(format!(
            "service unhealthy (responded with {:?})",
            status_name(status)
        )),
        None => rpc_failed("the answer is not a HealthCheckResponse".into()),
    }
}
