//! End to end with real traffic: a client namespace, a node namespace where `NftProxy` programs
//! the rules (`nft` via `ip netns exec`), and a backend namespace with real TCP/UDP backends
//! (shared support `Chain`). Clients connect to ClusterIPs and NodePorts; the kernel does the
//! rest. Needs root, Debian's `nftables` and `conntrack`.

mod nft_fixture;
#[allow(unused_imports)]
mod support;

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nft_fixture::{ip, svc, table};
use proxy::model::{Endpoint, Protocol, ServicePort, ServiceTable};
use proxy::nft::{NftConfig, NftProxy, rules::Pick};
use proxy::reflector::TableSnapshot;
use support::{Chain, TcpBackend, UdpBackend, UdpMode, require_root, udp_exchange};
use tokio::sync::watch;

type TestResult = Result<(), Box<dyn Error>>;

const BACKEND_PORT: u16 = 8080;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One test's world: namespaces, backends, the table channel and the proxy.
struct World {
    chain: Chain,
    rt: tokio::runtime::Runtime,
    tables: watch::Sender<TableSnapshot>,
    proxy: Option<NftProxy>,
    config: NftConfig,
    /// Kept alive for the test's duration.
    _tcp: Vec<TcpBackend>,
}

impl World {
    /// `backends` TCP backends (IPv4 and IPv6 each) and the proxy running on an empty table.
    fn new(tag: &str, clients: u8, backends: u8) -> Result<World, Box<dyn Error>> {
        World::with_pick(tag, clients, backends, Pick::Random)
    }

    /// [`World::new`] with the given endpoint pick.
    fn with_pick(
        tag: &str,
        clients: u8,
        backends: u8,
        pick: Pick,
    ) -> Result<World, Box<dyn Error>> {
        let chain = Chain::new(tag, clients, backends)?;
        // Like a node's default route would: service CIDRs lead somewhere, so packets to them
        // reach the forward hook (where unused ports are rejected) instead of failing routing.
        chain
            .node
            .ip(&["route", "add", "10.96.0.0/16", "dev", "be"])?;
        chain
            .node
            .ip(&["-6", "route", "add", "fd00:96::/112", "dev", "be"])?;
        let mut tcp = Vec::new();
        for i in 0..backends {
            for v4 in [true, false] {
                let addr = chain.backend_ip(i, v4).ok_or("backend index")?;
                tcp.push(TcpBackend::start(
                    &chain.backend,
                    SocketAddr::new(addr, BACKEND_PORT),
                )?);
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (tables, rx) = watch::channel(TableSnapshot {
            synced: true,
            ..TableSnapshot::default()
        });
        let config = NftConfig {
            cluster_cidrs: vec!["10.1.2.0/24".parse()?, "fd01:2::/64".parse()?],
            service_cidrs: vec!["10.96.0.0/16".parse()?, "fd00:96::/112".parse()?],
            min_sync_period: Duration::ZERO,
            netns: Some(chain.node.name().to_owned()),
            pick,
            ..NftConfig::default()
        };
        let proxy = rt.block_on(NftProxy::start(config.clone(), rx))?;
        let world = World {
            chain,
            rt,
            tables,
            proxy: Some(proxy),
            config,
            _tcp: tcp,
        };
        world.wait_sync(0)?;
        Ok(world)
    }

    fn proxy(&self) -> Result<&NftProxy, Box<dyn Error>> {
        self.proxy.as_ref().ok_or_else(|| "proxy stopped".into())
    }

    /// Publishes `table` and waits until the proxy applied it.
    fn publish(&self, table: ServiceTable) -> TestResult {
        let before = self.proxy()?.sync_count();
        self.tables.send_replace(TableSnapshot {
            table: Arc::new(table),
            synced: true,
            last_event_at: None,
        });
        self.wait_sync(before)
    }

    /// Waits (bounded) until more than `before` syncs succeeded.
    fn wait_sync(&self, before: u64) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.proxy()?.sync_count() <= before {
            if Instant::now() > deadline {
                return Err(format!(
                    "proxy did not sync; metrics:\n{}",
                    self.proxy()?.metrics_text()
                )
                .into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Endpoints for the first `n` backends, in `v4`'s family.
    fn endpoints(&self, n: u8, v4: bool) -> Vec<Endpoint> {
        (0..n)
            .filter_map(|i| self.chain.backend_ip(i, v4))
            .map(|ip| nft_fixture::ep(&ip.to_string(), BACKEND_PORT, true))
            .collect()
    }

    /// Connects `count` times to `to` from client `client`; returns greeting → count.
    fn spread(
        &self,
        client: u8,
        to: SocketAddr,
        count: usize,
    ) -> Result<BTreeMap<String, usize>, Box<dyn Error>> {
        let source = self
            .chain
            .client_ip(client, to.is_ipv4())
            .ok_or("client index")?;
        let result = self
            .chain
            .client
            .run(move || -> io::Result<BTreeMap<String, usize>> {
                let mut seen = BTreeMap::new();
                for _ in 0..count {
                    let (who, _stream) = connect_from(source, to)?;
                    *seen.entry(who).or_insert(0) += 1;
                }
                Ok(seen)
            })??;
        Ok(result)
    }

    /// Tries one connection from client 0 to `to`.
    fn try_connect(&self, to: SocketAddr) -> Result<io::Result<String>, Box<dyn Error>> {
        let source = self
            .chain
            .client_ip(0, to.is_ipv4())
            .ok_or("client index")?;
        Ok(self
            .chain
            .client
            .run(move || connect_from(source, to).map(|(who, _)| who))?)
    }
}

impl World {
    /// Asserts that a client at `source` reaches a backend through `to`; `who` names the client
    /// in the failure message.
    fn assert_reaches(&self, who: &str, source: IpAddr, to: SocketAddr) -> TestResult {
        let (answer, _) = self.chain.client.run(move || connect_from(source, to))??;
        assert!(
            answer.contains(&BACKEND_PORT.to_string()),
            "{who} through {to}: {answer}"
        );
        Ok(())
    }

    /// Asserts that a client at `source` does not get through `to` within a second (dropped
    /// packets never answer).
    fn assert_dropped(&self, who: &str, source: IpAddr, to: SocketAddr) -> TestResult {
        let refused = self
            .chain
            .client
            .run(move || connect_within(source, to, Duration::from_secs(1)))?;
        assert!(refused.is_err(), "{who} must not reach {to}: {refused:?}");
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            self.rt.block_on(proxy.shutdown());
        }
        // The namespaces (and the rules in them) go away with `chain`.
    }
}

/// Connects from `source` (bound, port 0) to `to` and reads the backend's greeting.
fn connect_from(source: IpAddr, to: SocketAddr) -> io::Result<(String, std::net::TcpStream)> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&to.into(), IO_TIMEOUT)?;
    let stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut greeting = Vec::new();
    let mut byte = [0u8; 1];
    while greeting.len() < 128 {
        if (&stream).read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before greeting",
            ));
        }
        if byte[0] == b'\n' {
            return Ok((String::from_utf8_lossy(&greeting).into_owned(), stream));
        }
        greeting.push(byte[0]);
    }
    Err(io::Error::other("greeting too long"))
}

fn sa(addr: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(addr), port)
}

fn web(world: &World, backends: u8) -> ServicePort {
    let mut endpoints = world.endpoints(backends, true);
    endpoints.extend(world.endpoints(backends, false));
    let mut port = svc(
        "default",
        "web",
        Protocol::Tcp,
        80,
        &["10.96.0.10", "fd00:96::10"],
        endpoints,
    );
    port.node_port = Some(30080);
    port
}

#[test]
fn cluster_ip_and_node_port_reach_all_backends_evenly() -> TestResult {
    if !require_root("cluster_ip_and_node_port_reach_all_backends_evenly") {
        return Ok(());
    }
    let world = World::new("nfteven", 1, 3)?;
    world.publish(table(vec![web(&world, 3)]))?;
    let seen = world.spread(0, sa("10.96.0.10", 80), 150)?;
    assert_eq!(seen.len(), 3, "{seen:?}");
    // 50 expected each; 25..=80 is more than 4 standard deviations either side.
    assert!(
        seen.values().all(|n| (25..=80).contains(n)),
        "uneven: {seen:?}"
    );
    let seen = world.spread(0, sa("fd00:96::10", 80), 60)?;
    assert_eq!(seen.len(), 3, "IPv6 ClusterIP: {seen:?}");
    assert!(seen.keys().all(|k| k.starts_with("[fd01:2::")), "{seen:?}");
    let node = world.chain.node_ip(true);
    let seen = world.spread(0, SocketAddr::new(node, 30080), 60)?;
    assert_eq!(seen.len(), 3, "NodePort: {seen:?}");
    let metrics = world.proxy()?.metrics_text();
    assert!(
        metrics.contains("switchyard_nft_sync_failures_total 0"),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn round_robin_cycles_through_the_backends_in_order() -> TestResult {
    if !require_root("round_robin_cycles_through_the_backends_in_order") {
        return Ok(());
    }
    let world = World::with_pick("nftrr", 1, 3, Pick::RoundRobin)?;
    world.publish(table(vec![web(&world, 3)]))?;
    let source = world.chain.client_ip(0, true).ok_or("client index")?;
    let to = sa("10.96.0.10", 80);
    let order = world
        .chain
        .client
        .run(move || -> io::Result<Vec<String>> {
            (0..30)
                .map(|_| connect_from(source, to).map(|(who, _)| who))
                .collect()
        })??;
    // Exactly in turn: every window of three distinct, each backend ten times.
    assert!(
        order
            .windows(3)
            .all(|w| w[0] != w[1] && w[1] != w[2] && w[0] != w[2]),
        "{order:?}"
    );
    for who in &order[..3] {
        assert_eq!(order.iter().filter(|o| *o == who).count(), 10, "{order:?}");
    }
    Ok(())
}

#[test]
fn affinity_pins_a_client_to_one_backend() -> TestResult {
    if !require_root("affinity_pins_a_client_to_one_backend") {
        return Ok(());
    }
    let world = World::new("nftaff", 2, 3)?;
    let mut sticky = web(&world, 3);
    sticky.affinity_timeout = Some(Duration::from_secs(600));
    world.publish(table(vec![sticky]))?;
    for client in 0..2 {
        let seen = world.spread(client, sa("10.96.0.10", 80), 30)?;
        assert_eq!(seen.len(), 1, "client {client} not pinned: {seen:?}");
    }
    Ok(())
}

#[test]
fn an_endpoint_reaches_itself_through_its_service() -> TestResult {
    if !require_root("an_endpoint_reaches_itself_through_its_service") {
        return Ok(());
    }
    let world = World::new("nfthair", 1, 2)?;
    // Backend 0 is the only endpoint, and it is also the client. Without hairpin masquerading
    // its SYN comes back to it from itself, the SYN-ACK stays local and never matches the
    // connection to the ClusterIP: the handshake cannot complete.
    world.publish(table(vec![web(&world, 1)]))?;
    for v4 in [true, false] {
        let source = world.chain.backend_ip(0, v4).ok_or("backend index")?;
        let to = if v4 {
            sa("10.96.0.10", 80)
        } else {
            sa("fd00:96::10", 80)
        };
        let (who, _stream) = world
            .chain
            .backend
            .run(move || connect_from(source, to))?
            .map_err(|e| format!("hairpin {source} -> {to}: {e}"))?;
        assert_eq!(who, SocketAddr::new(source, BACKEND_PORT).to_string());
    }
    Ok(())
}

#[test]
fn services_without_endpoints_refuse_immediately() -> TestResult {
    if !require_root("services_without_endpoints_refuse_immediately") {
        return Ok(());
    }
    let world = World::new("nftrej", 1, 1)?;
    let mut empty = svc(
        "default",
        "empty",
        Protocol::Tcp,
        80,
        &["10.96.0.12"],
        vec![],
    );
    empty.node_port = Some(30081);
    world.publish(table(vec![web(&world, 1), empty]))?;
    let node = world.chain.node_ip(true);
    let unreachables_before = icmp_dest_unreachables(&world.chain.client)?;
    for to in [
        sa("10.96.0.12", 80),
        SocketAddr::new(node, 30081),
        sa("10.96.0.10", 81), // a port the ClusterIP does not have
    ] {
        match world.try_connect(to)? {
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{to}: {err}"),
            Ok(who) => panic!("{to} answered by {who}"),
        }
    }
    // Refused with a TCP reset, not an ICMP error (which a node may rate-limit away).
    assert_eq!(
        icmp_dest_unreachables(&world.chain.client)?,
        unreachables_before,
        "TCP refusals came as ICMP destination-unreachable, not as resets"
    );
    // Endpoints appear: the same address now answers.
    let mut filled = svc(
        "default",
        "empty",
        Protocol::Tcp,
        80,
        &["10.96.0.12"],
        world.endpoints(1, true),
    );
    filled.node_port = Some(30081);
    world.publish(table(vec![web(&world, 1), filled]))?;
    assert!(world.try_connect(sa("10.96.0.12", 80))?.is_ok());
    Ok(())
}

/// The `Icmp: InDestUnreachs` counter of `/proc/net/snmp` in `ns`.
fn icmp_dest_unreachables(ns: &testkit::Netns) -> Result<u64, Box<dyn Error>> {
    let text = ns.exec("cat", &["/proc/net/snmp"])?;
    let mut lines = text.lines().filter(|l| l.starts_with("Icmp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Err("no Icmp lines in /proc/net/snmp".into());
    };
    let at = names
        .split_whitespace()
        .position(|n| n == "InDestUnreachs")
        .ok_or("no InDestUnreachs")?;
    Ok(values
        .split_whitespace()
        .nth(at)
        .ok_or("short Icmp line")?
        .parse()?)
}

#[test]
fn removed_endpoint_gets_no_new_connections_and_udp_flows_move() -> TestResult {
    if !require_root("removed_endpoint_gets_no_new_connections_and_udp_flows_move") {
        return Ok(());
    }
    let world = World::new("nftrm", 1, 3)?;
    let udp: Vec<UdpBackend> = (0..2)
        .map(|i| {
            let addr = world
                .chain
                .backend_ip(i, true)
                .ok_or_else(|| io::Error::other("index"))?;
            UdpBackend::start(
                &world.chain.backend,
                SocketAddr::new(addr, 5353),
                UdpMode::Identify,
            )
        })
        .collect::<io::Result<_>>()?;
    let dns_endpoints = |n: u8| -> Vec<Endpoint> {
        (0..n)
            .filter_map(|i| world.chain.backend_ip(i, true))
            .map(|ip| nft_fixture::ep(&ip.to_string(), 5353, true))
            .collect()
    };
    let dns = |n| {
        svc(
            "kube-system",
            "dns",
            Protocol::Udp,
            53,
            &["10.96.0.53"],
            dns_endpoints(n),
        )
    };
    world.publish(table(vec![web(&world, 3), dns(2)]))?;

    // A UDP "flow" from a fixed source port, pinned by conntrack to one backend.
    let source = world.chain.client_ip(0, true).ok_or("client")?;
    let socket = world
        .chain
        .client
        .run(move || UdpSocket::bind(SocketAddr::new(source, 0)))??;
    let ask = |socket: &UdpSocket| -> io::Result<String> {
        let (reply, _) = udp_exchange(socket, sa("10.96.0.53", 53), b"who", IO_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    let first = ask(&socket)?;
    assert_eq!(
        ask(&socket)?,
        first,
        "conntrack keeps the flow on one backend"
    );
    let keep = udp
        .iter()
        .position(|b| b.addr().to_string() != first)
        .ok_or("other backend")?;
    let keep_ip = udp[keep].addr().ip().to_string();

    // Remove backend 2 from web, and the flow's backend from dns.
    let mut web2 = web(&world, 3);
    let removed = world.chain.backend_ip(2, true).ok_or("backend")?;
    web2.endpoints.retain(|e| e.ip != removed);
    let dns_left = svc(
        "kube-system",
        "dns",
        Protocol::Udp,
        53,
        &["10.96.0.53"],
        vec![nft_fixture::ep(&keep_ip, 5353, true)],
    );
    world.publish(table(vec![web2, dns_left]))?;
    let seen = world.spread(0, sa("10.96.0.10", 80), 60)?;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        !seen.contains_key(&format!("{removed}:{BACKEND_PORT}")),
        "{seen:?}"
    );
    // The stale conntrack entry was deleted: the same source port now reaches the survivor.
    assert_eq!(ask(&socket)?, udp[keep].addr().to_string());
    Ok(())
}

#[test]
fn resync_and_restart_under_traffic_lose_no_connection() -> TestResult {
    if !require_root("resync_and_restart_under_traffic_lose_no_connection") {
        return Ok(());
    }
    let mut world = World::new("nftsync", 1, 2)?;
    world.publish(table(vec![web(&world, 2)]))?;
    let source = world.chain.client_ip(0, true).ok_or("client")?;
    let to = sa("10.96.0.10", 80);
    // A long-lived connection that must keep working throughout.
    let (_, mut long) = world.chain.client.run(move || connect_from(source, to))??;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        world
            .chain
            .client
            .spawn(move || -> io::Result<(usize, Vec<String>)> {
                let (mut ok, mut errors) = (0, Vec::new());
                // Bounded: at most 5000 connections even if the main thread never stops us.
                while !stop.load(Ordering::Relaxed) && ok + errors.len() < 5000 {
                    match connect_from(source, to).and_then(|(_, mut s)| {
                        s.write_all(b"ping")?;
                        s.shutdown(std::net::Shutdown::Write)?;
                        let mut back = Vec::new();
                        s.read_to_end(&mut back)?;
                        if back == b"ping" {
                            Ok(())
                        } else {
                            Err(io::Error::other("bad echo"))
                        }
                    }) {
                        Ok(()) => ok += 1,
                        Err(err) => errors.push(err.to_string()),
                    }
                }
                Ok((ok, errors))
            })
    };
    for _ in 0..5 {
        let before = world.proxy()?.sync_count();
        world.proxy()?.request_full_resync();
        world.wait_sync(before)?;
        thread::sleep(Duration::from_millis(50));
    }
    // Restart: the new proxy adopts the tables.
    if let Some(old) = world.proxy.take() {
        world.rt.block_on(old.shutdown());
    }
    let (tx, rx) = watch::channel(world.tables.borrow().clone());
    world.tables = tx;
    world.proxy = Some(
        world
            .rt
            .block_on(NftProxy::start(world.config.clone(), rx))?,
    );
    world.wait_sync(0)?;
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let (ok, errors) = traffic.join().map_err(|_| "traffic thread panicked")???;
    assert!(
        errors.is_empty(),
        "{} of {} connections failed: {:?}",
        errors.len(),
        ok + errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(ok > 10, "only {ok} connections ran");
    long.write_all(b"still here")?;
    let mut back = [0u8; 10];
    long.read_exact(&mut back)?;
    assert_eq!(&back, b"still here");
    Ok(())
}

#[test]
fn rules_stay_after_shutdown_and_cleanup_leaves_no_trace() -> TestResult {
    if !require_root("rules_stay_after_shutdown_and_cleanup_leaves_no_trace") {
        return Ok(());
    }
    let mut world = World::new("nftclean", 1, 1)?;
    world.publish(table(vec![web(&world, 1)]))?;
    if let Some(proxy) = world.proxy.take() {
        world.rt.block_on(proxy.shutdown());
    }
    assert!(
        world.try_connect(sa("10.96.0.10", 80))?.is_ok(),
        "rules stay after shutdown"
    );
    let ns = world.chain.node.name().to_owned();
    world.rt.block_on(proxy::nft::cleanup(Some(&ns)))?;
    let left = world.chain.node.exec("nft", &["list", "ruleset"])?;
    assert_eq!(left.trim(), "", "cleanup left: {left}");
    assert!(
        world.try_connect(sa("10.96.0.10", 80))?.is_err(),
        "service gone with the rules"
    );
    Ok(())
}

/// Connects from `source` to `to`, giving up after `timeout` (for connections that must fail).
fn connect_within(source: IpAddr, to: SocketAddr, timeout: Duration) -> io::Result<()> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&to.into(), timeout)
}

#[test]
fn lb_ip_admits_only_sources_in_ranges_while_node_port_admits_all() -> TestResult {
    if !require_root("lb_ip_admits_only_sources_in_ranges_while_node_port_admits_all") {
        return Ok(());
    }
    let world = World::new("nftsr", 2, 1)?;
    let mut port = web(&world, 1);
    port.load_balancer_ips = vec![ip("198.51.100.7"), ip("2001:db8:51::7")];
    let client = |i: u8, v4: bool| world.chain.client_ip(i, v4).ok_or("client index");
    let (a4, a6, b4, b6) = (
        client(0, true)?,
        client(0, false)?,
        client(1, true)?,
        client(1, false)?,
    );
    port.source_ranges = Some(vec![
        ipnet::IpNet::new(a4, 32)?,
        ipnet::IpNet::new(a6, 128)?,
    ]);
    world.publish(table(vec![port.clone()]))?;

    for (lb, a, b, node) in [
        (ip("198.51.100.7"), a4, b4, world.chain.node_ip(true)),
        (ip("2001:db8:51::7"), a6, b6, world.chain.node_ip(false)),
    ] {
        let lb = SocketAddr::new(lb, 80);
        world.assert_reaches("A", a, lb)?;
        world.assert_dropped("B", b, lb)?;
        // The same Service's NodePort and ClusterIP are not filtered.
        let cluster = if lb.is_ipv4() {
            "10.96.0.10"
        } else {
            "fd00:96::10"
        };
        for open in [
            SocketAddr::new(node, 30080),
            SocketAddr::new(ip(cluster), 80),
        ] {
            world.assert_reaches("B", b, open)?;
        }
    }

    // Ranges changed to B only: A is now the one dropped.
    port.source_ranges = Some(vec![ipnet::IpNet::new(b4, 32)?]);
    world.publish(table(vec![port.clone()]))?;
    let lb = SocketAddr::new(ip("198.51.100.7"), 80);
    world.assert_reaches("B after the change", b4, lb)?;
    world.assert_dropped("A after the change", a4, lb)?;
    // No IPv6 range left: the IPv6 LB IP is open to all, as in kube-proxy.
    world.assert_reaches("A", a6, SocketAddr::new(ip("2001:db8:51::7"), 80))?;

    // Ranges removed: the LB IP is open again.
    port.source_ranges = None;
    world.publish(table(vec![port]))?;
    world.assert_reaches("A without ranges", a4, lb)?;
    Ok(())
}
