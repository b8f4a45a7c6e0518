//! The services of one routed run, made through switchyard's API: N selector-less Services in
//! namespace `routed`, each with a manual Endpoints object naming the backend (switchyard
//! mirrors them into EndpointSlices). One in ten is a NodePort Service (10 000 NodePorts
//! would not fit the default 30000-32767 range), and so is the last one created, the probed
//! one, which has a second port for bulk traffic.
//!
//! Once created, the Services are read back (ClusterIPs and NodePorts as the API allocated
//! them) into the reference ruleset's terms, and the EndpointSlices are waited for, so a proxy
//! started afterwards syncs every service in its first sync.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::kube_shape::ServicePort;
use super::topology::{BACKEND_IP, NODE_IP};
use crate::peers::switchyard::ensure_namespace;
use crate::scale_area::population::create;

/// The namespace of every object.
pub const NAMESPACE: &str = "routed";
/// The backend's HTTP port (every service's `http` port targets it).
pub const HTTP_PORT: u16 = 8080;
/// The backend's iperf3 port (the probed service's `bulk` port targets it).
pub const BULK_PORT: u16 = 5201;
/// Create requests in flight at once.
const CONCURRENCY: usize = 32;

/// Where the client sends traffic for the probed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// HTTP to the NodePort on the node's client-side address.
    pub node_port_http: SocketAddr,
    /// iperf3 to the bulk NodePort.
    pub node_port_bulk: SocketAddr,
    /// HTTP to the ClusterIP.
    pub cluster_ip_http: SocketAddr,
    /// iperf3 to the ClusterIP's bulk port.
    pub cluster_ip_bulk: SocketAddr,
}

/// What the API made.
#[derive(Debug, Clone)]
pub struct Population {
    /// Every service port, for the reference ruleset.
    pub ports: Vec<ServicePort>,
    /// The probed (last created) service.
    pub probed: Probed,
}

fn name(i: usize) -> String {
    format!("svc-{i}")
}

/// Whether service `i` of `n` is a NodePort Service.
pub fn is_node_port(i: usize, n: usize) -> bool {
    i % 10 == 9 || i + 1 == n
}

fn ports(i: usize, n: usize) -> Vec<(&'static str, u16, u16)> {
    let mut ports = vec![("http", 80, HTTP_PORT)];
    if i + 1 == n {
        ports.push(("bulk", BULK_PORT, BULK_PORT));
    }
    ports
}

fn service_body(i: usize, n: usize) -> Value {
    let ports: Vec<Value> = ports(i, n)
        .iter()
        .map(|(name, port, target)| {
            json!({"name": name, "port": port, "targetPort": target, "protocol": "TCP"})
        })
        .collect();
    let kind = if is_node_port(i, n) {
        "NodePort"
    } else {
        "ClusterIP"
    };
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name(i)},
           "spec": {"type": kind, "ports": ports}})
}

fn endpoints_body(i: usize, n: usize) -> Value {
    let ports: Vec<Value> = ports(i, n)
        .iter()
        .map(|(name, _, target)| json!({"name": name, "port": target, "protocol": "TCP"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name(i)},
           "subsets": [{"addresses": [{"ip": BACKEND_IP.to_string()}], "ports": ports}]})
}

/// Creates `n` services and their Endpoints, reads them back and waits (within `limit`) until
/// every one has an EndpointSlice with the backend.
pub async fn create_all(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    limit: Duration,
) -> anyhow::Result<Population> {
    anyhow::ensure!(n > 0, "at least one service");
    ensure_namespace(http, base, NAMESPACE).await?;
    let services = format!("{base}/api/v1/namespaces/{NAMESPACE}/services");
    let endpoints = format!("{base}/api/v1/namespaces/{NAMESPACE}/endpoints");
    // The probed service is created last, after every other one.
    let mut results = futures::stream::iter(0..n - 1)
        .map(|i| {
            let (services, endpoints) = (services.clone(), endpoints.clone());
            async move {
                create(http, &services, &service_body(i, n)).await?;
                create(http, &endpoints, &endpoints_body(i, n)).await
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(r) = results.next().await {
        r.context("creating the services")?;
    }
    create(http, &services, &service_body(n - 1, n)).await?;
    create(http, &endpoints, &endpoints_body(n - 1, n)).await?;
    let list: Value = get(http, &services).await?;
    let population = read_back(&list, n)?;
    wait_slices(http, base, n, limit).await?;
    Ok(population)
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let resp = http.get(url).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "GET {url}: HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    serde_json::from_str(&text).with_context(|| format!("GET {url}: response JSON"))
}

/// The service ports of a Service list, and the probed service's addresses.
fn read_back(list: &Value, n: usize) -> anyhow::Result<Population> {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .context("service list without items")?;
    let mut ports = Vec::new();
    let mut probed = None;
    for item in items {
        let svc_name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .context("service without metadata.name")?;
        let cluster_ip: Ipv4Addr = item
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .with_context(|| format!("service {svc_name}: no spec.clusterIP"))?
            .parse()
            .with_context(|| format!("service {svc_name}: spec.clusterIP"))?;
        let mut by_name = Vec::new();
        for p in item
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .with_context(|| format!("service {svc_name}: no spec.ports"))?
        {
            let field = |f: &str| {
                p.get(f)
                    .and_then(Value::as_u64)
                    .and_then(|v| u16::try_from(v).ok())
            };
            let port_name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            let port = field("port").with_context(|| format!("service {svc_name}: port"))?;
            let target = field("targetPort").unwrap_or(port);
            let node_port = field("nodePort");
            by_name.push((port_name.to_string(), port, node_port));
            ports.push(ServicePort {
                namespace: NAMESPACE.into(),
                name: svc_name.into(),
                port_name: port_name.into(),
                cluster_ip,
                port,
                node_port,
                endpoints: vec![SocketAddrV4::new(BACKEND_IP, target)],
            });
        }
        if svc_name == name(n - 1) {
            let find = |want: &str| {
                by_name
                    .iter()
                    .find(|(p, _, _)| p == want)
                    .and_then(|&(_, port, np)| Some((port, np?)))
                    .with_context(|| format!("probed service: no NodePort for port {want}"))
            };
            let (http_port, http_np) = find("http")?;
            let (bulk_port, bulk_np) = find("bulk")?;
            probed = Some(Probed {
                node_port_http: SocketAddr::from((NODE_IP, http_np)),
                node_port_bulk: SocketAddr::from((NODE_IP, bulk_np)),
                cluster_ip_http: SocketAddr::from((cluster_ip, http_port)),
                cluster_ip_bulk: SocketAddr::from((cluster_ip, bulk_port)),
            });
        }
    }
    // The API's own `default/kubernetes` is not in this namespace, so the count is exact.
    anyhow::ensure!(
        items.len() == n,
        "the API lists {} services in {NAMESPACE}, expected {n}",
        items.len()
    );
    Ok(Population {
        ports,
        probed: probed.context("the probed service is not in the list")?,
    })
}

/// Waits until `n` EndpointSlices in the namespace list the backend (polled once a second).
async fn wait_slices(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    limit: Duration,
) -> anyhow::Result<()> {
    let url = format!("{base}/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices");
    let backend = BACKEND_IP.to_string();
    let start = Instant::now();
    loop {
        let list = get(http, &url).await?;
        let ready = list
            .get("items")
            .and_then(Value::as_array)
            .map_or(0, |items| {
                items
                    .iter()
                    .filter(|s| {
                        s.pointer("/endpoints/0/addresses/0")
                            .and_then(Value::as_str)
                            == Some(backend.as_str())
                    })
                    .count()
            });
        if ready >= n {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < limit,
            "{ready} of {n} EndpointSlices after {limit:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_ten_and_the_last_are_node_ports() {
        let n = 25;
        let node_ports: Vec<usize> = (0..n).filter(|i| is_node_port(*i, n)).collect();
        assert_eq!(node_ports, vec![9, 19, 24]);
        assert_eq!(ports(24, n).len(), 2);
        assert_eq!(ports(23, n).len(), 1);
        assert_eq!(service_body(24, n)["spec"]["type"], "NodePort");
        assert_eq!(service_body(3, n)["spec"]["type"], "ClusterIP");
        assert_eq!(
            endpoints_body(24, n)["subsets"][0]["ports"][1]["port"],
            5201
        );
    }

    #[test]
    fn reads_back_ports_and_the_probed_service() -> anyhow::Result<()> {
        let list = json!({"items": [
            {"metadata": {"name": "svc-0"}, "spec": {"clusterIP": "10.96.0.10",
              "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
            {"metadata": {"name": "svc-1"}, "spec": {"clusterIP": "10.96.0.11",
              "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30001},
                        {"name": "bulk", "port": 5201, "targetPort": 5201, "nodePort": 30002}]}}
        ]});
        let p = read_back(&list, 2)?;
        assert_eq!(p.ports.len(), 3);
        assert_eq!(p.probed.node_port_bulk, SocketAddr::from((NODE_IP, 30002)));
        assert_eq!(p.probed.cluster_ip_http.to_string(), "10.96.0.11:80");
        assert_eq!(p.ports[0].endpoints[0].to_string(), "10.77.2.2:8080");
        // A list missing the probed service, or with the wrong count, is an error.
        assert!(read_back(&list, 3).is_err());
        Ok(())
    }
}
