//! The `/scale` subresource (autoscaling/v1 `Scale`) of the kinds with `spec.replicas`:
//! ReplicationController, ReplicaSet, Deployment, StatefulSet. GET renders the object's
//! replicas and selector as a Scale; PUT and PATCH (JSON, merge, strategic) change only
//! `spec.replicas` of the stored object, so `kubectl scale` works. A Scale's
//! `metadata.resourceVersion`, when given on PUT, is a precondition (409 on a stale one).

use std::collections::BTreeMap;

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::body;
use super::patch::{Patch, PatchType};
use super::response;
use super::route::Target;
use crate::error::ApiError;
use crate::object::{Kind, Object};
use crate::selector::Selector;
use crate::store::{Store, Write, resource_name};

/// `spec.replicas` and the selector (as a query string) of a scalable object.
fn replicas_and_selector(obj: &Object) -> (i32, i32, String) {
    let map_selector = |m: Option<&BTreeMap<String, String>>| {
        m.map(|m| Selector::from_map(m).to_string())
            .unwrap_or_default()
    };
    let label_selector = |s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector| {
        Selector::from_label_selector(s)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    match obj {
        Object::ReplicationController(rc) => (
            rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            rc.status.as_ref().map_or(0, |s| s.replicas),
            map_selector(rc.spec.as_ref().and_then(|s| s.selector.as_ref())),
        ),
        Object::ReplicaSet(rs) => (
            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            rs.status.as_ref().map_or(0, |s| s.replicas),
            rs.spec
                .as_ref()
                .map(|s| label_selector(&s.selector))
                .unwrap_or_default(),
        ),
        Object::Deployment(d) => (
            d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            d.spec
                .as_ref()
                .map(|s| label_selector(&s.selector))
                .unwrap_or_default(),
        ),
        Object::StatefulSet(s) => (
            s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            s.status.as_ref().map_or(0, |s| s.replicas),
            s.spec
                .as_ref()
                .map(|s| label_selector(&s.selector))
                .unwrap_or_default(),
        ),
        _ => (0, 0, String::new()),
    }
}

/// The Scale of `obj`.
pub(crate) fn scale_of(obj: &Object) -> Scale {
    let meta = obj.meta();
    let (replicas, current, selector) = replicas_and_selector(obj);
    Scale {
        metadata: ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            creation_timestamp: meta.creation_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(replicas),
        }),
        status: Some(ScaleStatus {
            replicas: current,
            selector: Some(selector).filter(|s| !s.is_empty()),
        }),
    }
}

/// `obj` with `spec.replicas` set to `replicas`.
fn with_replicas(obj: &Object, replicas: i32) -> Result<Object, ApiError> {
    let mut json = obj.to_json();
    json["spec"]["replicas"] = replicas.into();
    Object::from_json(obj.kind(), json)
}

/// Reads the replicas a Scale body asks for; the error names the field.
fn wanted(value: Value, name: &str) -> Result<(i32, Option<String>), ApiError> {
    let scale: Scale = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid Scale object: {e}")))?;
    if let Some(given) = scale.metadata.name.as_deref()
        && given != name
    {
        return Err(ApiError::bad_request(format!(
            "metadata.name: the name of the Scale ({given}) does not match the name on the \
             request ({name})"
        )));
    }
    let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            name,
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    Ok((
        replicas,
        scale.metadata.resource_version.filter(|v| !v.is_empty()),
    ))
}

/// Answers a request on `<object>/scale`.
pub(crate) async fn respond(
    store: &Store,
    kind: Kind,
    target: &Target,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let name = target.name.clone().unwrap_or_default();
    let namespace = target.namespace.clone();
    let current = store
        .get(kind, namespace.as_deref(), &name)
        .ok_or_else(|| ApiError::not_found(&resource_name(kind), &name))?;
    let (replicas, precondition) = match *method {
        Method::GET => return Ok(render(&current)),
        Method::PUT => {
            let parsed = body::parse(&body::content_type(headers), &body)?;
            wanted(parsed, &name)?
        }
        Method::PATCH => {
            let kind_of_patch = PatchType::from_media_type(&body::content_type(headers))?;
            let (patch, _) = Patch::parse(kind_of_patch, &body)?;
            let base = serde_json::to_value(scale_of(&current)).unwrap_or(Value::Null);
            let patched = patch.apply(kind, base)?;
            let (replicas, _) = wanted(patched, &name)?;
            // The patch was applied to the Scale of this version; a newer one is a conflict
            // only for PUT's explicit precondition, as a PATCH of the object itself.
            (replicas, None)
        }
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "{method} is not supported on the scale subresource"
            )));
        }
    };
    let write = Write::Update {
        kind,
        namespace,
        name: name.clone(),
        status: false,
        change: Box::new(move |stored| {
            let mut next = with_replicas(stored, replicas)?;
            next.meta_mut().resource_version = precondition.or_else(|| {
                // No precondition: write over whatever version is stored.
                stored.meta().resource_version.clone()
            });
            Ok(next)
        }),
    };
    let stored = if dry_run {
        store.dry_run(write).await?
    } else {
        store.write(write).await?
    };
    Ok(render(&stored))
}

fn render(obj: &Object) -> Response {
    let value = serde_json::to_value(scale_of(obj)).unwrap_or(Value::Null);
    response::json(StatusCode::OK, &value, &[])
}
