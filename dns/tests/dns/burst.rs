//! Many datagrams at once: the UDP loop reads and answers them by the batch, and every query
//! gets exactly its own answer, whichever path (pre-encoded or hickory) answers it.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;

use crate::support::{EXCHANGE_TIMEOUT, TestResult, config, fixture, query, start};

/// (name, type, rcode, answers): an A hit, NXDOMAIN and PTR take the pre-encoded path, a
/// CNAME chain the hickory one.
const KINDS: [(&str, RecordType, ResponseCode, usize); 4] = [
    (
        "web.default.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NoError,
        1,
    ),
    (
        "missing.default.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NXDomain,
        0,
    ),
    (
        "10.0.96.10.in-addr.arpa.",
        RecordType::PTR,
        ResponseCode::NoError,
        1,
    ),
    (
        "alias.default.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NoError,
        2,
    ),
];

/// Queries sent back to back: more than one batch, few enough for the default socket buffers.
const QUERIES: u16 = 100;

#[tokio::test]
async fn a_burst_of_mixed_queries_gets_every_answer_once() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(running.addr()).await?;
    let kind = |id: u16| KINDS.get(usize::from(id) % KINDS.len()).ok_or("no kind");
    for id in 0..QUERIES {
        let (name, qtype, ..) = kind(id)?;
        socket
            .send(&query(id, name, *qtype, None)?.to_vec()?)
            .await?;
    }
    let mut answered = vec![false; usize::from(QUERIES)];
    let mut buffer = vec![0u8; 4096];
    while answered.contains(&false) {
        let len = tokio::time::timeout(EXCHANGE_TIMEOUT, socket.recv(&mut buffer)).await??;
        let reply = Message::from_vec(buffer.get(..len).ok_or("short read")?)?;
        let id = reply.metadata.id;
        let (name, qtype, rcode, answers) = kind(id)?;
        let what = format!("id {id}: {name} {qtype}");
        let seen = answered.get_mut(usize::from(id)).ok_or("unknown id")?;
        assert!(!*seen, "{what}: answered twice");
        *seen = true;
        assert_eq!(reply.metadata.response_code, *rcode, "{what}");
        assert_eq!(reply.answers.len(), *answers, "{what}: answers");
        assert_eq!(
            reply.queries.first().map(|q| q.name().to_ascii()),
            Some((*name).to_owned()),
            "{what}: question"
        );
    }
    running.server.shutdown().await;
    Ok(())
}
