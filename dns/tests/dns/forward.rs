//! Forwarding to stub upstreams on loopback: cache hits, negative caching, TC → TCP retry,
//! failover, and reverse names outside the cluster.

use std::net::Ipv4Addr;

use dns::DnsConfig;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, PTR, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::support::{
    Error, Script, Stub, TestResult, Transport, ask, client, config, fixture, query,
    silent_upstream, start, udp_exchange,
};

fn a_record(name: &str, ttl: u32, ip: [u8; 4]) -> Result<Record, Error> {
    Ok(Record::from_rdata(
        Name::from_ascii(name)?,
        ttl,
        RData::A(A(Ipv4Addr::from(ip))),
    ))
}

fn soa(zone: &str, ttl: u32, minimum: u32) -> Result<Record, Error> {
    let zone = Name::from_ascii(zone)?;
    let data = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86_400, minimum);
    Ok(Record::from_rdata(zone, ttl, RData::SOA(data)))
}

fn forwarding(upstreams: Vec<std::net::SocketAddr>) -> DnsConfig {
    DnsConfig {
        upstreams,
        ..config()
    }
}

#[tokio::test]
async fn answers_are_forwarded_and_cached() -> TestResult {
    let stub = Stub::start(vec![(
        "cached.example.",
        RecordType::A,
        Script::Answer(vec![a_record("cached.example.", 60, [192, 0, 2, 7])?]),
    )])
    .await?;
    let running = start(fixture()?, forwarding(vec![stub.addr])).await?;
    let first = udp_exchange(
        running.addr(),
        &query(41, "cached.example.", RecordType::A, Some(1232))?,
    )
    .await?;
    assert_eq!(
        (first.metadata.id, first.metadata.response_code),
        (41, ResponseCode::NoError)
    );
    assert!(first.metadata.recursion_available && !first.metadata.authoritative);
    assert_eq!(first.answers.len(), 1);
    assert_eq!(
        first.answers[0].data,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 7)))
    );
    assert!(
        first.edns.is_some(),
        "the client's OPT is answered with ours"
    );
    let spelled = "CACHED.Example.";
    let second = udp_exchange(running.addr(), &query(42, spelled, RecordType::A, None)?).await?;
    assert_eq!(second.metadata.id, 42);
    assert_eq!(second.answers.len(), 1);
    assert_eq!(
        second.answers[0].name.to_ascii(),
        spelled,
        "owner takes the asker's case"
    );
    assert_eq!(second.queries[0].name().to_ascii(), spelled);
    assert!(second.answers[0].ttl <= 60);
    assert_eq!(stub.udp_count(), 1, "second answer came from the cache");
    let metrics = running.server.metrics_text();
    assert!(
        metrics.contains("switchyard_dns_cache_hits_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_dns_cache_misses_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_dns_upstream_duration_seconds_count 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_dns_cache_entries 1\n"),
        "{metrics}"
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn negative_answers_are_cached_for_the_soa_minimum() -> TestResult {
    let stub = Stub::start(vec![(
        "missing.example.",
        RecordType::A,
        Script::NxDomain(Box::new(soa("example.", 300, 30)?)),
    )])
    .await?;
    let running = start(fixture()?, forwarding(vec![stub.addr])).await?;
    for id in [1, 2, 3] {
        let reply = udp_exchange(
            running.addr(),
            &query(id, "missing.example.", RecordType::A, None)?,
        )
        .await?;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(reply.authorities.len(), 1);
        assert!(reply.authorities[0].ttl <= 300);
    }
    assert_eq!(stub.udp_count(), 1, "NXDOMAIN cached");
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn truncated_upstream_replies_are_retried_over_tcp() -> TestResult {
    let texts: Vec<Record> = (0..40)
        .map(|i| {
            Ok(Record::from_rdata(
                Name::from_ascii("big.example.")?,
                60,
                RData::TXT(TXT::new(vec![format!("{i:03}-{}", "x".repeat(60))])),
            ))
        })
        .collect::<Result<_, Error>>()?;
    let stub = Stub::start(vec![(
        "big.example.",
        RecordType::TXT,
        Script::TruncateUdp(texts),
    )])
    .await?;
    let running = start(fixture()?, forwarding(vec![stub.addr])).await?;
    let mut tcp = client(running.addr(), Transport::Tcp).await?;
    let reply = ask(&mut tcp, "big.example.", RecordType::TXT).await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 40, "full answer from the TCP retry");
    assert_eq!((stub.udp_count(), stub.tcp_count()), (1, 1));
    assert!(
        running
            .server
            .metrics_text()
            .contains("switchyard_dns_upstream_tcp_retries_total 1\n")
    );
    // Over UDP without EDNS the client gets TC from us and can retry over TCP itself.
    let udp = udp_exchange(
        running.addr(),
        &query(5, "big.example.", RecordType::TXT, None)?,
    )
    .await?;
    assert!(udp.metadata.truncation);
    assert_eq!(stub.udp_count(), 1, "served from the cache");
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn next_upstream_after_timeout_and_servfail() -> TestResult {
    let silent = silent_upstream().await?;
    let failing = Stub::start(vec![]).await?;
    let good = Stub::start(vec![(
        "www.example.",
        RecordType::A,
        Script::Answer(vec![a_record("www.example.", 30, [192, 0, 2, 80])?]),
    )])
    .await?;
    let running = start(
        fixture()?,
        forwarding(vec![silent.addr, failing.addr, good.addr]),
    )
    .await?;
    let reply = udp_exchange(
        running.addr(),
        &query(77, "www.example.", RecordType::A, None)?,
    )
    .await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!((failing.udp_count(), good.udp_count()), (1, 1));
    assert_eq!(silent.received(), 1);
    // The silent upstream is now tried last: the next question costs it nothing.
    let reply = udp_exchange(
        running.addr(),
        &query(79, "www.example.", RecordType::AAAA, None)?,
    )
    .await?;
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::ServFail,
        "no AAAA scripted anywhere"
    );
    assert_eq!((failing.udp_count(), good.udp_count()), (2, 2));
    assert_eq!(
        silent.received(),
        1,
        "a timed-out upstream is skipped while it counts as down"
    );
    // Every upstream failing: the client gets SERVFAIL, and it is not cached.
    let reply = udp_exchange(
        running.addr(),
        &query(78, "nothing.example.", RecordType::A, None)?,
    )
    .await?;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        running
            .server
            .metrics_text()
            .contains("switchyard_dns_upstream_errors_total 1\n")
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn reverse_names_outside_the_cluster_go_upstream() -> TestResult {
    let stub = Stub::start(vec![(
        "9.2.0.192.in-addr.arpa.",
        RecordType::PTR,
        Script::Answer(vec![Record::from_rdata(
            Name::from_ascii("9.2.0.192.in-addr.arpa.")?,
            60,
            RData::PTR(PTR(Name::from_ascii("host.example.")?)),
        )]),
    )])
    .await?;
    let running = start(fixture()?, forwarding(vec![stub.addr])).await?;
    let outside = udp_exchange(
        running.addr(),
        &query(1, "9.2.0.192.in-addr.arpa.", RecordType::PTR, None)?,
    )
    .await?;
    assert_eq!(outside.answers.len(), 1);
    assert_eq!(stub.udp_count(), 1);
    let inside = udp_exchange(
        running.addr(),
        &query(2, "10.0.96.10.in-addr.arpa.", RecordType::PTR, None)?,
    )
    .await?;
    assert!(inside.metadata.authoritative);
    assert_eq!(inside.answers.len(), 1);
    assert_eq!(
        stub.udp_count(),
        1,
        "cluster reverse names are answered locally"
    );
    running.server.shutdown().await;
    Ok(())
}
