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

use crate::api::legacy::LegacyVersion;
use crate::object::{Kind, KindVisitor, StoredType};
use crate::store::has_status;

/// One published group-version document: where it lives, what it names and its kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupVersion {
    /// The path segment (`api/v1`, `apis/apps/v1`, `apis/extensions/v1beta1`).
    pub segment: String,
    /// The API group (empty for the core group).
    pub group: &'static str,
    /// The version.
    pub version: &'static str,
    /// The kinds served at this group-version.
    pub kinds: Vec<Kind>,
}

/// The group-version documents published: one per group of the stored kinds, at the version
/// the group's kinds are served at (`api/v1`, `apis/apps/v1`), then one per legacy
/// group-version (`apis/extensions/v1beta1`: the apps/v1 schemas under the legacy names, so
/// kubectl finds the legacy kinds and leaves field validation to the server).
pub(crate) fn group_versions() -> Vec<GroupVersion> {
    let mut out: Vec<GroupVersion> = Vec::new();
    for kind in Kind::ALL {
        let segment = match kind.group() {
            "" => format!("api/{}", kind.version()),
            group => format!("apis/{group}/{}", kind.version()),
        };
        match out.iter_mut().find(|gv| gv.segment == segment) {
            Some(gv) => gv.kinds.push(kind),
            None => out.push(GroupVersion {
                segment,
                group: kind.group(),
                version: kind.version(),
                kinds: vec![kind],
            }),
        }
    }
    for legacy in LegacyVersion::ALL {
        out.push(GroupVersion {
            segment: format!("apis/{}", legacy.api_version()),
            group: legacy.group(),
            version: legacy.version(),
            kinds: legacy.kinds().to_vec(),
        });
    }
    out
}

/// Query parameters of writes (create, replace, patch).
const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];

/// The `$ref` of a kind's schema in `gv`.
fn schema_ref(gv: &GroupVersion, kind: Kind) -> String {
    format!(
        "#/components/schemas/{}",
        schema_name(gv.group, gv.version, kind)
    )
}

/// The Kubernetes name of a kind's schema at `group`/`version` (`io.k8s.api.core.v1.Pod`,
/// `io.k8s.api.extensions.v1beta1.Deployment`).
pub(crate) fn schema_name(group: &str, version: &str, kind: Kind) -> String {
    // k8s-openapi names schemas after the first label of the group (`rbac` for
    // `rbac.authorization.k8s.io`), `core` for the core group.
    let group = match group {
        "" => "core",
        group => group.split('.').next().unwrap_or(group),
    };
    format!("io.k8s.api.{group}.{version}.{}", kind.name())
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

/// The component schemas of `gv`'s kinds, each kind's own schema named for `gv` and marked
/// with its `x-kubernetes-group-version-kind`. A legacy group-version's kinds have the
/// stored (apps/v1) schema: the fields only the legacy versions had
/// (`spec.templateGeneration`, `spec.rollbackTo`) are not described.
pub(crate) fn schemas(gv: &GroupVersion) -> Map<String, Value> {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    for kind in &gv.kinds {
        add_kind(&mut generator, *kind);
    }
    if gv.kinds.iter().any(|k| k.info().scale) {
        let _ = generator.subschema_for::<Scale>();
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    for kind in &gv.kinds {
        let stored = schema_name(kind.group(), kind.version(), *kind);
        let Some(Value::Object(mut schema)) = schemas.remove(&stored) else {
            continue;
        };
        schema.insert(
            "x-kubernetes-group-version-kind".to_string(),
            json!([{"group": gv.group, "version": gv.version, "kind": kind.name()}]),
        );
        schemas.insert(
            schema_name(gv.group, gv.version, *kind),
            Value::Object(schema),
        );
    }
    schemas
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// What keeps the operation ids of a legacy group-version apart from the stored version's
/// in the v2 document, where all paths meet: `ExtensionsV1beta1` (empty at the stored
/// version).
fn legacy_infix(gv: &GroupVersion, kind: Kind) -> String {
    if (gv.group, gv.version) == (kind.group(), kind.version()) {
        return String::new();
    }
    let mut group = gv.group.chars();
    let mut version = gv.version.chars();
    let mut out: String = group
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .collect();
    out.extend(group);
    out.extend(version.next().map(|c| c.to_ascii_uppercase()));
    out.extend(version);
    out
}

/// One operation on `kind` in `gv`; `body` is whether it takes the kind as its request body.
fn operation(
    gv: &GroupVersion,
    kind: Kind,
    action: &str,
    params: &[&str],
    body: bool,
    returns: bool,
) -> Value {
    let parameters: Vec<Value> = params.iter().map(|p| query(p)).collect();
    let mut op = json!({
        "operationId": format!("{action}{}{}", legacy_infix(gv, kind), kind.name()),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gv.group, "version": gv.version, "kind": kind.name()},
    });
    let schema = json!({"$ref": schema_ref(gv, kind)});
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

/// The paths of `gv`'s resources, rooted at `/<segment>`.
pub(crate) fn paths(gv: &GroupVersion) -> Map<String, Value> {
    let prefix = &gv.segment;
    let mut paths = Map::new();
    for kind in gv.kinds.iter().copied() {
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
                "get": operation(gv, kind, "list", &list_params, false, false),
                "post": operation(gv, kind, "post", &WRITE_PARAMS, true, true),
            }),
        );
        let one = format!("{collection}/{{name}}");
        let item = json!({
            "get": operation(gv, kind, "get", &[], false, true),
            "put": operation(gv, kind, "put", &WRITE_PARAMS, true, true),
            "patch": operation(gv, kind, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], false, true),
            "delete": operation(gv, kind, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], false, false),
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
    let gv = group_versions()
        .into_iter()
        .find(|gv| gv.segment == segment)?;
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::API_VERSION},
        "paths": paths(&gv),
        "components": {"schemas": schemas(&gv)},
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
