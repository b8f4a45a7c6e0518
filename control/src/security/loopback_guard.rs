//! The checks of the plain-HTTP mode (`--insecure-loopback-http`), against DNS rebinding: a
//! request is served only when its `Host` names loopback (`localhost`, `127.x.y.z`, `[::1]`), so
//! a web page whose name an attacker points at 127.0.0.1 cannot drive the API from a browser.
//!
//! The body check that applies in every mode (a body must declare a media type the API decodes)
//! is `api::body::media_type_allowed`.

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
}
