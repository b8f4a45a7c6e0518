//! Malformed packets: FORMERR or silence, never a crash, and the server keeps serving.

use std::time::Duration;

use dns::{DnsConfig, DnsHandler, NameTable, TableOptions};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_server::net::xfer::Protocol;
use proptest::prelude::*;

use crate::support::{TestResult, config, fixture, query, start, udp_exchange, udp_raw};

const HEADER_ONE_QUESTION: [u8; 12] = [0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];

fn packet(body: &[u8]) -> Vec<u8> {
    let mut bytes = HEADER_ONE_QUESTION.to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn malformed_packets_get_formerr_or_nothing() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let addr = running.addr();
    let wait = Duration::from_millis(500);

    // Shorter than a header: dropped.
    assert_eq!(udp_raw(addr, &[1, 2, 3, 4, 5], wait).await?, None);

    let formerr_cases: Vec<(&str, Vec<u8>)> = vec![
        ("question cut short", packet(&[3, b'w', b'e'])),
        ("count says one question, none present", packet(&[])),
        (
            "compression pointer to itself",
            packet(&[0xC0, 12, 0, 1, 0, 1]),
        ),
        (
            "label longer than 63",
            packet(&[0x40, b'a', b'b', 0, 0, 1, 0, 1]),
        ),
        ("reserved label type", packet(&[0x80, b'a', 0, 0, 1, 0, 1])),
        (
            "compression pointer into the header",
            packet(&[0xC0, 2, 0, 1, 0, 1]),
        ),
    ];
    let mut formerr = 0;
    for (what, bytes) in formerr_cases {
        let reply = udp_raw(addr, &bytes, Duration::from_secs(5)).await?;
        if let Some(reply) = reply {
            let message = Message::from_vec(&reply)?;
            assert_eq!(message.metadata.id, 0xABCD, "{what}");
            assert_eq!(
                message.metadata.response_code,
                ResponseCode::FormErr,
                "{what}"
            );
            assert!(message.answers.is_empty(), "{what}");
            formerr += 1;
        } else {
            eprintln!("{what}: no reply");
        }
    }
    // With a readable header, the server explains itself rather than staying silent.
    assert_eq!(formerr, 6);
    // Two questions in one message.
    let mut two = query(3, "web.default.svc.cluster.local.", RecordType::A, None)?;
    two.add_query(hickory_proto::op::Query::query(
        hickory_proto::rr::Name::from_ascii("db.default.svc.cluster.local.")?,
        RecordType::A,
    ));
    let reply = udp_exchange(addr, &two).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);

    // A response sent to the server is not answered (no reflection).
    let mut response = query(4, "web.default.svc.cluster.local.", RecordType::A, None)?;
    response.metadata.message_type = hickory_proto::op::MessageType::Response;
    assert_eq!(udp_raw(addr, &response.to_vec()?, wait).await?, None);

    // Still serving.
    let reply = udp_exchange(
        addr,
        &query(5, "web.default.svc.cluster.local.", RecordType::A, None)?,
    )
    .await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 1);
    running.server.shutdown().await;
    Ok(())
}

fn handler() -> Result<DnsHandler, crate::support::Error> {
    let options = TableOptions::from_config(&DnsConfig::default())?;
    Ok(DnsHandler::for_table(NameTable::build(
        &fixture()?,
        options,
    )))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Arbitrary bytes after a valid header never panic the handler, and any reply decodes.
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let handler = handler().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let src = "127.0.0.1:5353".parse().map_err(|_| TestCaseError::fail("addr"))?;
        let raw = packet(&body);
        if let Some(reply) = runtime.block_on(handler.respond_to_bytes(&raw, src, Protocol::Udp)) {
            let message = Message::from_vec(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(message.metadata.id, 0xABCD);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Whole arbitrary messages, as UDP and TCP would deliver them: no panic, and a reply, if
    /// any, decodes and keeps the request's ID.
    #[test]
    fn arbitrary_messages_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let handler = handler().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let src = "127.0.0.1:5353".parse().map_err(|_| TestCaseError::fail("addr"))?;
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            if let Some(reply) = runtime.block_on(handler.respond_to_bytes(&raw, src, protocol)) {
                let message = Message::from_vec(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(message.metadata.id, u16::from_be_bytes([raw[0], raw[1]]));
            }
        }
    }
}

/// Labels that spell cluster names, reverse names and near misses.
const VOCABULARY: &[&str] = &[
    "web",
    "WeB",
    "db",
    "db-0",
    "10-0-0-2",
    "default",
    "svc",
    "cluster",
    "local",
    "pod",
    "_tcp",
    "_http",
    "_pg",
    "10",
    "0",
    "96",
    "in-addr",
    "arpa",
    "ip6",
    "dns-version",
    "*",
    "x",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Well-formed questions about names near the cluster's: every reply decodes, keeps the ID
    /// and the question, and in-zone answers are authoritative NOERROR/NXDOMAIN (or REFUSED
    /// for transfers and non-IN classes), never SERVFAIL once synced.
    #[test]
    fn questions_near_the_zone_get_consistent_answers(
        labels in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..7),
        suffix in proptest::bool::ANY,
        qtype in any::<u16>(),
        qclass in proptest::sample::select(vec![1u16, 3, 255, 254]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let handler = handler().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let src = "127.0.0.1:5353".parse().map_err(|_| TestCaseError::fail("addr"))?;
        let mut text = labels.join(".");
        if suffix {
            text.push_str(if text.is_empty() { "cluster.local" } else { ".cluster.local" });
        }
        text.push('.');
        let name = hickory_proto::rr::Name::from_ascii(&text)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut question = hickory_proto::op::Query::query(name.clone(), RecordType::from(qtype));
        question.set_query_class(hickory_proto::rr::DNSClass::from(qclass));
        let mut message = Message::new(0x5151, hickory_proto::op::MessageType::Query, hickory_proto::op::OpCode::Query);
        message.add_query(question);
        let raw = message.to_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reply = runtime
            .block_on(handler.respond_to_bytes(&raw, src, Protocol::Udp))
            .ok_or_else(|| TestCaseError::fail("no reply"))?;
        let reply = Message::from_vec(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reply.metadata.id, 0x5151);
        prop_assert_eq!(reply.queries.len(), 1);
        prop_assert!(reply.queries[0].name().eq_case(&name));
        let zone = hickory_proto::rr::Name::from_ascii("cluster.local.")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if zone.zone_of(&name) {
            let rcode = reply.metadata.response_code;
            prop_assert!(
                matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain | ResponseCode::Refused | ResponseCode::FormErr | ResponseCode::NotImp),
                "{} {} -> {}", text, qtype, rcode
            );
            if matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
                prop_assert!(reply.metadata.authoritative);
                prop_assert!(!reply.answers.is_empty() || reply.authorities.len() == 1, "negative answers carry the SOA");
            }
        }
    }
}
