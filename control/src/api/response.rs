//! Building HTTP responses: JSON bodies, `Status` errors with their codes, `Warning` headers,
//! and the choice between an object and a `Table` from the `Accept` header.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::error::ApiError;

/// A JSON response with `code`, carrying `warnings` as `Warning: 299 - "..."` headers.
pub(crate) fn json(code: StatusCode, value: &Value, warnings: &[String]) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        add_warning(&mut response, warning);
    }
    response
}

/// Appends `warning` to `response` as a `Warning: 299 - "..."` header.
pub(crate) fn add_warning(response: &mut Response, warning: &str) {
    let text = format!(
        "299 - \"{}\"",
        warning.replace('\\', "\\\\").replace('"', "\\\"")
    );
    if let Ok(v) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::WARNING, v);
    }
}

/// An error as a `Status` object with its HTTP code.
pub(crate) fn error(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(code, &error.to_status_json(), &[])
}

/// Whether the client asked for a `meta.k8s.io` Table (`Accept: ...;as=Table;g=meta.k8s.io`).
pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_negotiation_reads_the_accept_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            ),
        );
        assert!(wants_table(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_table(&headers));
    }

    #[test]
    fn errors_carry_their_code_and_a_status_body() {
        let r = error(&ApiError::not_found("services", "x"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
