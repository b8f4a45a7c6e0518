//! The checks of the plain-HTTP mode (`--insecure-loopback-http`), against DNS rebinding: a
//! request is served only when its `Host` names loopback (`localhost`, `127.x.y.z`, `[::1]`), so
//! a web page whose name an attacker points at 127.0.0.1 cannot drive the API from a browser.
//!
//! The body check ([`body_media_type_allowed`]) applies in every mode: a body must declare a
//! media type the API decodes, so a browser's "simple request" (form or `text/plain`, no
//! preflight) never creates an object.

use std::net::IpAddr;

use http::HeaderMap;

/// Whether the request's `Host` header (or HTTP/2 `:authority`, given as `authority`) names
/// a loopback address or `localhost`.
pub fn host_is_loopback(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let host = authority.or_else(|| {
        headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    let Some(host) = host else {
        return false;
    };
    let name = strip_port(host.trim());
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // `[::1]:6443` or `[::1]`.
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The media types a request body may have: JSON, YAML, protobuf and the three patch types.
pub const ALLOWED_BODY_TYPES: [&str; 8] = [
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Whether a request body of `len` bytes with these headers may be decoded: an empty body
/// always may; a non-empty one only with a `Content-Type` from [`ALLOWED_BODY_TYPES`]
/// (`application/apply-patch+yaml` is also accepted, as server-side apply's type).
pub fn body_media_type_allowed(headers: &HeaderMap, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let Some(media) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    ALLOWED_BODY_TYPES.contains(&media.as_str()) || media == "application/apply-patch+yaml"
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn host(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "localhost",
            "localhost:6443",
            "LOCALHOST",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.9.9.9:1",
            "[::1]",
            "[::1]:6443",
        ] {
            assert!(host_is_loopback(&host(ok), None), "{ok} refused");
        }
        for bad in [
            "evil.example",
            "evil.example:6443",
            "10.0.0.1:6443",
            "localhost.evil.example",
            "[::2]:1",
            "",
        ] {
            assert!(!host_is_loopback(&host(bad), None), "{bad} accepted");
        }
        assert!(!host_is_loopback(&HeaderMap::new(), None));
        assert!(host_is_loopback(&HeaderMap::new(), Some("127.0.0.1:1")));
    }

    #[test]
    fn bodies_need_an_api_media_type() {
        let mut h = HeaderMap::new();
        assert!(body_media_type_allowed(&h, 0));
        assert!(!body_media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        assert!(!body_media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(!body_media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(body_media_type_allowed(&h, 10));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(body_media_type_allowed(&h, 10));
    }
}
