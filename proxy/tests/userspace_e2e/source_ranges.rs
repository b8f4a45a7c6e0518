//! `loadBalancerSourceRanges` in userspace mode: the LB IP listener serves only sources inside
//! the ranges (TCP closed at accept, UDP datagrams dropped, both counted); the same Service's
//! ClusterIP and NodePort still serve everyone.

use super::*;

/// How long a client waits for an answer that must not come.
const REFUSED_WAIT: Duration = Duration::from_secs(1);

#[test]
fn lb_ip_serves_only_sources_in_ranges_while_nodeport_serves_all() -> TestResult {
    if !support::require_root("lb_ip_serves_only_sources_in_ranges_while_nodeport_serves_all") {
        return Ok(());
    }
    let chain = Chain::new("lbsr", 2, 1)?;
    let backend_ip = chain.backend_ip(0, true).ok_or("no backend ip")?;
    let tcp = TcpBackend::start(&chain.backend, SocketAddr::new(backend_ip, BACKEND_PORT))?;
    let udp = UdpBackend::start(
        &chain.backend,
        SocketAddr::new(backend_ip, 5353),
        UdpMode::Identify,
    )?;
    let (a, b) = (
        chain.client_ip(0, true).ok_or("no client a")?,
        chain.client_ip(1, true).ok_or("no client b")?,
    );
    // The LB IP is the node's own address (userspace mode listens on LB IPs the node holds).
    let lb_ip = chain.node_ip(true);
    let ranges = Some(vec![ipnet::IpNet::new(a, 32)?]);
    let mut web = service(
        "web",
        Protocol::Tcp,
        &[CLUSTER_V4],
        80,
        vec![ready(tcp.addr())],
    );
    web.node_port = Some(30090);
    web.load_balancer_ips = vec![lb_ip];
    web.source_ranges = ranges.clone();
    let mut dns = service(
        "dns",
        Protocol::Udp,
        &[CLUSTER_V4],
        53,
        vec![ready(udp.addr())],
    );
    dns.load_balancer_ips = vec![lb_ip];
    dns.source_ranges = ranges;
    let node = ProxyNode::start(&chain.node, config(&chain), table(vec![web, dns]))?;

    let lb = SocketAddr::new(lb_ip, 80);
    let (who, _stream) = chain
        .client
        .run(move || tcp_identify_from(Some(a), lb, WAIT))??;
    assert_eq!(who, tcp.addr().to_string(), "client A reaches the LB IP");
    let refused = chain
        .client
        .run(move || tcp_identify_from(Some(b), lb, WAIT))?;
    assert!(
        refused.is_err(),
        "client B must not reach the LB IP: {refused:?}"
    );
    for target in [
        SocketAddr::new(lb_ip, 30090),
        SocketAddr::new(CLUSTER_V4, 80),
    ] {
        let (who, _stream) = chain
            .client
            .run(move || tcp_identify_from(Some(b), target, WAIT))??;
        assert_eq!(who, tcp.addr().to_string(), "client B reaches {target}");
    }
    assert_eq!(
        tcp.accepted(),
        3,
        "the refused connection never reached the backend"
    );

    let dns_lb = SocketAddr::new(lb_ip, 53);
    let (reply_a, reply_b) = chain.client.run(move || -> io::Result<_> {
        let socket_a = UdpSocket::bind(SocketAddr::new(a, 0))?;
        let reply_a = udp_exchange(&socket_a, dns_lb, b"who", WAIT)?;
        let socket_b = UdpSocket::bind(SocketAddr::new(b, 0))?;
        let reply_b = udp_exchange(&socket_b, dns_lb, b"who", REFUSED_WAIT);
        Ok((reply_a, reply_b))
    })??;
    assert_eq!(reply_a.1, dns_lb, "client A's UDP answered from the LB IP");
    assert!(
        reply_b.is_err(),
        "client B's datagram must be dropped: {reply_b:?}"
    );
    assert_eq!(
        udp.received(),
        1,
        "only client A's datagram reached the backend"
    );

    for service in ["web", "dns"] {
        let label = format!("service=\"{service}\"");
        let (refused, text) = node.wait_metric(
            "switchyard_userspace_source_refused_total",
            &[&label],
            |v| v >= 1.0,
        )?;
        assert_eq!(refused, Some(1.0), "{service}: {text}");
    }
    Ok(())
}
