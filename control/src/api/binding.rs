//! `POST /api/v1/namespaces/{ns}/pods/{name}/binding`: a v1 `Binding` assigns a Pod to a Node,
//! as kube-scheduler does it. The Pod's `spec.nodeName` is set only when it is empty (else 409,
//! worded as kube-apiserver words it), in one store write against the newest Pod; admission then
//! records the `PodScheduled` condition and allocates the Pod's IP from the node's pod CIDR in
//! that same write, so an allocation failure leaves the Pod unbound and nothing allocated.
//! The answer is a `Status` of `Success` with code 201. RBAC: `create` on `pods/binding`.

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::api::core::v1::Binding;

use super::query::Params;
use super::route::Target;
use super::{body, response};
use crate::error::{ApiError, FieldCause};
use crate::object::{Kind, Object};
use crate::store::{Store, Write};

/// Handles a request on `pods/{name}/binding`.
pub(crate) async fn respond(
    store: &Store,
    method: &Method,
    target: &Target,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    if *method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on pods/binding: only create is"
        )));
    }
    let pod_name = target.name.clone().unwrap_or_default();
    let namespace = target.namespace.clone();
    let value = body::parse(&body::content_type(headers), body)?;
    let binding: Binding = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("the body is not a v1 Binding: {e}")))?;
    check(&binding, &pod_name, namespace.as_deref())?;
    let node = binding.target.name.clone().unwrap_or_default();
    let annotations = binding.metadata.annotations.clone().unwrap_or_default();
    let name = pod_name.clone();
    let write = Write::Update {
        kind: Kind::Pod,
        namespace,
        name: pod_name,
        status: false,
        change: Box::new(move |current| {
            let Object::Pod(pod) = current else {
                return Err(ApiError::internal("binding: the stored object is not a Pod").into());
            };
            if pod.metadata.deletion_timestamp.is_some() {
                return Err(ApiError::conflict(
                    "pods/binding",
                    &name,
                    format!("pod {name} is being deleted, cannot be assigned to a host"),
                )
                .into());
            }
            let mut pod = pod.clone();
            let spec = pod.spec.get_or_insert_with(Default::default);
            if let Some(assigned) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
                return Err(ApiError::conflict(
                    "pods/binding",
                    &name,
                    format!("pod {name} is already assigned to node {assigned:?}"),
                )
                .into());
            }
            spec.node_name = Some(node);
            if !annotations.is_empty() {
                pod.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .extend(annotations);
            }
            Ok(Object::Pod(pod))
        }),
    };
    if params.dry_run {
        store.dry_run(write).await?;
    } else {
        store.write(write).await?;
    }
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    });
    Ok(response::json(StatusCode::CREATED, &status, &[]))
}

/// The Binding's own checks: its name (when given) is the Pod's, its namespace (when given) the
/// path's, and its target a named Node.
fn check(binding: &Binding, pod: &str, namespace: Option<&str>) -> Result<(), ApiError> {
    if let Some(name) = binding.metadata.name.as_deref().filter(|n| !n.is_empty())
        && name != pod
    {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    if let (Some(given), Some(ns)) = (
        binding
            .metadata
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty()),
        namespace,
    ) && given != ns
    {
        return Err(ApiError::bad_request(format!(
            "metadata.namespace: the namespace of the provided object ({given}) does not match \
             the namespace sent on the request ({ns})"
        )));
    }
    let mut causes = Vec::new();
    let kind = binding.target.kind.as_deref().unwrap_or_default();
    if !kind.is_empty() && kind != "Node" {
        causes.push(FieldCause::invalid(
            "target.kind",
            format!("Invalid value: {kind:?}: must be empty or 'Node'"),
        ));
    }
    if binding.target.name.as_deref().is_none_or(str::is_empty) {
        causes.push(FieldCause::required("target.name"));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_many("Binding", pod, causes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;

    fn binding(v: serde_json::Value) -> Binding {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_binding_must_name_a_node_and_match_the_pod() {
        let good = binding(serde_json::json!({"metadata": {"name": "p"},
            "target": {"kind": "Node", "name": "n1"}}));
        assert!(check(&good, "p", Some("default")).is_ok());
        let other = binding(serde_json::json!({"metadata": {"name": "q"},
            "target": {"name": "n1"}}));
        assert_eq!(check(&other, "p", None).unwrap_err().code, 400);
        let bad = binding(serde_json::json!({"metadata": {},
            "target": {"kind": "Pod"}}));
        let e = check(&bad, "p", None).unwrap_err();
        assert_eq!(e.code, 422);
        let text = e.to_status_json().to_string();
        assert!(
            text.contains("target.kind") && text.contains("target.name"),
            "{text}"
        );
    }

    #[test]
    fn binding_is_the_create_verb_on_pods_binding() {
        let attrs = crate::authz::Attributes::from_request(
            &Method::POST,
            "/api/v1/namespaces/default/pods/p/binding",
            None,
        );
        let crate::authz::Attributes::Resource(r) = attrs else {
            panic!("not a resource request: {attrs:?}");
        };
        assert_eq!(
            (r.verb.as_str(), r.full_resource().as_str(), r.name.as_str()),
            ("create", "pods/binding", "p")
        );
    }
}
