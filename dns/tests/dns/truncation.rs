//! UDP answers larger than the client's payload limit (issue #16): cut at record boundaries,
//! TC only when answer records were dropped, every datagram a whole message; `dig` sees TC and
//! gets the full answer over TCP.

use std::sync::Arc;

use cluster_watch::ClusterState;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::net::TcpStream;

use crate::dig::dig;
use crate::support::{
    EXCHANGE_TIMEOUT, Error, TestResult, config, fixture, key, object, query, start, tcp_read,
    tcp_write, udp_raw,
};

const SRV_NAME: &str = "_http._tcp.wide.default.svc.cluster.local.";

/// The fixture plus a headless Service `wide` with `count` ready endpoints and a port `http`:
/// its SRV answer holds one record per endpoint, each with the endpoint's A record in
/// additional.
fn wide_headless(count: usize) -> Result<ClusterState, Error> {
    let mut state = fixture()?;
    let service: Arc<Service> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "wide"},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}
    }))?;
    let endpoints: Vec<serde_json::Value> = (0..count)
        .map(|i| serde_json::json!({"addresses": [format!("10.2.0.{}", i + 1)]}))
        .collect();
    let slice: Arc<EndpointSlice> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "wide-1", "labels": {"kubernetes.io/service-name": "wide"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
    }))?;
    state.services.insert(key(&service.metadata), service);
    state.endpoint_slices.insert(key(&slice.metadata), slice);
    Ok(state)
}

/// Parses all of `bytes` as one message, as a strict parser does: nothing may follow the
/// counted records.
fn strict(bytes: &[u8]) -> Result<Message, Error> {
    let mut decoder = BinDecoder::new(bytes);
    let message = Message::read(&mut decoder)?;
    if !decoder.is_empty() {
        return Err(format!("{} bytes after the counted records", decoder.len()).into());
    }
    Ok(message)
}

/// The SRV answer over UDP with the given EDNS payload size (none: plain DNS), as raw bytes.
async fn udp_srv(running: &crate::support::Running, edns: Option<u16>) -> Result<Vec<u8>, Error> {
    let wire = query(21, SRV_NAME, RecordType::SRV, edns)?.to_vec()?;
    udp_raw(running.addr(), &wire, EXCHANGE_TIMEOUT)
        .await?
        .ok_or_else(|| "no UDP reply".into())
}

/// The full SRV answer over TCP.
async fn tcp_srv(running: &crate::support::Running) -> Result<Message, Error> {
    let mut stream = TcpStream::connect(running.addr()).await?;
    tcp_write(&mut stream, &query(22, SRV_NAME, RecordType::SRV, None)?).await?;
    tcp_read(&mut stream).await
}

#[tokio::test]
async fn answers_past_512_bytes_set_tc_and_hold_only_whole_records() -> TestResult {
    const ENDPOINTS: usize = 20;
    let running = start(wide_headless(ENDPOINTS)?, config()).await?;
    let full = tcp_srv(&running).await?;
    assert_eq!(full.answers.len(), ENDPOINTS);
    assert!(!full.metadata.truncation);

    let bytes = udp_srv(&running, None).await?;
    assert!(bytes.len() <= 512, "{} bytes", bytes.len());
    let cut = strict(&bytes)?;
    assert!(cut.metadata.truncation, "TC when answers were dropped");
    assert!(cut.answers.len() < ENDPOINTS);
    assert!(
        cut.additionals.is_empty(),
        "no additional records after a cut answer"
    );
    assert!(cut.edns.is_none());

    // With EDNS the advertised size is the limit, and OPT is kept.
    let bytes = udp_srv(&running, Some(600)).await?;
    assert!(bytes.len() <= 600, "{} bytes", bytes.len());
    let cut = strict(&bytes)?;
    assert!(cut.metadata.truncation);
    assert_eq!(cut.edns.as_ref().map(|e| e.max_payload()), Some(600));
    // A payload size that holds it all: nothing cut.
    let whole = strict(&udp_srv(&running, Some(4096)).await?)?;
    assert!(!whole.metadata.truncation);
    assert_eq!(
        (whole.answers.len(), whole.additionals.len()),
        (ENDPOINTS, ENDPOINTS)
    );
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn additional_records_past_512_bytes_are_dropped_without_tc() -> TestResult {
    // Sized so that the SRV records fit in 512 bytes but not with every A record.
    const ENDPOINTS: usize = 6;
    let running = start(wide_headless(ENDPOINTS)?, config()).await?;
    // The whole answer as the server encodes it, when the client takes 4096 bytes.
    let full_bytes = udp_srv(&running, Some(4096)).await?;
    let full = strict(&full_bytes)?;
    // Without the OPT record (11 bytes) it is still past 512.
    let full_size = full_bytes.len() - 11;
    assert!(
        full_size > 512,
        "the full answer ({full_size} bytes) must pass 512"
    );
    assert_eq!(full.additionals.len(), ENDPOINTS);

    let bytes = udp_srv(&running, None).await?;
    assert!(bytes.len() <= 512, "{} bytes", bytes.len());
    let cut = strict(&bytes)?;
    assert!(
        !cut.metadata.truncation,
        "no TC for dropped additional records"
    );
    assert_eq!(
        cut.answers.len(),
        ENDPOINTS,
        "the answer section is complete"
    );
    assert!(cut.additionals.len() < ENDPOINTS);
    // The additional records kept are whole and the ones the full answer has.
    for record in &cut.additionals {
        assert!(full.additionals.contains(record), "{record}");
    }
    running.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dig_sees_tc_and_retries_over_tcp() -> TestResult {
    const ENDPOINTS: usize = 20;
    let running = start(wide_headless(ENDPOINTS)?, config()).await?;
    let addr = running.addr();
    let Some(udp) = dig(addr, &["+noedns", "+ignore", SRV_NAME, "SRV"]).await? else {
        if std::env::var_os("CI").is_some() {
            return Err("dig is not installed (apt-get install dnsutils)".into());
        }
        eprintln!("skipping: dig is not installed (apt-get install dnsutils)");
        return Ok(());
    };
    let flags = |out: &str| -> Vec<String> {
        out.lines()
            .find_map(|l| l.strip_prefix(";; flags:"))
            .and_then(|l| l.split(';').next())
            .map(|f| f.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    assert!(flags(&udp).iter().any(|f| f == "tc"), "{udp}");
    assert!(udp.contains("status: NOERROR"), "{udp}");
    assert!(
        !udp.contains("Warning"),
        "dig parsed the datagram cleanly: {udp}"
    );
    let retried = dig(addr, &["+noedns", SRV_NAME, "SRV"])
        .await?
        .unwrap_or_default();
    assert!(retried.contains("retrying in TCP mode"), "{retried}");
    assert!(!flags(&retried).iter().any(|f| f == "tc"), "{retried}");
    assert!(
        retried.contains(&format!("ANSWER: {ENDPOINTS}")),
        "{retried}"
    );
    running.server.shutdown().await;
    Ok(())
}
