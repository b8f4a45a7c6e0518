//! EndpointSlice rows: NAME ADDRESSTYPE PORTS ENDPOINTS AGE.

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::{Column, col, join_limited};

pub(super) const COLUMNS: [Column; 3] = [
    col("AddressType", 0, "IPv4, IPv6 or FQDN."),
    col("Ports", 0, "The ports of the slice."),
    col("Endpoints", 0, "Addresses of the endpoints."),
];

pub(super) fn cells(slice: &EndpointSlice) -> (Vec<Value>, Vec<Value>) {
    let ports: Vec<String> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| {
            p.port
                .map_or_else(|| "<unset>".to_string(), |n| n.to_string())
        })
        .collect();
    let ports = if ports.is_empty() {
        "<unset>".to_string()
    } else {
        ports.join(",")
    };
    let addresses: Vec<String> = slice
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.iter().cloned())
        .collect();
    let endpoints = if addresses.is_empty() {
        "<unset>".to_string()
    } else {
        join_limited(&addresses, 3)
    };
    (
        vec![
            Value::String(slice.address_type.clone()),
            Value::String(ports),
            Value::String(endpoints),
        ],
        Vec::new(),
    )
}
