//! Namespace rows: NAME STATUS AGE.

use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;

use super::{Column, col};

pub(super) const COLUMNS: [Column; 1] = [col("Status", 0, "The namespace's phase.")];

pub(super) fn cells(ns: &Namespace) -> (Vec<Value>, Vec<Value>) {
    let phase = ns
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Active".to_string());
    (vec![Value::String(phase)], Vec::new())
}
