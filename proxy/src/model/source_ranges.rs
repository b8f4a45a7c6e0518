//! `spec.loadBalancerSourceRanges` and its older annotation, read the way kube-proxy reads
//! them: the field wins when it lists anything; only LoadBalancer Services have ranges;
//! entries are CIDRs, and an entry that does not parse is left out (admission refuses them,
//! but objects from a real API server are taken as they come).

use std::collections::BTreeMap;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;

/// The annotation that lists source ranges (comma-separated) when the field is empty.
pub const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// The most ranges kept per Service: more are left out (with a warning), so one object
/// cannot make every sync and every accepted connection pay for an unbounded list.
const MAX_RANGES: usize = 1024;

/// The source ranges of `service` (see [`super::ServicePort::source_ranges`]): `None` unless
/// it is a LoadBalancer that lists some; otherwise the parsed entries, truncated to their
/// networks, merged where they overlap or touch.
pub(super) fn parse(service: &Service) -> Option<Vec<IpNet>> {
    let spec = service.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let field: Vec<&str> = spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let entries: Vec<&str> = if field.is_empty() {
        annotation(service.metadata.annotations.as_ref())?
    } else {
        field
    };
    if entries.is_empty() {
        return None;
    }
    let mut nets = Vec::new();
    for entry in &entries {
        match parse_cidr(entry) {
            Some(net) if nets.len() < MAX_RANGES => nets.push(net),
            Some(_) => {}
            None => tracing::warn!(
                namespace = service.metadata.namespace.as_deref().unwrap_or_default(),
                name = service.metadata.name.as_deref().unwrap_or_default(),
                entry = %entry,
                "loadBalancerSourceRanges entry is not a CIDR; left out"
            ),
        }
    }
    if entries.len() > MAX_RANGES {
        tracing::warn!(
            namespace = service.metadata.namespace.as_deref().unwrap_or_default(),
            name = service.metadata.name.as_deref().unwrap_or_default(),
            listed = entries.len(),
            kept = MAX_RANGES,
            "too many loadBalancerSourceRanges; only the first are used"
        );
    }
    Some(IpNet::aggregate(&nets))
}

/// The annotation's non-empty entries, or `None` when it is absent.
fn annotation(annotations: Option<&BTreeMap<String, String>>) -> Option<Vec<&str>> {
    let value = annotations?.get(SOURCE_RANGES_ANNOTATION)?;
    Some(
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// A CIDR `addr/len` (a bare address is no range), truncated to its network.
fn parse_cidr(text: &str) -> Option<IpNet> {
    if !text.contains('/') {
        return None;
    }
    text.parse::<IpNet>().ok().map(|net| net.trunc())
}

#[cfg(test)]
mod tests;
