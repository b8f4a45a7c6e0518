//! EndpointSlice validation: `addressType` IPv4|IPv6|FQDN (immutable), at most 1000 endpoints
//! with 1–100 addresses each matching the type, hostnames DNS labels, at most 100 ports with
//! unique DNS-label names, port numbers 1–65535 and protocols TCP/UDP/SCTP (defaulted to TCP).
//! Nothing is allocated.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::MAX_SLICE_ENDPOINTS;
use super::field::Causes;
use super::names;
use crate::admission::AdmissionError;

const TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 100;

/// Validates and defaults an EndpointSlice; `old` is the stored slice on update.
pub(super) fn admit(
    slice: &mut EndpointSlice,
    old: Option<&EndpointSlice>,
) -> Result<(), AdmissionError> {
    let name = slice.metadata.name.clone().unwrap_or_default();
    let mut c = Causes::default();
    let ty = slice.address_type.clone();
    if !TYPES.contains(&ty.as_str()) {
        c.not_supported("addressType", &ty, &TYPES);
    }
    if let Some(old) = old
        && old.address_type != ty
    {
        c.invalid("addressType", &ty, "field is immutable");
    }
    if slice.endpoints.len() > MAX_SLICE_ENDPOINTS {
        c.too_many("endpoints", slice.endpoints.len(), MAX_SLICE_ENDPOINTS);
    }
    for (i, ep) in slice.endpoints.iter().enumerate() {
        let path = format!("endpoints[{i}]");
        if ep.addresses.is_empty() {
            c.required(
                &format!("{path}.addresses"),
                "must contain at least 1 address",
            );
        } else if ep.addresses.len() > MAX_ADDRESSES {
            c.too_many(
                &format!("{path}.addresses"),
                ep.addresses.len(),
                MAX_ADDRESSES,
            );
        }
        for (j, addr) in ep.addresses.iter().enumerate() {
            let apath = format!("{path}.addresses[{j}]");
            let ok = match ty.as_str() {
                "IPv4" => addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()),
                "IPv6" => addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()),
                "FQDN" => names::validate_dns_subdomain(addr).is_ok(),
                _ => true,
            };
            if !ok {
                c.invalid(&apath, addr, format!("must be a valid {ty} address"));
            }
        }
        if let Some(h) = ep.hostname.as_deref()
            && let Err(why) = names::validate_dns_label(h)
        {
            c.invalid(&format!("{path}.hostname"), &h, why);
        }
        if let Some(n) = ep.node_name.as_deref()
            && let Err(why) = names::validate_dns_subdomain(n)
        {
            c.invalid(&format!("{path}.nodeName"), &n, why);
        }
    }
    let ports = slice.ports.get_or_insert_with(Vec::new);
    if ports.len() > MAX_PORTS {
        c.too_many("ports", ports.len(), MAX_PORTS);
    }
    let mut seen = HashSet::new();
    for (i, port) in ports.iter_mut().enumerate() {
        let path = format!("ports[{i}]");
        let port_name = port.name.clone().unwrap_or_default();
        if !port_name.is_empty()
            && let Err(why) = names::validate_dns_label(&port_name)
        {
            c.invalid(&format!("{path}.name"), &port_name, why);
        }
        if !seen.insert(port_name.clone()) {
            c.duplicate(&format!("{path}.name"), &port_name);
        }
        if let Some(p) = port.port
            && !(1..=65535).contains(&p)
        {
            c.invalid(
                &format!("{path}.port"),
                &p,
                "must be between 1 and 65535, inclusive",
            );
        }
        let protocol = port.protocol.get_or_insert_with(|| "TCP".to_string());
        if !PROTOCOLS.contains(&protocol.as_str()) {
            c.not_supported(&format!("{path}.protocol"), protocol, &PROTOCOLS);
        }
    }
    c.finish("EndpointSlice", &name)
}
