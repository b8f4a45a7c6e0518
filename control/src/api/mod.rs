//! The Kubernetes-style HTTP API (axum): discovery, CRUD with `Status` errors, list with
//! selectors and paging, watch, patch (JSON, merge, strategic merge), Tables for `kubectl get`,
//! health endpoints and Prometheus metrics. `kubectl` and `kube-rs` work against it.
//!
//! Handlers translate HTTP to store calls and back; they never write the database directly and
//! never hold a lock across an `.await`.

mod authorize;
mod binding;
mod body;
mod component_status;
mod delete_options;
mod discovery;
mod fields;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
mod legacy;
mod list;
mod metrics;
mod objects;
mod openapi;
mod patch;
mod protobuf;
mod query;
mod response;
mod review;
mod route;
mod scale;
pub mod table;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::error::ApiError;
use crate::store::Store;
pub use legacy::LegacyVersion;
use objects::Call;
use query::Params;
use route::{Resource, Route, Subresource, Target};

/// The state every handler shares: the store handle and the API's counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    metrics: metrics::Metrics,
    bookmark_interval: Duration,
    server_address: String,
    /// Set once the built-in objects exist; `/readyz` is 503 until then.
    bootstrapped: AtomicBool,
    /// The RBAC policy, rebuilt when the stored RBAC objects change.
    policy: crate::authz::PolicyCache,
    /// The server's parts and their health, for `componentstatuses`.
    components: crate::health::Components,
}

impl ApiState {
    /// State over an open store; `server_address` is what `/api` advertises.
    pub(crate) fn new(store: Store, server_address: SocketAddr) -> ApiState {
        let metrics = metrics::Metrics::new(&store);
        ApiState {
            inner: Arc::new(Inner {
                store,
                metrics,
                bookmark_interval: Duration::from_secs(5),
                server_address: server_address.to_string(),
                bootstrapped: AtomicBool::new(false),
                policy: crate::authz::PolicyCache::default(),
                components: crate::health::Components::default(),
            }),
        }
    }

    /// The registry of the server's parts whose health `componentstatuses` lists; parts
    /// started beside the API (the scheduler, say) register themselves here.
    pub fn components(&self) -> crate::health::Components {
        self.inner.components.clone()
    }

    /// Marks the built-in objects (namespaces, `default/kubernetes`) as present: `/readyz`
    /// answers 200 from now on.
    pub(crate) fn mark_bootstrapped(&self) {
        self.inner.bootstrapped.store(true, Ordering::Release);
    }

    /// Every metric in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.render()
    }
}

/// The API as an axum router behind `guard` (authentication and in-flight caps) and then
/// authorization (RBAC, see [`crate::authz`]), with request bodies bounded in size and in the
/// time they take to arrive.
pub fn router(
    state: ApiState,
    guard: Arc<guard::Guard>,
    limits: &crate::serve::ServeLimits,
) -> Router {
    let authorize = authorize::Authorize {
        api: state.clone(),
        max_body_bytes: limits.max_body_bytes,
    };
    Router::new()
        .route("/version", get(|| async { ok_json(&discovery::version()) }))
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_handler))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*segment}", get(openapi::v3_document))
        .fallback(dispatch)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            authorize,
            authorize::check,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

fn ok_json(value: &serde_json::Value) -> Response {
    response::json(StatusCode::OK, value, &[])
}

fn plain(code: StatusCode, text: String, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn health() -> Response {
    plain(
        StatusCode::OK,
        "ok".to_string(),
        "text/plain; charset=utf-8",
    )
}

async fn ready(State(state): State<ApiState>) -> Response {
    if state.inner.store.closing().is_cancelled() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down".to_string(),
            "text/plain; charset=utf-8",
        );
    }
    if let Some(why) = state.inner.store.write_failure() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store cannot write: {why}"),
            "text/plain; charset=utf-8",
        );
    }
    if !state.inner.bootstrapped.load(Ordering::Acquire) {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "bootstrap of built-in objects not finished".to_string(),
            "text/plain; charset=utf-8",
        );
    }
    plain(
        StatusCode::OK,
        "ok".to_string(),
        "text/plain; charset=utf-8",
    )
}

async fn metrics_handler(State(state): State<ApiState>) -> Response {
    plain(
        StatusCode::OK,
        state.metrics_text(),
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
    )
}

/// The verb label of a request, as kube-apiserver names them.
fn verb(method: &Method, target: Option<&Target>, watch: bool) -> &'static str {
    let collection = target.is_some_and(|t| t.name.is_none());
    match *method {
        Method::GET if watch => "watch",
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    }
}

fn resource_label(target: Option<&Target>) -> String {
    match target.map(|t| (t.resource, t.status, t.subresource)) {
        Some((Resource::Stored(kind), status, sub)) => {
            let mut s = kind.plural().to_string();
            if status {
                s.push_str("/status");
            }
            match sub {
                Some(Subresource::Scale) => s.push_str("/scale"),
                Some(Subresource::Runtime(name)) => {
                    s.push('/');
                    s.push_str(name);
                }
                None => {}
            }
            s
        }
        Some((Resource::Events { .. }, _, _)) => "events".to_string(),
        Some((Resource::Review(review), _, _)) => review.plural().to_string(),
        Some((Resource::PodBinding, _, _)) => "pods/binding".to_string(),
        Some((Resource::ComponentStatuses, _, _)) => "componentstatuses".to_string(),
        None => "".to_string(),
    }
}

async fn dispatch(
    State(state): State<ApiState>,
    axum::Extension(user): axum::Extension<crate::security::UserInfo>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let route = route::resolve(uri.path());
    let target = match &route {
        Ok(Route::Objects(t)) => Some(t.clone()),
        _ => None,
    };
    let mut query: HashMap<String, String> = Query::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    if matches!(&target, Some(t) if matches!(t.resource, Resource::Events { .. })) {
        // Events are always empty here; kubectl describe filters them by involvedObject.*.
        query.remove("fieldSelector");
    }
    if !body::media_type_allowed(&headers, body.len()) {
        let media = body::content_type(&headers);
        return response::error(&ApiError::unsupported_media_type(if media.is_empty() {
            "a request body needs a Content-Type header: the body's media type must be JSON, \
             YAML, protobuf or a patch type"
                .to_string()
        } else {
            format!(
                "the body's media type {media:?} is not supported: use JSON, YAML, protobuf or \
                 a patch type"
            )
        }));
    }
    let params = Params::parse(&query);
    let watching = params.as_ref().is_ok_and(|p| p.watch);
    let mut response = match (route, params) {
        (Err(e), _) | (_, Err(e)) => response::error(&e),
        (Ok(route), Ok(params)) => {
            match handle(&state, &user, &method, route, params, &headers, body).await {
                Ok(r) => r,
                Err(e) => response::error(&e),
            }
        }
    };
    if let Some(Target {
        resource: Resource::Stored(kind),
        legacy: Some(version),
        ..
    }) = &target
    {
        response::add_warning(&mut response, &legacy::deprecation(*version, *kind));
    }
    let verb = verb(&method, target.as_ref(), watching);
    state.inner.metrics.request(
        verb,
        &resource_label(target.as_ref()),
        response.status().as_u16(),
    );
    if !watching {
        state
            .inner
            .metrics
            .latency(verb, started.elapsed().as_secs_f64());
    }
    if response.status().is_server_error() {
        tracing::warn!(%method, path = uri.path(), code = response.status().as_u16(), "request failed");
    } else {
        tracing::debug!(%method, path = uri.path(), code = response.status().as_u16(), "request");
    }
    response
}

async fn handle(
    state: &ApiState,
    user: &crate::security::UserInfo,
    method: &Method,
    route: Route,
    params: Params,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let discovery = match &route {
        Route::CoreVersions => Some(discovery::core_versions(&state.inner.server_address)),
        Route::Groups => Some(discovery::groups()),
        Route::Group(g) => Some(discovery::group(g)),
        Route::Resources(g) => Some(discovery::resources(g)),
        Route::LegacyResources(v) => Some(discovery::legacy_resources(*v)),
        Route::Objects(_) => None,
    };
    if let Some(doc) = discovery {
        if *method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "{method} is not supported on discovery documents"
            )));
        }
        return Ok(ok_json(&doc));
    }
    let Route::Objects(target) = route else {
        return Err(ApiError::internal("unroutable request"));
    };
    let store = &state.inner.store;
    let kind = match target.resource {
        Resource::Stored(kind) => kind,
        Resource::Events { events_group } => {
            return match (method, &target.name) {
                (&Method::GET, None) => {
                    Ok(ok_json(&list::empty_events(events_group, store.revision())))
                }
                (&Method::GET, Some(name)) => Err(ApiError::not_found("events", name)),
                _ => Err(ApiError::method_not_allowed(
                    "events are read-only on this server",
                )),
            };
        }
        Resource::ComponentStatuses => {
            return component_status::respond(
                &state.inner.components,
                method,
                target.name.as_deref(),
                headers,
            );
        }
        Resource::PodBinding => {
            return binding::respond(store, method, &target, &params, headers, &body).await;
        }
        Resource::Review(review) if target.name.is_none() => {
            return review::respond(state, review, method, user, headers, &body);
        }
        Resource::Review(review) => {
            return Err(ApiError::method_not_allowed(format!(
                "{} are not stored: only create is supported",
                review.plural()
            )));
        }
    };
    match target.subresource {
        Some(Subresource::Scale) => {
            return scale::respond(store, kind, &target, method, headers, body, params.dry_run)
                .await;
        }
        Some(Subresource::Runtime(sub)) => {
            return Err(ApiError::bad_request(format!(
                "pods \"{}\": {sub} is not available: this server has no container runtime \
                 (switchyard stores Pods but does not run their containers)",
                target.name.as_deref().unwrap_or_default()
            )));
        }
        None => {}
    }
    let call = Call {
        store,
        kind,
        target: &target,
        params: &params,
        headers,
    };
    match (method, target.name.is_some()) {
        (&Method::GET, false) if params.watch => Ok(watch::respond(
            state,
            watch::WatchRequest {
                kind,
                namespace: target.namespace.clone(),
                params: params.clone(),
                table: response::wants_table(headers),
                legacy: target.legacy,
            },
        )),
        (&Method::GET, false) => list::respond(
            store,
            list::ListRequest {
                kind,
                namespace: target.namespace.as_deref(),
                legacy: target.legacy,
            },
            &params,
            headers,
        ),
        (&Method::GET, true) => call.get(),
        (&Method::POST, false) => call.create(&body).await,
        (&Method::PUT, true) => call.update(&body).await,
        (&Method::PATCH, true) => call.patch(body).await,
        (&Method::DELETE, true) => call.delete(&body).await,
        (&Method::DELETE, false) => call.delete_collection(&body).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on {}",
            if target.name.is_some() {
                format!("a single {}", kind.singular())
            } else {
                format!("the {} collection", kind.plural())
            }
        ))),
    }
}
