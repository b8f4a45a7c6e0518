//! autopath (issue #16): a Pod's question for a name in its first search domain that does not
//! exist is answered for the first search-path expansion that does, behind a CNAME from the name
//! asked: in-zone expansions from the table, the bare name from a stub upstream. Clients that
//! are no known Pod, and names nothing resolves, get the plain answer.

use std::net::SocketAddr;
use std::sync::Arc;

use cluster_watch::ClusterState;
use dns::{DnsConfig, PodRecords};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;
use k8s_openapi::api::core::v1::Pod;

use crate::support::{
    EXCHANGE_TIMEOUT, Error, Script, Stub, TestResult, fixture, key, lines, metric, object, query,
    start,
};

/// The fixture plus a Pod in `default` at 127.0.0.1 (where the tests ask from).
fn with_client_pod() -> Result<ClusterState, Error> {
    let mut state = fixture()?;
    let pod: Arc<Pod> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "client"},
        "status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}
    }))?;
    state.pods.insert(key(&pod.metadata), pod);
    Ok(state)
}

fn autopath(upstream: SocketAddr) -> DnsConfig {
    DnsConfig {
        upstreams: vec![upstream],
        pod_records: PodRecords::Verified,
        autopath: true,
        ..DnsConfig::default()
    }
}

/// One question over UDP from `from` (an address on loopback).
async fn ask_from(
    from: &str,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Result<Message, Error> {
    let socket = tokio::net::UdpSocket::bind(from).await?;
    socket.connect(server).await?;
    socket.send(&query(7, name, qtype, None)?.to_vec()?).await?;
    let mut buffer = vec![0u8; 65_535];
    let len = tokio::time::timeout(EXCHANGE_TIMEOUT, socket.recv(&mut buffer)).await??;
    Ok(Message::from_bytes(&buffer[..len])?)
}

fn cname(owner: &str, target: &str) -> String {
    format!("{owner} CNAME {target}")
}

async fn stub() -> Result<Stub, Error> {
    let zone = Name::from_ascii("example.")?;
    let soa = SOA::new(zone.clone(), zone, 1, 3600, 600, 86_400, 30);
    Stub::start(vec![
        (
            "www.example.org.",
            RecordType::A,
            Script::Answer(vec![Record::from_rdata(
                Name::from_ascii("www.example.org.")?,
                60,
                RData::A(A([192, 0, 2, 80].into())),
            )]),
        ),
        (
            "nothing.example.",
            RecordType::A,
            Script::NxDomain(Box::new(Record::from_rdata(
                Name::from_ascii("example.")?,
                30,
                RData::SOA(soa),
            ))),
        ),
    ])
    .await
}

#[tokio::test]
async fn a_service_of_another_namespace_is_found_in_one_round_trip() -> TestResult {
    let upstream = stub().await?;
    let running = start(with_client_pod()?, autopath(upstream.addr)).await?;
    let asked = "web.other.default.svc.cluster.local.";
    let reply = ask_from("127.0.0.1:0", running.addr(), asked, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        lines(&reply.answers),
        [
            cname(asked, "web.other.svc.cluster.local."),
            "web.other.svc.cluster.local. A 10.96.1.10".to_owned(),
        ]
    );
    // The CNAME comes first, so a stub resolver follows it.
    assert_eq!(
        reply.answers.first().map(Record::record_type),
        Some(RecordType::CNAME)
    );
    assert_eq!(upstream.udp_count(), 0, "nothing went upstream");
    let text = running.server.metrics_text();
    assert_eq!(
        metric(&text, "switchyard_dns_autopath_success_total"),
        Some(1)
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_outside_name_is_answered_from_upstream_behind_the_cname() -> TestResult {
    let upstream = stub().await?;
    let running = start(with_client_pod()?, autopath(upstream.addr)).await?;
    let asked = "www.example.org.default.svc.cluster.local.";
    let reply = ask_from("127.0.0.1:0", running.addr(), asked, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&reply.answers),
        [
            "www.example.org. A 192.0.2.80".to_owned(),
            cname(asked, "www.example.org."),
        ]
    );
    assert_eq!(
        reply.answers.first().map(Record::record_type),
        Some(RecordType::CNAME)
    );
    // Only the bare name went upstream: the in-zone expansions are the table's.
    assert_eq!(upstream.udp_count(), 1);
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn names_nothing_resolves_and_strangers_get_the_plain_answer() -> TestResult {
    let upstream = stub().await?;
    let running = start(with_client_pod()?, autopath(upstream.addr)).await?;
    let asked = "nothing.example.default.svc.cluster.local.";
    let reply = ask_from("127.0.0.1:0", running.addr(), asked, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.answers.is_empty(), "{:?}", reply.answers);
    assert_eq!(upstream.udp_count(), 1, "the bare name was asked upstream");
    // 127.0.0.2 is no Pod: its question is answered as asked.
    let stranger = ask_from(
        "127.0.0.2:0",
        running.addr(),
        "web.other.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(stranger.metadata.response_code, ResponseCode::NXDomain);
    // A name outside the Pod's first search domain is never expanded.
    let other = ask_from(
        "127.0.0.1:0",
        running.addr(),
        "web.nowhere.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(other.metadata.response_code, ResponseCode::NXDomain);
    let text = running.server.metrics_text();
    assert_eq!(
        metric(&text, "switchyard_dns_autopath_success_total"),
        Some(0)
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn autopath_needs_verified_pod_records() -> TestResult {
    let config = DnsConfig {
        autopath: true,
        listen: "127.0.0.1:0".parse()?,
        ..DnsConfig::default()
    };
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(ClusterState::default()));
    let Err(error) = dns::DnsServer::start(config, rx).await else {
        return Err("autopath without verified pod records was accepted".into());
    };
    assert!(error.to_string().contains("autopath"), "{error}");
    Ok(())
}
