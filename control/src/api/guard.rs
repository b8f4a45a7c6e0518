//! The checks every request passes before a handler runs: in the plain-HTTP mode, a loopback
//! `Host`; then authentication (anonymous requests reach only the health and version paths);
//! then the in-flight caps (429 past them; watches are not counted).
//!
//! The authenticated [`UserInfo`] and the request's [`Attributes`] are put into the request's
//! extensions for authorization and the handlers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, Method};
use tokio::sync::Semaphore;

use super::response;
use crate::authz::attributes::Attributes;
use crate::error::ApiError;
use crate::security::authn::{AuthnError, with_authenticated};
use crate::security::{Authenticator, Identity, MASTERS_GROUP, PeerIdentity, UserInfo};

/// The user every request acts as in the plain-HTTP mode.
pub const INSECURE_LOOPBACK_USER: &str = "system:insecure-loopback";

/// Paths anonymous clients may read.
const PUBLIC_PATHS: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];

/// What the guard needs; shared by every request.
#[derive(Debug)]
pub struct Guard {
    mode: Mode,
    readonly: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
}

#[derive(Debug)]
enum Mode {
    /// HTTPS: authenticate every request.
    Authenticated(Arc<Authenticator>),
    /// Plain HTTP on loopback: check `Host`, act as a superuser.
    InsecureLoopback,
}

impl Guard {
    /// A guard that authenticates with `authenticator`, or (when `None`) the plain-HTTP
    /// loopback guard.
    pub fn new(
        authenticator: Option<Arc<Authenticator>>,
        max_requests_inflight: usize,
        max_mutating_requests_inflight: usize,
    ) -> Guard {
        Guard {
            mode: match authenticator {
                Some(a) => Mode::Authenticated(a),
                None => Mode::InsecureLoopback,
            },
            readonly: Arc::new(Semaphore::new(max_requests_inflight.max(1))),
            mutating: Arc::new(Semaphore::new(max_mutating_requests_inflight.max(1))),
        }
    }
}

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// The middleware: authenticates, then admits the request under the in-flight caps.
pub async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let user = match &guard.mode {
        Mode::InsecureLoopback => {
            let authority = request.uri().authority().map(|a| a.as_str().to_string());
            if !crate::security::loopback_guard::host_is_loopback(
                request.headers(),
                authority.as_deref(),
            ) {
                return refuse(
                    request,
                    response::error(&ApiError::forbidden_request(
                        "the plain-HTTP API answers only requests whose Host is localhost or a \
                         loopback address",
                    )),
                )
                .await;
            }
            with_authenticated(UserInfo {
                name: INSECURE_LOOPBACK_USER.to_string(),
                uid: String::new(),
                groups: vec![MASTERS_GROUP.to_string()],
            })
        }
        Mode::Authenticated(authenticator) => {
            let peer = request.extensions().get::<PeerIdentity>();
            let refused = match authenticator.authenticate(peer, request.headers()) {
                Ok(Identity::User(user)) => Ok(user),
                Ok(Identity::Anonymous) if is_public(request.uri().path()) => {
                    Ok(Identity::Anonymous.user())
                }
                Ok(Identity::Anonymous) | Err(AuthnError::InvalidToken) => Err("Unauthorized"),
                Err(AuthnError::UnsupportedScheme) => {
                    Err("Unauthorized: only bearer tokens are accepted")
                }
            };
            match refused {
                Ok(user) => user,
                Err(message) => {
                    let answer = response::error(&ApiError::unauthorized(message));
                    return refuse(request, answer).await;
                }
            }
        }
    };
    // Computed once here; authorization reads it from the extensions.
    let attrs = Attributes::from_request(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let semaphore = match *request.method() {
        _ if attrs.verb() == "watch" => None,
        Method::GET | Method::HEAD | Method::OPTIONS => Some(&guard.readonly),
        _ => Some(&guard.mutating),
    };
    let _permit = match semaphore.map(|s| s.clone().try_acquire_owned()) {
        None => None,
        Some(Ok(permit)) => Some(permit),
        Some(Err(_)) => {
            let mut r = response::error(&ApiError::too_many_requests(
                "too many requests in flight; please try again later",
            ));
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return refuse(request, r).await;
        }
    };
    request.extensions_mut().insert(user);
    request.extensions_mut().insert(attrs);
    next.run(request).await
}

/// How much of a refused request's body is read (and dropped) before the answer, and for how
/// long: closing a connection with unread request bytes makes the kernel send a reset, which
/// can destroy the answer in flight before the client reads it (Go's server lingers the same
/// way, up to 256 KiB).
const DRAIN_BYTES: usize = 256 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers `response` to a request refused before its body was read: drains (a bounded part
/// of) the body first so that the client sees the answer.
pub(crate) async fn refuse(request: Request, response: Response) -> Response {
    let body = request.into_body();
    let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_BYTES)).await;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths() {
        assert!(is_public("/healthz"));
        assert!(is_public("/readyz/ping"));
        assert!(is_public("/version"));
        assert!(!is_public("/versions"));
        assert!(!is_public("/api/v1/namespaces"));
        assert!(!is_public("/metrics"));
    }
}
