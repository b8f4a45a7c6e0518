use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

use super::*;
use crate::model::{Protocol, ServicePort, ServicePortId};

fn service(json: serde_json::Value) -> Service {
    serde_json::from_value(json).unwrap_or_default()
}

fn lb(spec_ranges: serde_json::Value, annotation: Option<&str>) -> Service {
    let mut annotations = serde_json::Map::new();
    if let Some(value) = annotation {
        annotations.insert(SOURCE_RANGES_ANNOTATION.into(), value.into());
    }
    service(serde_json::json!({
        "metadata": {"name": "lb", "namespace": "default", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": spec_ranges,
                 "ports": [{"port": 80}]}
    }))
}

fn nets(list: &[&str]) -> Option<Vec<IpNet>> {
    Some(list.iter().filter_map(|s| s.parse().ok()).collect())
}

#[test]
fn field_is_parsed_truncated_and_merged() {
    let parsed = parse(&lb(
        serde_json::json!([" 10.1.2.3/24 ", "10.1.2.0/25", "fd00::/64"]),
        None,
    ));
    assert_eq!(parsed, nets(&["10.1.2.0/24", "fd00::/64"]));
}

#[test]
fn field_wins_over_annotation_and_annotation_is_the_fallback() {
    let both = lb(serde_json::json!(["10.0.0.0/8"]), Some("192.168.0.0/16"));
    assert_eq!(parse(&both), nets(&["10.0.0.0/8"]));
    let annotation_only = lb(
        serde_json::json!([]),
        Some(" 192.168.0.0/16 , 172.16.0.0/12,"),
    );
    assert_eq!(
        parse(&annotation_only),
        nets(&["172.16.0.0/12", "192.168.0.0/16"])
    );
}

#[test]
fn nothing_listed_is_no_restriction() {
    assert_eq!(parse(&lb(serde_json::json!([]), None)), None);
    assert_eq!(parse(&lb(serde_json::json!([]), Some(" , "))), None);
}

#[test]
fn garbage_is_left_out_and_never_allows_all() {
    let mixed = lb(
        serde_json::json!(["10.0.0.0/8", "10.0.0.1", "nonsense", "10.0.0.0/33"]),
        None,
    );
    assert_eq!(parse(&mixed), nets(&["10.0.0.0/8"]));
    let only_garbage = lb(serde_json::json!(["10.0.0.1", "all"]), None);
    assert_eq!(parse(&only_garbage), Some(Vec::new()));
}

#[test]
fn only_load_balancers_have_ranges() {
    for ty in ["ClusterIP", "NodePort"] {
        let svc = service(serde_json::json!({
            "metadata": {"name": "x", "namespace": "default",
                         "annotations": {SOURCE_RANGES_ANNOTATION: "10.0.0.0/8"}},
            "spec": {"type": ty, "loadBalancerSourceRanges": ["10.0.0.0/8"]}
        }));
        assert_eq!(parse(&svc), None, "{ty}");
    }
}

#[test]
fn the_list_is_bounded() {
    let many: Vec<String> = (0..2000u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let parsed = parse(&lb(serde_json::json!(many), None)).unwrap_or_default();
    assert!(parsed.len() <= MAX_RANGES, "{}", parsed.len());
    let covered: IpAddr = "10.3.255.1".parse().unwrap_or(IpAddr::from([0; 4]));
    assert!(parsed.iter().any(|n| n.contains(&covered)));
    let beyond: IpAddr = "10.7.0.1".parse().unwrap_or(IpAddr::from([0; 4]));
    assert!(!parsed.iter().any(|n| n.contains(&beyond)));
}

fn port(ranges: Option<Vec<IpNet>>) -> ServicePort {
    ServicePort {
        id: ServicePortId {
            namespace: "default".into(),
            name: "lb".into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        },
        port: 80,
        cluster_ips: Vec::new(),
        node_port: None,
        external_ips: Vec::new(),
        load_balancer_ips: Vec::new(),
        source_ranges: ranges,
        affinity_timeout: None,
        external_policy_local: false,
        internal_policy_local: false,
        endpoints: Vec::new(),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0; 4]))
}

#[test]
fn ranges_apply_per_family() {
    let v4_only = port(nets(&["10.0.0.0/8"]));
    assert!(v4_only.lb_source_allowed(ip("192.0.2.1"), ip("10.1.1.1")));
    assert!(!v4_only.lb_source_allowed(ip("192.0.2.1"), ip("11.1.1.1")));
    // An IPv4 client seen through a dual-stack socket.
    assert!(v4_only.lb_source_allowed(ip("192.0.2.1"), ip("::ffff:10.1.1.1")));
    // No IPv6 ranges: the IPv6 LB IP stays open, as in kube-proxy.
    assert!(v4_only.lb_source_allowed(ip("2001:db8::1"), ip("fd00::9")));
    let none = port(None);
    assert!(none.lb_source_allowed(ip("192.0.2.1"), ip("11.1.1.1")));
    let unreadable = port(Some(Vec::new()));
    assert!(!unreadable.lb_source_allowed(ip("192.0.2.1"), ip("10.1.1.1")));
    assert!(!unreadable.lb_source_allowed(ip("2001:db8::1"), ip("fd00::9")));
    assert_eq!(
        unreadable.load_balancer_source_ranges(ip("fd00::1")),
        Some(Vec::new())
    );
}
