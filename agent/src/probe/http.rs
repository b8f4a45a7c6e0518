//! The httpGet check: a GET whose status 200 ≤ code < 400 passes, as kubelet's HTTP prober.
//!
//! Like kubelet: HTTPS does not verify the serving certificate; no connection is reused
//! between probes; `User-Agent: kube-probe/…` and `Accept: */*` are sent unless the probe's
//! `httpHeaders` set them (a `Host` header there sets the request's host); redirects are
//! followed while they stay on the same host, at most 10; a redirect to another host is not
//! followed and its 3xx answer counts as success.

use std::time::Duration;

use super::Outcome;

/// Redirects followed at most (as Go's HTTP client).
const MAX_REDIRECTS: usize = 10;

/// The User-Agent kubelet's probes send.
pub(super) const USER_AGENT: &str = "kube-probe/1.33";

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A resolved httpGet probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// The URL to GET.
    pub url: String,
    /// `httpHeaders`, in order.
    pub headers: Vec<(String, String)>,
}

/// The client every httpGet probe shares: no certificate verification, no idle connections
/// kept, same-host redirects only.
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"));
        }
        let first = attempt.previous().first().and_then(|u| u.host_str());
        if first.is_some() && attempt.url().host_str() == first {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .redirect(redirects)
        .build()
}

/// GETs `target.url` within `timeout`.
pub(super) async fn check(
    client: &reqwest::Client,
    target: &HttpTarget,
    timeout: Duration,
) -> Outcome {
    let mut request = client.get(&target.url).timeout(timeout);
    let has = |name: &str| {
        target
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("user-agent") {
        request = request.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has("accept") {
        request = request.header(http::header::ACCEPT, "*/*");
    }
    for (name, value) in &target.headers {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) else {
            return Outcome::Unknown(format!("invalid HTTP header {name:?}"));
        };
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let code = response.status().as_u16();
            if (200..400).contains(&code) {
                Outcome::Success
            } else {
                Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
        Err(e) if e.is_timeout() => Outcome::Failure(format!(
            "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            target.url
        )),
        Err(e) => Outcome::Failure(format!("Get {:?}: {}", target.url, reason(&e))),
    }
}

/// The innermost cause of a request error (e.g. "connect: connection refused").
fn reason(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    match source.downcast_ref::<std::io::Error>() {
        Some(io) => super::tcp::io_reason(io),
        None => source.to_string(),
    }
}
