//! Service admission: carries allocated values over on update, defaults, validates (including
//! the traffic-steering fields, [`traffic`], and `status.loadBalancer`, [`status`]), resolves IP
//! families, checks immutable fields, then allocates ClusterIPs and NodePorts — in that order,
//! so nothing is allocated for a Service that is then rejected.

mod allocate;
mod defaults;
mod families;
mod status;
mod traffic;
mod validate;

use k8s_openapi::api::core::v1::{Service, ServiceSpec};

use super::Context;
use super::field::Causes;
use crate::admission::AdmissionError;

fn ty(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("ClusterIP")
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Admits a Service create (`old` is `None`) or update.
pub(super) fn admit(
    ctx: &mut Context<'_>,
    svc: &mut Service,
    old: Option<&Service>,
) -> Result<(), AdmissionError> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let kubernetes = svc.metadata.namespace.as_deref() == Some("default") && name == "kubernetes";
    let spec = svc.spec.get_or_insert_with(ServiceSpec::default);
    let old_spec = old.and_then(|o| o.spec.as_ref());
    if let Some(old_spec) = old_spec {
        carry_over(spec, old_spec);
    }
    defaults::apply(spec);
    let mut causes = Causes::default();
    validate::validate(spec, &ctx.config.node_port_range, &mut causes);
    traffic::external_ips(
        spec,
        old_spec,
        &ctx.config.allowed_external_ip_cidrs,
        &mut causes,
    );
    let old_ranges = old.and_then(|o| Some((o.metadata.annotations.as_ref(), o.spec.as_ref()?)));
    traffic::source_ranges(
        svc.metadata.annotations.as_ref(),
        spec,
        old_ranges,
        &mut causes,
    );
    if causes.is_empty() && ty(spec) != "ExternalName" {
        families::resolve(spec, &ctx.config.service_families(), &mut causes);
    }
    if causes.is_empty()
        && let Some(old_spec) = old_spec
    {
        check_immutable(spec, old_spec, &mut causes);
    }
    status::admit(svc, old, &mut causes);
    causes.finish("Service", &name)?;
    let spec = svc.spec.get_or_insert_with(ServiceSpec::default);
    allocate::cluster_ips(ctx, spec, old_spec, kubernetes, &name)?;
    allocate::node_ports(ctx, spec, old_spec, &name)?;
    Ok(())
}

/// What kube-apiserver does before validating an update: values the client omitted but the
/// stored object had allocated are copied over, and type-dependent values the client left
/// unchanged are dropped when the new type does not use them.
fn carry_over(spec: &mut ServiceSpec, old: &ServiceSpec) {
    let old_needs_ip = ty(old) != "ExternalName";
    let new_needs_ip = ty(spec) != "ExternalName";
    if old_needs_ip && new_needs_ip {
        let changed_single =
            nonempty(&spec.cluster_ip).is_some_and(|ip| Some(ip) != nonempty(&old.cluster_ip));
        if nonempty(&spec.cluster_ip).is_none() {
            spec.cluster_ip = old.cluster_ip.clone();
        }
        if spec.cluster_ips.as_ref().is_none_or(|v| v.is_empty()) && !changed_single {
            spec.cluster_ips = old.cluster_ips.clone();
            if spec.ip_families.is_none() {
                spec.ip_families = old.ip_families.clone();
            }
            if spec.ip_family_policy.as_deref() == Some("SingleStack")
                && old.ip_family_policy.as_deref() != Some("SingleStack")
            {
                // Downgrade to single-stack: the secondary IP and family go away.
                if let Some(ips) = spec.cluster_ips.as_mut() {
                    ips.truncate(1);
                }
                if let Some(f) = spec.ip_families.as_mut() {
                    f.truncate(1);
                }
            }
        }
        if spec.ip_family_policy.is_none() {
            spec.ip_family_policy = old.ip_family_policy.clone();
        }
    } else if !new_needs_ip {
        if nonempty(&spec.cluster_ip) == nonempty(&old.cluster_ip) {
            spec.cluster_ip = None;
        }
        if spec.cluster_ips == old.cluster_ips {
            spec.cluster_ips = None;
        }
        if spec.ip_families == old.ip_families {
            spec.ip_families = None;
        }
        if spec.ip_family_policy == old.ip_family_policy {
            spec.ip_family_policy = None;
        }
    }
    carry_node_ports(spec, old);
    // Fields only some types use, left as they were by a client that changed the type.
    let external = |s: &ServiceSpec| matches!(ty(s), "NodePort" | "LoadBalancer");
    if !external(spec) && spec.external_traffic_policy == old.external_traffic_policy {
        spec.external_traffic_policy = None;
    }
    if ty(spec) != "LoadBalancer"
        && spec.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports
    {
        spec.allocate_load_balancer_node_ports = None;
    }
    if ty(spec) == "ExternalName" {
        if spec.internal_traffic_policy == old.internal_traffic_policy {
            spec.internal_traffic_policy = None;
        }
        if spec.session_affinity == old.session_affinity
            && spec.session_affinity_config == old.session_affinity_config
        {
            spec.session_affinity = None;
            spec.session_affinity_config = None;
        }
    }
}

fn carry_node_ports(spec: &mut ServiceSpec, old: &ServiceSpec) {
    let old_ports: Vec<(Option<String>, Option<i32>)> = old
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.node_port))
        .collect();
    let old_of = |name: &Option<String>| {
        old_ports
            .iter()
            .find(|(n, _)| n.as_deref().unwrap_or("") == name.as_deref().unwrap_or(""))
            .and_then(|(_, np)| *np)
    };
    if validate::needs_node_ports(old) && validate::needs_node_ports(spec) {
        let used: Vec<i32> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.node_port)
            .collect();
        for port in spec.ports.iter_mut().flatten() {
            if port.node_port.is_none_or(|p| p == 0)
                && let Some(np) = old_of(&port.name)
                && !used.contains(&np)
            {
                port.node_port = Some(np);
            }
        }
    } else if !validate::allows_node_ports(spec) {
        for port in spec.ports.iter_mut().flatten() {
            if port.node_port.is_some() && port.node_port == old_of(&port.name) {
                port.node_port = None;
            }
        }
    }
    if validate::needs_health_check(old) {
        let wants =
            ty(spec) == "LoadBalancer" && spec.external_traffic_policy.as_deref() == Some("Local");
        if wants && spec.health_check_node_port.is_none() {
            spec.health_check_node_port = old.health_check_node_port;
        } else if !wants && spec.health_check_node_port == old.health_check_node_port {
            spec.health_check_node_port = None;
        }
    }
}

/// ClusterIPs and the primary IP family never change once set (other than through a type change
/// to or from ExternalName); a secondary IP may be added or dropped, not replaced.
fn check_immutable(spec: &ServiceSpec, old: &ServiceSpec, c: &mut Causes) {
    if ty(spec) == "ExternalName" || ty(old) == "ExternalName" {
        return;
    }
    let new_ips = spec.cluster_ips.as_deref().unwrap_or_default();
    let old_ips = old.cluster_ips.as_deref().unwrap_or_default();
    if let (Some(new), Some(old_ip)) = (new_ips.first(), old_ips.first())
        && new != old_ip
    {
        c.invalid("spec.clusterIP", new, "field is immutable");
    }
    if let (Some(new), Some(old_ip)) = (new_ips.get(1), old_ips.get(1))
        && new != old_ip
    {
        c.invalid("spec.clusterIPs[1]", new, "field is immutable");
    }
    let new_fams = spec.ip_families.as_deref().unwrap_or_default();
    let old_fams = old.ip_families.as_deref().unwrap_or_default();
    if let (Some(new), Some(old_f)) = (new_fams.first(), old_fams.first())
        && new != old_f
    {
        c.invalid("spec.ipFamilies[0]", new, "field is immutable");
    }
}
