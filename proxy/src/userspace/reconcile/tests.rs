//! The reconciler against real loopback sockets (no root needed): which listeners a table asks
//! for, and that updates re-point listeners in place without cutting connections.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::model::Endpoint;
use crate::userspace::copy::Mode;
use crate::userspace::{LbPolicy, UserspaceConfig};

fn ctx() -> Arc<Ctx> {
    Arc::new(Ctx {
        policy: LbPolicy::RoundRobin,
        connect_timeout: Duration::from_secs(1),
        connect_attempts: 2,
        udp_idle_timeout: Duration::from_secs(5),
        copy_mode: Mode::native(),
        tracker: tokio_util::task::TaskTracker::new(),
        drain: CancellationToken::new(),
    })
}

fn reconciler(config: &UserspaceConfig) -> Reconciler {
    Reconciler::new(
        config,
        &BTreeSet::new(),
        ctx(),
        Arc::new(ProxyStats::default()),
        AppliedState::default(),
        None,
        CancellationToken::new(),
    )
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        port: addr.port(),
        ready: true,
        serving: true,
        terminating: false,
        node_name: None,
        is_local: true,
    }
}

fn port(
    name: &str,
    protocol: Protocol,
    ip: IpAddr,
    number: u16,
    eps: &[SocketAddr],
) -> ServicePort {
    ServicePort {
        id: ServicePortId {
            namespace: "ns".into(),
            name: name.into(),
            port_name: String::new(),
            protocol,
        },
        port: number,
        cluster_ips: vec![ip],
        node_port: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
        source_ranges: None,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints: eps.iter().map(|a| endpoint(*a)).collect(),
    }
}

fn snapshot(ports: Vec<ServicePort>) -> TableSnapshot {
    let mut ports: Vec<Arc<ServicePort>> = ports.into_iter().map(Arc::new).collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    TableSnapshot {
        table: Arc::new(ServiceTable { ports }),
        synced: true,
        last_event_at: Some(Instant::now()),
    }
}

/// A free loopback port (bound and released; the kernel does not hand it out again at once).
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An echo server that first sends `tag\n`.
async fn tagged_echo(tag: &'static str) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(format!("{tag}\n").as_bytes()).await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn greeting(addr: SocketAddr) -> io::Result<(String, TcpStream)> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    Ok((String::from_utf8_lossy(&line).into_owned(), stream))
}

#[test]
fn wanted_covers_every_address_kind_and_skips_sctp() {
    let node: IpAddr = [192, 0, 2, 1].into();
    let config = UserspaceConfig {
        node_ips: vec![node],
        nodeport_addresses: vec![IpNet::from(node)],
        ..UserspaceConfig::default()
    };
    let mut r = reconciler(&config);
    let mut web = port("web", Protocol::Tcp, [10, 96, 0, 1].into(), 80, &[]);
    web.node_port = Some(30080);
    web.external_ips = vec![node, [203, 0, 113, 9].into()];
    web.load_balancer_ips = vec![node, [198, 51, 100, 7].into()];
    let sctp = port("sig", Protocol::Sctp, [10, 96, 0, 2].into(), 9, &[]);
    // Same address and port as web, later in id order: loses the clash.
    let clash = port("zzz", Protocol::Tcp, [10, 96, 0, 1].into(), 80, &[]);
    let snap = snapshot(vec![web, sctp, clash]);
    let wanted = r.wanted(&snap.table);
    let got: Vec<(String, String, Scope)> = wanted
        .iter()
        .map(|(k, w)| (k.addr.to_string(), w.port.id.name.clone(), w.scope))
        .collect();
    assert_eq!(
        got,
        [
            (
                "10.96.0.1:80".to_string(),
                "web".to_string(),
                Scope::Cluster
            ),
            ("192.0.2.1:80".into(), "web".into(), Scope::External),
            ("192.0.2.1:30080".into(), "web".into(), Scope::External),
        ]
    );
}

#[test]
fn nodeports_default_to_wildcards() {
    let ips = nodeport_ips(&UserspaceConfig::default(), &BTreeSet::new());
    assert_eq!(
        ips,
        [
            IpAddr::from(Ipv4Addr::UNSPECIFIED),
            Ipv6Addr::UNSPECIFIED.into()
        ]
    );
}

#[test]
fn nodeports_follow_networks_over_local_addresses() -> Result<(), ipnet::AddrParseError> {
    let config = UserspaceConfig {
        node_ips: vec![[192, 0, 2, 1].into()],
        nodeport_addresses: vec!["127.0.0.0/8".parse()?, "198.51.100.5/32".parse()?],
        ..UserspaceConfig::default()
    };
    let local: BTreeSet<IpAddr> = [[127, 0, 0, 1], [10, 0, 0, 5]]
        .into_iter()
        .map(IpAddr::from)
        .collect();
    let got: Vec<String> = nodeport_ips(&config, &local)
        .iter()
        .map(|i| i.to_string())
        .collect();
    // 192.0.2.1 and 10.0.0.5 are outside both networks; the /32 names its address directly.
    assert_eq!(got, ["127.0.0.1", "198.51.100.5"]);
    Ok(())
}

#[tokio::test]
async fn endpoint_change_repoints_in_place_and_keeps_connections() -> io::Result<()> {
    let first = tagged_echo("first").await?;
    let second = tagged_echo("second").await?;
    let service = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?);
    let mut r = reconciler(&UserspaceConfig::default());
    let web = |eps: &[SocketAddr]| port("web", Protocol::Tcp, service.ip(), service.port(), eps);

    r.apply(&snapshot(vec![web(&[first])])).await;
    assert_eq!(r.listeners.len(), 1);
    let key = ListenKey {
        protocol: Protocol::Tcp,
        addr: service,
    };
    let opened = r.listeners.get(&key).map(|l| l.route.clone());
    let (who, mut held) = greeting(service).await?;
    assert_eq!(who, "first");

    r.apply(&snapshot(vec![web(&[second])])).await;
    let kept = r.listeners.get(&key).map(|l| l.route.clone());
    assert!(
        opened.zip(kept).is_some_and(|(a, b)| Arc::ptr_eq(&a, &b)),
        "the listener must be re-pointed, not reopened"
    );
    let (who, _) = greeting(service).await?;
    assert_eq!(who, "second");
    // The connection to the endpoint that left still works.
    held.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    held.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ping");

    r.apply(&snapshot(Vec::new())).await;
    assert!(r.listeners.is_empty());
    let refused = TcpStream::connect(service)
        .await
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(io::ErrorKind::ConnectionRefused));
    Ok(())
}

#[tokio::test]
async fn affinity_survives_updates_and_drops_pins_to_removed_endpoints() -> io::Result<()> {
    let a = tagged_echo("a").await?;
    let b = tagged_echo("b").await?;
    let service = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?);
    let mut r = reconciler(&UserspaceConfig::default());
    let web = |eps: &[SocketAddr]| {
        let mut p = port("web", Protocol::Tcp, service.ip(), service.port(), eps);
        p.affinity_timeout = Some(Duration::from_secs(60));
        p
    };
    r.apply(&snapshot(vec![web(&[a, b])])).await;
    let (pinned, _) = greeting(service).await?;
    for _ in 0..4 {
        assert_eq!(greeting(service).await?.0, pinned);
    }
    // An unrelated update (another service) keeps the pin.
    let other = port("other", Protocol::Tcp, service.ip(), free_port()?, &[a]);
    r.apply(&snapshot(vec![web(&[a, b]), other])).await;
    assert_eq!(greeting(service).await?.0, pinned);
    // The pinned endpoint leaves: the client moves to the remaining one.
    let remaining = if pinned == "a" { b } else { a };
    r.apply(&snapshot(vec![web(&[remaining])])).await;
    let (moved, _) = greeting(service).await?;
    assert_ne!(moved, pinned);
    Ok(())
}

/// The incrementally kept winners, comparable with [`Reconciler::wanted`]'s answer.
fn winners(wanted: &BTreeMap<ListenKey, Want>) -> Vec<(ListenKey, String, Scope)> {
    wanted
        .iter()
        .map(|(k, w)| (*k, w.port.id.name.clone(), w.scope))
        .collect()
}

#[tokio::test]
async fn an_update_looks_only_at_the_ports_it_changes() -> io::Result<()> {
    let backend = tagged_echo("one").await?;
    let mut r = reconciler(&UserspaceConfig::default());
    // An address of its own: ports other tests take on 127.0.0.1 meanwhile cannot collide.
    let localhost: IpAddr = Ipv4Addr::new(127, 0, 0, 93).into();
    // All 40 held at once while choosing, so no port is handed out twice.
    let held = (0..40)
        .map(|_| std::net::TcpListener::bind((localhost, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut services = Vec::new();
    for (i, listener) in held.iter().enumerate() {
        services.push((format!("svc-{i:02}"), listener.local_addr()?.port()));
    }
    drop(held);
    let table = |services: &[(String, u16)], endpoints: &[(usize, SocketAddr)]| {
        services
            .iter()
            .enumerate()
            .map(|(i, (name, number))| {
                let eps: Vec<SocketAddr> = endpoints
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, a)| *a)
                    .collect();
                port(name, Protocol::Tcp, localhost, *number, &eps)
            })
            .collect::<Vec<_>>()
    };
    let all: Vec<(usize, SocketAddr)> = (0..services.len()).map(|i| (i, backend)).collect();

    let snap = snapshot(table(&services, &all));
    r.apply(&snap).await;
    assert_eq!(r.last_changed, 40);
    assert_eq!(r.listeners.len(), 40);
    let reference = r.wanted(&snap.table);
    assert_eq!(winners(&r.wanted), winners(&reference));
    let routes: Vec<Arc<Route>> = r.listeners.values().map(|l| l.route.load_full()).collect();

    // Service 7 loses its endpoint: one port looked at, the other 39 routes untouched.
    let fewer: Vec<(usize, SocketAddr)> = all.iter().copied().filter(|(i, _)| *i != 7).collect();
    let snap = snapshot(table(&services, &fewer));
    r.apply(&snap).await;
    assert_eq!(r.last_changed, 1);
    let kept = r
        .listeners
        .values()
        .filter(|l| {
            routes
                .iter()
                .any(|old| Arc::ptr_eq(old, &l.route.load_full()))
        })
        .count();
    assert_eq!(kept, 39);
    assert_eq!(winners(&r.wanted), winners(&r.wanted(&snap.table)));

    // A later port claims service 3's address, then service 3 goes: the claimant takes the
    // listener over in place.
    let three = SocketAddr::new(localhost, services[3].1);
    let key = ListenKey {
        protocol: Protocol::Tcp,
        addr: three,
    };
    let opened = r.listeners.get(&key).map(|l| l.route.clone());
    services.push(("zzz".into(), three.port()));
    let snap = snapshot(table(&services, &fewer));
    r.apply(&snap).await;
    assert_eq!(r.last_changed, 1);
    assert_eq!(r.listeners.len(), 40);
    assert_eq!(winners(&r.wanted), winners(&r.wanted(&snap.table)));
    services.remove(3);
    let shifted: Vec<(usize, SocketAddr)> = (0..services.len())
        .filter(|i| *i != 6)
        .map(|i| (i, backend))
        .collect();
    let snap = snapshot(table(&services, &shifted));
    r.apply(&snap).await;
    assert_eq!(r.last_changed, 2, "service 3 gone, zzz gained an endpoint");
    assert_eq!(winners(&r.wanted), winners(&r.wanted(&snap.table)));
    let now = r.listeners.get(&key).map(|l| l.route.clone());
    assert!(
        opened
            .zip(now.clone())
            .is_some_and(|(a, b)| Arc::ptr_eq(&a, &b)),
        "the listener must be re-pointed, not reopened"
    );
    let owner = now.map(|route| route.load().port.id.name.clone());
    assert_eq!(owner.as_deref(), Some("zzz"));
    assert_eq!(greeting(three).await?.0, "one");
    assert_eq!(r.pools.len(), r.pool_users.len());
    assert_eq!(r.pool_users.values().sum::<usize>(), r.wanted.len());
    Ok(())
}
