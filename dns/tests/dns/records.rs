//! Spec records over UDP and TCP, question case, EDNS and truncation, refusals, readiness.

use std::sync::Arc;

use cluster_watch::ClusterState;
use hickory_proto::op::{MessageType, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::net::TcpStream;

use crate::support::{
    TestResult, Transport, ask, client, config, fixture, lines, object, query, start, tcp_read,
    tcp_write, udp_exchange,
};

/// (name, type, rcode, sorted answer lines, SOA in authority, sorted additional lines)
type Case = (
    &'static str,
    RecordType,
    ResponseCode,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("dns-version.cluster.local.", RecordType::TXT, ResponseCode::NoError, &["dns-version.cluster.local. TXT 1.1.0"], false, &[]),
    ("web.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["web.default.svc.cluster.local. A 10.96.0.10"], false, &[]),
    ("web.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &[], true, &[]),
    ("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_http._tcp.web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."], false, &["web.default.svc.cluster.local. A 10.96.0.10"]),
    ("web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["web.default.svc.cluster.local. SRV 0 100 53 web.default.svc.cluster.local.", "web.default.svc.cluster.local. SRV 0 100 80 web.default.svc.cluster.local."], false, &["web.default.svc.cluster.local. A 10.96.0.10"]),
    ("_tcp.web.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &[], true, &[]),
    ("default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &[], true, &[]),
    ("missing.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
    ("dual.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["dual.default.svc.cluster.local. AAAA fd00::20"], false, &[]),
    ("v6only.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["v6only.default.svc.cluster.local. AAAA fd00::30"], false, &[]),
    ("v6only.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &[], true, &[]),
    ("db.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["db.default.svc.cluster.local. A 10.0.0.1", "db.default.svc.cluster.local. A 10.0.0.2"], false, &[]),
    ("db-0.db.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["db-0.db.default.svc.cluster.local. A 10.0.0.1"], false, &[]),
    ("10-0-0-3.db.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
    ("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV, ResponseCode::NoError, &["_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 10-0-0-2.db.default.svc.cluster.local.", "_pg._tcp.db.default.svc.cluster.local. SRV 0 50 5432 db-0.db.default.svc.cluster.local."], false, &["10-0-0-2.db.default.svc.cluster.local. A 10.0.0.2", "db-0.db.default.svc.cluster.local. A 10.0.0.1"]),
    ("fd00-1--5.db6.default.svc.cluster.local.", RecordType::AAAA, ResponseCode::NoError, &["fd00-1--5.db6.default.svc.cluster.local. AAAA fd00:1::5"], false, &[]),
    ("etcd-0.warming.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["etcd-0.warming.default.svc.cluster.local. A 10.0.1.1"], false, &[]),
    ("cold.default.svc.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),
    ("ext.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["ext.default.svc.cluster.local. CNAME www.example.org."], false, &[]),
    ("alias.default.svc.cluster.local.", RecordType::A, ResponseCode::NoError, &["alias.default.svc.cluster.local. CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. A 10.96.0.10"], false, &[]),
    ("10.0.96.10.in-addr.arpa.", RecordType::PTR, ResponseCode::NoError, &["10.0.96.10.in-addr.arpa. PTR web.default.svc.cluster.local."], false, &[]),
    ("1.0.0.10.in-addr.arpa.", RecordType::PTR, ResponseCode::NoError, &["1.0.0.10.in-addr.arpa. PTR db-0.db.default.svc.cluster.local."], false, &[]),
    ("10-244-0-5.default.pod.cluster.local.", RecordType::A, ResponseCode::NXDomain, &[], true, &[]),

];

#[tokio::test]
async fn spec_records_over_udp_and_tcp() -> TestResult {
    let running = start(fixture()?, config()).await?;
    assert!(running.server.ready());
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut client = client(running.addr(), transport).await?;
        for (name, qtype, rcode, answers, soa, additional) in CASES {
            let reply = ask(&mut client, name, *qtype).await?;
            let what = format!("{transport:?} {name} {qtype}");
            assert_eq!(reply.metadata.response_code, *rcode, "{what}");
            assert!(reply.metadata.authoritative, "{what}: AA");
            assert_eq!(lines(&reply.answers), answers.to_vec(), "{what}: answers");
            let authority: Vec<RecordType> =
                reply.authorities.iter().map(|r| r.record_type()).collect();
            let expected: Vec<RecordType> = if *soa { vec![RecordType::SOA] } else { vec![] };
            assert_eq!(authority, expected, "{what}: authority");
            assert_eq!(
                lines(&reply.additionals),
                additional.to_vec(),
                "{what}: additional"
            );
        }
    }
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn question_case_is_echoed() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let asked = "WeB.DeFault.svc.Cluster.LOCAL.";
    let reply = udp_exchange(running.addr(), &query(0x1234, asked, RecordType::A, None)?).await?;
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(
        reply.queries.first().map(|q| q.name().to_ascii()),
        Some(asked.to_owned())
    );
    assert_eq!(
        reply.answers.first().map(|r| r.name.to_ascii()),
        Some(asked.to_owned())
    );
    let missing = "NoSuch.Default.SVC.cluster.local.";
    let reply = udp_exchange(running.addr(), &query(7, missing, RecordType::A, None)?).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        reply.queries.first().map(|q| q.name().to_ascii()),
        Some(missing.to_owned())
    );
    running.server.shutdown().await;
    Ok(())
}

/// A headless service with `count` ready endpoints 10.1.x.y.
fn big_headless(count: usize) -> Result<ClusterState, crate::support::Error> {
    let mut state = fixture()?;
    let service: Arc<Service> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "big"},
        "spec": {"clusterIP": "None"}
    }))?;
    let endpoints: Vec<serde_json::Value> = (0..count)
        .map(|i| serde_json::json!({"addresses": [format!("10.1.{}.{}", i / 250, i % 250 + 1)]}))
        .collect();
    let slice: Arc<EndpointSlice> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "big-1", "labels": {"kubernetes.io/service-name": "big"}},
        "addressType": "IPv4",
        "endpoints": endpoints
    }))?;
    state
        .services
        .insert(crate::support::key(&service.metadata), service);
    state
        .endpoint_slices
        .insert(crate::support::key(&slice.metadata), slice);
    Ok(state)
}

#[tokio::test]
async fn edns_is_echoed_and_udp_answers_truncate() -> TestResult {
    let running = start(big_headless(100)?, config()).await?;
    let name = "big.default.svc.cluster.local.";
    // No EDNS: 512 bytes, so 100 A records (16 bytes each at least) cannot fit.
    let plain = udp_exchange(running.addr(), &query(1, name, RecordType::A, None)?).await?;
    assert!(plain.metadata.truncation, "TC without EDNS");
    assert!(plain.answers.len() < 100);
    assert!(plain.edns.is_none(), "no OPT when none was sent");
    // EDNS 4096: everything fits, OPT echoed with our payload size.
    let edns = udp_exchange(running.addr(), &query(2, name, RecordType::A, Some(4096))?).await?;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 100);
    assert_eq!(edns.edns.as_ref().map(|e| e.max_payload()), Some(4096));
    // TCP: no limit.
    let mut stream = TcpStream::connect(running.addr()).await?;
    tcp_write(&mut stream, &query(3, name, RecordType::A, None)?).await?;
    let tcp = tcp_read(&mut stream).await?;
    assert_eq!(
        (tcp.metadata.id, tcp.answers.len(), tcp.metadata.truncation),
        (3, 100, false)
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn tcp_connection_carries_pipelined_queries() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let mut stream = TcpStream::connect(running.addr()).await?;
    let names = [
        "web.default.svc.cluster.local.",
        "dual.default.svc.cluster.local.",
        "db.default.svc.cluster.local.",
    ];
    for (id, name) in names.iter().enumerate() {
        tcp_write(
            &mut stream,
            &query(100 + u16::try_from(id)?, name, RecordType::A, None)?,
        )
        .await?;
    }
    let mut seen = Vec::new();
    for _ in names {
        let reply = tcp_read(&mut stream).await?;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(!reply.answers.is_empty());
        seen.push(reply.metadata.id);
    }
    seen.sort();
    assert_eq!(seen, vec![100, 101, 102]);
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn transfers_and_other_opcodes_are_refused() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let mut stream = TcpStream::connect(running.addr()).await?;
    tcp_write(
        &mut stream,
        &query(9, "cluster.local.", RecordType::AXFR, None)?,
    )
    .await?;
    let axfr = tcp_read(&mut stream).await?;
    assert_eq!(
        (axfr.metadata.id, axfr.metadata.response_code),
        (9, ResponseCode::Refused)
    );
    let mut notify = query(10, "cluster.local.", RecordType::SOA, None)?;
    notify.metadata.op_code = OpCode::Notify;
    let reply = udp_exchange(running.addr(), &notify).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(reply.metadata.message_type, MessageType::Response);
    // Outside the zone with no upstreams configured: REFUSED, never a made-up answer.
    let reply = udp_exchange(
        running.addr(),
        &query(11, "example.org.", RecordType::A, None)?,
    )
    .await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn servfail_until_the_first_sync() -> TestResult {
    let mut unsynced = fixture()?;
    unsynced.synced = false;
    let running = start(unsynced, config()).await?;
    assert!(!running.server.ready());
    let name = "web.default.svc.cluster.local.";
    let reply = udp_exchange(running.addr(), &query(1, name, RecordType::A, None)?).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let reverse = udp_exchange(
        running.addr(),
        &query(2, "9.9.9.9.in-addr.arpa.", RecordType::PTR, None)?,
    )
    .await?;
    assert_eq!(
        reverse.metadata.response_code,
        ResponseCode::ServFail,
        "no upstream NXDOMAIN before sync"
    );
    running.publish(fixture()?);
    let addr = running.addr();
    let answered = crate::support::eventually(100, || async move {
        let reply = udp_exchange(addr, &query(3, name, RecordType::A, None)?).await?;
        Ok(reply.metadata.response_code == ResponseCode::NoError)
    })
    .await?;
    assert!(answered, "answers once synced");
    assert!(running.server.ready());
    assert!(
        running
            .server
            .metrics_text()
            .contains("switchyard_dns_ready 1")
    );
    assert!(running.server.metrics_text().contains(
        "switchyard_dns_requests_total{source=\"zone\",qtype=\"A\",rcode=\"SERVFAIL\"} "
    ));
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_dropped_server_releases_its_port() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let addr = running.addr();
    let reply = udp_exchange(
        addr,
        &query(1, "web.default.svc.cluster.local.", RecordType::A, None)?,
    )
    .await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    drop(running);
    let released = crate::support::eventually(100, || async move {
        Ok(std::net::TcpListener::bind(addr).is_ok() && std::net::UdpSocket::bind(addr).is_ok())
    })
    .await?;
    assert!(released, "UDP and TCP ports are free after drop");
    Ok(())
}
