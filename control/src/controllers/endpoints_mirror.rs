//! Legacy v1 Endpoints, both ways, as pure functions: for a Service with a selector, the
//! Endpoints object kube-controller-manager's endpoints controller would keep
//! ([`endpoints_for`]); for a Service without one, the EndpointSlices its user-written
//! Endpoints are mirrored into ([`mirror_slices`]), as the EndpointSlice mirroring controller
//! does. Never talks to the API.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, Service,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::endpoint_slices::{
    HEADLESS_LABEL, SERVICE_NAME_LABEL, address_type, chunk_groups, meta_for, owner_ref,
};

/// `managed-by` value of slices mirrored from Endpoints.
pub const MIRROR_CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";
/// Label on Endpoints that must not be mirrored (set on those the controllers write).
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
/// The most addresses mirrored from one Endpoints object (Kubernetes' limit).
pub const MAX_MIRRORED_ADDRESSES: usize = 1000;

/// Whether an Endpoints object is to be mirrored (it does not carry `skip-mirror: "true"`).
pub fn should_mirror(ep: &Endpoints) -> bool {
    ep.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SKIP_MIRROR_LABEL))
        .is_none_or(|v| v != "true")
}

fn to_core_port(p: &EndpointPort) -> CorePort {
    CorePort {
        name: p.name.clone().filter(|n| !n.is_empty()),
        port: p.port.unwrap_or_default(),
        protocol: p.protocol.clone(),
        app_protocol: p.app_protocol.clone(),
    }
}

/// The Endpoints object for a Service with a selector, from its desired slices: one subset per
/// port set, ready addresses in `addresses`, not-ready ones in `notReadyAddresses`, terminating
/// ones left out (unless the Service publishes not-ready addresses). Only the Service's
/// primary family is listed, as Endpoints are single-stack.
pub fn endpoints_for(svc: &Service, slices: &[EndpointSlice]) -> Endpoints {
    let spec = svc.spec.as_ref();
    let primary = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first().cloned());
    let primary = primary.or_else(|| slices.first().map(|s| s.address_type.clone()));
    let publish = spec.and_then(|s| s.publish_not_ready_addresses) == Some(true);
    let mut subsets: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    for slice in slices {
        if Some(&slice.address_type) != primary.as_ref() {
            continue;
        }
        let ports: Vec<CorePort> = slice.ports.iter().flatten().map(to_core_port).collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let subset = subsets.entry(key).or_insert_with(|| EndpointSubset {
            ports: (!ports.is_empty()).then(|| ports.clone()),
            ..EndpointSubset::default()
        });
        for ep in &slice.endpoints {
            let cond = ep.conditions.clone().unwrap_or_default();
            if cond.terminating == Some(true) && !publish {
                continue;
            }
            let Some(ip) = ep.addresses.first() else {
                continue;
            };
            let address = EndpointAddress {
                ip: ip.clone(),
                hostname: ep.hostname.clone(),
                node_name: ep.node_name.clone(),
                target_ref: ep.target_ref.clone(),
            };
            let list = if cond.ready != Some(false) {
                subset.addresses.get_or_insert_with(Vec::new)
            } else {
                subset.not_ready_addresses.get_or_insert_with(Vec::new)
            };
            list.push(address);
        }
    }
    let mut subsets: Vec<EndpointSubset> = subsets
        .into_values()
        .filter(|s| s.addresses.is_some() || s.not_ready_addresses.is_some())
        .collect();
    for s in &mut subsets {
        for list in [&mut s.addresses, &mut s.not_ready_addresses]
            .into_iter()
            .flatten()
        {
            list.sort_by(|a, b| a.ip.cmp(&b.ip));
        }
    }
    let mut labels = BTreeMap::new();
    labels.insert(SKIP_MIRROR_LABEL.to_string(), "true".to_string());
    if spec.is_some_and(|s| s.cluster_ip.as_deref() == Some("None")) {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

/// Whether the controller's Endpoints differs from what is stored (subsets or our labels).
pub fn endpoints_differ(desired: &Endpoints, stored: &Endpoints) -> bool {
    let labels_missing = desired
        .metadata
        .labels
        .iter()
        .flatten()
        .any(|(k, v)| stored.metadata.labels.as_ref().and_then(|l| l.get(k)) != Some(v));
    let empty = |s: &Option<Vec<EndpointSubset>>| s.as_ref().is_none_or(Vec::is_empty);
    let subsets_differ = if empty(&desired.subsets) {
        !empty(&stored.subsets)
    } else {
        desired.subsets != stored.subsets
    };
    labels_missing || subsets_differ
}

/// The slices mirroring a user-written Endpoints object of a Service without a selector: per
/// subset and address family, ready addresses as ready endpoints and not-ready ones as not
/// ready, at most [`MAX_MIRRORED_ADDRESSES`] in all. Invalid IPs are skipped.
pub fn mirror_slices(svc: &Service, ep: &Endpoints) -> Vec<EndpointSlice> {
    if !should_mirror(ep) {
        return Vec::new();
    }
    let mut meta = meta_for(svc, MIRROR_CONTROLLER_NAME);
    let name = ep.metadata.name.clone().unwrap_or_default();
    meta.generate_name = Some(format!("{name}-"));
    meta.owner_references = Some(vec![owner_ref("v1", "Endpoints", &ep.metadata)]);
    if let Some(labels) = meta.labels.as_mut() {
        labels.insert(SERVICE_NAME_LABEL.to_string(), name);
    }
    let mut budget = MAX_MIRRORED_ADDRESSES;
    let mut groups: BTreeMap<(String, String), (Vec<EndpointPort>, Vec<Endpoint>)> =
        BTreeMap::new();
    for subset in ep.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let port_key = serde_json::to_string(&ports).unwrap_or_default();
        let lists = [
            (subset.addresses.iter().flatten(), true),
            (subset.not_ready_addresses.iter().flatten(), false),
        ];
        for (addresses, ready) in lists {
            for a in addresses {
                let Ok(ip) = a.ip.parse::<IpAddr>() else {
                    continue;
                };
                if budget == 0 {
                    tracing::warn!(endpoints = ?ep.metadata.name, "more than {MAX_MIRRORED_ADDRESSES} addresses; the rest are not mirrored");
                    break;
                }
                budget -= 1;
                let entry = groups
                    .entry((address_type(ip).to_string(), port_key.clone()))
                    .or_insert_with(|| (ports.clone(), Vec::new()));
                entry.1.push(Endpoint {
                    addresses: vec![ip.to_string()],
                    conditions: Some(EndpointConditions {
                        ready: Some(ready),
                        serving: Some(ready),
                        terminating: Some(false),
                    }),
                    hostname: a.hostname.clone(),
                    node_name: a.node_name.clone(),
                    target_ref: a.target_ref.clone(),
                    ..Endpoint::default()
                });
            }
        }
    }
    chunk_groups(
        &meta,
        groups
            .into_iter()
            .map(|((ty, _), (ports, eps))| (ty, ports, eps)),
    )
}

#[cfg(test)]
mod tests;
