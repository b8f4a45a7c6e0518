//! Datagrams on wildcard UDP listeners (NodePorts on every local address): the kernel reports
//! which local address each datagram was sent to (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), and the
//! reply names that address as its source. Without this, a multi-homed node answers from
//! whichever address routing prefers, and the client, which sent to another one, drops it.
//!
//! Safe code only: nix wraps `recvmsg`/`sendmsg` and the control messages.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel to report each datagram's local address on `socket` (bound to `local`).
pub(crate) fn enable(socket: &impl AsFd, local: SocketAddr) -> io::Result<()> {
    match local {
        SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4PacketInfo, &true),
        SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true),
    }
    .map_err(io::Error::from)
}

fn std_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// One `recvmsg`: length, sender, and the local address it was sent to (when reported).
fn recv_once(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(libc::in6_pktinfo);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .as_ref()
        .and_then(std_addr)
        .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    let mut local = None;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                local = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    Ok((msg.bytes, from, local))
}

/// Receives one datagram: length, sender, and the local address it was sent to.
pub(crate) async fn recv_from(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    socket
        .async_io(Interest::READABLE, || recv_once(socket, buf))
        .await
}

/// One `sendmsg` to `to` with `local` as the source address.
fn send_once(socket: &UdpSocket, data: &[u8], to: SocketAddr, local: IpAddr) -> io::Result<usize> {
    let iov = [IoSlice::new(data)];
    let dest = SockaddrStorage::from(to);
    let send = |cmsg: &[ControlMessage]| {
        sendmsg(
            socket.as_raw_fd(),
            &iov,
            cmsg,
            MsgFlags::empty(),
            Some(&dest),
        )
    };
    let sent = match local {
        IpAddr::V4(v4) => send(&[ControlMessage::Ipv4PacketInfo(&libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(v4).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        })]),
        IpAddr::V6(v6) => send(&[ControlMessage::Ipv6PacketInfo(&libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: v6.octets(),
            },
            ipi6_ifindex: 0,
        })]),
    };
    sent.map_err(io::Error::from)
}

/// Sends `data` to `to` from `local` (or from the routing's choice when `None`).
pub(crate) async fn send_to(
    socket: &UdpSocket,
    data: &[u8],
    to: SocketAddr,
    local: Option<IpAddr>,
) -> io::Result<usize> {
    match local {
        None => socket.send_to(data, to).await,
        Some(local) => {
            socket
                .async_io(Interest::WRITABLE, || send_once(socket, data, to, local))
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wildcard_socket_learns_and_answers_from_the_local_address() -> io::Result<()> {
        let server =
            crate::userspace::socket::bind_udp("0.0.0.0:0".parse().map_err(io::Error::other)?)?;
        let port = server.local_addr()?.port();
        // 127.0.0.2 is local too (all of 127/8 is), but not what routing picks as source.
        let client = UdpSocket::bind("127.0.0.1:0").await?;
        client.send_to(b"ping", ("127.0.0.2", port)).await?;
        let mut buf = [0u8; 16];
        let (n, from, local) = recv_from(&server, &mut buf).await?;
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, client.local_addr()?);
        assert_eq!(local, Some(IpAddr::from([127, 0, 0, 2])));
        send_to(&server, b"pong", from, local).await?;
        let (n, replier) = client.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(replier, SocketAddr::from(([127, 0, 0, 2], port)));
        Ok(())
    }
}
