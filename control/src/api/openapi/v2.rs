//! The OpenAPI v2 document (`/openapi/v2`): the same paths as the v3 documents and the
//! definitions of every served kind, as JSON, and as the protobuf kubectl asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's
//! `openapi.v2.Document`).
//!
//! kubectl 1.32 reads v2 only when a group-version has no v3 document (a manifest holding a
//! kind this server does not serve, such as a `batch/v1beta1` CronJob): it then
//! looks for `fieldValidation` on the v2 patch operations. The protobuf form therefore carries the paths, their query
//! parameters and `x-kubernetes-group-version-kind`, and leaves the definitions to the JSON
//! form.

use serde_json::{Map, Value, json};

use super::v3::{self, group_versions};

/// Rewrites a v3 schema into v2 form: references point at `#/definitions/`, a lone `$ref`
/// wrapped in `allOf` is unwrapped, and `nullable` (not part of v2) is dropped.
fn to_v2(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("nullable");
            let lone_ref = match map.get("allOf") {
                Some(Value::Array(all)) if all.len() == 1 => all[0]
                    .get("$ref")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
            if let Some(reference) = lone_ref {
                map.remove("allOf");
                map.insert("$ref".to_string(), Value::String(reference));
            }
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                *reference = format!("#/definitions/{name}");
            }
            map.values_mut().for_each(to_v2);
        }
        Value::Array(items) => items.iter_mut().for_each(to_v2),
        _ => {}
    }
}

/// The v2 form of a v3 operation: parameters carry their type directly, the response its
/// schema.
fn operation_to_v2(op: &mut Value) {
    if let Some(Value::Array(params)) = op.get_mut("parameters") {
        for p in params {
            if let Some(map) = p.as_object_mut() {
                map.remove("schema");
                map.insert("type".to_string(), json!("string"));
                map.insert("uniqueItems".to_string(), json!(true));
            }
        }
    }
    if let Some(map) = op.as_object_mut() {
        map.remove("requestBody");
    }
    let schema = op
        .pointer("/responses/200/content/application~1json/schema")
        .cloned();
    if let Some(response) = op
        .pointer_mut("/responses/200")
        .and_then(Value::as_object_mut)
    {
        response.remove("content");
        if let Some(mut schema) = schema {
            to_v2(&mut schema);
            response.insert("schema".to_string(), schema);
        }
    }
}

/// The whole v2 document as JSON.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for gv in group_versions() {
        for (path, mut item) in v3::paths(&gv) {
            if let Some(ops) = item.as_object_mut() {
                ops.values_mut().for_each(operation_to_v2);
            }
            paths.insert(path, item);
        }
        for (name, mut schema) in v3::schemas(&gv) {
            to_v2(&mut schema);
            definitions.insert(name, schema);
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": super::API_VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

/// Protobuf encoding of the parts of gnostic's `openapi.v2.Document` written here.
mod pb {
    /// Appends a varint.
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Appends a length-delimited field (a string or an embedded message).
    pub(super) fn bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    /// Appends a `true` bool field.
    pub(super) fn flag(out: &mut Vec<u8>, field: u64) {
        varint(out, field << 3);
        varint(out, 1);
    }
}

/// `QueryParameterSubSchema{in, name, type, unique_items}` wrapped in `ParametersItem >
/// Parameter > NonBodyParameter`.
fn query_parameter(name: &str) -> Vec<u8> {
    let mut sub = Vec::new();
    pb::bytes(&mut sub, 2, b"query");
    pb::bytes(&mut sub, 4, name.as_bytes());
    pb::bytes(&mut sub, 6, b"string");
    pb::flag(&mut sub, 20);
    let mut non_body = Vec::new();
    pb::bytes(&mut non_body, 3, &sub);
    let mut parameter = Vec::new();
    pb::bytes(&mut parameter, 2, &non_body);
    let mut item = Vec::new();
    pb::bytes(&mut item, 1, &parameter);
    item
}

/// `NamedAny{name, value: Any{yaml}}`; JSON is YAML.
fn extension(name: &str, value: &Value) -> Vec<u8> {
    let mut any = Vec::new();
    pb::bytes(&mut any, 2, value.to_string().as_bytes());
    let mut named = Vec::new();
    pb::bytes(&mut named, 1, name.as_bytes());
    pb::bytes(&mut named, 2, &any);
    named
}

/// `Operation{operation_id, parameters, responses, vendor_extension}` from its JSON form.
fn operation(op: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
        pb::bytes(&mut out, 5, id.as_bytes());
    }
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = p.get("name").and_then(Value::as_str) {
            pb::bytes(&mut out, 8, &query_parameter(name));
        }
    }
    // Responses{response_code: [NamedResponseValue{"200", ResponseValue{Response{"OK"}}}]}
    let mut response = Vec::new();
    pb::bytes(&mut response, 1, b"OK");
    let mut value = Vec::new();
    pb::bytes(&mut value, 1, &response);
    let mut named = Vec::new();
    pb::bytes(&mut named, 1, b"200");
    pb::bytes(&mut named, 2, &value);
    let mut responses = Vec::new();
    pb::bytes(&mut responses, 1, &named);
    pb::bytes(&mut out, 9, &responses);
    if let Some(obj) = op.as_object() {
        for (name, value) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            pb::bytes(&mut out, 13, &extension(name, value));
        }
    }
    out
}

/// The document in gnostic's protobuf form: `swagger`, `info` and `paths`.
pub(crate) fn protobuf(document: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    pb::bytes(&mut out, 1, b"2.0");
    let mut info = Vec::new();
    let text = |key: &str| {
        document
            .pointer(&format!("/info/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    pb::bytes(&mut info, 1, text("title").as_bytes());
    pb::bytes(&mut info, 2, text("version").as_bytes());
    pb::bytes(&mut out, 2, &info);
    let mut paths = Vec::new();
    for (path, item) in document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut path_item = Vec::new();
        // PathItem fields: get 2, put 3, post 4, delete 5, patch 8.
        for (verb, field) in [
            ("get", 2),
            ("put", 3),
            ("post", 4),
            ("delete", 5),
            ("patch", 8),
        ] {
            if let Some(op) = item.get(verb) {
                pb::bytes(&mut path_item, field, &operation(op));
            }
        }
        let mut named = Vec::new();
        pb::bytes(&mut named, 1, path.as_bytes());
        pb::bytes(&mut named, 2, &path_item);
        pb::bytes(&mut paths, 2, &named);
    }
    pb::bytes(&mut out, 8, &paths);
    out
}
