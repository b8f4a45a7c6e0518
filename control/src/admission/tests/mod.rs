//! Tests of admission: Service/Node/Pod/EndpointSlice validation, defaulting, allocation,
//! commit/abort bookkeeping and the repair pass. Shared helpers live here.

use serde_json::{Value, json};

use super::*;
use crate::error::ApiError;

mod objects;
mod security;
mod service;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn admission() -> Admission {
    Admission::new(AdmissionConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn dual_stack() -> Admission {
    let config = AdmissionConfig {
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap_or_else(|e| panic!("{e}")),
            "fd00:96::/112".parse().unwrap_or_else(|e| panic!("{e}")),
        ],
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().unwrap_or_else(|e| panic!("{e}")),
            "fd00:244::/56".parse().unwrap_or_else(|e| panic!("{e}")),
        ],
        ..AdmissionConfig::default()
    };
    Admission::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn object(kind: Kind, value: Value) -> Object {
    Object::from_json(kind, value).unwrap_or_else(|e| panic!("{e}"))
}

fn svc(name: &str, spec: Value) -> Object {
    object(
        Kind::Service,
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
}

/// Admits a create and commits it, as the store's writer does.
fn create(adm: &Admission, mut obj: Object) -> Result<Object, ApiError> {
    adm.admit(Operation::Create, &mut obj, None)?;
    adm.committed(None, Some(&obj));
    Ok(obj)
}

/// Admits an update and commits it.
fn update(adm: &Admission, old: &Object, mut obj: Object) -> Result<Object, ApiError> {
    adm.admit(Operation::Update, &mut obj, Some(old))?;
    adm.committed(Some(old), Some(&obj));
    Ok(obj)
}

fn json_of(obj: &Object) -> Value {
    obj.to_json()
}

fn error_of(result: Result<Object, ApiError>) -> ApiError {
    match result {
        Ok(obj) => panic!("accepted: {}", obj.to_json()),
        Err(e) => e,
    }
}
