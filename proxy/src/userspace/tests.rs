//! The public lifecycle on loopback (no root needed): config validation, start, health and
//! metrics after applies, shutdown closing listeners.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::*;
use crate::model::{Endpoint, Protocol, ServicePort, ServicePortId};

fn table(service: SocketAddr, endpoints: &[SocketAddr]) -> TableSnapshot {
    let port = ServicePort {
        id: ServicePortId {
            namespace: "ns".into(),
            name: "web".into(),
            port_name: "http".into(),
            protocol: Protocol::Tcp,
        },
        port: service.port(),
        cluster_ips: vec![service.ip()],
        node_port: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
        source_ranges: None,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints: endpoints
            .iter()
            .map(|a| Endpoint {
                ip: a.ip(),
                port: a.port(),
                ready: true,
                serving: true,
                terminating: false,
                node_name: None,
                is_local: true,
            })
            .collect(),
    };
    TableSnapshot {
        table: Arc::new(ServiceTable {
            ports: vec![Arc::new(port)],
        }),
        synced: true,
        last_event_at: Some(Instant::now()),
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            UserspaceConfig {
                connect_attempts: 0,
                ..UserspaceConfig::default()
            },
            "connect_attempts",
        ),
        (
            UserspaceConfig {
                connect_timeout: Duration::ZERO,
                ..UserspaceConfig::default()
            },
            "connect_timeout",
        ),
        (
            UserspaceConfig {
                udp_idle_timeout: Duration::ZERO,
                ..UserspaceConfig::default()
            },
            "udp_idle_timeout",
        ),
        (
            UserspaceConfig {
                manage_interface: Some("much-too-long-name0".into()),
                ..UserspaceConfig::default()
            },
            "manage_interface",
        ),
        (
            UserspaceConfig {
                manage_interface: Some("a/b".into()),
                ..UserspaceConfig::default()
            },
            "manage_interface",
        ),
    ];
    for (config, field) in cases {
        match config.validate() {
            Err(ProxyError::Config { field: got, reason }) => {
                assert_eq!(got, field, "{reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{field}: expected a config error, got {other:?}"),
        }
    }
    assert!(UserspaceConfig::default().validate().is_ok());
}

#[tokio::test]
async fn start_serves_reports_health_and_metrics_then_shuts_down() -> io::Result<()> {
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let backend_addr = backend.local_addr()?;
    let service = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?);
    let (tx, rx) = watch::channel(table(service, &[backend_addr]));
    let proxy = UserspaceProxy::start(UserspaceConfig::default(), rx)
        .await
        .map_err(io::Error::other)?;

    let health = proxy.health();
    assert_eq!(health.listeners, Some(1));
    assert!(health.synced && !health.stale && health.last_applied.is_some());
    let mut client = TcpStream::connect(service).await?;
    let (_accepted, _) = backend.accept().await?;

    // A new table (endpoint gone) is applied by the background task.
    tx.send_replace(table(service, &[]));
    let mut applied = false;
    for _ in 0..200 {
        let text = proxy.metrics_text();
        if text.contains("switchyard_userspace_syncs_total 2\n") {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        applied,
        "second table not applied: {}",
        proxy.metrics_text()
    );
    let text = proxy.metrics_text();
    assert!(
        text.contains("switchyard_userspace_sync_latency_seconds_count 2\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "switchyard_userspace_connections_total{namespace=\"ns\",service=\"web\",port=\"http\",protocol=\"tcp\"} 1\n"
        ),
        "{text}"
    );
    assert!(!proxy.health().stale);

    // Shutdown waits briefly for the open connection, then closes it.
    proxy.shutdown().await;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "connection still open after shutdown: {closed:?}"
    );
    let refused = TcpStream::connect(service)
        .await
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(io::ErrorKind::ConnectionRefused));
    Ok(())
}
