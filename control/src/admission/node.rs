//! Node admission: `spec.podCIDR`/`spec.podCIDRs` checked (syntax, one per family, inside the
//! cluster CIDR with the node prefix length, free) and, when unset, allocated — one per cluster
//! CIDR family — as kube-controller-manager's node IPAM would. A full cluster CIDR leaves the
//! node without a CIDR (logged), it does not reject the node.

use std::collections::HashSet;

use ipam::AllocError;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, NodeSpec};

use super::Context;
use super::allocations::{Allocators, Claim, Family};
use super::field::{Causes, invalid_error};
use crate::admission::AdmissionError;

/// Admits a Node create (`old` is `None`) or update.
pub(super) fn admit(
    ctx: &mut Context<'_>,
    node: &mut Node,
    old: Option<&Node>,
) -> Result<(), AdmissionError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let spec = node.spec.get_or_insert_with(NodeSpec::default);
    let old_cidrs = old
        .and_then(|o| o.spec.as_ref())
        .map(cidr_texts)
        .unwrap_or_default();
    let mut cidrs = cidr_texts(spec);
    if cidrs.is_empty() && !old_cidrs.is_empty() {
        cidrs = old_cidrs.clone();
    }
    let mut causes = Causes::default();
    if let (Some(single), Some(first)) = (spec.pod_cidr.as_deref(), cidrs.first())
        && !single.is_empty()
        && single != first
    {
        causes.invalid(
            "spec.podCIDRs[0]",
            first,
            format!("must match `spec.podCIDR` {single:?}"),
        );
    }
    if cidrs.len() > 2 {
        causes.invalid(
            "spec.podCIDRs",
            &cidrs,
            "may specify no more than one CIDR for each IP family",
        );
    }
    let mut nets: Vec<IpNet> = Vec::new();
    for (i, text) in cidrs.iter().enumerate() {
        match text.parse::<IpNet>() {
            Ok(net)
                if nets
                    .iter()
                    .any(|n| Family::of_net(*n) == Family::of_net(net)) =>
            {
                causes.invalid(
                    &format!("spec.podCIDRs[{i}]"),
                    text,
                    "may specify no more than one CIDR for each IP family",
                )
            }
            Ok(net) => nets.push(net),
            Err(_) => causes.invalid(&format!("spec.podCIDRs[{i}]"), text, "must be a valid CIDR"),
        }
    }
    if !old_cidrs.is_empty() && cidrs != old_cidrs {
        causes.forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        );
    }
    causes.finish("Node", &name)?;
    let held: HashSet<&String> = old_cidrs.iter().collect();
    for (i, net) in nets.iter().enumerate() {
        if held.contains(&cidrs[i]) {
            continue;
        }
        ctx.reservation.take(Claim::PodCidr(*net)).map_err(|e| {
            let why = match e {
                AllocError::AlreadyAllocated { .. } => {
                    "provided CIDR is already allocated".to_string()
                }
                other => other.to_string(),
            };
            invalid_error(
                "Node",
                &name,
                &format!("spec.podCIDRs[{i}]"),
                &cidrs[i],
                why,
            )
        })?;
    }
    if nets.is_empty() {
        for family in ctx.reservation.cluster_families() {
            match ctx
                .reservation
                .next(|a: &mut Allocators| a.next_pod_cidr(family))
            {
                Ok(Claim::PodCidr(net)) => nets.push(net),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(node = %name, family = family.as_str(), error = %e, "no pod CIDR for node");
                }
            }
        }
    }
    if !nets.is_empty() {
        let text: Vec<String> = nets.iter().map(IpNet::to_string).collect();
        spec.pod_cidr = text.first().cloned();
        spec.pod_cidrs = Some(text);
    }
    Ok(())
}

/// `spec.podCIDRs`, else `[spec.podCIDR]`, else empty.
fn cidr_texts(spec: &NodeSpec) -> Vec<String> {
    match &spec.pod_cidrs {
        Some(v) if !v.is_empty() => v.clone(),
        _ => spec
            .pod_cidr
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
    }
}
