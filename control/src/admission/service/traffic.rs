//! The Service fields that steer a node's traffic: `spec.externalIPs` (every node's proxy
//! captures traffic for these addresses, the CVE-2020-8554 pattern) and
//! `spec.loadBalancerSourceRanges` with its legacy annotation. Validation only; never changes
//! the object.
//!
//! Rules on updates, so that a stored object never becomes un-updatable for an unrelated change
//! after an operator narrows the policy or after these checks were added:
//! - an externalIP the stored object already lists is not checked again against the allow list
//!   or the special ranges; every address the write adds must pass both;
//! - source ranges (field or annotation) are checked on create and when the write changes the
//!   field, the annotation or the Service's type.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::ServiceSpec;

use super::ty;
use crate::admission::field::Causes;

/// The legacy annotation kube-apiserver reads source ranges from when the field is empty.
pub(crate) const SOURCE_RANGES_ANNOTATION: &str =
    "service.beta.kubernetes.io/load-balancer-source-ranges";

/// Checks `spec.externalIPs` against `allowed` (the `--allowed-external-ip-cidrs` list). Every
/// entry must be an IP address (not a CIDR) outside the unspecified, loopback and link-local
/// ranges and inside one of `allowed`; with `allowed` empty every new address is refused.
/// Addresses `old` (the stored spec on update) already lists are only checked for syntax.
pub(super) fn external_ips(
    spec: &ServiceSpec,
    old: Option<&ServiceSpec>,
    allowed: &[IpNet],
    c: &mut Causes,
) {
    let held: HashSet<&str> = old
        .and_then(|o| o.external_ips.as_ref())
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for (i, text) in spec.external_ips.iter().flatten().enumerate() {
        let path = format!("spec.externalIPs[{i}]");
        let Ok(ip) = text.parse::<IpAddr>() else {
            c.invalid(
                &path,
                text,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            );
            continue;
        };
        if held.contains(text.as_str()) {
            continue;
        }
        if let Some(why) = special_range(ip) {
            c.invalid(&path, text, why);
        } else if !allowed.iter().any(|net| net.contains(&ip)) {
            c.forbidden(&path, not_allowed(ip, allowed));
        }
    }
}

/// Why `ip` may never be an externalIP, if it is in a special range.
fn special_range(ip: IpAddr) -> Option<&'static str> {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    let link_local_multicast = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
    };
    if ip.is_unspecified() {
        Some("may not be unspecified (0.0.0.0, ::)")
    } else if ip.is_loopback() {
        Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    } else if link_local {
        Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    } else if link_local_multicast {
        Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/16)")
    } else {
        None
    }
}

fn not_allowed(ip: IpAddr, allowed: &[IpNet]) -> String {
    if allowed.is_empty() {
        format!(
            "externalIPs are refused on this cluster (no --allowed-external-ip-cidrs \
             configured); {ip} is not allowed"
        )
    } else {
        let list: Vec<String> = allowed.iter().map(IpNet::to_string).collect();
        format!(
            "{ip} is not inside the allowed external IP ranges ({})",
            list.join(", ")
        )
    }
}

/// Checks `spec.loadBalancerSourceRanges`, or when it is empty the
/// [`SOURCE_RANGES_ANNOTATION`] (comma-separated), as kube-apiserver does: only for type
/// LoadBalancer; each entry, spaces around it ignored, must be a CIDR (`10.0.0.0/8`; a bare
/// address is refused). Nothing is rewritten. Skipped on an update that changes none of the
/// field, the annotation and the type (`old` is `(annotations, spec)` of the stored object).
pub(super) fn source_ranges(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &ServiceSpec,
    old: Option<(Option<&BTreeMap<String, String>>, &ServiceSpec)>,
    c: &mut Causes,
) {
    let annotation = |a: Option<&BTreeMap<String, String>>| {
        a.and_then(|a| a.get(SOURCE_RANGES_ANNOTATION)).cloned()
    };
    if let Some((old_annotations, old_spec)) = old
        && old_spec.load_balancer_source_ranges == spec.load_balancer_source_ranges
        && annotation(old_annotations) == annotation(annotations)
        && ty(old_spec) == ty(spec)
    {
        return;
    }
    let load_balancer = ty(spec) == "LoadBalancer";
    let ranges = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or_default();
    if !ranges.is_empty() {
        let path = "spec.loadBalancerSourceRanges";
        if !load_balancer {
            c.forbidden(path, "may only be used when `type` is 'LoadBalancer'");
        }
        for (i, range) in ranges.iter().enumerate() {
            if !is_cidr(range) {
                c.invalid(&format!("{path}[{i}]"), range, CIDR_HINT);
            }
        }
    } else if let Some(value) = annotation(annotations) {
        let path = format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]");
        if !load_balancer {
            c.forbidden(&path, "may only be used when `type` is 'LoadBalancer'");
        }
        let value = value.trim();
        if !value.is_empty() {
            for range in value.split(',') {
                if !is_cidr(range) {
                    c.invalid(&path, &range.trim(), CIDR_HINT);
                }
            }
        }
    }
}

const CIDR_HINT: &str =
    "must be a CIDR (an address, '/' and a prefix length), e.g. 10.240.0.0/24 or fd00::/64";

/// Whether `text`, spaces around it ignored, is an address range `addr/len`.
fn is_cidr(text: &str) -> bool {
    let text = text.trim();
    text.contains('/') && text.parse::<IpNet>().is_ok()
}
