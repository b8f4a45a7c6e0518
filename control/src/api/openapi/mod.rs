//! The OpenAPI documents: `/openapi/v3` (the index), `/openapi/v3/<group-version>` and
//! `/openapi/v2` (JSON, or the protobuf kubectl asks for). kubectl reads them to learn that
//! this server validates fields itself (`fieldValidation` on each patch operation), so
//! `kubectl apply/create` send `fieldValidation=Strict` instead of failing with "failed to
//! download openapi"; `kubectl explain` reads the v3 schemas.
//!
//! The documents are built once, on the first request (off the async threads), and served
//! with an `ETag` (a SHA-256 of the bytes, also the `hash` in the index's URLs); a request
//! whose `If-None-Match` matches is answered 304 with no body. Reads are authorized like
//! discovery (any authenticated user, see `crate::authz::defaults`). Never touches the store.

mod v2;
mod v3;

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::response;
use crate::error::ApiError;

/// The Kubernetes version the documents describe.
pub(crate) const API_VERSION: &str = "v1.32.0";

/// The media type of the v2 document in protobuf, as answered. Clients ask for
/// `...spec.v2@v1.0+protobuf`, but `@` is not allowed in a media type, and client-go refuses
/// to parse such a `Content-Type` ("mime: unexpected content after media subtype").
pub(crate) const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// One document, encoded once.
#[derive(Debug)]
struct Served {
    body: Bytes,
    /// Upper-case hex SHA-256 of `body`.
    hash: String,
    content_type: &'static str,
}

impl Served {
    fn new(body: Vec<u8>, content_type: &'static str) -> Served {
        let digest = ring::digest::digest(&ring::digest::SHA256, &body);
        let hash = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        Served {
            body: Bytes::from(body),
            hash,
            content_type,
        }
    }

    fn json(value: &serde_json::Value) -> Served {
        Served::new(
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        )
    }

    /// The document, or 304 when the client's `If-None-Match` names this version.
    /// `immutable` marks a response to a URL that names the hash itself.
    fn respond(&self, headers: &HeaderMap, immutable: bool) -> Response {
        let etag = format!("\"{}\"", self.hash);
        let cached = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim() == etag || v.trim() == "*");
        let mut r = if cached {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let mut r = Response::new(Body::from(self.body.clone()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            r
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if immutable {
                "public, immutable"
            } else {
                "no-cache, private"
            }),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept"));
        r
    }
}

/// Every document, built together.
#[derive(Debug)]
struct Documents {
    v3_index: Served,
    /// `(group-version path segment, document)`.
    v3: Vec<(String, Served)>,
    v2_json: Served,
    v2_protobuf: Served,
}

static DOCUMENTS: OnceLock<Documents> = OnceLock::new();

fn build() -> Documents {
    let v3: Vec<(String, Served)> = v3::group_versions()
        .into_iter()
        .filter_map(|gv| {
            let document = Served::json(&v3::document(&gv.segment)?);
            Some((gv.segment, document))
        })
        .collect();
    let index = v3::index(v3.iter().map(|(s, d)| (s.as_str(), d.hash.as_str())));
    let v2 = v2::document();
    Documents {
        v3_index: Served::json(&index),
        v3,
        v2_json: Served::json(&v2),
        v2_protobuf: Served::new(v2::protobuf(&v2), V2_PROTOBUF),
    }
}

/// The documents, building them on a blocking thread the first time.
async fn documents() -> Result<&'static Documents, ApiError> {
    if let Some(docs) = DOCUMENTS.get() {
        return Ok(docs);
    }
    tokio::task::spawn_blocking(|| DOCUMENTS.get_or_init(build))
        .await
        .map_err(|_| ApiError::internal("building the OpenAPI documents failed"))
}

/// `GET /openapi/v3`.
pub(crate) async fn v3_index(headers: HeaderMap) -> Response {
    match documents().await {
        Ok(docs) => docs.v3_index.respond(&headers, false),
        Err(e) => response::error(&e),
    }
}

/// `GET /openapi/v3/<group-version>`.
pub(crate) async fn v3_document(
    Path(segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let docs = match documents().await {
        Ok(docs) => docs,
        Err(e) => return response::error(&e),
    };
    let segment = segment.trim_matches('/');
    match docs.v3.iter().find(|(s, _)| *s == segment) {
        Some((_, doc)) => {
            let named = uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == format!("hash={}", doc.hash)));
            doc.respond(&headers, named)
        }
        None => response::error(&ApiError::no_route(&format!("/openapi/v3/{segment}"))),
    }
}

/// `GET /openapi/v2`: protobuf when the `Accept` header asks for it, JSON otherwise.
pub(crate) async fn v2(headers: HeaderMap) -> Response {
    let docs = match documents().await {
        Ok(docs) => docs,
        Err(e) => return response::error(&e),
    };
    let protobuf = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("com.github.proto-openapi.spec.v2"));
    if protobuf {
        docs.v2_protobuf.respond(&headers, false)
    } else {
        docs.v2_json.respond(&headers, false)
    }
}

#[cfg(test)]
mod tests;
