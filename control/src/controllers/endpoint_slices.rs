//! The EndpointSlice controller's decisions, as pure functions: which slices a Service with a
//! selector should have given the Pods ([`desired_slices`]), and how to get from the slices that
//! exist to those with as few writes as possible ([`plan`]).
//!
//! Endpoints are grouped by address family and resolved port set (a named targetPort resolves per
//! Pod, so Pods that resolve differently land in different slices), at most
//! [`MAX_ENDPOINTS_PER_SLICE`] per slice. This module never talks to the API.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::selector::Selector;
pub use cluster_watch::SERVICE_NAME_LABEL;

/// Label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// `managed-by` value of slices this controller derives from selectors.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Label set on the slices (and Endpoints) of headless Services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The most endpoints this controller puts in one slice (kube-controller-manager's default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The address family name of an IP, as `addressType` spells it.
pub(crate) fn address_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Whether the Service has a non-empty selector and gets slices from this controller.
pub fn selects_pods(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() != Some("ExternalName")
            && s.selector.as_ref().is_some_and(|m| !m.is_empty())
    })
}

/// Whether a Pod counts as ready: its `Ready` condition is True, or it has none.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    ready.is_none_or(|c| c.status == "True")
}

/// The Pod's IPs (`status.podIPs`, else `status.podIP`).
pub(crate) fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    let texts: Vec<&str> = match &status.pod_ips {
        Some(v) if !v.is_empty() => v.iter().map(|p| p.ip.as_str()).collect(),
        _ => status.pod_ip.iter().map(String::as_str).collect(),
    };
    texts.iter().filter_map(|t| t.parse().ok()).collect()
}

/// Resolves a Service port against a Pod: an int targetPort as is, a named one through the
/// Pod's container ports of the same protocol. `None` when the Pod has no such port.
pub(crate) fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<EndpointPort> {
    let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".to_string());
    let number = match &port.target_port {
        None => port.port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => {
                pod.spec
                    .as_ref()?
                    .containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .find(|p| {
                        p.name.as_deref() == Some(name.as_str())
                            && p.protocol.as_deref().unwrap_or("TCP") == protocol
                    })?
                    .container_port
            }
        },
    };
    Some(EndpointPort {
        name: Some(port.name.clone().unwrap_or_default()),
        port: Some(number),
        protocol: Some(protocol),
        app_protocol: port.app_protocol.clone(),
    })
}

/// A sortable identity of a port set.
type PortsKey = Vec<(String, i32, String, Option<String>)>;

fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

fn sorted_ports(ports: Vec<EndpointPort>) -> Vec<EndpointPort> {
    let mut ports = ports;
    ports.sort_by_key(|p| ports_key(std::slice::from_ref(p)));
    ports
}

/// The owner reference of an object, marking it as the controller.
pub(crate) fn owner_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The metadata every slice of `svc` carries: generateName, labels, owner.
fn slice_meta(svc: &Service, managed_by: &str) -> ObjectMeta {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels = BTreeMap::new();
    labels.insert(SERVICE_NAME_LABEL.to_string(), name.clone());
    labels.insert(MANAGED_BY_LABEL.to_string(), managed_by.to_string());
    let headless = svc
        .spec
        .as_ref()
        .is_some_and(|s| s.cluster_ip.as_deref() == Some("None"));
    if headless {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        owner_references: Some(vec![owner_ref("v1", "Service", &svc.metadata)]),
        ..ObjectMeta::default()
    }
}

/// The endpoint of one Pod address.
fn endpoint(svc: &Service, pod: &Pod, ip: IpAddr) -> Endpoint {
    let spec = svc.spec.as_ref();
    let publish = spec.and_then(|s| s.publish_not_ready_addresses) == Some(true);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let pod_is_ready = pod_ready(pod);
    let ready = publish || (pod_is_ready && !terminating);
    let serving = publish || pod_is_ready;
    let svc_name = svc.metadata.name.as_deref();
    let pod_spec = pod.spec.as_ref();
    let hostname = pod_spec
        .filter(|s| s.subdomain.is_some() && s.subdomain.as_deref() == svc_name)
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name: pod_spec.and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_string()),
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        ..Endpoint::default()
    }
}

/// The first address of an endpoint, its identity inside a group.
fn address_of(ep: &Endpoint) -> &str {
    ep.addresses.first().map(String::as_str).unwrap_or_default()
}

/// The families a Service's slices cover: `spec.ipFamilies`, or both when unset.
fn service_families(svc: &Service) -> Vec<&'static str> {
    let listed: Vec<&'static str> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some("IPv4"),
            "IPv6" => Some("IPv6"),
            _ => None,
        })
        .collect();
    if listed.is_empty() {
        vec!["IPv4", "IPv6"]
    } else {
        listed
    }
}

/// Endpoints of one (addressType, port set) group.
struct Group {
    address_type: &'static str,
    ports: Vec<EndpointPort>,
    endpoints: Vec<Endpoint>,
}

/// Builds slices from groups: endpoints sorted by address, chunked at the per-slice limit.
pub(crate) fn chunk_groups(
    meta: &ObjectMeta,
    groups: impl IntoIterator<Item = (String, Vec<EndpointPort>, Vec<Endpoint>)>,
) -> Vec<EndpointSlice> {
    let mut out = Vec::new();
    for (address_type, ports, mut endpoints) in groups {
        endpoints.sort_by(|a, b| address_of(a).cmp(address_of(b)));
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(EndpointSlice {
                metadata: meta.clone(),
                address_type: address_type.clone(),
                endpoints: chunk.to_vec(),
                ports: Some(ports.clone()),
            });
        }
    }
    out
}

/// The slices a Service with a selector should have, given every Pod (Pods of other
/// namespaces, not matching, without an IP, or finished are left out). Services without a
/// selector get none. Names are unset (`generateName` is `<service>-`).
pub fn desired_slices<P: Borrow<Pod>>(svc: &Service, pods: &[P]) -> Vec<EndpointSlice> {
    if !selects_pods(svc) {
        return Vec::new();
    }
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let selector = Selector::from_map(spec.selector.as_ref().unwrap_or(&BTreeMap::new()));
    let namespace = svc.metadata.namespace.as_deref();
    let families = service_families(svc);
    let mut groups: BTreeMap<(&'static str, PortsKey), Group> = BTreeMap::new();
    for pod in pods {
        let pod: &Pod = pod.borrow();
        let no_labels = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if pod.metadata.namespace.as_deref() != namespace
            || !selector.matches(labels)
            || matches!(phase, Some("Succeeded" | "Failed"))
        {
            continue;
        }
        let ports: Vec<EndpointPort> = sorted_ports(
            spec.ports
                .iter()
                .flatten()
                .filter_map(|p| resolve_port(p, pod))
                .collect(),
        );
        let key = ports_key(&ports);
        for ip in pod_ips(pod) {
            let ty = address_type(ip);
            if !families.contains(&ty) {
                continue;
            }
            groups
                .entry((ty, key.clone()))
                .or_insert_with(|| Group {
                    address_type: ty,
                    ports: ports.clone(),
                    endpoints: Vec::new(),
                })
                .endpoints
                .push(endpoint(svc, pod, ip));
        }
    }
    let meta = slice_meta(svc, CONTROLLER_NAME);
    chunk_groups(
        &meta,
        groups
            .into_values()
            .map(|g| (g.address_type.to_string(), g.ports, g.endpoints)),
    )
}

/// The metadata mirrored slices of an Endpoints object carry.
pub(crate) fn meta_for(svc: &Service, managed_by: &str) -> ObjectMeta {
    slice_meta(svc, managed_by)
}

/// The writes that turn the existing slices into the desired ones.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SlicePlan {
    /// New slices (named by the caller from `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new content (name and resourceVersion kept).
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

impl SlicePlan {
    /// Whether nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

fn group_key(slice: &EndpointSlice) -> (String, PortsKey) {
    (
        slice.address_type.clone(),
        ports_key(slice.ports.as_deref().unwrap_or_default()),
    )
}

/// Plans the writes from `existing` (the slices this controller manages for one Service) to
/// `desired`: endpoints stay in the slice that already holds them, new endpoints fill existing
/// slices with room before new slices are created, emptied slices are deleted, and a slice is
/// updated only when its content differs.
pub fn plan(desired: &[EndpointSlice], existing: &[EndpointSlice]) -> SlicePlan {
    let mut out = SlicePlan::default();
    // Desired endpoints per group, plus a template for new slices.
    let mut wanted: BTreeMap<(String, PortsKey), (EndpointSlice, BTreeMap<String, Endpoint>)> =
        BTreeMap::new();
    for slice in desired {
        let entry = wanted.entry(group_key(slice)).or_insert_with(|| {
            let mut template = slice.clone();
            template.endpoints.clear();
            (template, BTreeMap::new())
        });
        for ep in &slice.endpoints {
            entry.1.insert(address_of(ep).to_string(), ep.clone());
        }
    }
    let mut have: HashMap<(String, PortsKey), Vec<&EndpointSlice>> = HashMap::new();
    for slice in existing {
        let key = group_key(slice);
        if wanted.contains_key(&key) {
            have.entry(key).or_default().push(slice);
        } else if let Some(name) = &slice.metadata.name {
            out.delete.push(name.clone());
        }
    }
    for (key, (template, mut remaining)) in wanted {
        let mut slices: Vec<&EndpointSlice> = have.remove(&key).unwrap_or_default();
        slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        // Keep endpoints where they are.
        let mut kept: Vec<Vec<Endpoint>> = slices
            .iter()
            .map(|s| {
                let mut eps = Vec::new();
                for ep in &s.endpoints {
                    if eps.len() >= MAX_ENDPOINTS_PER_SLICE {
                        break;
                    }
                    if let Some(new) = remaining.remove(address_of(ep)) {
                        eps.push(new);
                    }
                }
                eps
            })
            .collect();
        // Fill slices with room, then create new ones.
        let mut leftovers = remaining.into_values();
        for eps in kept.iter_mut() {
            while eps.len() < MAX_ENDPOINTS_PER_SLICE {
                match leftovers.next() {
                    Some(ep) => eps.push(ep),
                    None => break,
                }
            }
        }
        let rest: Vec<Endpoint> = leftovers.collect();
        for (i, slice) in slices.iter().enumerate() {
            let mut eps = std::mem::take(&mut kept[i]);
            let name = slice.metadata.name.clone().unwrap_or_default();
            if eps.is_empty() {
                out.delete.push(name);
                continue;
            }
            eps.sort_by(|a, b| address_of(a).cmp(address_of(b)));
            let mut next = (*slice).clone();
            next.endpoints = eps;
            next.ports = template.ports.clone();
            next.metadata.labels = template.metadata.labels.clone();
            next.metadata.owner_references = template.metadata.owner_references.clone();
            if next != **slice {
                out.update.push(next);
            }
        }
        for chunk in rest.chunks(MAX_ENDPOINTS_PER_SLICE) {
            let mut slice = template.clone();
            slice.endpoints = chunk.to_vec();
            out.create.push(slice);
        }
    }
    out
}

#[cfg(test)]
mod tests;
