//! One measured change: the HTTP PATCH of one Pod's Ready condition, then, concurrently, the
//! EndpointSlice event that shows it, the first `nft monitor` line naming the Pod's address
//! (ClusterIP services) and the first DNS answer with the new A set (headless services), each
//! bounded by the same deadline.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout_at;

use super::observe::{SliceEvent, a_set, mentions};
use super::population::{NAMESPACE, PODS, Shape, dns_name};

/// The observation streams a change reads.
#[derive(Debug)]
pub struct Observers {
    /// EndpointSlice watch events.
    pub slices: UnboundedReceiver<SliceEvent>,
    /// `nft monitor` lines from the node namespace.
    pub nft: UnboundedReceiver<(Instant, String)>,
}

impl Observers {
    /// Drops everything that arrived before now (earlier changes' echoes).
    fn drain(&mut self) {
        while self.slices.try_recv().is_ok() {}
        while self.nft.try_recv().is_ok() {}
    }
}

/// Which Pod to flip, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Service index.
    pub service: usize,
    /// Pod index within the service.
    pub pod: usize,
    /// The new Ready condition.
    pub ready: bool,
}

/// Times from just before the PATCH (t0), in milliseconds; `None` when the deadline passed
/// first, or the path does not apply (no kernel rule for a headless service, no changed DNS
/// answer for a ClusterIP one).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether the service is headless.
    pub headless: bool,
    /// PATCH response.
    pub api_ms: f64,
    /// EndpointSlice watch event showing the new readiness.
    pub slice_ms: Option<f64>,
    /// First `nft monitor` line naming the Pod's address.
    pub kernel_ms: Option<f64>,
    /// First DNS answer with the new A set.
    pub dns_ms: Option<f64>,
    /// The first matching monitor line (for the method notes).
    pub kernel_line: Option<String>,
}

fn ms(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1e3
}

/// Whether `event` shows `ip` of `service` with readiness `ready` (an address missing from the
/// service's slice counts as not ready).
fn shows(event: &SliceEvent, service: &str, ip: Ipv4Addr, ready: bool) -> bool {
    if event.service != service || event.kind == "DELETED" {
        return false;
    }
    match event.endpoints.iter().find(|(a, _)| *a == ip) {
        Some((_, r)) => *r == ready,
        None => !ready,
    }
}

/// Makes `change` through `http` and waits (up to `limit` from t0) for its three effects.
pub async fn measure(
    http: &reqwest::Client,
    base: &str,
    dns: SocketAddr,
    obs: &mut Observers,
    change: Change,
    limit: Duration,
) -> anyhow::Result<Outcome> {
    obs.drain();
    let headless = Shape::headless(change.service);
    let service = Shape::service(change.service);
    let ip = Shape::pod_ip(change.service, change.pod);
    let url = format!(
        "{base}/api/v1/namespaces/{NAMESPACE}/pods/{}/status",
        Shape::pod(change.service, change.pod)
    );
    // An untimed GET first, so the PATCH goes over a warm connection (an idle one may have
    // been closed by the server) and the change is timed without the TLS handshake.
    let pod_url = url.trim_end_matches("/status");
    http.get(pod_url)
        .send()
        .await
        .with_context(|| format!("GET {pod_url}"))?;
    let status = if change.ready { "True" } else { "False" };
    let body = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": status}]}});
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::from_std(t0 + limit);
    let resp = http
        .patch(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/merge-patch+json",
        )
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("PATCH {url}"))?;
    let t_api = Instant::now();
    anyhow::ensure!(
        resp.status().is_success(),
        "PATCH {url}: HTTP {}",
        resp.status()
    );
    let Observers { slices, nft } = obs;
    let slice = async {
        while let Ok(Some(event)) = timeout_at(deadline, slices.recv()).await {
            if shows(&event, &service, ip, change.ready) {
                return Some(ms(t0, event.at));
            }
        }
        None
    };
    let kernel = async {
        if headless {
            return None;
        }
        while let Ok(Some((at, line))) = timeout_at(deadline, nft.recv()).await {
            if mentions(&line, ip) {
                return Some((ms(t0, at), line));
            }
        }
        None
    };
    let answer = async {
        if !headless {
            return None;
        }
        let name = dns_name(change.service);
        let want = if change.ready { PODS } else { PODS - 1 };
        // Bounded by the deadline; one query every millisecond (plus its round trip).
        while tokio::time::Instant::now() < deadline {
            if let Ok(set) = a_set(dns, &name, Duration::from_millis(100)).await
                && set.contains(&ip) == change.ready
                && set.len() == want
            {
                return Some(ms(t0, Instant::now()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    };
    let (slice_ms, kernel, dns_ms) = tokio::join!(slice, kernel, answer);
    let (kernel_ms, kernel_line) = kernel.unzip();
    Ok(Outcome {
        headless,
        api_ms: ms(t0, t_api),
        slice_ms,
        kernel_ms,
        dns_ms,
        kernel_line,
    })
}

/// The `k`-th change of a run over `services` services: pairs of changes flip one Pod to not
/// ready and back; even pairs use a ClusterIP service, odd pairs a headless one, spread over
/// the whole population.
pub fn plan(k: usize, services: usize) -> Change {
    let pair = k / 2;
    let want_headless = pair % 2 == 1;
    let spread = (pair * 7919 + 13) % services.max(1);
    let decade = spread - spread % 10;
    let service = match (want_headless, Shape::headless(spread)) {
        (true, _) if decade + 9 < services => decade + 9,
        (true, _) => decade.saturating_sub(1),
        (false, true) => spread - 1,
        (false, false) => spread,
    };
    Change {
        service,
        pod: pair % PODS,
        ready: k % 2 == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_alternate_readiness_and_service_kind() {
        for services in [100, 1000, 10_000] {
            for k in 0..200 {
                let c = plan(k, services);
                assert!(c.service < services, "{c:?}");
                assert_eq!(c.ready, k % 2 == 1);
                assert_eq!(Shape::headless(c.service), (k / 2) % 2 == 1, "{k}: {c:?}");
                if k % 2 == 1 {
                    assert_eq!(plan(k - 1, services).service, c.service);
                }
            }
        }
    }

    #[test]
    fn a_missing_address_counts_as_not_ready() {
        let ip = Ipv4Addr::new(10, 128, 0, 1);
        let event = |endpoints| SliceEvent {
            at: Instant::now(),
            service: "svc-0".into(),
            kind: "MODIFIED".into(),
            endpoints,
        };
        assert!(shows(&event(vec![(ip, false)]), "svc-0", ip, false));
        assert!(!shows(&event(vec![(ip, true)]), "svc-0", ip, false));
        assert!(shows(&event(vec![]), "svc-0", ip, false));
        assert!(!shows(&event(vec![]), "svc-0", ip, true));
        assert!(!shows(&event(vec![(ip, false)]), "svc-1", ip, false));
    }
}
