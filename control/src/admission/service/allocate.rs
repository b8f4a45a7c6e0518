//! Service allocation: ClusterIPs (one per resolved IP family, requested ones honoured),
//! NodePorts and the healthCheckNodePort, taken through the admission's reservation so that a
//! failure gives everything back. Runs only on a spec that already passed validation; never
//! validates anything but availability.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipam::AllocError;
use k8s_openapi::api::core::v1::ServiceSpec;

use super::validate::{is_headless, needs_health_check, needs_node_ports};
use crate::admission::AdmissionError;
use crate::admission::allocations::{Allocators, Claim, Family};
use crate::admission::field::invalid_error;
use crate::admission::{AdmissionConfig, Context};

fn ip_error(name: &str, path: &str, ip: IpAddr, cidr: String, e: AllocError) -> AdmissionError {
    let why = match e {
        AllocError::AlreadyAllocated { .. } => "provided IP is already allocated".to_string(),
        AllocError::OutOfRange { .. } => {
            format!("provided IP is not in the valid range. The range of valid IPs is {cidr}")
        }
        other => other.to_string(),
    };
    invalid_error("Service", name, path, &ip.to_string(), why)
}

fn full(what: &str, e: AllocError) -> AdmissionError {
    AdmissionError::Allocation(format!("failed to allocate a {what}: {e}"))
}

/// Sets `clusterIP`/`clusterIPs`: clears them for ExternalName, `None` for headless, else takes
/// the requested IPs the old object did not hold and allocates one per missing family.
pub(super) fn cluster_ips(
    ctx: &mut Context<'_>,
    spec: &mut ServiceSpec,
    old: Option<&ServiceSpec>,
    kubernetes: bool,
    name: &str,
) -> Result<(), AdmissionError> {
    if spec.type_.as_deref() == Some("ExternalName") {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        spec.ip_families = None;
        spec.ip_family_policy = None;
        return Ok(());
    }
    if is_headless(spec) {
        spec.cluster_ip = Some("None".to_string());
        spec.cluster_ips = Some(vec!["None".to_string()]);
        return Ok(());
    }
    let held: HashSet<IpAddr> = old
        .and_then(|o| o.cluster_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    let mut ips: Vec<IpAddr> = spec
        .cluster_ips
        .iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    for (i, ip) in ips.iter().enumerate() {
        if held.contains(ip) {
            continue;
        }
        let path = format!("spec.clusterIPs[{i}]");
        let cidr = ctx.reservation.service_cidr(Family::of(*ip));
        let cidr_text = cidr.map(|c| c.to_string()).unwrap_or_default();
        if !cidr.is_some_and(|c| c.contains(ip)) {
            let e = AllocError::OutOfRange {
                value: ip.to_string(),
                range: cidr_text.clone(),
            };
            return Err(ip_error(name, &path, *ip, cidr_text, e));
        }
        ctx.reservation
            .take(Claim::ServiceIp {
                ip: *ip,
                kubernetes,
            })
            .map_err(|e| ip_error(name, &path, *ip, cidr_text, e))?;
    }
    let families: Vec<Family> = spec
        .ip_families
        .iter()
        .flatten()
        .filter_map(|f| Family::parse(f))
        .collect();
    for family in families.iter().skip(ips.len()) {
        let reserved = ctx
            .reservation
            .kubernetes_ip(*family)
            .filter(|_| kubernetes);
        let claim = match reserved {
            Some(ip) => ctx
                .reservation
                .take(Claim::ServiceIp { ip, kubernetes })
                .map(|_| Claim::ServiceIp { ip, kubernetes }),
            None => ctx
                .reservation
                .next(|a: &mut Allocators| a.next_service_ip(*family)),
        }
        .map_err(|e| full("serviceIP", e))?;
        if let Claim::ServiceIp { ip, .. } = claim {
            ips.push(ip);
        }
    }
    let text: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    spec.cluster_ip = text.first().cloned();
    spec.cluster_ips = Some(text);
    Ok(())
}

fn port_error(
    name: &str,
    path: &str,
    port: i32,
    config: &AdmissionConfig,
    e: AllocError,
) -> AdmissionError {
    let why = match e {
        AllocError::AlreadyAllocated { .. } => "provided port is already allocated".to_string(),
        AllocError::OutOfRange { .. } => format!(
            "provided port is not in the valid range. The range of valid ports is {}-{}",
            config.node_port_range.start(),
            config.node_port_range.end()
        ),
        other => other.to_string(),
    };
    invalid_error("Service", name, path, &port, why)
}

/// Takes requested NodePorts (and healthCheckNodePort) the old object did not hold, and
/// allocates the missing ones when the type needs them. Ports that share a port number with
/// another protocol share its NodePort, as Kubernetes does.
pub(super) fn node_ports(
    ctx: &mut Context<'_>,
    spec: &mut ServiceSpec,
    old: Option<&ServiceSpec>,
    name: &str,
) -> Result<(), AdmissionError> {
    let config = ctx.config;
    let mut held: HashSet<i32> = old
        .into_iter()
        .flat_map(|o| o.ports.iter().flatten().filter_map(|p| p.node_port))
        .collect();
    held.extend(old.and_then(|o| o.health_check_node_port));
    let mut taken_here: HashSet<i32> = HashSet::new();
    let mut take = |ctx: &mut Context<'_>, path: &str, port: i32| -> Result<(), AdmissionError> {
        if held.contains(&port) || !taken_here.insert(port) {
            return Ok(());
        }
        let value = u16::try_from(port).map_err(|_| {
            port_error(
                name,
                path,
                port,
                config,
                AllocError::OutOfRange {
                    value: port.to_string(),
                    range: String::new(),
                },
            )
        })?;
        ctx.reservation
            .take(Claim::NodePort(value))
            .map(|_| ())
            .map_err(|e| port_error(name, path, port, config, e))
    };
    let needs = needs_node_ports(spec);
    let mut by_number: HashMap<i32, i32> = HashMap::new();
    for (i, port) in spec.ports.iter().flatten().enumerate() {
        if let Some(np) = port.node_port.filter(|p| *p != 0) {
            take(ctx, &format!("spec.ports[{i}].nodePort"), np)?;
            by_number.entry(port.port).or_insert(np);
        }
    }
    if let Some(hc) = spec.health_check_node_port.filter(|p| *p != 0) {
        take(ctx, "spec.healthCheckNodePort", hc)?;
    }
    if needs {
        for port in spec.ports.iter_mut().flatten() {
            if port.node_port.is_some_and(|p| p != 0) {
                continue;
            }
            let np = match by_number.get(&port.port) {
                Some(np) => *np,
                None => match ctx.reservation.next(Allocators::next_node_port) {
                    Ok(Claim::NodePort(p)) => i32::from(p),
                    Ok(_) => continue,
                    Err(e) => return Err(full("nodePort", e)),
                },
            };
            by_number.insert(port.port, np);
            port.node_port = Some(np);
        }
    }
    if needs_health_check(spec) && spec.health_check_node_port.is_none_or(|p| p == 0) {
        match ctx.reservation.next(Allocators::next_node_port) {
            Ok(Claim::NodePort(p)) => spec.health_check_node_port = Some(i32::from(p)),
            Ok(_) => {}
            Err(e) => return Err(full("healthCheckNodePort", e)),
        }
    }
    Ok(())
}
