//! Endpoints rows: NAME ENDPOINTS AGE.

use k8s_openapi::api::core::v1::Endpoints;
use serde_json::Value;

use super::{Column, col, join_limited};

pub(super) const COLUMNS: [Column; 1] = [col("Endpoints", 0, "Ready addresses with ports.")];

pub(super) fn cells(ep: &Endpoints) -> (Vec<Value>, Vec<Value>) {
    let mut items = Vec::new();
    for subset in ep.subsets.iter().flatten() {
        let addresses: Vec<&str> = subset
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        let ports: Vec<i32> = subset.ports.iter().flatten().map(|p| p.port).collect();
        for ip in &addresses {
            if ports.is_empty() {
                items.push(ip.to_string());
            }
            for port in &ports {
                if ip.contains(':') {
                    items.push(format!("[{ip}]:{port}"));
                } else {
                    items.push(format!("{ip}:{port}"));
                }
            }
        }
    }
    (vec![Value::String(join_limited(&items, 3))], Vec::new())
}
