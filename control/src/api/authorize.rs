//! The authorization middleware: runs after the guard (which put the [`UserInfo`] in the
//! request) and before any handler, so a denied request does no work at all. Every path is
//! covered: resource requests by their RBAC attributes, everything else (`/metrics`,
//! `/healthz`, discovery, OpenAPI) as a non-resource path.

use super::{ApiState, body, response};
use crate::authz::{self, Attributes, Decision};
use crate::error::ApiError;
use crate::security::UserInfo;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// What the middleware needs.
#[derive(Debug, Clone)]
pub(crate) struct Authorize {
    /// The API's state (store and policy cache).
    pub api: ApiState,
    /// The largest request body read to find the name of a Node a node creates.
    pub max_body_bytes: usize,
}

/// The middleware.
pub(crate) async fn check(
    State(authorize): State<Authorize>,
    request: Request,
    next: Next,
) -> Response {
    let Some(user) = request.extensions().get::<UserInfo>().cloned() else {
        return response::error(&ApiError::internal(
            "the request reached authorization without an authenticated user",
        ));
    };
    let attrs = Attributes::from_request(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let (request, created_name) = if creates_own_kind(&user, &attrs) {
        match node_name_in_body(request, authorize.max_body_bytes).await {
            Ok(pair) => pair,
            Err(e) => return response::error(&e),
        }
    } else {
        (request, None)
    };
    match authorize
        .api
        .authorize(&user, &attrs, created_name.as_deref())
    {
        Decision::Allow => next.run(request).await,
        Decision::Deny { reason } => {
            tracing::debug!(user = %user.name, ?attrs, %reason, "forbidden");
            response::error(&authz::forbidden(&user, &attrs, &reason))
        }
    }
}

/// Whether this is a node identity creating a Node: the only decision that needs the body.
fn creates_own_kind(user: &UserInfo, attrs: &Attributes) -> bool {
    authz::node::node_of(user).is_some()
        && matches!(attrs, Attributes::Resource(r)
            if r.verb == "create" && r.group.is_empty() && r.resource == "nodes" && r.subresource.is_empty())
}

/// Reads the body (bounded) for its `metadata.name` and puts it back for the handler.
async fn node_name_in_body(
    request: Request,
    limit: usize,
) -> Result<(Request, Option<String>), ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?;
    let name = body::parse(&body::content_type(&parts.headers), &bytes)
        .ok()
        .and_then(|v| v["metadata"]["name"].as_str().map(str::to_string));
    Ok((Request::from_parts(parts, Body::from(bytes)), name))
}

impl ApiState {
    /// Decides `attrs` for `user` against the current RBAC objects.
    pub(crate) fn authorize(
        &self,
        user: &UserInfo,
        attrs: &Attributes,
        created_name: Option<&str>,
    ) -> Decision {
        if user
            .groups
            .iter()
            .any(|g| g == crate::security::MASTERS_GROUP)
        {
            // The common case of this process's own clients: no snapshot, no policy needed.
            return Decision::Allow;
        }
        let snapshot = self.inner.store.snapshot();
        let policy = self.inner.policy.policy(&snapshot);
        authz::decide(
            &policy,
            user,
            attrs,
            created_name,
            |ns, name| match snapshot.get(crate::object::Kind::Pod, ns, name).as_deref() {
                Some(crate::object::Object::Pod(pod)) => {
                    pod.spec.as_ref().and_then(|s| s.node_name.clone())
                }
                _ => None,
            },
        )
    }
}
