//! The tcpSocket check: the probe passes when a TCP connection to host:port is accepted.

use std::time::Duration;

use tokio::net::TcpStream;

use super::Outcome;

/// Connects to `host:port` within `timeout`, and closes the connection at once.
pub(super) async fn check(host: &str, port: u16, timeout: Duration) -> Outcome {
    let address = join_host_port(host, port);
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(stream)) => {
            drop(stream);
            Outcome::Success
        }
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {address}: {}", io_reason(&e))),
        Err(_) => Outcome::Failure(format!("dial tcp {address}: i/o timeout")),
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(super) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why a connect failed, worded as Go's net package words the common cases.
pub(super) fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_string(),
        std::io::ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_string(),
        _ => error.to_string(),
    }
}
