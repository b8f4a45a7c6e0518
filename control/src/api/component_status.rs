//! `componentstatuses` (core/v1 ComponentStatus, deprecated upstream since 1.19 and still what
//! `kubectl get componentstatus` asks): a read-only, cluster-scoped list computed on each
//! request from [`crate::health::Components`], never stored. Each part is one item with a
//! `Healthy` condition; kubectl's table shows NAME STATUS MESSAGE ERROR.

use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::api::core::v1::{ComponentCondition, ComponentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::response;
use crate::error::ApiError;
use crate::health::Components;

/// The warning kube-apiserver attaches to every ComponentStatus answer.
const DEPRECATED: &str = "v1 ComponentStatus is deprecated in v1.19+";

/// Answers a request to `/api/v1/componentstatuses[/name]`.
pub(crate) fn respond(
    components: &Components,
    method: &Method,
    name: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(
            "componentstatuses are read-only: they are computed from the server's parts",
        ));
    }
    let mut items = statuses(components);
    if let Some(name) = name {
        items.retain(|s| s.metadata.name.as_deref() == Some(name));
        if items.is_empty() {
            return Err(ApiError::not_found("componentstatuses", name));
        }
    }
    let warnings = [DEPRECATED.to_string()];
    let body = if response::wants_table(headers) {
        table(&items)
    } else if name.is_some() {
        let mut one = serde_json::to_value(&items[0]).unwrap_or(Value::Null);
        one["kind"] = json!("ComponentStatus");
        one["apiVersion"] = json!("v1");
        one
    } else {
        json!({
            "kind": "ComponentStatusList",
            "apiVersion": "v1",
            "metadata": {},
            "items": items.iter().map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
                v["kind"] = json!("ComponentStatus");
                v["apiVersion"] = json!("v1");
                v
            }).collect::<Vec<_>>(),
        })
    };
    Ok(response::json(StatusCode::OK, &body, &warnings))
}

/// One ComponentStatus per registered part.
fn statuses(components: &Components) -> Vec<ComponentStatus> {
    components
        .statuses()
        .into_iter()
        .map(|(name, health)| {
            let condition = match health {
                Ok(()) => ComponentCondition {
                    type_: "Healthy".to_string(),
                    status: "True".to_string(),
                    message: Some("ok".to_string()),
                    error: None,
                },
                Err(why) => ComponentCondition {
                    type_: "Healthy".to_string(),
                    status: "False".to_string(),
                    message: None,
                    error: Some(why),
                },
            };
            ComponentStatus {
                metadata: ObjectMeta {
                    name: Some(name),
                    ..ObjectMeta::default()
                },
                conditions: Some(vec![condition]),
            }
        })
        .collect()
}

/// kube-apiserver's table for ComponentStatus: NAME STATUS MESSAGE ERROR.
fn table(items: &[ComponentStatus]) -> Value {
    let column = |name: &str, description: &str| {
        json!({"name": name, "type": "string", "format": if name == "Name" { "name" } else { "" },
               "description": description, "priority": 0})
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|s| {
            let name = s.metadata.name.clone().unwrap_or_default();
            let healthy = s.conditions.iter().flatten().find(|c| c.type_ == "Healthy");
            let status = match healthy.map(|c| c.status.as_str()) {
                Some("True") => "Healthy",
                Some("False") => "Unhealthy",
                _ => "Unknown",
            };
            let message = healthy.and_then(|c| c.message.clone()).unwrap_or_default();
            let error = healthy.and_then(|c| c.error.clone()).unwrap_or_default();
            json!({
                "cells": [name, status, message, error],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {"name": name}},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            column("Name", "Name must be unique within a namespace."),
            column("Status", "Status of the component conditions"),
            column("Message", "Message of the component conditions"),
            column("Error", "Error of the component conditions"),
        ],
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn components() -> Components {
        let c = Components::default();
        c.register("store", Arc::new(|| Ok(())));
        c.register(
            "scheduler",
            Arc::new(|| Err("the scheduler task has stopped".into())),
        );
        c
    }

    async fn body(r: Response) -> Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn lists_every_part_with_its_health_and_the_deprecation_warning() -> Result<(), ApiError>
    {
        let r = respond(&components(), &Method::GET, None, &HeaderMap::new())?;
        assert_eq!(
            r.headers().get("warning").and_then(|v| v.to_str().ok()),
            Some("299 - \"v1 ComponentStatus is deprecated in v1.19+\"")
        );
        let list = body(r).await;
        assert_eq!(list["kind"], "ComponentStatusList");
        assert_eq!(list["items"][0]["metadata"]["name"], "store");
        assert_eq!(list["items"][0]["conditions"][0]["status"], "True");
        assert_eq!(list["items"][1]["conditions"][0]["status"], "False");
        assert_eq!(
            list["items"][1]["conditions"][0]["error"],
            "the scheduler task has stopped"
        );
        Ok(())
    }

    #[tokio::test]
    async fn tables_show_status_message_and_error() -> Result<(), ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io"),
        );
        let r = respond(&components(), &Method::GET, None, &headers)?;
        let t = body(r).await;
        assert_eq!(t["rows"][0]["cells"], json!(["store", "Healthy", "ok", ""]));
        assert_eq!(
            t["rows"][1]["cells"],
            json!([
                "scheduler",
                "Unhealthy",
                "",
                "the scheduler task has stopped"
            ])
        );
        Ok(())
    }

    #[test]
    fn one_part_by_name_and_writes_refused() {
        let c = components();
        assert!(respond(&c, &Method::GET, Some("store"), &HeaderMap::new()).is_ok());
        let missing = respond(&c, &Method::GET, Some("etcd-0"), &HeaderMap::new());
        assert!(matches!(missing, Err(e) if e.code == 404));
        let write = respond(&c, &Method::DELETE, Some("store"), &HeaderMap::new());
        assert!(matches!(write, Err(e) if e.code == 405));
    }
}
