//! OpenAPI v3 documents: the index (`/openapi/v3`, one `serverRelativeURL` per group-version)
//! and one document per group-version with the list/create/get/replace/patch/delete
//! operations of each served resource (their query parameters include `fieldValidation`, so
//! kubectl leaves field validation to the server) and the component schemas of its kinds,
//! generated from k8s-openapi's `schemars` implementations and named as Kubernetes names them
//! (`io.k8s.api.core.v1.Pod`, with `x-kubernetes-group-version-kind`), so `kubectl explain`
//! works.
//!
//! Patch operations carry no request body on purpose: kubectl computes a strategic merge
//! patch from the schemas only when the patch operation advertises that media type, and these
//! schemas lack the `x-kubernetes-patch-*` annotations such a patch needs; kubectl then uses
//! its built-in types instead.

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::object::{Kind, KindVisitor, StoredType};
use crate::store::has_status;

/// The group-version documents published, as `(path segment, group)`: one per group of the
/// stored kinds, at the version the group's kinds are served at (`api/v1`, `apis/apps/v1`).
pub(crate) fn group_versions() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for kind in Kind::ALL {
        let segment = match kind.group() {
            "" => format!("api/{}", kind.version()),
            group => format!("apis/{group}/{}", kind.version()),
        };
        if !out.iter().any(|(s, _)| *s == segment) {
            out.push((segment, kind.group()));
        }
    }
    out
}

/// Query parameters of writes (create, replace, patch).
const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];

/// The `$ref` of a kind's schema.
fn schema_ref(kind: Kind) -> String {
    format!("#/components/schemas/{}", schema_name(kind))
}

/// The Kubernetes name of a kind's schema (`io.k8s.api.core.v1.Pod`).
pub(crate) fn schema_name(kind: Kind) -> String {
    // k8s-openapi names schemas after the first label of the group (`rbac` for
    // `rbac.authorization.k8s.io`), `core` for the core group.
    let group = match kind.group() {
        "" => "core",
        group => group.split('.').next().unwrap_or(group),
    };
    format!("io.k8s.api.{group}.{}.{}", kind.version(), kind.name())
}

/// Adds the schema of `kind` (and of everything it refers to) to `generator`.
fn add_kind(generator: &mut SchemaGenerator, kind: Kind) {
    struct Add<'a>(&'a mut SchemaGenerator);
    impl KindVisitor for Add<'_> {
        type Output = ();
        fn visit<T: StoredType>(self, _: Kind) {
            // The returned reference is not needed: the schema lands in the definitions.
            let _ = self.0.subschema_for::<T>();
        }
    }
    kind.visit(Add(generator));
}

/// The kinds a group-version document covers.
pub(crate) fn kinds_of(group: &str) -> impl Iterator<Item = Kind> + '_ {
    Kind::ALL.into_iter().filter(move |k| k.group() == group)
}

/// The component schemas of `group`'s kinds, each kind's own schema marked with its
/// `x-kubernetes-group-version-kind`.
pub(crate) fn schemas(group: &str) -> Map<String, Value> {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    for kind in kinds_of(group) {
        add_kind(&mut generator, kind);
    }
    if kinds_of(group).any(|k| k.info().scale) {
        let _ = generator.subschema_for::<Scale>();
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    for kind in kinds_of(group) {
        if let Some(Value::Object(schema)) = schemas.get_mut(&schema_name(kind)) {
            schema.insert(
                "x-kubernetes-group-version-kind".to_string(),
                json!([{"group": kind.group(), "version": kind.version(), "kind": kind.name()}]),
            );
        }
    }
    schemas
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// One operation; `body` is whether it takes the kind as its request body.
fn operation(kind: Kind, action: &str, params: &[&str], body: bool, returns: bool) -> Value {
    let parameters: Vec<Value> = params.iter().map(|p| query(p)).collect();
    let mut op = json!({
        "operationId": format!("{action}{}", kind.name()),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": kind.group(), "version": kind.version(), "kind": kind.name()},
    });
    let schema = json!({"$ref": schema_ref(kind)});
    if returns {
        op["responses"]["200"]["content"] = json!({"application/json": {"schema": schema}});
    }
    if body {
        op["requestBody"] = json!({"content": {"*/*": {"schema": schema}}, "required": true});
    }
    op
}

/// The get/put/patch operations of a kind's `/scale` (an autoscaling/v1 Scale).
fn scale_item(kind: Kind) -> Value {
    let schema = json!({"$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"});
    let op = |action: &str, params: &[&str], body: bool| {
        let parameters: Vec<Value> = params.iter().map(|p| query(p)).collect();
        let mut op = json!({
            "operationId": format!("{action}{}Scale", kind.name()),
            "parameters": parameters,
            "responses": {"200": {"description": "OK",
                "content": {"application/json": {"schema": schema.clone()}}}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        });
        if body {
            op["requestBody"] =
                json!({"content": {"*/*": {"schema": schema.clone()}}, "required": true});
        }
        op
    };
    json!({
        "get": op("get", &[], false),
        "put": op("put", &WRITE_PARAMS, true),
        "patch": op("patch", &["dryRun", "fieldManager", "fieldValidation", "force"], false),
    })
}

/// The paths of `group`'s resources, rooted at `/<prefix>`.
pub(crate) fn paths(prefix: &str, group: &str) -> Map<String, Value> {
    let mut paths = Map::new();
    for kind in kinds_of(group) {
        let collection = if kind.namespaced() {
            format!("/{prefix}/namespaces/{{namespace}}/{}", kind.plural())
        } else {
            format!("/{prefix}/{}", kind.plural())
        };
        let list_params = [
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "watch",
        ];
        paths.insert(
            collection.clone(),
            json!({
                "get": operation(kind, "list", &list_params, false, false),
                "post": operation(kind, "post", &WRITE_PARAMS, true, true),
            }),
        );
        let one = format!("{collection}/{{name}}");
        let item = json!({
            "get": operation(kind, "get", &[], false, true),
            "put": operation(kind, "put", &WRITE_PARAMS, true, true),
            "patch": operation(kind, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], false, true),
            "delete": operation(kind, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], false, false),
        });
        paths.insert(one.clone(), item.clone());
        if has_status(kind) {
            let mut status = item;
            if let Some(map) = status.as_object_mut() {
                map.remove("delete");
            }
            paths.insert(format!("{one}/status"), status);
        }
        if kind.info().scale {
            paths.insert(format!("{one}/scale"), scale_item(kind));
        }
    }
    paths
}

/// The document of the group-version at `segment` (`api/v1`), or `None` when none is served
/// there.
pub(crate) fn document(segment: &str) -> Option<Value> {
    let (prefix, group) = group_versions().into_iter().find(|(s, _)| *s == segment)?;
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::API_VERSION},
        "paths": paths(&prefix, group),
        "components": {"schemas": schemas(group)},
    }))
}

/// The index: each group-version's document URL, with `hash` the document's hash so clients
/// can cache it.
pub(crate) fn index<'a>(hashes: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut paths = Map::new();
    for (segment, hash) in hashes {
        paths.insert(
            segment.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{segment}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}
