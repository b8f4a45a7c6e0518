//! Single-object verbs: get, create (POST), update (PUT), patch and delete, turned into store
//! writes. Bodies are decoded and checked here; the writer applies them against the newest
//! state, so a PATCH never fails on a concurrent unrelated change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::body;
use super::delete_options::{self, DeleteRequest};
use super::legacy;
use super::patch::{Patch, PatchType};
use super::query::Params;
use super::response;
use super::route::Target;
use super::table::{self, Include};
use crate::error::ApiError;
use crate::object::{Kind, Object};
use crate::store::{Change, Store, Write, resource_name};

/// How many times a PATCH is applied outside the store writer before the writer applies it
/// itself (each try loses only to a concurrent change of the same object).
const PATCH_ATTEMPTS: usize = 3;

/// Runs CPU-heavy request work (decoding and applying a patch) on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal("applying the patch failed"))?
}

/// The object a patch produced, with the keys the patch itself repeated.
fn patched_body(value: serde_json::Value, duplicate: &[String]) -> body::Parsed {
    body::Parsed {
        value,
        duplicate: duplicate.to_vec(),
    }
}

/// Everything a single-object verb needs.
pub(crate) struct Call<'a> {
    /// The store written to and read from.
    pub store: &'a Store,
    /// The kind the path names.
    pub kind: Kind,
    /// The object or collection the path names.
    pub target: &'a Target,
    /// The parsed query parameters.
    pub params: &'a Params,
    /// The request headers (content type, Accept).
    pub headers: &'a HeaderMap,
}

impl Call<'_> {
    fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }

    /// Renders `obj` as JSON, or as a one-row Table when the client asked for one.
    fn render(&self, obj: &Object, code: StatusCode, warnings: &[String]) -> Response {
        if response::wants_table(self.headers) {
            let include = Include::parse(&self.params.include_object).unwrap_or(Include::Metadata);
            let mut t = table::build(
                self.kind,
                std::iter::once(obj),
                jiff::Timestamp::now(),
                include,
            );
            t["metadata"]["resourceVersion"] = obj.meta().resource_version.clone().into();
            legacy::table_objects(self.target.legacy, self.kind, &mut t);
            return response::json(code, &t, warnings);
        }
        response::json(code, &legacy::render(self.target.legacy, obj), warnings)
    }

    /// Parses a create or update body, in the stored shape (a body sent at a legacy path is
    /// converted, with that version's defaults).
    fn parse_body(&self, body: &Bytes) -> Result<body::Parsed, ApiError> {
        let mut parsed = body::parse_tracked(&body::content_type(self.headers), body)?;
        parsed.value = legacy::accept(self.target.legacy, self.kind, parsed.value)?;
        Ok(parsed)
    }

    /// Fills or checks the body's namespace against the path's.
    fn place(&self, obj: &mut Object) -> Result<(), ApiError> {
        if !self.kind.namespaced() {
            obj.meta_mut().namespace = None;
            return Ok(());
        }
        let Some(ns) = self.target.namespace.as_deref() else {
            return Err(ApiError::method_not_allowed(format!(
                "{} must be written under /namespaces/<namespace>/",
                self.kind.plural()
            )));
        };
        match obj.namespace() {
            Some(given) if !given.is_empty() && given != ns => Err(ApiError::bad_request(format!(
                "metadata.namespace: the namespace of the provided object ({given}) does not \
                 match the namespace sent on the request ({ns})"
            ))),
            _ => {
                obj.meta_mut().namespace = Some(ns.to_string());
                Ok(())
            }
        }
    }

    /// Submits `write`, or only tries it when the request is a dry run.
    async fn submit(&self, write: Write) -> Result<Arc<Object>, ApiError> {
        let stored = if self.params.dry_run {
            self.store.dry_run(write).await?
        } else {
            self.store.write(write).await?
        };
        Ok(stored)
    }

    /// GET of one object.
    pub(crate) fn get(&self) -> Result<Response, ApiError> {
        let obj = self
            .store
            .get(self.kind, self.target.namespace.as_deref(), self.name())
            .ok_or_else(|| ApiError::not_found(&resource_name(self.kind), self.name()))?;
        Ok(self.render(&obj, StatusCode::OK, &[]))
    }

    /// POST to a collection.
    pub(crate) async fn create(&self, body: &Bytes) -> Result<Response, ApiError> {
        let parsed = self.parse_body(body)?;
        let (mut obj, warnings) = body::decode(self.kind, parsed, self.params.field_validation)?;
        self.place(&mut obj)?;
        let stored = self.submit(Write::Create(Box::new(obj))).await?;
        Ok(self.render(&stored, StatusCode::CREATED, &warnings))
    }

    /// PUT of one object (or its status).
    pub(crate) async fn update(&self, body: &Bytes) -> Result<Response, ApiError> {
        let parsed = self.parse_body(body)?;
        let (mut obj, warnings) = body::decode(self.kind, parsed, self.params.field_validation)?;
        self.place(&mut obj)?;
        let stored = self
            .submit(Write::Update {
                kind: self.kind,
                namespace: self.target.namespace.clone(),
                name: self.name().to_string(),
                status: self.target.status,
                change: Box::new(move |_| Ok(obj)),
            })
            .await?;
        Ok(self.render(&stored, StatusCode::OK, &warnings))
    }

    /// PATCH of one object (or its status). The patch is decoded, bounded and applied to the
    /// newest stored version outside the store writer (on a blocking thread); the writer takes
    /// the result as is when the object did not change meanwhile. When it did, the patch is
    /// applied again to the newer version, outside the writer for the first
    /// [`PATCH_ATTEMPTS`]` - 1` tries and inside it on the last, where the same size bounds
    /// hold.
    pub(crate) async fn patch(&self, body: Bytes) -> Result<Response, ApiError> {
        let kind_of_patch = PatchType::from_media_type(&body::content_type(self.headers))?;
        let kind = self.kind;
        let shape = self.target.legacy;
        let validation = self.params.field_validation;
        let (parsed, duplicate) = blocking(move || Patch::parse(kind_of_patch, &body)).await?;
        let parsed = Arc::new(parsed);
        let duplicate = Arc::new(duplicate);
        for attempt in 1..=PATCH_ATTEMPTS {
            let base = self
                .store
                .get(kind, self.target.namespace.as_deref(), self.name())
                .ok_or_else(|| ApiError::not_found(&resource_name(kind), self.name()))?;
            let base_version = base.resource_version();
            let patch = Arc::clone(&parsed);
            let repeated = Arc::clone(&duplicate);
            let (obj, warnings) = blocking(move || {
                let patched = patch.apply(kind, legacy::render(shape, &base))?;
                let patched = legacy::accept(shape, kind, patched)?;
                body::decode(kind, patched_body(patched, &repeated), validation)
            })
            .await?;
            let warnings = Arc::new(Mutex::new(warnings));
            let found = Arc::clone(&warnings);
            let stale = Arc::new(AtomicBool::new(false));
            let saw_stale = Arc::clone(&stale);
            let patch = Arc::clone(&parsed);
            let repeated = Arc::clone(&duplicate);
            let last = attempt == PATCH_ATTEMPTS;
            let change: Change = Box::new(move |current| {
                if current.resource_version() == base_version {
                    return Ok(obj);
                }
                if !last {
                    saw_stale.store(true, Ordering::Relaxed);
                    return Err(ApiError::conflict(
                        &resource_name(kind),
                        current.name(),
                        "changed while the patch was applied",
                    )
                    .into());
                }
                let patched = patch.apply(kind, legacy::render(shape, current))?;
                let patched = legacy::accept(shape, kind, patched)?;
                let (obj, warned) =
                    body::decode(kind, patched_body(patched, &repeated), validation)?;
                if let Ok(mut w) = found.lock() {
                    *w = warned;
                }
                Ok(obj)
            });
            let outcome = self
                .submit(Write::Update {
                    kind,
                    namespace: self.target.namespace.clone(),
                    name: self.name().to_string(),
                    status: self.target.status,
                    change,
                })
                .await;
            if outcome.is_err() && stale.load(Ordering::Relaxed) {
                continue;
            }
            let stored = outcome?;
            let warnings = warnings.lock().map(|w| w.clone()).unwrap_or_default();
            return Ok(self.render(&stored, StatusCode::OK, &warnings));
        }
        Err(ApiError::internal("the patch was not applied"))
    }

    /// The checked DeleteOptions of this request (body first, else query string).
    fn delete_request(&self, body: &Bytes) -> Result<DeleteRequest, ApiError> {
        let from_query = self.params.delete_options.clone()?;
        delete_options::read(&body::content_type(self.headers), body, &from_query)
    }

    /// DELETE of a collection: every object the selectors pick, in one store write, so that
    /// either all of them are deleted (or, with finalizers, marked) or none is. Answers the list
    /// of deleted objects. The DeleteOptions' propagation policy applies to each object.
    /// Namespaces (as kube-apiserver) and namespaced kinds across all namespaces are not
    /// served (405), and nothing is deleted.
    pub(crate) async fn delete_collection(&self, body: &Bytes) -> Result<Response, ApiError> {
        if self.kind == Kind::Namespace {
            return Err(ApiError::method_not_allowed(
                "the server does not allow deleting namespaces as a collection: delete each \
                 namespace by name",
            ));
        }
        let namespace = self.target.namespace.clone();
        if self.kind.namespaced() && namespace.is_none() {
            return Err(ApiError::method_not_allowed(format!(
                "{} can be deleted as a collection only within one namespace \
                 (/namespaces/<namespace>/{})",
                self.kind.plural(),
                self.kind.plural()
            )));
        }
        let request = self.delete_request(body)?;
        let params = self.params.clone();
        let deleted = self
            .store
            .write_all(
                Write::DeleteCollection {
                    kind: self.kind,
                    namespace,
                    filter: Box::new(move |obj| params.selects(obj)),
                    propagation: request.propagation,
                },
                self.params.dry_run || request.dry_run,
            )
            .await?;
        let items: Vec<serde_json::Value> = deleted
            .iter()
            .map(|obj| legacy::render(self.target.legacy, obj))
            .collect();
        let body = serde_json::json!({
            "kind": self.kind.list_name(),
            "apiVersion": legacy::api_version(self.target.legacy, self.kind),
            "metadata": {"resourceVersion": self.store.revision().to_string()},
            "items": items,
        });
        Ok(response::json(StatusCode::OK, &body, &[]))
    }

    /// DELETE of one object; the DeleteOptions (body or query string) carry the propagation
    /// policy and preconditions. An object that stays (finalizers) is answered with its
    /// `deletionTimestamp`; 202 instead of 200 only after the legacy `orphanDependents: false`,
    /// as kube-apiserver.
    pub(crate) async fn delete(&self, body: &Bytes) -> Result<Response, ApiError> {
        let request = self.delete_request(body)?;
        let write = Write::Delete {
            kind: self.kind,
            namespace: self.target.namespace.clone(),
            name: self.name().to_string(),
            uid: request.uid,
            resource_version: request.resource_version,
            propagation: request.propagation,
        };
        let stored = if self.params.dry_run || request.dry_run {
            self.store.dry_run(write).await?
        } else {
            self.store.write(write).await?
        };
        let kept = stored.meta().deletion_timestamp.is_some()
            && self
                .store
                .get(self.kind, self.target.namespace.as_deref(), self.name())
                .is_some_and(|now| now.meta().uid == stored.meta().uid);
        let code = if kept && request.cascade_requested {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        Ok(self.render(&stored, code, &[]))
    }
}
