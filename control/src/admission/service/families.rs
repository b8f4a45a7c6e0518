//! IP family resolution for Services: defaults and checks `ipFamilyPolicy` and `ipFamilies`
//! against the requested ClusterIPs and the configured service CIDRs, as kube-apiserver does for
//! dual-stack clusters. Never allocates.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::ServiceSpec;

use crate::admission::allocations::Family;
use crate::admission::field::Causes;

const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
const FAMILIES: [&str; 2] = ["IPv4", "IPv6"];

/// Sets `ipFamilyPolicy` and `ipFamilies` of a validated, non-ExternalName spec. `configured`
/// lists the service CIDR families, primary first; `headless_without_selector` services default
/// to dual-stack where the cluster is dual-stack, as Kubernetes does.
pub(super) fn resolve(spec: &mut ServiceSpec, configured: &[Family], c: &mut Causes) {
    let ips: Vec<IpAddr> = spec
        .cluster_ips
        .iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    let headless = super::validate::is_headless(spec);
    let no_selector = spec.selector.as_ref().is_none_or(|s| s.is_empty());
    let policy = match spec.ip_family_policy.as_deref() {
        Some(p) if POLICIES.contains(&p) => p.to_string(),
        Some(p) => {
            c.not_supported("spec.ipFamilyPolicy", p, &POLICIES);
            return;
        }
        None if headless && no_selector && configured.len() > 1 => "RequireDualStack".to_string(),
        None => "SingleStack".to_string(),
    };
    if policy == "RequireDualStack" && configured.len() < 2 {
        c.invalid(
            "spec.ipFamilyPolicy",
            &policy,
            "this cluster is not configured for dual-stack services",
        );
        return;
    }
    let mut families: Vec<Family> = Vec::new();
    for (i, text) in spec.ip_families.iter().flatten().enumerate() {
        let path = format!("spec.ipFamilies[{i}]");
        match Family::parse(text) {
            None => c.not_supported(&path, text, &FAMILIES),
            Some(f) if families.contains(&f) => c.duplicate(&path, text),
            Some(f) if !configured.contains(&f) => {
                c.invalid(&path, text, "not configured on this cluster")
            }
            Some(f) => families.push(f),
        }
    }
    if spec.ip_families.as_ref().is_some_and(|f| f.len() > 2) {
        c.invalid(
            "spec.ipFamilies",
            &spec.ip_families,
            "may only hold up to 2 values",
        );
    }
    for (i, ip) in ips.iter().enumerate() {
        let family = Family::of(*ip);
        match families.get(i) {
            Some(f) if *f != family => c.invalid(
                &format!("spec.clusterIPs[{i}]"),
                &ip.to_string(),
                format!(
                    "expected an {} value as indicated by `ipFamilies[{i}]`",
                    f.as_str()
                ),
            ),
            Some(_) => {}
            None if !configured.contains(&family) => c.invalid(
                &format!("spec.clusterIPs[{i}]"),
                &ip.to_string(),
                format!("{} is not configured on this cluster", family.as_str()),
            ),
            None => families.push(family),
        }
    }
    if !c.is_empty() {
        return;
    }
    if families.is_empty()
        && let Some(primary) = configured.first()
    {
        families.push(*primary);
    }
    if policy != "SingleStack"
        && families.len() == 1
        && let Some(other) = configured.iter().find(|f| !families.contains(f))
    {
        families.push(*other);
    }
    if policy == "SingleStack" && (families.len() > 1 || ips.len() > 1) {
        c.invalid(
            "spec.ipFamilyPolicy",
            &policy,
            "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are \
             specified",
        );
        return;
    }
    if policy == "RequireDualStack" && families.len() < 2 {
        c.invalid(
            "spec.ipFamilies",
            &spec.ip_families,
            "'RequireDualStack' requires two IP families",
        );
        return;
    }
    spec.ip_family_policy = Some(policy);
    spec.ip_families = Some(families.iter().map(|f| f.as_str().to_string()).collect());
}
