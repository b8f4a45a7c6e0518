//! Legacy v1 Endpoints validation: every address a valid IP, hostnames DNS labels, ports
//! 1–65535 with TCP/UDP/SCTP (defaulted to TCP) and unique DNS-label names (required when a
//! subset has more than one port). Nothing is allocated.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints};

use super::field::Causes;
use super::names;
use crate::admission::AdmissionError;

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Validates and defaults an Endpoints object.
pub(super) fn admit(ep: &mut Endpoints) -> Result<(), AdmissionError> {
    let name = ep.metadata.name.clone().unwrap_or_default();
    let mut c = Causes::default();
    for (i, subset) in ep.subsets.iter_mut().flatten().enumerate() {
        let path = format!("subsets[{i}]");
        for (j, a) in subset.addresses.iter().flatten().enumerate() {
            address(&format!("{path}.addresses[{j}]"), a, &mut c);
        }
        for (j, a) in subset.not_ready_addresses.iter().flatten().enumerate() {
            address(&format!("{path}.notReadyAddresses[{j}]"), a, &mut c);
        }
        let ports = subset.ports.get_or_insert_with(Vec::new);
        let many = ports.len() > 1;
        let mut seen = HashSet::new();
        for (j, port) in ports.iter_mut().enumerate() {
            let ppath = format!("{path}.ports[{j}]");
            match port.name.as_deref().filter(|n| !n.is_empty()) {
                None if many => c.required(&format!("{ppath}.name"), ""),
                None => {}
                Some(n) => {
                    if let Err(why) = names::validate_dns_label(n) {
                        c.invalid(&format!("{ppath}.name"), &n, why);
                    } else if !seen.insert(n.to_string()) {
                        c.duplicate(&format!("{ppath}.name"), &n);
                    }
                }
            }
            if !(1..=65535).contains(&port.port) {
                c.invalid(
                    &format!("{ppath}.port"),
                    &port.port,
                    "must be between 1 and 65535, inclusive",
                );
            }
            let protocol = port.protocol.get_or_insert_with(|| "TCP".to_string());
            if !PROTOCOLS.contains(&protocol.as_str()) {
                c.not_supported(&format!("{ppath}.protocol"), protocol, &PROTOCOLS);
            }
        }
    }
    c.finish("Endpoints", &name)
}

fn address(path: &str, a: &EndpointAddress, c: &mut Causes) {
    match a.ip.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() || ip.is_multicast() => c.invalid(
            &format!("{path}.ip"),
            &a.ip,
            "may not be unspecified or multicast",
        ),
        Ok(_) => {}
        Err(_) => c.invalid(&format!("{path}.ip"), &a.ip, "must be a valid IP address"),
    }
    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty())
        && let Err(why) = names::validate_dns_label(h)
    {
        c.invalid(&format!("{path}.hostname"), &h, why);
    }
}
