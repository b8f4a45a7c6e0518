//! Small real backends bound inside a namespace: a TCP server that greets with its own address
//! and then echoes, and a UDP server that echoes or identifies itself. Each stops on drop.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, Socket, Type};

use super::Netns;

/// How often a backend's loop looks at its stop flag.
const POLL: Duration = Duration::from_millis(POLL_MS as u64);
const POLL_MS: u16 = 20;

/// A TCP server inside a namespace. Each connection first receives one line, the server's own
/// `ip:port` followed by `\n`, then every byte it sends is echoed back; when the client
/// half-closes, the server finishes echoing and half-closes too.
#[derive(Debug)]
pub struct TcpBackend {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpBackend {
    /// Binds `addr` inside `ns` (port 0 picks one) and starts serving.
    pub fn start(ns: &Netns, addr: SocketAddr) -> io::Result<TcpBackend> {
        let listener = ns.run(|| TcpListener::bind(addr))??;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            thread::spawn(move || accept_loop(listener, addr, &stop, &accepted))
        };
        Ok(TcpBackend {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (also its greeting).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, me: SocketAddr, stop: &AtomicBool, accepted: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                // Connection threads are detached: they end when the client closes.
                thread::spawn(move || {
                    if let Err(err) = serve_tcp(stream, me) {
                        eprintln!("tcp backend {me}: {err}");
                    }
                });
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => wait_readable(&listener),
            Err(err) => {
                eprintln!("tcp backend {me}: accept: {err}");
                thread::sleep(POLL);
            }
        }
    }
}

/// Waits until `listener` has a connection to accept, or [`POLL`] passed (to see the stop flag).
fn wait_readable(listener: &TcpListener) {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    if let Err(err) = poll(&mut fds, PollTimeout::from(POLL_MS)) {
        eprintln!("tcp backend: poll: {err}");
        thread::sleep(POLL);
    }
}

fn serve_tcp(mut stream: TcpStream, me: SocketAddr) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.write_all(format!("{me}\n").as_bytes())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n])?;
    }
    stream.shutdown(Shutdown::Write)
}

/// Connects to `addr` (from the calling thread's namespace) and returns the greeting line: the
/// address of the backend that served, as a string, plus the open stream for further use.
pub fn tcp_identify(addr: SocketAddr, timeout: Duration) -> io::Result<(String, TcpStream)> {
    tcp_identify_from(None, addr, timeout)
}

/// [`tcp_identify`] from a chosen source address (e.g. the second client IP of a `Chain`).
pub fn tcp_identify_from(
    source: Option<IpAddr>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<(String, TcpStream)> {
    let stream = match source {
        None => TcpStream::connect_timeout(&addr, timeout)?,
        Some(ip) => {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.bind(&SocketAddr::new(ip, 0).into())?;
            socket.connect_timeout(&addr.into(), timeout)?;
            socket.into()
        }
    };
    stream.set_read_timeout(Some(timeout))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("connection to {addr} closed before the greeting (got {line:?})"),
        ));
    }
    // The greeting is one short line the server sends before anything else, and the client has
    // sent nothing yet, so the buffered reader cannot hold bytes past it.
    line.pop();
    Ok((line, stream))
}

/// What a [`UdpBackend`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpMode {
    /// Sends every datagram back unchanged.
    Echo,
    /// Answers every datagram with its own `ip:port`.
    Identify,
}

/// A UDP server inside a namespace (see [`UdpMode`]); stops on drop.
#[derive(Debug)]
pub struct UdpBackend {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpBackend {
    /// Binds `addr` inside `ns` (port 0 picks one) and starts answering.
    pub fn start(ns: &Netns, addr: SocketAddr, mode: UdpMode) -> io::Result<UdpBackend> {
        let socket = ns.run(|| UdpSocket::bind(addr))??;
        socket.set_read_timeout(Some(POLL))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, received) = (stop.clone(), received.clone());
            thread::spawn(move || udp_loop(socket, addr, mode, &stop, &received))
        };
        Ok(UdpBackend {
            addr,
            received,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many datagrams it received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for UdpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn udp_loop(
    socket: UdpSocket,
    me: SocketAddr,
    mode: UdpMode,
    stop: &AtomicBool,
    received: &AtomicU64,
) {
    let mut buf = vec![0u8; 65536];
    let identity = me.to_string();
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                received.fetch_add(1, Ordering::Relaxed);
                let reply = match mode {
                    UdpMode::Echo => &buf[..n],
                    UdpMode::Identify => identity.as_bytes(),
                };
                if let Err(err) = socket.send_to(reply, peer) {
                    eprintln!("udp backend {me}: send to {peer}: {err}");
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) => {
                eprintln!("udp backend {me}: {err}");
                thread::sleep(POLL);
            }
        }
    }
}

/// Sends `payload` from `socket` to `to` and waits up to `timeout` for one reply; returns the
/// reply and the address it came from (which must be the service address for a proxy).
pub fn udp_exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> io::Result<(Vec<u8>, SocketAddr)> {
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(payload, to)?;
    let mut buf = vec![0u8; 65536];
    let (n, from) = socket.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok((buf, from))
}
