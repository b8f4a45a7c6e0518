//! End-to-end tests of the userspace proxy: a client namespace talks through a node namespace
//! running the proxy to real backends in a backend namespace (see `support`).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::{Chain, TcpBackend, UdpBackend, UdpMode, tcp_identify, udp_exchange};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(5);

/// The support topology itself routes client → backend through the node, both families.
#[test]
fn support_chain_routes_client_to_backends() -> TestResult {
    if !support::require_root("support_chain_routes_client_to_backends") {
        return Ok(());
    }
    let chain = Chain::new("chain", 1, 2)?;
    for v4 in [true, false] {
        let ip = chain.backend_ip(1, v4).ok_or("no backend ip")?;
        let tcp = TcpBackend::start(&chain.backend, SocketAddr::new(ip, 0))?;
        let udp = UdpBackend::start(&chain.backend, SocketAddr::new(ip, 0), UdpMode::Identify)?;
        let target = tcp.addr();
        let (greeting, _stream) = chain.client.run(move || tcp_identify(target, WAIT))??;
        assert_eq!(greeting, target.to_string());
        assert_eq!(tcp.accepted(), 1);
        let client = chain.client_ip(0, v4).ok_or("no client ip")?;
        let target = udp.addr();
        let (reply, from) = chain.client.run(move || {
            let socket = UdpSocket::bind(SocketAddr::new(client, 0))?;
            udp_exchange(&socket, target, b"hello", WAIT)
        })??;
        assert_eq!(from, target);
        assert_eq!(reply, target.to_string().as_bytes());
    }
    Ok(())
}
