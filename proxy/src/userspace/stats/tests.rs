//! The userspace registry encodes per-port and proxy-wide metrics under today's names.

use super::*;
use crate::model::Protocol;

fn port(name: &str) -> ServicePortId {
    ServicePortId {
        namespace: "ns".into(),
        name: name.into(),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
    }
}

#[test]
fn encodes_port_handles_and_drops_gone_ports() {
    let stats = ProxyStats::default();
    let web = stats.port_metrics(&port("web"));
    let api = stats.port_metrics(&port("api"));
    web.total.inc();
    web.bytes_to_endpoint.inc_by(100);
    let open = Held::new(web.active.inner());
    api.rejected.inc();
    stats.sync_latency.observe(0.003);
    stats.listeners.set(2);
    stats.last_sync.set(1.5);
    let text = stats.encode();
    let samples = testkit::parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, labels: &[(&str, &str)]| testkit::value_of(&samples, name, labels);
    let web_labels = [
        ("namespace", "ns"),
        ("service", "web"),
        ("port", "http"),
        ("protocol", "tcp"),
    ];
    assert_eq!(
        value("switchyard_userspace_connections_total", &web_labels),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("switchyard_userspace_connections_active", &web_labels),
        Some(1.0)
    );
    assert_eq!(
        value(
            "switchyard_userspace_bytes_total",
            &[("service", "web"), ("direction", "to_endpoint")]
        ),
        Some(100.0)
    );
    assert_eq!(
        value("switchyard_userspace_rejected_total", &[("service", "api")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            "switchyard_userspace_sync_latency_seconds_bucket",
            &[("le", "0.005")]
        ),
        Some(1.0)
    );
    assert_eq!(value("switchyard_userspace_listeners", &[]), Some(2.0));
    assert_eq!(
        value("switchyard_userspace_last_sync_timestamp_seconds", &[]),
        Some(1.5)
    );
    assert!(text.contains("# TYPE switchyard_userspace_syncs_total counter\n"));
    assert!(text.contains("# HELP switchyard_userspace_syncs_total Service tables applied.\n"));
    drop(open);

    stats.retain_ports([&port("api")]);
    let text = stats.encode();
    assert!(!text.contains("service=\"web\""), "{text}");
    assert!(text.contains("service=\"api\""), "{text}");
}
