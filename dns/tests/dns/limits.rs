//! Resource limits and recursion control: the recursion allow list, the upstream in-flight cap
//! and the sharing of identical questions in flight (counted at a stub upstream that holds its
//! answers), and response-rate limiting (counted in responses, not time).

use std::net::SocketAddr;
use std::time::Duration;

use dns::DnsConfig;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::net::{TcpSocket, UdpSocket};

use crate::support::{
    EXCHANGE_TIMEOUT, Error, HeldStub, Script, Stub, TestResult, config, eventually, fixture,
    metric, query, start, tcp_read, tcp_write,
};

/// A cluster name of the fixture, answered from the table.
const CLUSTER_NAME: &str = "web.default.svc.cluster.local.";

/// How long a test waits for a datagram it does not expect to come.
const QUIET: Duration = Duration::from_millis(500);

/// A UDP socket bound to `local` and connected to the server.
async fn client_from(local: &str, server: SocketAddr) -> Result<UdpSocket, Error> {
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    Ok(socket)
}

/// Sends one A query with `id` for `name`.
async fn send(socket: &UdpSocket, id: u16, name: &str) -> Result<(), Error> {
    send_type(socket, id, name, RecordType::A).await
}

/// Sends one query with `id` for `name` and `qtype`.
async fn send_type(
    socket: &UdpSocket,
    id: u16,
    name: &str,
    qtype: RecordType,
) -> Result<(), Error> {
    socket
        .send(&query(id, name, qtype, None)?.to_vec()?)
        .await?;
    Ok(())
}

/// The next datagram on `socket`, decoded, or `None` after `wait` of silence.
async fn next(socket: &UdpSocket, wait: Duration) -> Result<Option<Message>, Error> {
    let mut buffer = vec![0u8; 65_535];
    match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
        Ok(len) => Ok(Some(Message::from_vec(
            buffer.get(..len?).ok_or("short read")?,
        )?)),
        Err(_) => Ok(None),
    }
}

/// One A query over UDP from `local`; the reply.
async fn ask_from(local: &str, server: SocketAddr, name: &str) -> Result<Message, Error> {
    ask_type_from(local, server, name, RecordType::A).await
}

/// One query over UDP from `local`; the reply.
async fn ask_type_from(
    local: &str,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Result<Message, Error> {
    let socket = client_from(local, server).await?;
    send_type(&socket, 7, name, qtype).await?;
    next(&socket, EXCHANGE_TIMEOUT)
        .await?
        .ok_or_else(|| format!("no reply to {name} from {local}").into())
}

#[tokio::test]
async fn recursion_is_refused_to_clients_outside_the_allow_list() -> TestResult {
    let name = "acl-open.example.";
    let stub = Stub::start(vec![(
        name,
        RecordType::A,
        Script::Answer(vec![hickory_proto::rr::Record::from_rdata(
            hickory_proto::rr::Name::from_ascii(name)?,
            60,
            hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 9)),
        )]),
    )])
    .await?;
    let running = start(
        fixture()?,
        DnsConfig {
            upstreams: vec![stub.addr],
            recursion_clients: vec!["127.0.0.1/32".parse()?],
            ..config()
        },
    )
    .await?;
    let server = running.addr();

    // 127.0.0.2 is not allowed: out-of-zone is refused (UDP and TCP), the cluster is answered.
    let refused = ask_from("127.0.0.2:0", server, name).await?;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(refused.answers.is_empty());
    let cluster = ask_from("127.0.0.2:0", server, CLUSTER_NAME).await?;
    assert_eq!(cluster.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        cluster.answers.len(),
        1,
        "cluster names are answered for everyone"
    );
    let cluster_ptr = ask_type_from(
        "127.0.0.2:0",
        server,
        "10.0.96.10.in-addr.arpa.",
        RecordType::PTR,
    )
    .await?;
    assert_eq!(
        cluster_ptr.answers.len(),
        1,
        "so are reverse names of cluster addresses"
    );
    let other_ptr = ask_type_from(
        "127.0.0.2:0",
        server,
        "9.2.0.192.in-addr.arpa.",
        RecordType::PTR,
    )
    .await?;
    assert_eq!(
        other_ptr.metadata.response_code,
        ResponseCode::Refused,
        "other reverse names would be forwarded"
    );
    let tcp = TcpSocket::new_v4()?;
    tcp.bind("127.0.0.2:0".parse()?)?;
    let mut stream = tokio::time::timeout(EXCHANGE_TIMEOUT, tcp.connect(server)).await??;
    tcp_write(&mut stream, &query(8, name, RecordType::A, None)?).await?;
    let over_tcp = tcp_read(&mut stream).await?;
    assert_eq!(over_tcp.metadata.response_code, ResponseCode::Refused);
    assert_eq!(stub.udp_count(), 0, "nothing was forwarded for 127.0.0.2");

    // 127.0.0.1 is allowed.
    let allowed = ask_from("127.0.0.1:0", server, name).await?;
    assert_eq!(allowed.metadata.response_code, ResponseCode::NoError);
    assert_eq!(allowed.answers.len(), 1);
    assert_eq!(stub.udp_count(), 1);
    let metrics = running.server.metrics_text();
    assert_eq!(
        metric(&metrics, "switchyard_dns_recursion_refused_total"),
        Some(3),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn identical_misses_in_flight_share_one_upstream_query() -> TestResult {
    const BURST: u16 = 50;
    let stub = HeldStub::start().await?;
    let running = start(
        fixture()?,
        DnsConfig {
            upstreams: vec![stub.addr],
            // No cache: only sharing can keep the burst from reaching the upstream.
            cache_entries: 0,
            ..config()
        },
    )
    .await?;
    let socket = client_from("127.0.0.1:0", running.addr()).await?;
    for id in 0..BURST {
        let spelling = if id % 2 == 0 {
            "coalesce-same.example."
        } else {
            "Coalesce-SAME.example."
        };
        send(&socket, id, spelling).await?;
    }
    let shared = eventually(100, || async {
        let text = running.server.metrics_text();
        Ok(metric(&text, "switchyard_dns_upstream_coalesced_total") == Some(u64::from(BURST - 1)))
    })
    .await?;
    assert!(shared, "{}", running.server.metrics_text());
    assert_eq!(
        stub.received(),
        1,
        "one upstream query while the burst waits"
    );
    stub.release();
    let mut answered = vec![false; usize::from(BURST)];
    for _ in 0..BURST {
        let reply = next(&socket, EXCHANGE_TIMEOUT)
            .await?
            .ok_or("a reply is missing")?;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 1);
        let seen = answered
            .get_mut(usize::from(reply.metadata.id))
            .ok_or("unknown id")?;
        assert!(!*seen, "one reply per query");
        *seen = true;
    }
    assert_eq!(stub.received(), 1, "the burst cost one upstream query");
    Ok(())
}

#[tokio::test]
async fn unique_misses_beyond_the_cap_fail_fast_and_cluster_names_still_answer() -> TestResult {
    const CAP: usize = 4;
    const BURST: u16 = 20;
    let stub = HeldStub::start().await?;
    let running = start(
        fixture()?,
        DnsConfig {
            upstreams: vec![stub.addr],
            max_upstream_inflight: CAP,
            ..config()
        },
    )
    .await?;
    let socket = client_from("127.0.0.1:0", running.addr()).await?;
    for id in 0..BURST {
        send(&socket, id, &format!("cap-unique-{id}.example.")).await?;
    }
    // Everything beyond the cap is answered SERVFAIL at once, while the upstream holds the rest.
    let mut servfails = 0;
    for _ in 0..usize::from(BURST) - CAP {
        let reply = next(&socket, EXCHANGE_TIMEOUT)
            .await?
            .ok_or("an over-cap query was not answered at once")?;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        servfails += 1;
    }
    let reached = eventually(100, || async { Ok(stub.received() >= CAP) }).await?;
    assert!(reached, "the first {CAP} queries went upstream");
    let cluster = ask_from("127.0.0.1:0", running.addr(), CLUSTER_NAME).await?;
    assert_eq!(cluster.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        cluster.answers.len(),
        1,
        "cluster names are answered at the cap"
    );
    let metrics = running.server.metrics_text();
    assert_eq!(
        metric(&metrics, "switchyard_dns_upstream_over_cap_total"),
        Some(servfails),
        "{metrics}"
    );
    assert_eq!(
        stub.received(),
        CAP,
        "upstream sockets in flight never pass the cap"
    );
    stub.release();
    let mut answered = 0;
    while let Some(reply) = next(&socket, EXCHANGE_TIMEOUT).await? {
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        answered += 1;
        if answered == CAP {
            break;
        }
    }
    assert_eq!(answered, CAP, "the held queries are answered once released");
    assert_eq!(stub.received(), CAP);
    // With the exchanges done, the cap has room again.
    let after = ask_from("127.0.0.1:0", running.addr(), "cap-after.example.").await?;
    assert_eq!(after.metadata.response_code, ResponseCode::NoError);
    Ok(())
}

/// Sends `count` queries for `name` from `socket` back to back and sorts the replies into
/// (full, truncated) until the server is quiet.
async fn burst(socket: &UdpSocket, name: &str, count: u16) -> Result<(usize, usize), Error> {
    for id in 0..count {
        send(socket, id, name).await?;
    }
    let (mut full, mut truncated) = (0, 0);
    for _ in 0..count {
        let Some(reply) = next(socket, QUIET).await? else {
            break;
        };
        if reply.metadata.truncation {
            assert!(reply.answers.is_empty() && reply.queries.len() == 1);
            truncated += 1;
        } else {
            full += 1;
        }
    }
    Ok((full, truncated))
}

#[tokio::test]
async fn rate_limiting_drops_and_slips_above_the_rate() -> TestResult {
    const RATE: u32 = 5;
    const COUNT: u16 = 100;
    let running = start(
        fixture()?,
        DnsConfig {
            rrl_responses_per_second: RATE,
            ..config()
        },
    )
    .await?;
    // The fast path (a table answer) and the general path (REFUSED: no upstreams), each from
    // its own /24.
    let fast = client_from("127.0.5.1:0", running.addr()).await?;
    let (full, truncated) = burst(&fast, CLUSTER_NAME, COUNT).await?;
    assert!(
        full >= RATE as usize,
        "the burst allowance is answered: {full}"
    );
    assert!(truncated > 0, "some limited responses slip");
    assert!(
        full + truncated < usize::from(COUNT),
        "some are dropped: {full} + {truncated}"
    );
    let general = client_from("127.0.6.1:0", running.addr()).await?;
    let (full_general, truncated_general) = burst(&general, "rrl-out.example.", COUNT).await?;
    assert!(full_general >= RATE as usize);
    assert!(truncated_general > 0);
    assert!(full_general + truncated_general < usize::from(COUNT));

    let metrics = running.server.metrics_text();
    let dropped = metric(
        &metrics,
        "switchyard_dns_rate_limited_total{action=\"drop\"}",
    );
    let slipped = metric(
        &metrics,
        "switchyard_dns_rate_limited_total{action=\"slip\"}",
    );
    let limited = 2 * usize::from(COUNT) - full - full_general;
    assert_eq!(
        slipped,
        Some(u64::try_from(truncated + truncated_general)?),
        "{metrics}"
    );
    assert_eq!(
        dropped.zip(slipped).map(|(d, s)| d + s),
        Some(u64::try_from(limited)?),
        "{metrics}"
    );
    // Another network is not limited by them.
    let other = ask_from("127.0.7.1:0", running.addr(), CLUSTER_NAME).await?;
    assert!(!other.metadata.truncation && other.answers.len() == 1);
    Ok(())
}
