//! UDP through the userspace proxy: replies come from the service address, each client
//! address is one flow pinned to one endpoint, large datagrams pass whole, flows move when
//! their endpoint leaves and end when idle.

use super::*;

#[test]
fn udp_round_trip_replies_from_service_address() -> TestResult {
    if !support::require_root("udp_round_trip_replies_from_service_address") {
        return Ok(());
    }
    let chain = Chain::new("udp", 2, 3)?;
    let identify: Vec<UdpBackend> = (0..2)
        .map(|i| {
            let ip = chain
                .backend_ip(i, true)
                .ok_or_else(|| io::Error::other("no ip"))?;
            UdpBackend::start(&chain.backend, SocketAddr::new(ip, 5353), UdpMode::Identify)
        })
        .collect::<io::Result<_>>()?;
    let echo_ip = chain.backend_ip(2, true).ok_or("no ip")?;
    let echo = UdpBackend::start(&chain.backend, SocketAddr::new(echo_ip, 7), UdpMode::Echo)?;
    let dns = service(
        "dns",
        Protocol::Udp,
        &[CLUSTER_V4],
        53,
        identify.iter().map(|b| ready(b.addr())).collect(),
    );
    let big = service(
        "echo",
        Protocol::Udp,
        &[CLUSTER_V4],
        7,
        vec![ready(echo.addr())],
    );
    let node = ProxyNode::start(&chain.node, config(&chain), table(vec![dns, big]))?;
    let dns_addr = SocketAddr::new(CLUSTER_V4, 53);
    let echo_addr = SocketAddr::new(CLUSTER_V4, 7);
    let sources = [chain.client_ip(0, true), chain.client_ip(1, true)];
    let (served, echoed) = chain.client.run(move || -> io::Result<_> {
        let mut served = Vec::new();
        for source in sources.into_iter().flatten() {
            let socket = UdpSocket::bind(SocketAddr::new(source, 0))?;
            // One flow per client address: the same endpoint answers every datagram.
            let mut flow = Vec::new();
            for _ in 0..3 {
                let (reply, from) = udp_exchange(&socket, dns_addr, b"who", WAIT)
                    .map_err(|e| io::Error::new(e.kind(), format!("dns from {source}: {e}")))?;
                assert_eq!(from, dns_addr, "reply must come from the service address");
                flow.push(String::from_utf8_lossy(&reply).into_owned());
            }
            flow.dedup();
            assert_eq!(flow.len(), 1, "flow moved between endpoints: {flow:?}");
            served.extend(flow);
        }
        let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)))?;
        let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        let (reply, from) = udp_exchange(&socket, echo_addr, &payload, WAIT)
            .map_err(|e| io::Error::new(e.kind(), format!("60000-byte echo: {e}")))?;
        assert_eq!(from, echo_addr);
        Ok((served, reply == payload))
    })??;
    assert!(echoed, "a 60000-byte datagram must come back whole");
    assert_eq!(served.len(), 2);
    assert_ne!(
        served[0], served[1],
        "two new flows should go to different endpoints"
    );
    let (to_client, metrics) = node.wait_metric(
        "switchyard_userspace_bytes_total",
        &["service=\"echo\"", "direction=\"to_client\""],
        |v| v >= 60_000.0,
    )?;
    assert_eq!(to_client, Some(60_000.0), "{metrics}");
    Ok(())
}

#[test]
fn udp_flow_moves_when_its_endpoint_leaves_and_ends_when_idle() -> TestResult {
    if !support::require_root("udp_flow_moves_when_its_endpoint_leaves_and_ends_when_idle") {
        return Ok(());
    }
    let chain = Chain::new("udpmv", 1, 2)?;
    let backends: Vec<UdpBackend> = (0..2)
        .map(|i| {
            let ip = chain
                .backend_ip(i, true)
                .ok_or_else(|| io::Error::other("no ip"))?;
            UdpBackend::start(&chain.backend, SocketAddr::new(ip, 5353), UdpMode::Identify)
        })
        .collect::<io::Result<_>>()?;
    let dns = |eps: &[&UdpBackend]| {
        service(
            "dns",
            Protocol::Udp,
            &[CLUSTER_V4],
            53,
            eps.iter().map(|b| ready(b.addr())).collect(),
        )
    };
    let config = UserspaceConfig {
        udp_idle_timeout: Duration::from_secs(1),
        ..config(&chain)
    };
    let node = ProxyNode::start(
        &chain.node,
        config,
        table(vec![dns(&[&backends[0], &backends[1]])]),
    )?;
    let service_addr = SocketAddr::new(CLUSTER_V4, 53);
    // The socket lives in the client namespace; it can be used from this thread afterwards.
    let socket = chain.client.run(|| UdpSocket::bind("0.0.0.0:0"))??;
    let (first, from) = udp_exchange(&socket, service_addr, b"who", WAIT)?;
    assert_eq!(from, service_addr);
    let first = String::from_utf8_lossy(&first).into_owned();
    let staying: Vec<&UdpBackend> = backends
        .iter()
        .filter(|b| b.addr().to_string() != first)
        .collect();
    assert_eq!(staying.len(), 1, "{first} is not one of the backends");
    node.apply(table(vec![dns(&staying)]))?;
    let (second, from) = udp_exchange(&socket, service_addr, b"who", WAIT)?;
    assert_eq!(from, service_addr);
    assert_eq!(
        String::from_utf8_lossy(&second),
        staying[0].addr().to_string(),
        "received by backends: {:?}; {}",
        backends.iter().map(|b| b.received()).collect::<Vec<_>>(),
        node.metrics()?
    );
    // With no more datagrams the flow is forgotten after the idle timeout.
    let (flows, metrics) = node.wait_metric(
        "switchyard_userspace_udp_flows_active",
        &["service=\"dns\""],
        |v| v == 0.0,
    )?;
    assert_eq!(flows, Some(0.0), "{metrics}");
    Ok(())
}

#[test]
fn udp_node_port_replies_from_the_node_address_the_client_used() -> TestResult {
    if !support::require_root("udp_node_port_replies_from_the_node_address_the_client_used") {
        return Ok(());
    }
    // The node has two addresses (client side and backend side) and NodePorts listen on the
    // wildcard. A client that sends to the backend-side address must get its reply from that
    // address, not from the one routing back to it would pick.
    let chain = Chain::new("udpnp", 1, 1)?;
    let ip = chain.backend_ip(0, true).ok_or("no ip")?;
    let echo = UdpBackend::start(&chain.backend, SocketAddr::new(ip, 7), UdpMode::Echo)?;
    let mut svc = service(
        "echo",
        Protocol::Udp,
        &[CLUSTER_V4],
        7,
        vec![ready(echo.addr())],
    );
    svc.node_port = Some(30007);
    let _node = ProxyNode::start(&chain.node, config(&chain), table(vec![svc]))?;
    let source = chain.client_ip(0, true).ok_or("no client ip")?;
    let targets = [
        SocketAddr::new(chain.node_ip(true), 30007),
        SocketAddr::from(([10, 1, 2, 1], 30007)),
    ];
    chain.client.run(move || -> io::Result<()> {
        for to in targets {
            let socket = UdpSocket::bind(SocketAddr::new(source, 0))?;
            // The listener may take a moment to open: a few bounded tries.
            let mut last = None;
            for _ in 0..20 {
                match udp_exchange(&socket, to, b"hello", Duration::from_millis(250)) {
                    Ok((reply, from)) => {
                        assert_eq!(reply, b"hello");
                        assert_eq!(from, to, "reply must come from the address the client used");
                        last = None;
                        break;
                    }
                    Err(err) => last = Some(err),
                }
            }
            if let Some(err) = last {
                return Err(io::Error::new(err.kind(), format!("{to}: {err}")));
            }
        }
        Ok(())
    })??;
    Ok(())
}
