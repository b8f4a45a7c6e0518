//! End-to-end tests of the userspace proxy: a client namespace talks through a node namespace
//! running the proxy (own thread, own tokio runtime, managed dummy interface for ClusterIPs) to
//! real backends in a backend namespace (see `support`). Tables are fed by hand.

#[path = "userspace_e2e/harness.rs"]
mod harness;
#[path = "userspace_e2e/source_ranges.rs"]
mod source_ranges;
mod support;
#[path = "userspace_e2e/udp.rs"]
mod udp;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, UdpSocket};
use std::time::Duration;

use proxy::model::Protocol;
use proxy::userspace::UserspaceConfig;

use harness::{ProxyNode, metric_with, ready, service, table};
use support::{
    Chain, TcpBackend, UdpBackend, UdpMode, tcp_identify, tcp_identify_from, udp_exchange,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(5);
const CLUSTER_V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 96, 0, 10));
const CLUSTER_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, 0x10));
const BACKEND_PORT: u16 = 8080;
const IFACE: &str = "sy0";

fn config(chain: &Chain) -> UserspaceConfig {
    UserspaceConfig {
        node_ips: vec![chain.node_ip(true), chain.node_ip(false)],
        manage_interface: Some(IFACE.into()),
        connect_timeout: Duration::from_millis(500),
        connect_attempts: 3,
        udp_idle_timeout: Duration::from_secs(5),
        ..UserspaceConfig::default()
    }
}

/// One TCP backend per backend address of `family`, all on [`BACKEND_PORT`].
fn tcp_backends(chain: &Chain, count: u8, v4: bool) -> io::Result<Vec<TcpBackend>> {
    (0..count)
        .map(|i| {
            let ip = chain
                .backend_ip(i, v4)
                .ok_or_else(|| io::Error::other("backend index out of range"))?;
            TcpBackend::start(&chain.backend, SocketAddr::new(ip, BACKEND_PORT))
        })
        .collect()
}

/// `n` connections from the client namespace (optionally from `source`); greeting → count.
fn spread(
    chain: &Chain,
    source: Option<IpAddr>,
    target: SocketAddr,
    n: usize,
) -> io::Result<HashMap<String, usize>> {
    chain.client.run(move || {
        let mut counts = HashMap::new();
        for _ in 0..n {
            let (who, _stream) = tcp_identify_from(source, target, WAIT)?;
            *counts.entry(who).or_insert(0) += 1;
        }
        Ok(counts)
    })?
}

/// Every backend served, each within ±20% of an even share.
fn assert_even(counts: &HashMap<String, usize>, backends: &[TcpBackend], total: usize) {
    let share = total / backends.len();
    for backend in backends {
        let got = counts
            .get(&backend.addr().to_string())
            .copied()
            .unwrap_or(0);
        assert!(
            got * 5 >= share * 4 && got * 5 <= share * 6,
            "{} served {got} of {total} (even share {share} ±20%): {counts:?}",
            backend.addr()
        );
    }
    assert_eq!(counts.values().sum::<usize>(), total, "{counts:?}");
}

#[test]
fn support_chain_routes_client_to_backends() -> TestResult {
    if !support::require_root("support_chain_routes_client_to_backends") {
        return Ok(());
    }
    let chain = Chain::new("chain", 1, 2)?;
    for v4 in [true, false] {
        let ip = chain.backend_ip(1, v4).ok_or("no backend ip")?;
        let tcp = TcpBackend::start(&chain.backend, SocketAddr::new(ip, 0))?;
        let udp = UdpBackend::start(&chain.backend, SocketAddr::new(ip, 0), UdpMode::Identify)?;
        let target = tcp.addr();
        let (greeting, _stream) = chain.client.run(move || tcp_identify(target, WAIT))??;
        assert_eq!(greeting, target.to_string());
        assert_eq!(tcp.accepted(), 1);
        let client = chain.client_ip(0, v4).ok_or("no client ip")?;
        let target = udp.addr();
        let (reply, from) = chain.client.run(move || {
            let socket = UdpSocket::bind(SocketAddr::new(client, 0))?;
            udp_exchange(&socket, target, b"hello", WAIT)
        })??;
        assert_eq!(from, target);
        assert_eq!(reply, target.to_string().as_bytes());
    }
    Ok(())
}

#[test]
fn clusterip_and_nodeport_reach_every_backend_evenly() -> TestResult {
    if !support::require_root("clusterip_and_nodeport_reach_every_backend_evenly") {
        return Ok(());
    }
    let chain = Chain::new("reach", 1, 3)?;
    let v4 = tcp_backends(&chain, 3, true)?;
    let v6 = tcp_backends(&chain, 3, false)?;
    let mut web = service(
        "web",
        Protocol::Tcp,
        &[CLUSTER_V4, CLUSTER_V6],
        80,
        v4.iter().chain(&v6).map(|b| ready(b.addr())).collect(),
    );
    web.node_port = Some(30080);
    let mut node = ProxyNode::start(&chain.node, config(&chain), table(vec![web]))?;
    let targets = [
        (SocketAddr::new(CLUSTER_V4, 80), &v4),
        (SocketAddr::new(CLUSTER_V6, 80), &v6),
        (SocketAddr::new(chain.node_ip(true), 30080), &v4),
        (SocketAddr::new(chain.node_ip(false), 30080), &v6),
    ];
    for (target, backends) in targets {
        let counts = spread(&chain, None, target, 60)?;
        assert_even(&counts, backends, 60);
    }
    let metrics = node.metrics()?;
    let total = metric_with(
        &metrics,
        "switchyard_userspace_connections_total",
        &["service=\"web\""],
    );
    assert_eq!(total, Some(240.0), "{metrics}");
    assert!(node.health()?.listeners >= Some(4));
    // Shutdown removes the interface and with it the ClusterIPs.
    assert!(
        chain
            .node
            .ip(&["addr", "show", "dev", IFACE])?
            .contains("10.96.0.10/32")
    );
    node.stop()?;
    assert!(chain.node.ip(&["link", "show", "dev", IFACE]).is_err());
    Ok(())
}

#[test]
fn client_ip_affinity_pins_clients_while_plain_service_spreads() -> TestResult {
    if !support::require_root("client_ip_affinity_pins_clients_while_plain_service_spreads") {
        return Ok(());
    }
    let chain = Chain::new("affin", 3, 3)?;
    let backends = tcp_backends(&chain, 3, true)?;
    let endpoints: Vec<_> = backends.iter().map(|b| ready(b.addr())).collect();
    let mut sticky = service(
        "sticky",
        Protocol::Tcp,
        &[CLUSTER_V4],
        80,
        endpoints.clone(),
    );
    sticky.affinity_timeout = Some(Duration::from_secs(600));
    let plain = service("plain", Protocol::Tcp, &[CLUSTER_V4], 81, endpoints);
    let _node = ProxyNode::start(&chain.node, config(&chain), table(vec![sticky, plain]))?;
    let mut pinned = Vec::new();
    for i in 0..3 {
        let source = chain.client_ip(i, true);
        let counts = spread(&chain, source, SocketAddr::new(CLUSTER_V4, 80), 20)?;
        assert_eq!(
            counts.len(),
            1,
            "client {source:?} moved between endpoints: {counts:?}"
        );
        pinned.extend(counts.into_keys());
    }
    pinned.sort();
    pinned.dedup();
    assert!(
        pinned.len() >= 2,
        "new clients should spread over endpoints: {pinned:?}"
    );
    // The same client on the service without affinity spreads over every endpoint.
    let counts = spread(
        &chain,
        chain.client_ip(0, true),
        SocketAddr::new(CLUSTER_V4, 81),
        30,
    )?;
    assert_even(&counts, &backends, 30);
    Ok(())
}

#[test]
fn unready_backend_gets_no_new_connections_but_keeps_open_one() -> TestResult {
    if !support::require_root("unready_backend_gets_no_new_connections_but_keeps_open_one") {
        return Ok(());
    }
    let chain = Chain::new("unrdy", 1, 3)?;
    let backends = tcp_backends(&chain, 3, true)?;
    let mut endpoints: Vec<_> = backends.iter().map(|b| ready(b.addr())).collect();
    let target = SocketAddr::new(CLUSTER_V4, 80);
    let node = ProxyNode::start(
        &chain.node,
        config(&chain),
        table(vec![service(
            "web",
            Protocol::Tcp,
            &[CLUSTER_V4],
            80,
            endpoints.clone(),
        )]),
    )?;
    let leaving = backends[0].addr().to_string();
    // Open connections until one lands on the backend that will turn unready.
    let mut held = None;
    for _ in 0..3 {
        let (who, stream) = chain.client.run(move || tcp_identify(target, WAIT))??;
        if who == leaving {
            held = Some(stream);
            break;
        }
    }
    let mut held = held.ok_or("round robin never reached the first backend")?;
    endpoints[0].ready = false;
    endpoints[0].serving = false;
    node.apply(table(vec![service(
        "web",
        Protocol::Tcp,
        &[CLUSTER_V4],
        80,
        endpoints,
    )]))?;
    let counts = spread(&chain, None, target, 30)?;
    assert_eq!(
        counts.get(&leaving),
        None,
        "unready endpoint got new connections: {counts:?}"
    );
    assert_even(&counts, &backends[1..], 30);
    // The connection opened before keeps working.
    let echoed = chain.client.run(move || -> io::Result<Vec<u8>> {
        held.write_all(b"still there")?;
        held.shutdown(Shutdown::Write)?;
        let mut buf = Vec::new();
        held.read_to_end(&mut buf)?;
        Ok(buf)
    })??;
    assert_eq!(echoed, b"still there");
    Ok(())
}

#[test]
fn refusing_backend_is_skipped_by_retry() -> TestResult {
    if !support::require_root("refusing_backend_is_skipped_by_retry") {
        return Ok(());
    }
    let chain = Chain::new("retry", 1, 3)?;
    let backends = tcp_backends(&chain, 2, true)?;
    let refusing = SocketAddr::new(chain.backend_ip(2, true).ok_or("no ip")?, BACKEND_PORT);
    let mut endpoints: Vec<_> = backends.iter().map(|b| ready(b.addr())).collect();
    endpoints.push(ready(refusing));
    let node = ProxyNode::start(
        &chain.node,
        config(&chain),
        table(vec![service(
            "web",
            Protocol::Tcp,
            &[CLUSTER_V4],
            80,
            endpoints,
        )]),
    )?;
    let counts = spread(&chain, None, SocketAddr::new(CLUSTER_V4, 80), 30)?;
    assert_eq!(counts.values().sum::<usize>(), 30);
    assert!(
        backends
            .iter()
            .all(|b| counts.contains_key(&b.addr().to_string())),
        "{counts:?}"
    );
    let metrics = node.metrics()?;
    let failures = metric_with(
        &metrics,
        "switchyard_userspace_connect_failures_total",
        &["service=\"web\""],
    );
    let retries = metric_with(
        &metrics,
        "switchyard_userspace_connect_retries_total",
        &["service=\"web\""],
    );
    assert!(failures.is_some_and(|f| f >= 5.0), "{metrics}");
    assert_eq!(
        failures, retries,
        "every failure should have been retried: {metrics}"
    );
    Ok(())
}

#[test]
fn service_without_endpoints_resets_at_once() -> TestResult {
    if !support::require_root("service_without_endpoints_resets_at_once") {
        return Ok(());
    }
    let chain = Chain::new("noeps", 1, 1)?;
    let node = ProxyNode::start(
        &chain.node,
        config(&chain),
        table(vec![service(
            "empty",
            Protocol::Tcp,
            &[CLUSTER_V4],
            80,
            Vec::new(),
        )]),
    )?;
    let target = SocketAddr::new(CLUSTER_V4, 80);
    let err = chain
        .client
        .run(move || tcp_identify(target, WAIT).map(|(who, _)| who))?;
    let kind = err.as_ref().map_err(|e| e.kind());
    assert_eq!(kind, Err(io::ErrorKind::ConnectionReset), "{err:?}");
    let metrics = node.metrics()?;
    let rejected = metric_with(
        &metrics,
        "switchyard_userspace_rejected_total",
        &["service=\"empty\""],
    );
    assert_eq!(rejected, Some(1.0), "{metrics}");
    Ok(())
}

#[test]
fn large_payload_and_half_close_through_splice() -> TestResult {
    if !support::require_root("large_payload_and_half_close_through_splice") {
        return Ok(());
    }
    const LEN: usize = 32 * 1024 * 1024;
    let chain = Chain::new("large", 1, 1)?;
    let backends = tcp_backends(&chain, 1, true)?;
    let node = ProxyNode::start(
        &chain.node,
        config(&chain),
        table(vec![service(
            "bulk",
            Protocol::Tcp,
            &[CLUSTER_V4],
            80,
            vec![ready(backends[0].addr())],
        )]),
    )?;
    let target = SocketAddr::new(CLUSTER_V4, 80);
    let payload: Vec<u8> = (0..LEN as u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let sent = payload.clone();
    let received = chain.client.run(move || -> io::Result<Vec<u8>> {
        let (who, stream) = tcp_identify(target, WAIT)?;
        assert!(!who.is_empty());
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut writer = stream.try_clone()?;
        std::thread::scope(|scope| {
            let sender = scope.spawn(move || -> io::Result<()> {
                writer.write_all(&sent)?;
                // Half-close: the echo must still come back in full after our FIN.
                writer.shutdown(Shutdown::Write)
            });
            let mut reader = stream;
            let mut buf = Vec::with_capacity(LEN);
            reader.read_to_end(&mut buf)?;
            sender
                .join()
                .map_err(|_| io::Error::other("sender panicked"))??;
            Ok(buf)
        })
    })??;
    assert_eq!(received.len(), LEN);
    assert!(received == payload, "echoed bytes differ");
    for direction in ["to_endpoint", "to_client"] {
        let label = format!("direction=\"{direction}\"");
        // to_client also carries the backend's greeting line.
        let (bytes, metrics) = node.wait_metric(
            "switchyard_userspace_bytes_total",
            &["service=\"bulk\"", &label],
            |b| b >= LEN as f64,
        )?;
        assert!(
            bytes.is_some_and(|b| b >= LEN as f64),
            "{direction}: {metrics}"
        );
    }
    Ok(())
}

#[test]
fn external_traffic_policy_local_keeps_nodeport_traffic_on_local_endpoints() -> TestResult {
    if !support::require_root(
        "external_traffic_policy_local_keeps_nodeport_traffic_on_local_endpoints",
    ) {
        return Ok(());
    }
    let chain = Chain::new("etpl", 1, 3)?;
    let backends = tcp_backends(&chain, 3, true)?;
    let mut endpoints: Vec<_> = backends.iter().map(|b| ready(b.addr())).collect();
    for (i, endpoint) in endpoints.iter_mut().enumerate() {
        endpoint.is_local = i == 0;
    }
    let mut web = service("web", Protocol::Tcp, &[CLUSTER_V4], 80, endpoints);
    web.node_port = Some(30081);
    web.external_policy_local = true;
    let _node = ProxyNode::start(&chain.node, config(&chain), table(vec![web]))?;
    let external = spread(
        &chain,
        None,
        SocketAddr::new(chain.node_ip(true), 30081),
        20,
    )?;
    let local = backends[0].addr().to_string();
    assert_eq!(
        external.get(&local),
        Some(&20),
        "NodePort left the node: {external:?}"
    );
    // In-cluster traffic is not restricted by externalTrafficPolicy.
    let internal = spread(&chain, None, SocketAddr::new(CLUSTER_V4, 80), 30)?;
    assert_even(&internal, &backends, 30);
    Ok(())
}

#[test]
fn managed_interface_carries_exactly_the_service_addresses() -> TestResult {
    if !support::require_root("managed_interface_carries_exactly_the_service_addresses") {
        return Ok(());
    }
    let chain = Chain::new("iface", 1, 1)?;
    let backends = tcp_backends(&chain, 1, true)?;
    let endpoints = vec![ready(backends[0].addr())];
    let mut web = service(
        "web",
        Protocol::Tcp,
        &[CLUSTER_V4, CLUSTER_V6],
        80,
        endpoints.clone(),
    );
    web.external_ips = vec!["203.0.113.7".parse()?];
    let other_ip: IpAddr = "10.96.0.11".parse()?;
    let other = service("other", Protocol::Udp, &[other_ip], 53, endpoints);
    let mut node = ProxyNode::start(&chain.node, config(&chain), table(vec![web.clone(), other]))?;
    let shown = chain.node.ip(&["-o", "addr", "show", "dev", IFACE])?;
    for addr in [
        "10.96.0.10/32",
        "fd00:96::10/128",
        "203.0.113.7/32",
        "10.96.0.11/32",
    ] {
        assert!(shown.contains(addr), "{addr} missing: {shown}");
    }
    // The externalIP is served too (the interface makes it local).
    let (who, _) = chain
        .client
        .run(|| tcp_identify(SocketAddr::from(([203, 0, 113, 7], 80)), WAIT))??;
    assert_eq!(who, backends[0].addr().to_string());
    // The UDP service goes: its address goes with it, the others stay.
    node.apply(table(vec![web]))?;
    let shown = chain.node.ip(&["-o", "addr", "show", "dev", IFACE])?;
    assert!(!shown.contains("10.96.0.11/32"), "{shown}");
    assert!(shown.contains("10.96.0.10/32"), "{shown}");
    node.apply(table(Vec::new()))?;
    let shown = chain.node.ip(&["-o", "addr", "show", "dev", IFACE])?;
    assert!(!shown.contains("scope global"), "addresses left: {shown}");
    node.stop()?;
    assert!(chain.node.ip(&["link", "show", "dev", IFACE]).is_err());
    Ok(())
}

#[test]
fn least_connections_avoids_the_busy_endpoint() -> TestResult {
    if !support::require_root("least_connections_avoids_the_busy_endpoint") {
        return Ok(());
    }
    let chain = Chain::new("lconn", 1, 3)?;
    let backends = tcp_backends(&chain, 3, true)?;
    let config = UserspaceConfig {
        lb: proxy::userspace::LbPolicy::LeastConnections,
        ..config(&chain)
    };
    let web = service(
        "web",
        Protocol::Tcp,
        &[CLUSTER_V4],
        80,
        backends.iter().map(|b| ready(b.addr())).collect(),
    );
    let node = ProxyNode::start(&chain.node, config, table(vec![web]))?;
    let target = SocketAddr::new(CLUSTER_V4, 80);
    // One open connection per endpoint, then all but one of them closed.
    let mut open = HashMap::new();
    for _ in 0..3 {
        let (who, stream) = chain.client.run(move || tcp_identify(target, WAIT))??;
        open.insert(who, stream);
    }
    assert_eq!(
        open.len(),
        3,
        "least-connections should use every idle endpoint first"
    );
    let busy = backends[0].addr().to_string();
    open.retain(|who, _| *who == busy);
    let (active, metrics) = node.wait_metric(
        "switchyard_userspace_connections_active",
        &["service=\"web\""],
        |v| v == 1.0,
    )?;
    assert_eq!(active, Some(1.0), "{metrics}");
    // New connections go to the idle endpoints while the busy one keeps its connection.
    let mut fresh = Vec::new();
    for _ in 0..2 {
        let (who, stream) = chain.client.run(move || tcp_identify(target, WAIT))??;
        fresh.push((who, stream));
    }
    let mut got: Vec<&str> = fresh.iter().map(|(who, _)| who.as_str()).collect();
    got.sort();
    let mut idle: Vec<String> = backends[1..].iter().map(|b| b.addr().to_string()).collect();
    idle.sort();
    assert_eq!(got, idle, "busy endpoint {busy} got a new connection");
    Ok(())
}
