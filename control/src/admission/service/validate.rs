//! Service validation of everything that needs no allocator: type, ports, protocols,
//! targetPorts, node port ranges, session affinity, traffic policies, externalName,
//! clusterIP syntax and the selector (externalIPs and source ranges: `traffic`). Reports every problem at once with
//! Kubernetes field paths. Never changes the object.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use k8s_openapi::api::core::v1::ServiceSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::admission::field::Causes;
use crate::admission::names;

/// Service types.
pub(super) const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
/// Port protocols.
pub(super) const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const AFFINITIES: [&str; 2] = ["ClientIP", "None"];
const POLICIES: [&str; 2] = ["Cluster", "Local"];
/// The longest ClientIP affinity timeout: one day.
pub(super) const MAX_AFFINITY_TIMEOUT: i32 = 86_400;

/// Whether `ty` gets node ports allocated (LoadBalancer only when allowed).
pub(super) fn needs_node_ports(spec: &ServiceSpec) -> bool {
    match spec.type_.as_deref() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    }
}

/// Whether `nodePort` may be set at all for this type.
pub(super) fn allows_node_ports(spec: &ServiceSpec) -> bool {
    matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"))
}

/// Whether the service gets a `healthCheckNodePort`.
pub(super) fn needs_health_check(spec: &ServiceSpec) -> bool {
    spec.type_.as_deref() == Some("LoadBalancer")
        && spec.external_traffic_policy.as_deref() == Some("Local")
}

/// Whether the Service is headless (`clusterIP: None`).
pub(super) fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ip.as_deref() == Some("None")
        || spec
            .cluster_ips
            .as_ref()
            .is_some_and(|v| v.first().map(String::as_str) == Some("None"))
}

fn port_range_text(range: &RangeInclusive<u16>) -> String {
    format!("{}-{}", range.start(), range.end())
}

/// Validates a defaulted spec.
pub(super) fn validate(spec: &ServiceSpec, node_ports: &RangeInclusive<u16>, c: &mut Causes) {
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !TYPES.contains(&ty) {
        c.not_supported("spec.type", ty, &TYPES);
    }
    let external_name = ty == "ExternalName";
    let headless = is_headless(spec);
    validate_ports(spec, ty, headless, node_ports, c);
    validate_cluster_ips(spec, ty, c);
    if external_name {
        match spec.external_name.as_deref() {
            None | Some("") => c.required("spec.externalName", ""),
            Some(name) => {
                let bare = name.strip_suffix('.').unwrap_or(name);
                if let Err(why) = names::validate_dns_subdomain(bare) {
                    c.invalid("spec.externalName", &name, why);
                }
            }
        }
    }
    if let Some(selector) = &spec.selector {
        validate_selector(selector, c);
    }
    validate_affinity(spec, c);
    validate_policies(spec, ty, c);
}

fn validate_selector(selector: &BTreeMap<String, String>, c: &mut Causes) {
    for (k, v) in selector {
        if let Err(why) = names::validate_label_key(k) {
            c.invalid("spec.selector", k, why);
        }
        if let Err(why) = names::validate_label_value(v) {
            c.invalid(&format!("spec.selector[{k}]"), v, why);
        }
    }
}

fn validate_ports(
    spec: &ServiceSpec,
    ty: &str,
    headless: bool,
    node_ports: &RangeInclusive<u16>,
    c: &mut Causes,
) {
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && ty != "ExternalName" && !headless {
        c.required("spec.ports", "");
    }
    let mut names_seen = HashSet::new();
    let mut pairs_seen = HashSet::new();
    let mut node_ports_seen: HashMap<(i32, &str), usize> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match port.name.as_deref() {
            None | Some("") if ports.len() > 1 => c.required(&format!("{path}.name"), ""),
            None | Some("") => {}
            Some(name) => {
                if let Err(why) = names::validate_dns_label(name) {
                    c.invalid(&format!("{path}.name"), &name, why);
                }
                if !names_seen.insert(name) {
                    c.duplicate(&format!("{path}.name"), &name);
                }
            }
        }
        if !(1..=65535).contains(&port.port) {
            c.invalid(
                &format!("{path}.port"),
                &port.port,
                "must be between 1 and 65535, inclusive",
            );
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            c.not_supported(&format!("{path}.protocol"), protocol, &PROTOCOLS);
        }
        if !pairs_seen.insert((port.port, protocol)) {
            c.duplicate(&path, &format!("{}/{protocol}", port.port));
        }
        match &port.target_port {
            Some(IntOrString::Int(p)) if !(1..=65535).contains(p) => c.invalid(
                &format!("{path}.targetPort"),
                p,
                "must be between 1 and 65535, inclusive",
            ),
            Some(IntOrString::String(name)) => {
                if let Err(why) = names::validate_iana_svc_name(name) {
                    c.invalid(&format!("{path}.targetPort"), name, why);
                }
            }
            _ => {}
        }
        if let Some(np) = port.node_port.filter(|p| *p != 0) {
            let np_path = format!("{path}.nodePort");
            if !allows_node_ports(spec) {
                c.forbidden(&np_path, format!("may not be used when `type` is '{ty}'"));
            } else if !u16::try_from(np).is_ok_and(|p| node_ports.contains(&p)) {
                c.invalid(
                    &np_path,
                    &np,
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {}",
                        port_range_text(node_ports)
                    ),
                );
            } else if node_ports_seen.insert((np, protocol), i).is_some() {
                c.duplicate(&np_path, &np);
            }
        }
    }
    if let Some(hc) = spec.health_check_node_port.filter(|p| *p != 0) {
        if !needs_health_check(spec) {
            c.forbidden(
                "spec.healthCheckNodePort",
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is \
                 'Local'",
            );
        } else if !u16::try_from(hc).is_ok_and(|p| node_ports.contains(&p)) {
            c.invalid(
                "spec.healthCheckNodePort",
                &hc,
                format!(
                    "provided port is not in the valid range. The range of valid ports is {}",
                    port_range_text(node_ports)
                ),
            );
        } else if node_ports_seen.keys().any(|(p, _)| *p == hc) {
            c.duplicate("spec.healthCheckNodePort", &hc);
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && ty != "LoadBalancer" {
        c.forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        );
    }
}

fn validate_cluster_ips(spec: &ServiceSpec, ty: &str, c: &mut Causes) {
    let ips = spec.cluster_ips.as_deref().unwrap_or_default();
    if ty == "ExternalName" {
        if !ips.is_empty() || spec.cluster_ip.as_deref().is_some_and(|s| !s.is_empty()) {
            c.invalid(
                "spec.clusterIPs",
                &ips,
                "must be empty for ExternalName services",
            );
        }
        return;
    }
    if let (Some(single), Some(first)) = (spec.cluster_ip.as_deref(), ips.first())
        && !single.is_empty()
        && single != first
    {
        c.invalid(
            "spec.clusterIPs[0]",
            first,
            format!("must match `spec.clusterIP` {single:?}"),
        );
    }
    if ips.len() > 2 {
        c.invalid("spec.clusterIPs", &ips, "may only hold up to 2 values");
    }
    for (i, ip) in ips.iter().enumerate() {
        let path = format!("spec.clusterIPs[{i}]");
        if ip == "None" {
            if i > 0 || ips.len() > 1 {
                c.invalid(&path, ip, "'None' must be the first and only value");
            } else if ty == "NodePort" || ty == "LoadBalancer" {
                c.invalid(&path, ip, format!("may not be 'None' for {ty} services"));
            }
        } else if ip.parse::<IpAddr>().is_err() {
            c.invalid(
                &path,
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            );
        }
    }
    if let [a, b] = ips
        && let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>())
        && a.is_ipv4() == b.is_ipv4()
    {
        c.invalid(
            "spec.clusterIPs[1]",
            &b.to_string(),
            "may not be the same IP family as `clusterIPs[0]`",
        );
    }
}

fn validate_affinity(spec: &ServiceSpec, c: &mut Causes) {
    let Some(affinity) = spec.session_affinity.as_deref() else {
        if spec.session_affinity_config.is_some() {
            c.forbidden(
                "spec.sessionAffinityConfig",
                "may not be set for ExternalName services",
            );
        }
        return;
    };
    if !AFFINITIES.contains(&affinity) {
        c.not_supported("spec.sessionAffinity", affinity, &AFFINITIES);
        return;
    }
    match (affinity, &spec.session_affinity_config) {
        ("None", Some(config)) => c.invalid(
            "spec.sessionAffinityConfig",
            &serde_json::to_string(config).unwrap_or_default(),
            "must not be set when session affinity is None",
        ),
        ("ClientIP", Some(config)) => {
            let timeout = config.client_ip.as_ref().and_then(|c| c.timeout_seconds);
            match timeout {
                Some(t) if (1..=MAX_AFFINITY_TIMEOUT).contains(&t) => {}
                Some(t) => c.invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    &t,
                    format!("must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}"),
                ),
                None => c.required("spec.sessionAffinityConfig.clientIP.timeoutSeconds", ""),
            }
        }
        _ => {}
    }
}

fn validate_policies(spec: &ServiceSpec, ty: &str, c: &mut Causes) {
    if let Some(policy) = spec.external_traffic_policy.as_deref() {
        if ty != "NodePort" && ty != "LoadBalancer" {
            c.invalid(
                "spec.externalTrafficPolicy",
                &policy,
                "may only be set for externally-accessible services (NodePort, LoadBalancer)",
            );
        } else if !POLICIES.contains(&policy) {
            c.not_supported("spec.externalTrafficPolicy", policy, &POLICIES);
        }
    }
    if let Some(policy) = spec.internal_traffic_policy.as_deref()
        && !POLICIES.contains(&policy)
    {
        c.not_supported("spec.internalTrafficPolicy", policy, &POLICIES);
    }
}
