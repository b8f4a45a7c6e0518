//! `status.loadBalancer` of a Service: where the proxy takes load-balancer addresses from, so
//! only the `/status` subresource may set it.
//!
//! The split itself lives in the store (`store::meta::carry_over`): a write to the main
//! resource keeps the stored status, a `/status` write keeps the stored spec. Admission does not
//! see which of the two a write is, so it relies on that and adds what the store cannot know:
//! - create: the client's status is dropped, as kube-apiserver's service strategy does;
//! - update with a status that differs from the stored one (only a `/status` write can do
//!   that): each ingress is validated (`ip` an IP address, `hostname` a DNS name, `ipMode`
//!   `VIP` or `Proxy`, defaulted to `VIP` when `ip` is set) and ingress points are refused on
//!   a Service that is not of type LoadBalancer;
//! - update with the stored status of a Service that is not (or no longer) a LoadBalancer: the
//!   stale `status.loadBalancer` is dropped, so a type change stops the traffic it steered.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerStatus, Service};

use super::ty;
use crate::admission::field::Causes;
use crate::admission::names;

/// `ipMode` values kube-apiserver accepts.
const IP_MODES: [&str; 2] = ["Proxy", "VIP"];

/// Applies the status rules above to `svc` (after its spec was defaulted); `old` is the stored
/// Service on update.
pub(super) fn admit(svc: &mut Service, old: Option<&Service>, c: &mut Causes) {
    let Some(old) = old else {
        svc.status = None;
        return;
    };
    let load_balancer = svc.spec.as_ref().is_some_and(|s| ty(s) == "LoadBalancer");
    let Some(status) = svc.status.as_mut() else {
        return;
    };
    if Some(&*status) == old.status.as_ref() {
        let steering = status
            .load_balancer
            .as_ref()
            .is_some_and(|lb| lb.ingress.as_ref().is_some_and(|i| !i.is_empty()));
        if steering && !load_balancer {
            status.load_balancer = Some(LoadBalancerStatus::default());
        }
        return;
    }
    let Some(lb) = status.load_balancer.as_mut() else {
        return;
    };
    let ingress = lb.ingress.as_deref().unwrap_or_default();
    if !ingress.is_empty() && !load_balancer {
        c.forbidden(
            "status.loadBalancer.ingress",
            "may only be used when `spec.type` is 'LoadBalancer'",
        );
    }
    validate(lb, c);
    for ingress in lb.ingress.iter_mut().flatten() {
        if ingress.ip.as_deref().is_some_and(|ip| !ip.is_empty()) && ingress.ip_mode.is_none() {
            ingress.ip_mode = Some("VIP".to_string());
        }
    }
}

fn validate(lb: &LoadBalancerStatus, c: &mut Causes) {
    for (i, ingress) in lb.ingress.iter().flatten().enumerate() {
        let path = format!("status.loadBalancer.ingress[{i}]");
        let ip = ingress.ip.as_deref().filter(|ip| !ip.is_empty());
        if let Some(ip) = ip
            && ip.parse::<IpAddr>().is_err()
        {
            c.invalid(
                &format!("{path}.ip"),
                &ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            );
        }
        if let Some(mode) = ingress.ip_mode.as_deref() {
            if ip.is_none() {
                c.forbidden(
                    &format!("{path}.ipMode"),
                    "may not be specified when `ip` is not set",
                );
            } else if !IP_MODES.contains(&mode) {
                c.not_supported(&format!("{path}.ipMode"), mode, &IP_MODES);
            }
        }
        if let Some(host) = ingress.hostname.as_deref().filter(|h| !h.is_empty()) {
            if host.parse::<IpAddr>().is_ok() {
                c.invalid(
                    &format!("{path}.hostname"),
                    &host,
                    "must be a DNS name, not an IP address",
                );
            } else if let Err(why) = names::validate_dns_subdomain(host) {
                c.invalid(&format!("{path}.hostname"), &host, why);
            }
        }
    }
}
