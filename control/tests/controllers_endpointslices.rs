//! End-to-end tests of the in-process controllers against a real control plane on loopback:
//! bootstrap objects, the EndpointSlice controller (selector, readiness, named targetPorts, pod
//! and service deletion, >100 endpoints) and Endpoints mirroring, all through a kube client.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use control::server::ControlPlane;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A control plane over a temporary directory, with a client for it.
struct Cluster {
    plane: Option<ControlPlane>,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> TestResult<Cluster> {
        let dir = tempfile::tempdir()?;
        let plane = support::start(dir.path(), 10_000).await?;
        let client = support::kube_client(&plane)?;
        Ok(Cluster {
            plane: Some(plane),
            client,
            _dir: dir,
        })
    }

    fn addr(&self) -> SocketAddr {
        self.plane
            .as_ref()
            .map(ControlPlane::local_addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn stop(mut self) {
        if let Some(plane) = self.plane.take() {
            plane.shutdown().await;
        }
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> TestResult<T> {
    Ok(serde_json::from_value(v)?)
}

/// Polls `check` until it returns `Some`, for at most 30 s (200 tries).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<Option<T>>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

/// The controller-managed slices of a Service.
async fn slices_of(c: &Cluster, svc: &str) -> TestResult<Vec<EndpointSlice>> {
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={svc}"));
    Ok(c.api::<EndpointSlice>().list(&lp).await?.items)
}

/// (address, ready) of every endpoint of a Service, sorted.
async fn endpoints_of(c: &Cluster, svc: &str) -> TestResult<Vec<(String, bool)>> {
    let mut out: Vec<(String, bool)> = slices_of(c, svc)
        .await?
        .iter()
        .flat_map(|s| s.endpoints.clone())
        .map(|e| {
            let ready = e.conditions.and_then(|c| c.ready).unwrap_or(false);
            (e.addresses.first().cloned().unwrap_or_default(), ready)
        })
        .collect();
    out.sort();
    Ok(out)
}

async fn make_node(c: &Cluster, name: &str) -> TestResult<Node> {
    let nodes: Api<Node> = Api::all(c.client.clone());
    let node: Node = from(json!({"metadata": {"name": name}}))?;
    Ok(nodes.create(&PostParams::default(), &node).await?)
}

async fn make_pod(c: &Cluster, name: &str, labels: Value, port: i32) -> TestResult<Pod> {
    let pod: Pod = from(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "x",
            "ports": [{"name": "http", "containerPort": port}]}]}
    }))?;
    let created = c.api::<Pod>().create(&PostParams::default(), &pod).await?;
    let ip = created.status.as_ref().and_then(|s| s.pod_ip.clone());
    assert!(ip.is_some(), "pod {name} got no IP from node-a's CIDR");
    Ok(created)
}

async fn make_service(c: &Cluster, name: &str, spec: Value) -> TestResult<Service> {
    let svc: Service = from(json!({"metadata": {"name": name}, "spec": spec}))?;
    Ok(c.api::<Service>()
        .create(&PostParams::default(), &svc)
        .await?)
}

fn ip_of(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

async fn set_ready(c: &Cluster, pod: &str, ready: bool) -> TestResult {
    let api = c.api::<Pod>();
    let mut current = api.get(pod).await?;
    let status = current.status.get_or_insert_with(Default::default);
    status.conditions = Some(vec![from(json!({
        "type": "Ready", "status": if ready { "True" } else { "False" }
    }))?]);
    api.replace_status(pod, &PostParams::default(), &current)
        .await?;
    Ok(())
}

#[tokio::test]
async fn bootstrap_creates_builtins() -> TestResult {
    let c = Cluster::start().await?;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let names: BTreeSet<String> = eventually("built-in namespaces", || async {
        let names: BTreeSet<String> = namespaces
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        Ok((names.len() >= 4).then_some(names))
    })
    .await?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(ns), "{ns} missing from {names:?}");
    }
    let svc = eventually("default/kubernetes", || async {
        Ok(c.api::<Service>().get_opt("kubernetes").await?)
    })
    .await?;
    let spec = svc.spec.unwrap_or_default();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert!(spec.selector.is_none());
    let port = &spec.ports.unwrap_or_default()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("https"), 443));
    let api_port = i32::from(c.addr().port());
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(api_port))
    );
    let slice = eventually("the kubernetes EndpointSlice", || async {
        Ok(c.api::<EndpointSlice>().get_opt("kubernetes").await?)
    })
    .await?;
    assert_eq!(slice.endpoints[0].addresses, ["127.0.0.1"]);
    assert_eq!(slice.ports.unwrap_or_default()[0].port, Some(api_port));
    let ep = c.api::<Endpoints>().get("kubernetes").await?;
    assert_eq!(
        ep.subsets.unwrap_or_default()[0]
            .ports
            .clone()
            .unwrap_or_default()[0]
            .port,
        api_port
    );
    c.stop().await;
    Ok(())
}

#[tokio::test]
async fn slices_follow_selector_readiness_and_deletion() -> TestResult {
    let c = Cluster::start().await?;
    make_node(&c, "node-a").await?;
    let a = make_pod(&c, "a", json!({"app": "web"}), 8080).await?;
    let b = make_pod(&c, "b", json!({"app": "web"}), 8080).await?;
    let other = make_pod(&c, "other", json!({"app": "db"}), 8080).await?;
    make_service(
        &c,
        "web",
        json!({"selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}),
    )
    .await?;
    let want = vec![(ip_of(&a), true), (ip_of(&b), true)];
    let mut sorted = want.clone();
    sorted.sort();
    eventually("both web pods ready in the slice", || async {
        Ok((endpoints_of(&c, "web").await? == sorted).then_some(()))
    })
    .await?;
    let slices = slices_of(&c, "web").await?;
    assert_eq!(slices.len(), 1);
    let slice = &slices[0];
    assert!(
        slice
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("web-"))
    );
    assert_eq!(slice.ports.clone().unwrap_or_default()[0].port, Some(8080));
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    // The legacy Endpoints object exists too.
    eventually("Endpoints web", || async {
        let ep = c.api::<Endpoints>().get_opt("web").await?;
        Ok(ep.filter(|e| {
            e.subsets
                .as_ref()
                .is_some_and(|s| s[0].addresses.as_ref().is_some_and(|a| a.len() == 2))
        }))
    })
    .await?;

    // Readiness: b becomes not ready.
    set_ready(&c, "b", false).await?;
    let mut expect = vec![(ip_of(&a), true), (ip_of(&b), false)];
    expect.sort();
    eventually("b not ready", || async {
        Ok((endpoints_of(&c, "web").await? == expect).then_some(()))
    })
    .await?;

    // Selector change: the service now selects the db pod.
    let services = c.api::<Service>();
    let mut svc = services.get("web").await?;
    if let Some(spec) = svc.spec.as_mut() {
        spec.selector = Some([("app".to_string(), "db".to_string())].into());
    }
    services
        .replace("web", &PostParams::default(), &svc)
        .await?;
    let expect = vec![(ip_of(&other), true)];
    eventually("selector change", || async {
        Ok((endpoints_of(&c, "web").await? == expect).then_some(()))
    })
    .await?;

    // Pod deletion removes its endpoint.
    c.api::<Pod>()
        .delete("other", &DeleteParams::default())
        .await?;
    eventually("pod deletion", || async {
        Ok(endpoints_of(&c, "web").await?.is_empty().then_some(()))
    })
    .await?;

    // Service deletion removes its slices.
    make_pod(&c, "c", json!({"app": "db"}), 8080).await?;
    eventually("new db pod", || async {
        Ok((endpoints_of(&c, "web").await?.len() == 1).then_some(()))
    })
    .await?;
    services.delete("web", &DeleteParams::default()).await?;
    eventually("slices of the deleted service gone", || async {
        Ok(slices_of(&c, "web").await?.is_empty().then_some(()))
    })
    .await?;
    c.stop().await;
    Ok(())
}

#[tokio::test]
async fn named_target_port_resolves_per_pod() -> TestResult {
    let c = Cluster::start().await?;
    make_node(&c, "node-a").await?;
    make_pod(&c, "a", json!({"app": "web"}), 8080).await?;
    make_pod(&c, "b", json!({"app": "web"}), 9090).await?;
    make_service(
        &c,
        "web",
        json!({"selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}),
    )
    .await?;
    let ports = eventually("two slices, one per resolved port", || async {
        let slices = slices_of(&c, "web").await?;
        let ports: BTreeSet<i32> = slices
            .iter()
            .filter(|s| s.endpoints.len() == 1)
            .filter_map(|s| s.ports.as_ref()?.first()?.port)
            .collect();
        Ok((slices.len() == 2 && ports.len() == 2).then_some(ports))
    })
    .await?;
    assert_eq!(ports, BTreeSet::from([8080, 9090]));
    c.stop().await;
    Ok(())
}

#[tokio::test]
async fn more_than_a_hundred_pods_make_two_slices() -> TestResult {
    let c = Cluster::start().await?;
    make_node(&c, "node-a").await?;
    make_service(
        &c,
        "big",
        json!({"selector": {"app": "big"}, "ports": [{"port": 80}]}),
    )
    .await?;
    for i in 0..110 {
        make_pod(&c, &format!("big-{i}"), json!({"app": "big"}), 80).await?;
    }
    let sizes = eventually("110 endpoints in 2 slices", || async {
        let slices = slices_of(&c, "big").await?;
        // Never the same address twice, even while the controller catches up.
        let mut seen = BTreeSet::new();
        for e in slices.iter().flat_map(|s| &s.endpoints) {
            let addr = e.addresses.first().cloned().unwrap_or_default();
            assert!(seen.insert(addr.clone()), "{addr} listed twice");
        }
        let mut sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        sizes.sort();
        Ok((sizes.iter().sum::<usize>() == 110).then_some(sizes))
    })
    .await?;
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    // Writes are minimal: a pod the service does not select changes no slice.
    let versions = |slices: Vec<EndpointSlice>| -> BTreeSet<(String, String)> {
        slices
            .into_iter()
            .map(|s| {
                (
                    s.metadata.name.unwrap_or_default(),
                    s.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect()
    };
    let before = versions(slices_of(&c, "big").await?);
    make_pod(&c, "unrelated", json!({"app": "other"}), 80).await?;
    // A selected pod created afterwards is a fence: once it shows, the unrelated one was seen.
    make_pod(&c, "fence", json!({"app": "big"}), 80).await?;
    let after = eventually("the fence pod", || async {
        let slices = slices_of(&c, "big").await?;
        let total: usize = slices.iter().map(|s| s.endpoints.len()).sum();
        Ok((total == 111).then_some(versions(slices)))
    })
    .await?;
    let changed: Vec<_> = after.difference(&before).collect();
    assert_eq!(
        changed.len(),
        1,
        "only the slice that got the fence pod is rewritten: {changed:?}"
    );
    c.stop().await;
    Ok(())
}

#[tokio::test]
async fn endpoints_of_selectorless_services_are_mirrored() -> TestResult {
    let c = Cluster::start().await?;
    make_service(&c, "ext", json!({"ports": [{"name": "pg", "port": 5432}]})).await?;
    let ep: Endpoints = from(json!({"metadata": {"name": "ext"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "notReadyAddresses": [{"ip": "192.0.2.11"}],
                     "ports": [{"name": "pg", "port": 5432}]}]}))?;
    c.api::<Endpoints>()
        .create(&PostParams::default(), &ep)
        .await?;
    let expect = vec![
        ("192.0.2.10".to_string(), true),
        ("192.0.2.11".to_string(), false),
    ];
    eventually("mirrored slice", || async {
        Ok((endpoints_of(&c, "ext").await? == expect).then_some(()))
    })
    .await?;
    let slices = slices_of(&c, "ext").await?;
    let labels = slices[0].metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslicemirroring-controller.k8s.io")
    );
    // A user-supplied slice for a selectorless service is never touched.
    let own: EndpointSlice = from(json!({"metadata": {"name": "ext-manual",
            "labels": {"kubernetes.io/service-name": "ext"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["192.0.2.99"]}], "ports": [{"port": 5432}]}))?;
    c.api::<EndpointSlice>()
        .create(&PostParams::default(), &own)
        .await?;
    // Dropping the Endpoints object removes the mirrored slice but keeps the manual one.
    c.api::<Endpoints>()
        .delete("ext", &DeleteParams::default())
        .await?;
    let left = eventually("mirrored slice removed", || async {
        let names: Vec<String> = slices_of(&c, "ext")
            .await?
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        Ok((names.len() == 1).then_some(names))
    })
    .await?;
    assert_eq!(left, ["ext-manual"]);
    c.stop().await;
    Ok(())
}
