//! A minimal DNS stub for readiness checks and the API-change-to-answer timer: encodes one
//! question, sends it over UDP to a loopback server and reads the rcode and answer count.
//! Measurement traffic itself goes through dnsperf, not this.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Record types the benchmark asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    /// IPv4 address.
    A = 1,
    /// Reverse pointer.
    Ptr = 12,
    /// Service location.
    Srv = 33,
}

/// The parts of a reply the benchmark checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Response code (0 NOERROR, 3 NXDOMAIN).
    pub rcode: u8,
    /// Answer records.
    pub answers: u16,
}

/// Encodes a recursion-desired query for `name`/`qtype` with `id`.
pub fn encode_query(id: u16, name: &str, qtype: QType) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .with_context(|| format!("bad label {label:?} in {name:?}"))?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&(qtype as u16).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    Ok(out)
}

/// Reads id, rcode and answer count from a reply header.
pub fn decode_reply(id: u16, buf: &[u8]) -> anyhow::Result<Reply> {
    anyhow::ensure!(
        buf.len() >= 12,
        "reply shorter than a header ({} bytes)",
        buf.len()
    );
    let got = u16::from_be_bytes([buf[0], buf[1]]);
    anyhow::ensure!(got == id, "reply id {got} does not match query id {id}");
    anyhow::ensure!(buf[2] & 0x80 != 0, "not a response");
    Ok(Reply {
        rcode: buf[3] & 0x0f,
        answers: u16::from_be_bytes([buf[6], buf[7]]),
    })
}

/// One query over UDP with a timeout.
pub fn query(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
) -> anyhow::Result<Reply> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("binding a UDP socket")?;
    socket.set_read_timeout(Some(timeout))?;
    let id = (Instant::now().elapsed().subsec_nanos() & 0xffff) as u16 ^ 0x5a5a;
    socket.send_to(&encode_query(id, name, qtype)?, server)?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).context("no DNS reply")?;
    decode_reply(id, &buf[..n])
}

/// Polls `name` every millisecond until it has an answer; returns how long that took.
pub fn wait_for_answer(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(r) = query(server, name, qtype, Duration::from_millis(100))
            && r.rcode == 0
            && r.answers > 0
        {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    anyhow::bail!("{name} not answered by {server} within {limit:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wire_format() -> anyhow::Result<()> {
        let q = encode_query(0x1234, "a.bc.", QType::Srv)?;
        assert_eq!(
            q,
            vec![
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 33, 0, 1
            ]
        );
        assert!(encode_query(1, "a..b", QType::A).is_err());
        Ok(())
    }

    #[test]
    fn reply_header_is_checked() -> anyhow::Result<()> {
        let reply = [0x12, 0x34, 0x84, 0x03, 0, 1, 0, 2, 0, 0, 0, 0];
        assert_eq!(
            decode_reply(0x1234, &reply)?,
            Reply {
                rcode: 3,
                answers: 2
            }
        );
        assert!(decode_reply(0x9999, &reply).is_err());
        assert!(decode_reply(0x1234, &reply[..5]).is_err());
        Ok(())
    }

    #[test]
    fn real_udp_round_trip_on_loopback() -> anyhow::Result<()> {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let addr = server.local_addr()?;
        let t = std::thread::spawn(move || -> anyhow::Result<()> {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf)?;
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            reply[3] = 3;
            server.send_to(&reply, from)?;
            Ok(())
        });
        let r = query(
            addr,
            "missing.cluster.local",
            QType::A,
            Duration::from_secs(5),
        )?;
        assert_eq!(
            r,
            Reply {
                rcode: 3,
                answers: 0
            }
        );
        t.join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        Ok(())
    }
}
