//! ExternalName Services (issue #16): the CNAME followed by the target's records from a stub
//! upstream on loopback (through the cache), the CNAME alone when the upstream fails, in-zone
//! targets from the table, and CNAME loops cut.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use cluster_watch::ClusterState;
use dns::DnsConfig;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use k8s_openapi::api::core::v1::Service;

use crate::support::{
    EXCHANGE_TIMEOUT, Error, Script, Stub, TestResult, Transport, ask, client, config, fixture,
    key, lines, object, query, silent_upstream, start, udp_raw,
};

/// `ext.default.svc.cluster.local` is an ExternalName for `www.example.org` in the fixture.
const EXT: &str = "ext.default.svc.cluster.local.";

fn a_record(name: &str, ttl: u32, ip: [u8; 4]) -> Result<Record, Error> {
    Ok(Record::from_rdata(
        Name::from_ascii(name)?,
        ttl,
        RData::A(A(Ipv4Addr::from(ip))),
    ))
}

fn forwarding(upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        upstreams,
        ..config()
    }
}

/// The fixture plus ExternalName Services `name` → `target`.
fn with_external(names: &[(&str, &str)]) -> Result<ClusterState, Error> {
    let mut state = fixture()?;
    for (name, target) in names {
        let service: Arc<Service> = object(serde_json::json!({
            "metadata": {"namespace": "default", "name": name},
            "spec": {"type": "ExternalName", "externalName": target}
        }))?;
        state.services.insert(key(&service.metadata), service);
    }
    Ok(state)
}

/// One question over UDP, its reply parsed strictly (nothing after the counted records).
async fn udp_strict(addr: SocketAddr, name: &str, qtype: RecordType) -> Result<Message, Error> {
    let wire = query(31, name, qtype, None)?.to_vec()?;
    let reply = udp_raw(addr, &wire, EXCHANGE_TIMEOUT)
        .await?
        .ok_or("no UDP reply")?;
    let mut decoder = BinDecoder::new(&reply);
    let message = Message::read(&mut decoder)?;
    if !decoder.is_empty() {
        return Err(format!("{} bytes after the counted records", decoder.len()).into());
    }
    Ok(message)
}

fn cname_line(owner: &str, target: &str) -> String {
    format!("{owner} CNAME {target}")
}

#[tokio::test]
async fn the_target_is_resolved_upstream_after_the_cname() -> TestResult {
    let stub = Stub::start(vec![(
        "www.example.org.",
        RecordType::A,
        Script::Answer(vec![
            a_record("www.example.org.", 60, [192, 0, 2, 80])?,
            a_record("www.example.org.", 60, [192, 0, 2, 81])?,
        ]),
    )])
    .await?;
    let running = start(fixture()?, forwarding(vec![stub.addr])).await?;
    let reply = udp_strict(running.addr(), EXT, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative && reply.metadata.recursion_available);
    // The CNAME first, then the target's records.
    assert_eq!(
        reply.answers.first().map(|r| &r.data),
        Some(&RData::CNAME(CNAME(Name::from_ascii("www.example.org.")?)))
    );
    assert_eq!(
        lines(&reply.answers),
        [
            cname_line(EXT, "www.example.org."),
            "www.example.org. A 192.0.2.80".to_owned(),
            "www.example.org. A 192.0.2.81".to_owned(),
        ]
    );
    // The CNAME's TTL is the table's.
    assert_eq!(reply.answers.first().map(|r| r.ttl), Some(5));
    assert_eq!(stub.udp_count(), 1);
    // Over TCP too, and from the cache: the stub is not asked again.
    let mut tcp = client(running.addr(), Transport::Tcp).await?;
    let again = ask(&mut tcp, EXT, RecordType::A).await?;
    assert_eq!(lines(&again.answers), lines(&reply.answers));
    assert_eq!(stub.udp_count(), 1, "the second answer came from the cache");
    // A CNAME question is answered with the CNAME alone, without asking upstream.
    let cname = udp_strict(running.addr(), EXT, RecordType::CNAME).await?;
    assert_eq!(lines(&cname.answers), [cname_line(EXT, "www.example.org.")]);
    assert_eq!(stub.udp_count(), 1);
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_upstream_that_fails_leaves_the_cname_alone() -> TestResult {
    // Nothing listens on a port just freed: the upstream exchange fails at once.
    let closed = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let closed_addr = closed.local_addr()?;
    drop(closed);
    // SERVFAIL from a stub with no script for the name.
    let servfail = Stub::start(vec![]).await?;
    for upstream in [closed_addr, servfail.addr] {
        let running = start(fixture()?, forwarding(vec![upstream])).await?;
        let reply = udp_strict(running.addr(), EXT, RecordType::A).await?;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{upstream}"
        );
        assert_eq!(
            lines(&reply.answers),
            [cname_line(EXT, "www.example.org.")],
            "{upstream}"
        );
        assert!(reply.authorities.is_empty() && reply.additionals.is_empty());
        running.server.shutdown().await;
    }
    assert!(servfail.udp_count() >= 1, "the stub was asked");
    Ok(())
}

#[tokio::test]
async fn an_upstream_that_times_out_leaves_the_cname_alone() -> TestResult {
    let silent = silent_upstream().await?;
    let running = start(fixture()?, forwarding(vec![silent.addr])).await?;
    let mut udp = client(running.addr(), Transport::Udp).await?;
    let reply = ask(&mut udp, EXT, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(lines(&reply.answers), [cname_line(EXT, "www.example.org.")]);
    assert!(silent.received() >= 1, "the upstream was asked");
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_target_is_nxdomain_with_the_cname_and_the_target_soa() -> TestResult {
    let zone = Name::from_ascii("example.net.")?;
    let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86_400, 30);
    let stub = Stub::start(vec![(
        "gone.example.net.",
        RecordType::A,
        Script::NxDomain(Box::new(Record::from_rdata(zone, 30, RData::SOA(soa)))),
    )])
    .await?;
    let state = with_external(&[("gone", "gone.example.net")])?;
    let running = start(state, forwarding(vec![stub.addr])).await?;
    let name = "gone.default.svc.cluster.local.";
    let reply = udp_strict(running.addr(), name, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        lines(&reply.answers),
        [cname_line(name, "gone.example.net.")]
    );
    assert_eq!(
        reply.authorities.first().map(|r| r.record_type()),
        Some(RecordType::SOA)
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn in_zone_targets_come_from_the_table_and_loops_are_cut() -> TestResult {
    let stub = Stub::start(vec![]).await?;
    let state = with_external(&[
        ("ping", "pong.default.svc.cluster.local"),
        ("pong", "ping.default.svc.cluster.local"),
        ("self", "self.default.svc.cluster.local"),
    ])?;
    let running = start(state, forwarding(vec![stub.addr])).await?;
    // `alias` (fixture) → web.default.svc.cluster.local, a ClusterIP Service.
    let alias = udp_strict(
        running.addr(),
        "alias.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(
        lines(&alias.answers),
        [
            cname_line(
                "alias.default.svc.cluster.local.",
                "web.default.svc.cluster.local."
            ),
            "web.default.svc.cluster.local. A 10.96.0.10".to_owned(),
        ]
    );
    let ping = "ping.default.svc.cluster.local.";
    let pong = "pong.default.svc.cluster.local.";
    let looped = udp_strict(running.addr(), ping, RecordType::A).await?;
    assert_eq!(looped.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&looped.answers),
        [cname_line(ping, pong), cname_line(pong, ping)]
    );
    let own = "self.default.svc.cluster.local.";
    let itself = udp_strict(running.addr(), own, RecordType::A).await?;
    assert_eq!(lines(&itself.answers), [cname_line(own, own)]);
    assert_eq!(stub.udp_count(), 0, "in-zone targets never go upstream");
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn clients_without_recursion_get_the_cname_alone() -> TestResult {
    let stub = Stub::start(vec![(
        "www.example.org.",
        RecordType::A,
        Script::Answer(vec![a_record("www.example.org.", 60, [192, 0, 2, 80])?]),
    )])
    .await?;
    let config = DnsConfig {
        recursion_clients: Vec::new(),
        ..forwarding(vec![stub.addr])
    };
    let running = start(fixture()?, config).await?;
    let reply = udp_strict(running.addr(), EXT, RecordType::A).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(lines(&reply.answers), [cname_line(EXT, "www.example.org.")]);
    assert_eq!(stub.udp_count(), 0);
    running.server.shutdown().await;
    Ok(())
}
