//! Pod admission: containers (at least one; names DNS-1123 labels unique among containers and
//! initContainers), container ports (1–65535, IANA service names unique in the pod, protocol
//! defaulted to TCP), `spec.hostname`/`spec.subdomain` as DNS labels, and pod IPs: a Pod bound
//! to a known node (`spec.nodeName`) without `status.podIP` gets one address per node CIDR; a
//! requested pod IP inside the cluster CIDR is recorded so it is never handed out twice. Pods on
//! unknown nodes, and host-network pods, are left without an allocated IP.
//!
//! Every write is defaulted first ([`default_pod`]: what kube-apiserver and its default
//! admission plugins fill in), then validated (probes in `pod/probes.rs`). An update that gives a
//! Pod its first `spec.nodeName` (the binding subresource) also records the `PodScheduled`
//! condition and, as on create, allocates the Pod's IP in the same write.

mod defaults;
mod probes;
pub mod resources;

use std::collections::HashSet;
use std::net::IpAddr;

use ipam::AllocError;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodIP, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Context;
use super::allocations::{Allocators, Claim};
use super::field::{Causes, invalid_error};
use super::names;
use crate::admission::AdmissionError;

pub use defaults::{
    DEFAULT_SCHEDULER, DEFAULT_TOLERATION_SECONDS, NOT_READY_TAINT, UNREACHABLE_TAINT, default_pod,
    default_pod_spec,
};

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Admits a Pod create (`old` is `None`) or update.
pub(super) fn admit(
    ctx: &mut Context<'_>,
    pod: &mut Pod,
    old: Option<&Pod>,
) -> Result<(), AdmissionError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    default_pod(pod);
    let mut causes = Causes::default();
    match pod.spec.as_mut() {
        Some(spec) => check_pod_spec(spec, old.and_then(|o| o.spec.as_ref()), "spec", &mut causes),
        // A stored Pod without a spec stays updatable (its labels, its status).
        None if old.is_some_and(|o| o.spec.is_none()) => {}
        None => causes.required("spec.containers", ""),
    }
    // A client that omits status (kubectl apply) keeps the addresses already assigned.
    let old_ips = old.map(pod_ips).unwrap_or_default();
    if pod_ips(pod).is_empty() && !old_ips.is_empty() {
        let status = pod.status.get_or_insert_with(PodStatus::default);
        set_ips(status, &old_ips);
    }
    let requested = pod_ips(pod);
    let mut ips: Vec<IpAddr> = Vec::new();
    for (i, text) in requested.iter().enumerate() {
        match text.parse::<IpAddr>() {
            Ok(ip) if ips.iter().any(|x| x.is_ipv4() == ip.is_ipv4()) => causes.invalid(
                &format!("status.podIPs[{i}]"),
                text,
                "may specify no more than one IP for each IP family",
            ),
            Ok(ip) => ips.push(ip),
            Err(_) => causes.invalid(
                &format!("status.podIPs[{i}]"),
                text,
                "must be a valid IP address",
            ),
        }
    }
    causes.finish("Pod", &name)?;
    let held: HashSet<&String> = old_ips.iter().collect();
    for (i, ip) in ips.iter().enumerate() {
        if held.contains(&requested[i]) {
            continue;
        }
        ctx.reservation.take(Claim::PodIp(*ip)).map_err(|e| {
            let why = match e {
                AllocError::AlreadyAllocated { .. } => {
                    "provided IP is already allocated".to_string()
                }
                other => other.to_string(),
            };
            invalid_error(
                "Pod",
                &name,
                &format!("status.podIPs[{i}]"),
                &requested[i],
                why,
            )
        })?;
    }
    if newly_bound(pod, old) {
        set_scheduled(pod.status.get_or_insert_with(PodStatus::default));
    }
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let node = spec
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    if ips.is_empty()
        && !host_network
        && let Some(node) = node
    {
        let cidrs = ctx
            .reservation
            .node_cidrs(&node)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        for cidr in cidrs {
            match ctx
                .reservation
                .next(|a: &mut Allocators| a.next_pod_ip(cidr))
            {
                Ok(Claim::PodIp(ip)) => ips.push(ip),
                Ok(_) => {}
                Err(e) => {
                    return Err(AdmissionError::Allocation(format!(
                        "failed to allocate a pod IP on node {node} from {cidr}: {e}"
                    )));
                }
            }
        }
        if !ips.is_empty() {
            let text: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            set_ips(pod.status.get_or_insert_with(PodStatus::default), &text);
        }
    }
    Ok(())
}

/// Validates and defaults a pod spec found at `prefix` (`spec` in a Pod,
/// `spec.template.spec` in a workload's template): containers, ports, hostname and subdomain.
/// Shared by Pods and every kind with a pod template, so templates get the Pod defaults.
pub(super) fn check_pod_spec(
    spec: &mut PodSpec,
    old: Option<&PodSpec>,
    prefix: &str,
    c: &mut Causes,
) {
    validate_containers(spec, old, prefix, c);
    validate_spec(spec, prefix, c);
}

/// At least one container; every container and init container named with a DNS-1123 label,
/// no name used twice. Checked on create and on updates that change either list, so a Pod
/// stored before these checks stays updatable (its status, labels) until its containers change.
fn validate_containers(spec: &PodSpec, old: Option<&PodSpec>, prefix: &str, c: &mut Causes) {
    let unchanged = old.is_some_and(|old| {
        old.containers == spec.containers && old.init_containers == spec.init_containers
    });
    if unchanged {
        return;
    }
    if spec.containers.is_empty() {
        c.required(&format!("{prefix}.containers"), "");
        return;
    }
    let mut seen = HashSet::new();
    let all = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("{prefix}.containers[{i}].name"), k))
        .chain(
            spec.init_containers
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, k)| (format!("{prefix}.initContainers[{i}].name"), k)),
        );
    for (path, container) in all {
        let name = container.name.as_str();
        if name.is_empty() {
            c.required(&path, "");
        } else if let Err(why) = names::validate_dns_label(name) {
            c.invalid(&path, &name, why);
        } else if !seen.insert(name) {
            c.duplicate(&path, &name);
        }
    }
    for (i, container) in spec.containers.iter().enumerate() {
        probes::validate(container, &format!("{prefix}.containers[{i}]"), c);
    }
}

/// The node a Pod is bound to, when it names one.
fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Whether this update gives the Pod its first node.
fn newly_bound(pod: &Pod, old: Option<&Pod>) -> bool {
    old.is_some_and(|old| node_of(old).is_none()) && node_of(pod).is_some()
}

/// Sets the `PodScheduled` condition to True (replacing an `Unschedulable` one).
fn set_scheduled(status: &mut PodStatus) {
    let now = jiff::Timestamp::now();
    let now = Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now));
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != "PodScheduled");
    conditions.push(PodCondition {
        type_: "PodScheduled".to_string(),
        status: "True".to_string(),
        last_transition_time: Some(now),
        ..PodCondition::default()
    });
}

fn validate_spec(spec: &mut PodSpec, prefix: &str, c: &mut Causes) {
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty())
            && let Err(why) = names::validate_dns_label(v)
        {
            c.invalid(&format!("{prefix}.{field}"), &v, why);
        }
    }
    let mut port_names = HashSet::new();
    for (i, container) in spec.containers.iter_mut().enumerate() {
        let mut seen = HashSet::new();
        for (j, port) in container.ports.iter_mut().flatten().enumerate() {
            let path = format!("{prefix}.containers[{i}].ports[{j}]");
            let protocol = port
                .protocol
                .get_or_insert_with(|| "TCP".to_string())
                .clone();
            if !(1..=65535).contains(&port.container_port) {
                c.invalid(
                    &format!("{path}.containerPort"),
                    &port.container_port,
                    "must be between 1 and 65535, inclusive",
                );
            }
            if let Some(hp) = port.host_port
                && !(0..=65535).contains(&hp)
            {
                c.invalid(
                    &format!("{path}.hostPort"),
                    &hp,
                    "must be between 0 and 65535, inclusive",
                );
            }
            if !PROTOCOLS.contains(&protocol.as_str()) {
                c.not_supported(&format!("{path}.protocol"), &protocol, &PROTOCOLS);
            }
            if let Some(n) = port.name.as_deref().filter(|n| !n.is_empty()) {
                if let Err(why) = names::validate_iana_svc_name(n) {
                    c.invalid(&format!("{path}.name"), &n, why);
                } else if !port_names.insert(n.to_string()) {
                    c.duplicate(&format!("{path}.name"), &n);
                }
            }
            if !seen.insert((port.container_port, protocol.clone(), port.host_ip.clone())) {
                c.duplicate(&path, &format!("{}/{protocol}", port.container_port));
            }
        }
    }
}

/// `status.podIPs`, else `[status.podIP]`, else empty.
fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    match &status.pod_ips {
        Some(v) if !v.is_empty() => v.iter().map(|p| p.ip.clone()).collect(),
        _ => status
            .pod_ip
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
    }
}

fn set_ips(status: &mut PodStatus, ips: &[String]) {
    status.pod_ip = ips.first().cloned();
    status.pod_ips = Some(ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect());
}
