//! Listening sockets for service addresses, built with `socket2`: `SO_REUSEADDR`, free-bind (so
//! a ClusterIP can be bound before its address is on the interface), `IPV6_V6ONLY`, a deep
//! accept backlog, `TCP_NODELAY` inherited by accepted connections. It never accepts or
//! forwards anything.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

/// Accept queue length of each TCP listener.
const BACKLOG: i32 = 1024;

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
        #[cfg(target_os = "linux")]
        socket.set_freebind_v6(true)?;
    } else {
        #[cfg(target_os = "linux")]
        socket.set_freebind_v4(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A TCP listener on `addr`, with `TCP_NODELAY` for the connections it accepts (they inherit
/// it, so serving one costs no `setsockopt`). Must be called inside a tokio runtime.
pub(crate) fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_tcp_nodelay(true)?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// A UDP socket on `addr`; on a wildcard address it also reports each datagram's local
/// address (`super::pktinfo`), so replies can come from it. Must be called inside a tokio
/// runtime.
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    if addr.ip().is_unspecified() {
        super::pktinfo::enable(&socket, addr)?;
    }
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_inherit_nodelay() -> io::Result<()> {
        let listener = bind_tcp("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
        let (accepted, _) = listener.accept().await?;
        assert!(accepted.nodelay()?, "accepted socket lacks TCP_NODELAY");
        assert!(
            !client.nodelay()?,
            "the connecting side is not the listener's"
        );
        Ok(())
    }
}
