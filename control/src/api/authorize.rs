//! The authorization middleware: runs after the guard (which put the [`UserInfo`] in the
//! request) and before any handler, so a denied request does no work at all. Every path is
//! covered: resource requests by their RBAC attributes, everything else (`/metrics`,
//! `/healthz`, discovery, OpenAPI) as a non-resource path.

use bytes::Bytes;
use http::HeaderMap;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::patch::{self, PatchType};
use super::{ApiState, body, response};
use crate::authz::escalation::{self, RoleWrite};
use crate::authz::{self, Attributes, Decision, ResourceAttributes};
use crate::error::ApiError;
use crate::object::{Kind, RBAC_GROUP};
use crate::security::{MASTERS_GROUP, UserInfo};
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
    // The guard computed them with the user.
    let Some(attrs) = request.extensions().get::<Attributes>().cloned() else {
        return response::error(&ApiError::internal(
            "the request reached authorization without its attributes",
        ));
    };
    let needs_body = creates_own_kind(&user, &attrs) || writes_rbac(&user, &attrs).is_some();
    let (request, bytes) = if needs_body {
        match read_body(request, authorize.max_body_bytes).await {
            Ok((request, bytes)) => (request, Some(bytes)),
            Err(e) => return response::error(&e),
        }
    } else {
        (request, None)
    };
    let created_name = match (&bytes, creates_own_kind(&user, &attrs)) {
        (Some(bytes), true) => body::parse(&body::content_type(request.headers()), bytes)
            .ok()
            .and_then(|v| v["metadata"]["name"].as_str().map(str::to_string)),
        _ => None,
    };
    match authorize
        .api
        .authorize(&user, &attrs, created_name.as_deref())
    {
        Decision::Allow => {}
        Decision::Deny { reason } => {
            tracing::debug!(user = %user.name, ?attrs, %reason, "forbidden");
            let answer = response::error(&authz::forbidden(&user, &attrs, &reason));
            return super::guard::refuse(request, answer).await;
        }
    }
    if let (Some(bytes), Some((kind, r))) = (&bytes, writes_rbac(&user, &attrs))
        && let Err(e) = authorize
            .api
            .check_escalation(&user, kind, r, request.headers(), bytes)
    {
        tracing::debug!(user = %user.name, ?attrs, error = %e, "escalation refused");
        return response::error(&e);
    }
    next.run(request).await
}

/// The RBAC kind and attributes of a create, update or patch of an RBAC object by a user who
/// is not a member of `system:masters` (whose writes need the escalation check).
fn writes_rbac<'a>(
    user: &UserInfo,
    attrs: &'a Attributes,
) -> Option<(Kind, &'a ResourceAttributes)> {
    let Attributes::Resource(r) = attrs else {
        return None;
    };
    if user.groups.iter().any(|g| g == MASTERS_GROUP)
        || r.group != RBAC_GROUP
        || !r.subresource.is_empty()
        || !matches!(r.verb.as_str(), "create" | "update" | "patch")
    {
        return None;
    }
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.group() == RBAC_GROUP && k.plural() == r.resource)?;
    Some((kind, r))
}

/// Whether this is a node identity creating a Node: the only decision that needs the body.
fn creates_own_kind(user: &UserInfo, attrs: &Attributes) -> bool {
    authz::node::node_of(user).is_some()
        && matches!(attrs, Attributes::Resource(r)
            if r.verb == "create" && r.group.is_empty() && r.resource == "nodes" && r.subresource.is_empty())
}

/// Reads the body (bounded) and puts a copy back for the handler.
async fn read_body(request: Request, limit: usize) -> Result<(Request, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?;
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
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

fn typed<T: DeserializeOwned>(kind: Kind, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid {} object: {e}", kind.name())))
}

impl ApiState {
    /// Refuses a write of an RBAC object that would grant permissions its writer lacks. The
    /// object is the body (create, update) or the stored object with the patch applied.
    fn check_escalation(
        &self,
        user: &UserInfo,
        kind: Kind,
        r: &ResourceAttributes,
        headers: &HeaderMap,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let snapshot = self.inner.store.snapshot();
        let value = if r.verb == "patch" {
            let kind_of_patch = PatchType::from_media_type(&body::content_type(headers))?;
            let Some(stored) = snapshot.get(kind, &r.namespace, &r.name) else {
                // The handler answers 404; nothing is written.
                return Ok(());
            };
            patch::Patch::parse(kind_of_patch, bytes)?
                .0
                .apply(kind, stored.to_json())?
        } else {
            body::parse(&body::content_type(headers), bytes)?
        };
        let name = match r.name.as_str() {
            "" => value["metadata"]["name"].as_str().unwrap_or_default(),
            name => name,
        }
        .to_string();
        let policy = self.inner.policy.policy(&snapshot);
        let refused = match kind {
            Kind::Role => {
                let role: Role = typed(kind, value)?;
                escalation::role_write(
                    &policy,
                    user,
                    RoleWrite {
                        cluster: false,
                        namespace: &r.namespace,
                        name: &name,
                        rules: role.rules.as_deref().unwrap_or_default(),
                        aggregated: false,
                    },
                )
            }
            Kind::ClusterRole => {
                let role: ClusterRole = typed(kind, value)?;
                escalation::role_write(
                    &policy,
                    user,
                    RoleWrite {
                        cluster: true,
                        namespace: "",
                        name: &name,
                        rules: role.rules.as_deref().unwrap_or_default(),
                        aggregated: role.aggregation_rule.is_some(),
                    },
                )
            }
            Kind::RoleBinding => {
                let binding: RoleBinding = typed(kind, value)?;
                escalation::binding_write(&policy, user, &r.namespace, &binding.role_ref)
            }
            Kind::ClusterRoleBinding => {
                let binding: ClusterRoleBinding = typed(kind, value)?;
                escalation::binding_write(&policy, user, "", &binding.role_ref)
            }
            _ => None,
        };
        match refused {
            None => Ok(()),
            Some(why) => Err(ApiError::forbidden(
                &format!("{}.{RBAC_GROUP}", kind.plural()),
                &name,
                why,
            )),
        }
    }
}
