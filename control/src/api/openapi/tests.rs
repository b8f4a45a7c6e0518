use serde_json::Value;

use super::*;

fn v3(segment: &str) -> Value {
    v3::document(segment).unwrap_or_default()
}

#[test]
fn patch_operations_announce_field_validation() {
    let doc = v3("api/v1");
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Service");
    assert!(
        patch["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|q| q["name"] == "fieldValidation"))
    );
    // No request body on patch: kubectl must not build strategic merge patches from these
    // schemas (they lack the patch-strategy annotations).
    assert!(patch.get("requestBody").is_none());
    assert!(v3::document("apis/discovery.k8s.io/v1").is_some());
    assert!(v3::document("apis/apps/v1").is_some());
    assert!(v3::document("apis/autoscaling/v2").is_some());
    assert!(v3::document("apis/batch/v1beta1").is_none());
}

#[test]
fn legacy_group_versions_have_documents_for_their_kinds() {
    let doc = v3("apis/extensions/v1beta1");
    let patch = &doc["paths"]["/apis/extensions/v1beta1/namespaces/{namespace}/deployments/{name}"]
        ["patch"];
    // kubectl finds the patch operation of the manifest's group-version-kind and sees that
    // the server validates fields.
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "extensions", "version": "v1beta1", "kind": "Deployment"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|q| q["name"] == "fieldValidation"))
    );
    // Operation ids stay unique in the v2 document, where every version's paths meet.
    assert_eq!(patch["operationId"], "patchExtensionsV1beta1Deployment");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.extensions.v1beta1.Deployment"]["x-kubernetes-group-version-kind"][0],
        serde_json::json!({"group": "extensions", "version": "v1beta1", "kind": "Deployment"})
    );
    assert!(schemas["io.k8s.api.apps.v1.DeploymentSpec"].is_object());
    assert!(schemas.get("io.k8s.api.apps.v1.Deployment").is_none());
    assert!(
        doc["paths"]
            .get("/apis/extensions/v1beta1/namespaces/{namespace}/statefulsets")
            .is_none()
    );
    let beta1 = v3("apis/apps/v1beta1");
    assert!(beta1["components"]["schemas"]["io.k8s.api.apps.v1beta1.StatefulSet"].is_object());
    // The stored version's document keeps its own names.
    let v1 = v3("apis/apps/v1");
    assert!(v1["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let v2 = v2::document();
    assert!(v2["definitions"]["io.k8s.api.apps.v1beta2.DaemonSet"].is_object());
    assert!(v2["definitions"]["io.k8s.api.apps.v1.DaemonSet"].is_object());
}

#[test]
fn workload_kinds_have_schemas_and_scale_paths() {
    let doc = v3("apis/apps/v1");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0],
        serde_json::json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert!(schemas["io.k8s.api.autoscaling.v1.Scale"].is_object());
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["put"]["x-kubernetes-group-version-kind"]["kind"],
        "Scale"
    );
    let hpa = v3("apis/autoscaling/v2");
    assert!(
        hpa["components"]["schemas"]["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"]
            .is_object()
    );
}

#[test]
fn kinds_have_schemas_named_as_kubernetes_names_them() {
    let doc = v3("api/v1");
    let schemas = &doc["components"]["schemas"];
    let pod = &schemas["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"][0],
        serde_json::json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    // References resolve inside the document.
    let probe = &schemas["io.k8s.api.core.v1.Probe"];
    assert_eq!(
        probe["properties"]["initialDelaySeconds"]["type"], "integer",
        "{probe}"
    );
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let name = reference
            .split('"')
            .next()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("a reference outside the schemas: {reference:.80}"));
        assert!(
            schemas.get(name).is_some(),
            "{name} is referred to but missing"
        );
    }
    let rbac = v3("apis/rbac.authorization.k8s.io/v1");
    assert!(
        rbac["components"]["schemas"]["io.k8s.api.rbac.v1.ClusterRole"]
            ["x-kubernetes-group-version-kind"]
            .is_array()
    );
}

#[test]
fn v2_json_points_at_its_definitions() {
    let doc = v2::document();
    assert_eq!(doc["swagger"], "2.0");
    let text = doc.to_string();
    assert!(!text.contains("#/components/schemas/"));
    assert!(!text.contains("\"nullable\""));
    let definitions = &doc["definitions"];
    for reference in text.split("\"$ref\":\"").skip(1) {
        let name = reference
            .split('"')
            .next()
            .and_then(|r| r.strip_prefix("#/definitions/"))
            .unwrap_or_default();
        assert!(
            definitions.get(name).is_some(),
            "{name} is referred to but missing"
        );
    }
    let param = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["parameters"];
    assert!(param.as_array().is_some_and(|p| {
        p.iter()
            .any(|q| q["name"] == "fieldValidation" && q["type"] == "string")
    }));
}

/// Reads `(field, bytes)` pairs of a protobuf message (length-delimited fields only).
fn fields(mut buf: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = buf.split_first() else {
                break;
            };
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        if key & 7 == 0 {
            varint(&mut buf);
            continue;
        }
        let len = usize::try_from(varint(&mut buf))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let (head, rest) = buf.split_at(len);
        out.push((key >> 3, head));
        buf = rest;
    }
    out
}

#[test]
fn v2_protobuf_carries_patch_parameters_and_kinds() {
    let bytes = v2::protobuf(&v2::document());
    let doc = fields(&bytes);
    assert!(doc.contains(&(1, b"2.0".as_slice())));
    let paths = doc
        .iter()
        .find(|(f, _)| *f == 8)
        .map(|(_, b)| *b)
        .unwrap_or_default();
    let pod = fields(paths)
        .into_iter()
        .filter(|(f, _)| *f == 2)
        .map(|(_, named)| fields(named))
        .find(|named| {
            named.first() == Some(&(1, b"/api/v1/namespaces/{namespace}/pods/{name}".as_slice()))
        })
        .unwrap_or_default();
    let item = pod
        .iter()
        .find(|(f, _)| *f == 2)
        .map(|(_, b)| fields(b))
        .unwrap_or_default();
    let patch = item
        .iter()
        .find(|(f, _)| *f == 8)
        .map(|(_, b)| fields(b))
        .unwrap_or_default();
    let text: Vec<String> = patch
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    assert!(
        text.iter().any(|t| t.contains("fieldValidation")),
        "{text:?}"
    );
    assert!(
        text.iter().any(
            |t| t.contains("x-kubernetes-group-version-kind") && t.contains("\"kind\":\"Pod\"")
        ),
        "{text:?}"
    );
}

#[test]
fn documents_are_served_with_etags_and_not_modified() {
    let served = Served::new(b"{}".to_vec(), "application/json");
    let r = served.respond(&HeaderMap::new(), false);
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers().get(header::ETAG).cloned();
    assert!(etag.is_some());
    let mut headers = HeaderMap::new();
    if let Some(etag) = etag {
        headers.insert(header::IF_NONE_MATCH, etag);
    }
    assert_eq!(
        served.respond(&headers, true).status(),
        StatusCode::NOT_MODIFIED
    );
    let index = build().v3_index;
    let text = String::from_utf8_lossy(&index.body).to_string();
    assert!(text.contains("/openapi/v3/api/v1?hash="), "{text}");
}
