//! A minimal OpenAPI v3 surface: `/openapi/v3` (the index of group-versions) and one document
//! per group-version listing each resource's paths and verbs with their
//! `x-kubernetes-group-version-kind` and query parameters. kubectl reads it to learn that the
//! server validates fields itself (`fieldValidation`), so `kubectl create/apply` send
//! `fieldValidation=Strict` instead of validating client-side. Schemas are not published
//! (`kubectl explain` is out of scope); `/openapi/v2` answers 404, which kubectl tolerates.

use serde_json::{Map, Value, json};

use crate::object::Kind;
use crate::store::has_status;

/// The group-version paths published, as `(path segment, group)`.
const GROUP_VERSIONS: [(&str, &str); 3] = [
    ("api/v1", ""),
    ("apis/discovery.k8s.io/v1", "discovery.k8s.io"),
    (
        "apis/rbac.authorization.k8s.io/v1",
        crate::object::RBAC_GROUP,
    ),
];

/// A stable hash of the documents, so clients may cache them.
const HASH: &str = concat!("switchyard-", env!("CARGO_PKG_VERSION"));

/// `/openapi/v3`.
pub(crate) fn index() -> Value {
    let mut paths = Map::new();
    for (segment, _) in GROUP_VERSIONS {
        paths.insert(
            segment.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{segment}?hash={HASH}")}),
        );
    }
    json!({"paths": paths})
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(kind: Kind, action: &str, params: &[&str]) -> Value {
    let parameters: Vec<Value> = params.iter().map(|p| query(p)).collect();
    json!({
        "operationId": format!("{action}{}", kind.name()),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": kind.group(), "version": "v1", "kind": kind.name()},
    })
}

const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];

/// `/openapi/v3/<segment>`, or `None` for an unknown group-version.
pub(crate) fn document(segment: &str) -> Option<Value> {
    let (prefix, group) = GROUP_VERSIONS.into_iter().find(|(s, _)| *s == segment)?;
    let mut paths = Map::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group) {
        let collection = if kind.namespaced() {
            format!("/{prefix}/namespaces/{{namespace}}/{}", kind.plural())
        } else {
            format!("/{prefix}/{}", kind.plural())
        };
        paths.insert(
            collection.clone(),
            json!({
                "get": operation(kind, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"]),
                "post": operation(kind, "post", &WRITE_PARAMS),
            }),
        );
        let one = format!("{collection}/{{name}}");
        let item = json!({
            "get": operation(kind, "get", &[]),
            "put": operation(kind, "put", &WRITE_PARAMS),
            "patch": operation(kind, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
            "delete": operation(kind, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
        });
        paths.insert(one.clone(), item.clone());
        if has_status(kind) {
            let mut status = item;
            if let Some(map) = status.as_object_mut() {
                map.remove("delete");
            }
            paths.insert(format!("{one}/status"), status);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_announce_field_validation_on_patch() {
        let doc = document("api/v1").unwrap_or_default();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Service");
        assert!(
            patch["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|q| q["name"] == "fieldValidation"))
        );
        assert!(document("apis/discovery.k8s.io/v1").is_some());
        assert!(document("apis/apps/v1").is_none());
        assert!(index()["paths"]["api/v1"]["serverRelativeURL"].is_string());
    }
}
