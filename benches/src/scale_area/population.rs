//! The population of one scale run: N Services in one namespace, each selecting 10 ready Pods
//! on the bench's node, one Service in ten headless; created through the API with bounded
//! concurrency, then waited for until the EndpointSlices, the proxy's rules and DNS hold them.
//!
//! Names and addresses are pure functions of the indices, so a change can find its Pod, its
//! address and its Service without asking the API.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::cluster::NODE;
use super::observe::a_set;
use crate::nft_area::netns::Netns;

/// The namespace every object lives in.
pub const NAMESPACE: &str = "scale";
/// Pods per Service.
pub const PODS: usize = 10;
/// Create requests in flight at once.
const CONCURRENCY: usize = 32;
/// Attempts per create when the API answers 429 or a connection fails.
const ATTEMPTS: u32 = 20;

/// N services × [`PODS`] pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Services.
    pub services: usize,
}

impl Shape {
    /// Service `i`'s name.
    pub fn service(i: usize) -> String {
        format!("svc-{i}")
    }

    /// Pod `j` of service `i`.
    pub fn pod(i: usize, j: usize) -> String {
        format!("svc-{i}-{j}")
    }

    /// Pod `j` of service `i`'s address: unique in 10.128.0.0/12 for up to 65 536 services,
    /// never the first two or the last address of a /24 (the API reserves those of each node
    /// CIDR).
    pub fn pod_ip(i: usize, j: usize) -> Ipv4Addr {
        let offset = u32::try_from(i * 16 + j + 2).unwrap_or(u32::MAX) & 0x000f_ffff;
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + offset)
    }

    /// Whether service `i` is headless (one in ten).
    pub fn headless(i: usize) -> bool {
        i % 10 == 9
    }

    /// Ready endpoints the proxy must hold once synced (those of ClusterIP services).
    pub fn proxied_endpoints(self) -> HashSet<Ipv4Addr> {
        (0..self.services)
            .filter(|i| !Self::headless(*i))
            .flat_map(|i| (0..PODS).map(move |j| Self::pod_ip(i, j)))
            .collect()
    }

    /// The last headless and the last ClusterIP service (DNS is synced once both answer).
    pub fn last_of_each(self) -> (Option<usize>, Option<usize>) {
        let mut last = (None, None);
        for i in (0..self.services).rev() {
            match Self::headless(i) {
                true if last.0.is_none() => last.0 = Some(i),
                false if last.1.is_none() => last.1 = Some(i),
                _ => {}
            }
        }
        last
    }
}

fn service_body(i: usize) -> Value {
    let mut spec = json!({
        "selector": {"app": Shape::service(i)},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    });
    if Shape::headless(i) {
        spec["clusterIP"] = json!("None");
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": Shape::service(i)}, "spec": spec})
}

fn pod_body(i: usize, j: usize) -> Value {
    let ip = Shape::pod_ip(i, j).to_string();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": Shape::pod(i, j), "labels": {"app": Shape::service(i)}},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "app", "ports": [{"containerPort": 8080}]}]},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// POSTs `body` to `url`, retrying 429s and connection errors with a short pause; a 409
/// (already there) counts as done.
pub async fn create(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<()> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
        }
        match http.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => {
                return Ok(());
            }
            Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                last = "HTTP 429".into();
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                anyhow::bail!(
                    "POST {url}: HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                );
            }
            Err(e) => last = format!("{e}"),
        }
    }
    anyhow::bail!("POST {url}: still failing after {ATTEMPTS} attempts: {last}")
}

/// Progress of the creates against their bound: fails once `limit` has passed, or earlier
/// (after a quarter of it) when the rate so far could not finish within it.
struct Progress {
    start: Instant,
    limit: Duration,
    done: usize,
    total: usize,
}

impl Progress {
    fn tick(&mut self) -> anyhow::Result<()> {
        self.done += 1;
        let elapsed = self.start.elapsed();
        let rate = self.done as f64 / elapsed.as_secs_f64().max(1e-3);
        let projected = self.total as f64 / rate;
        anyhow::ensure!(
            elapsed < self.limit
                && (elapsed < self.limit / 4 || projected <= self.limit.as_secs_f64()),
            "creating the population: {} of {} objects after {:.0} s ({rate:.0} objects/s, so \
             about {projected:.0} s for all), over the bound of {:?}",
            self.done,
            self.total,
            elapsed.as_secs_f64(),
            self.limit
        );
        Ok(())
    }
}

/// Creates the node, the services and then the pods, [`CONCURRENCY`] requests at a time,
/// within `limit` (see [`Progress`]).
pub async fn create_all(
    http: &reqwest::Client,
    base: &str,
    shape: Shape,
    limit: Duration,
) -> anyhow::Result<()> {
    let mut progress = Progress {
        start: Instant::now(),
        limit,
        done: 0,
        total: shape.services * (PODS + 1),
    };
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}});
    create(http, &format!("{base}/api/v1/nodes"), &node)
        .await
        .context("creating the node")?;
    let services = format!("{base}/api/v1/namespaces/{NAMESPACE}/services");
    let pods = format!("{base}/api/v1/namespaces/{NAMESPACE}/pods");
    let mut results = futures::stream::iter(0..shape.services)
        .map(|i| {
            let url = services.clone();
            async move { create(http, &url, &service_body(i)).await }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(r) = results.next().await {
        r?;
        progress.tick()?;
    }
    let mut results =
        futures::stream::iter((0..shape.services).flat_map(|i| (0..PODS).map(move |j| (i, j))))
            .map(|(i, j)| {
                let url = pods.clone();
                async move { create(http, &url, &pod_body(i, j)).await }
            })
            .buffer_unordered(CONCURRENCY);
    while let Some(r) = results.next().await {
        r?;
        progress.tick()?;
    }
    Ok(())
}

/// Ready endpoints over every EndpointSlice of the namespace (paged list, 500 a page), and the
/// list's resourceVersion.
pub async fn ready_endpoints(
    http: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(usize, String)> {
    let mut ready = 0;
    let mut cont: Option<String> = None;
    let mut version = String::new();
    // A bound on pages: 65 536 services fit in 200 pages of 500 slices.
    for _ in 0..1000 {
        let mut url = format!(
            "{base}/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices?limit=500"
        );
        if let Some(c) = &cont {
            url.push_str("&continue=");
            url.push_str(c);
        }
        let resp = http.get(&url).send().await.context("listing slices")?;
        anyhow::ensure!(
            resp.status().is_success(),
            "listing slices: HTTP {}",
            resp.status()
        );
        let list: Value = resp.json().await.context("slice list JSON")?;
        if version.is_empty() {
            version = list
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        for slice in list["items"].as_array().into_iter().flatten() {
            for ep in slice["endpoints"].as_array().into_iter().flatten() {
                let is_ready = ep
                    .pointer("/conditions/ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if is_ready {
                    ready += ep["addresses"].as_array().map_or(0, Vec::len);
                }
            }
        }
        cont = list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if cont.is_none() {
            return Ok((ready, version));
        }
    }
    anyhow::bail!("the slice list did not end after 1000 pages")
}

/// Waits (bounded by `limit`) until every Pod is a ready endpoint of its Service's slice.
pub async fn wait_slices(
    http: &reqwest::Client,
    base: &str,
    shape: Shape,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let want = shape.services * PODS;
    let mut seen = 0;
    while start.elapsed() < limit {
        match ready_endpoints(http, base).await {
            Ok((n, _)) if n == want => return Ok(start.elapsed()),
            Ok((n, _)) => seen = n,
            Err(e) => tracing::debug!(error = format!("{e:#}"), "slice list failed, retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    anyhow::bail!("only {seen} of {want} endpoints were ready in slices after {limit:?}")
}

/// How many of `want` appear in the node namespace's ruleset (`nft list ruleset`).
pub fn proxied_count(ns: &Netns, want: &HashSet<Ipv4Addr>) -> anyhow::Result<usize> {
    let out = ns.exec("nft", &["list", "ruleset"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let found: HashSet<Ipv4Addr> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse::<Ipv4Addr>().ok())
        .filter(|ip| want.contains(ip))
        .collect();
    Ok(found.len())
}

/// Waits (bounded by `limit`) until the proxy's rules name every ready endpoint of every
/// ClusterIP service.
pub async fn wait_proxy(ns: &Netns, shape: Shape, limit: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let want = shape.proxied_endpoints();
    let mut seen = 0;
    while start.elapsed() < limit {
        seen = proxied_count(ns, &want)?;
        if seen == want.len() {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    anyhow::bail!(
        "the proxy's rules held {seen} of {} endpoints after {limit:?}",
        want.len()
    )
}

/// `svc-<i>.scale.svc.cluster.local`.
pub fn dns_name(i: usize) -> String {
    format!("{}.{NAMESPACE}.svc.cluster.local", Shape::service(i))
}

/// Waits (bounded by `limit`) until DNS answers the last headless service with all its pods
/// and the last ClusterIP service with one address.
pub async fn wait_dns(
    server: SocketAddr,
    shape: Shape,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let (headless, cluster_ip) = shape.last_of_each();
    let answered = |i: Option<usize>, n: usize| async move {
        match i {
            None => true,
            Some(i) => a_set(server, &dns_name(i), Duration::from_millis(500))
                .await
                .is_ok_and(|s| s.len() == n),
        }
    };
    while start.elapsed() < limit {
        if answered(headless, PODS).await && answered(cluster_ip, 1).await {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("DNS did not answer the last services within {limit:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_addresses_are_unique_and_in_the_cluster_range() {
        let mut seen = HashSet::new();
        for i in 0..20_000 {
            for j in 0..PODS {
                let ip = Shape::pod_ip(i, j);
                assert_eq!(ip.octets()[0..1], [10]);
                assert!((128..144).contains(&ip.octets()[1]), "{ip}");
                assert!(seen.insert(ip), "{ip} twice");
                assert!((2..255).contains(&ip.octets()[3]), "{ip}");
            }
        }
    }

    #[test]
    fn one_in_ten_is_headless_and_the_last_of_each_are_found() {
        let shape = Shape { services: 100 };
        assert_eq!(shape.last_of_each(), (Some(99), Some(98)));
        assert_eq!(shape.proxied_endpoints().len(), 90 * PODS);
        assert_eq!(Shape { services: 5 }.last_of_each(), (None, Some(4)));
    }
}
