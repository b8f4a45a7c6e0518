//! The tutorials' workloads, replayed with kubectl 1.32 as their readers type them
//! (`../shared/seeds/`): a ReplicationController keeps its Pods, scales and takes them along
//! when deleted; an `extensions/v1beta1` Deployment with a Service over it rolls out a new
//! image and back while the Service keeps ready endpoints, and `kubectl delete -f` leaves
//! nothing behind. `switchyard run` is the whole control plane here: controllers, scheduler
//! and the node agent (which marks Pods without a readiness probe Ready).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually};

/// Tutorial 000's `nginx_rc_yaml`, comments and all.
const NGINX_RC: &str = r#"
# 声明api的版本。
apiVersion: v1
# kind代表资源的类型,资源是ReplicationController。
kind: ReplicationController
metadata:
  name: myweb
spec:
  # 声明副本数量是2,代表了RC会启动两个相同的Pod。
  replicas: 2
  selector:
    app: myweb
  template:
    metadata:
      labels:
        app: myweb
    spec:
      containers:
        - name: myweb
          image: 192.168.110.133:5000/nginx:1.13
          ports:
            - containerPort: 80
"#;

/// Tutorial 004's Deployment and a Service over it (its `tomcat-server` shape).
const NGINX_DEPLOYMENT: &str = r#"
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: my-nginx
spec:
  replicas: 3
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: docker.cinyi.com:443/senyint/im-web
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
spec:
  ports:
  - port: 11111 # cluster IP 的端口
    targetPort: 80
  selector:
    app: nginx
"#;

fn write_manifest(dir: &std::path::Path, name: &str, text: &str) -> TestResult<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.to_string_lossy().into_owned())
}

/// The Pods whose labels match `selector`, as (name, ready, podIP, nodeName).
async fn pods(sy: &Switchyard, selector: &str) -> TestResult<Vec<(String, bool, String, String)>> {
    let out = sy
        .kubectl(&["get", "pods", "-l", selector, "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&out)?;
    Ok(list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ready,
                p["status"]["podIP"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect())
}

/// Waits (bounded, ~30 s) until exactly `n` Pods match `selector`, all Ready with an IP and a
/// node; their names.
async fn ready_pods(sy: &Switchyard, selector: &str, n: usize) -> TestResult<BTreeSet<String>> {
    let mut last = Vec::new();
    for _ in 0..150 {
        last = pods(sy, selector).await?;
        if last.len() == n
            && last
                .iter()
                .all(|(_, ready, ip, node)| *ready && !ip.is_empty() && !node.is_empty())
        {
            return Ok(last.into_iter().map(|p| p.0).collect());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(format!("wanted {n} ready pods for {selector}, last saw {last:?}").into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tutorial_rc_keeps_scales_and_takes_its_pods_along() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions {
        args: vec!["--service-cidr".into(), "10.254.0.0/16".into()],
        ..SwitchyardOptions::default()
    })
    .await?;
    // The tutorial's first look at the cluster.
    let cs = sy.kubectl_output(&["get", "componentstatus"]).await?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&cs.stdout),
        String::from_utf8_lossy(&cs.stderr),
    );
    assert!(cs.status.success(), "{stderr}");
    assert!(
        stderr.contains("v1 ComponentStatus is deprecated in v1.19+"),
        "{stderr}"
    );
    let mut parts: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(parts.remove(0), ["NAME", "STATUS", "MESSAGE", "ERROR"]);
    parts.sort();
    assert_eq!(
        parts,
        [
            ["controller-manager", "Healthy", "ok"],
            ["scheduler", "Healthy", "ok"],
            ["store", "Healthy", "ok"],
        ],
        "{stdout}"
    );
    let nodes = sy.kubectl(&["get", "nodes"]).await?;
    let header: Vec<&str> = nodes
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);

    let tmp = tempfile::tempdir()?;
    let file = write_manifest(tmp.path(), "nginx_rc_yaml", NGINX_RC)?;
    let out = sy.kubectl(&["create", "-f", &file]).await?;
    assert_eq!(out.trim(), "replicationcontroller/myweb created");

    let first = ready_pods(&sy, "app=myweb", 2).await?;
    for name in &first {
        assert!(name.starts_with("myweb-"), "{name}");
    }
    let table = sy.kubectl(&["get", "rc"]).await?;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["myweb", "2", "2", "2"], "{table}");

    // Deleting a Pod: the RC starts another.
    let victim = first.iter().next().ok_or("no pod")?.clone();
    sy.kubectl(&["delete", "pod", &victim]).await?;
    let after = ready_pods(&sy, "app=myweb", 2).await?;
    assert!(!after.contains(&victim), "{victim} came back: {after:?}");

    let out = sy
        .kubectl(&["scale", "rc", "myweb", "--replicas=3"])
        .await?;
    assert_eq!(out.trim(), "replicationcontroller/myweb scaled");
    ready_pods(&sy, "app=myweb", 3).await?;
    sy.kubectl(&["scale", "rc", "myweb", "--replicas=1"])
        .await?;
    ready_pods(&sy, "app=myweb", 1).await?;

    // Deleting the RC takes its Pods along (background propagation, the garbage collector).
    sy.kubectl(&["delete", "rc", "myweb"]).await?;
    let gone = eventually(300, || async {
        let out = sy
            .kubectl(&["get", "pods", "-l", "app=myweb", "-o", "name"])
            .await
            .ok()?;
        out.trim().is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the RC's pods outlived it");
    Ok(())
}

/// The ready endpoint addresses of Service `name`, over its EndpointSlices.
async fn ready_endpoints(sy: &Switchyard, name: &str) -> TestResult<usize> {
    let (status, list) = sy
        .get(&format!(
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3D{name}"
        ))
        .await?;
    if status != 200 {
        return Err(format!("listing slices answered {status}").into());
    }
    Ok(list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] != Value::Bool(false))
        .count())
}

/// The image of the Deployment's first container.
async fn image(sy: &Switchyard) -> TestResult<String> {
    let out = sy
        .kubectl(&[
            "get",
            "deploy",
            "my-nginx",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await?;
    Ok(out.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tutorial_deployment_rolls_out_and_back_with_ready_endpoints() -> TestResult {
    let sy = Arc::new(
        Switchyard::start(SwitchyardOptions {
            args: vec!["--service-cidr".into(), "10.254.0.0/16".into()],
            ..SwitchyardOptions::default()
        })
        .await?,
    );
    let tmp = tempfile::tempdir()?;
    let file = write_manifest(tmp.path(), "test_deployment.yaml", NGINX_DEPLOYMENT)?;
    let out = sy.kubectl(&["create", "-f", &file]).await?;
    assert!(
        out.contains("deployment.extensions/my-nginx created"),
        "{out}"
    );
    assert!(out.contains("service/my-nginx created"), "{out}");
    ready_pods(&sy, "app=nginx", 3).await?;
    sy.kubectl(&["rollout", "status", "deployment/my-nginx", "--timeout=60s"])
        .await?;
    let ready = eventually(200, || async {
        (ready_endpoints(&sy, "my-nginx").await.ok()? == 3).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the service never had 3 ready endpoints");

    // From here on, a watcher counts the times the Service had no ready endpoint.
    let stop = Arc::new(AtomicBool::new(false));
    let empty = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (sy, stop, empty, samples) = (sy.clone(), stop.clone(), empty.clone(), samples.clone());
        tokio::spawn(async move {
            // Bounded: at most ~2 minutes of samples.
            for _ in 0..1200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(n) = ready_endpoints(&sy, "my-nginx").await {
                    samples.fetch_add(1, Ordering::Relaxed);
                    if n == 0 {
                        empty.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    };

    let before = image(&sy).await?;
    sy.kubectl(&[
        "set",
        "image",
        "deployment/my-nginx",
        "nginx=docker.cinyi.com:443/senyint/im-web:2",
    ])
    .await?;
    sy.kubectl(&["rollout", "status", "deployment/my-nginx", "--timeout=60s"])
        .await?;
    assert_eq!(image(&sy).await?, "docker.cinyi.com:443/senyint/im-web:2");
    let history = sy
        .kubectl(&["rollout", "history", "deployment/my-nginx"])
        .await?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    // The old ReplicaSet is kept at 0 for the undo.
    let sets = sy
        .kubectl(&["get", "rs", "-l", "app=nginx", "-o", "name"])
        .await?;
    assert_eq!(sets.lines().count(), 2, "{sets}");

    sy.kubectl(&["rollout", "undo", "deployment/my-nginx"])
        .await?;
    sy.kubectl(&["rollout", "status", "deployment/my-nginx", "--timeout=60s"])
        .await?;
    assert_eq!(image(&sy).await?, before);
    ready_pods(&sy, "app=nginx", 3).await?;

    stop.store(true, Ordering::Relaxed);
    watcher.await?;
    assert!(
        samples.load(Ordering::Relaxed) > 0,
        "the watcher saw nothing"
    );
    assert_eq!(
        empty.load(Ordering::Relaxed),
        0,
        "the service had no ready endpoint during the rollout"
    );

    let out = sy
        .kubectl(&["scale", "deployment", "my-nginx", "--replicas=1"])
        .await?;
    assert_eq!(out.trim(), "deployment.apps/my-nginx scaled");
    ready_pods(&sy, "app=nginx", 1).await?;

    // `kubectl delete -f` of the file: Deployment, its ReplicaSets and Pods, the Service.
    sy.kubectl(&["delete", "-f", &file]).await?;
    let gone = eventually(300, || async {
        let out = sy
            .kubectl(&["get", "deploy,rs,pods,svc", "-l", "app=nginx", "-o", "name"])
            .await
            .ok()?;
        let svc = sy.kubectl_output(&["get", "svc", "my-nginx"]).await.ok()?;
        (out.trim().is_empty() && !svc.status.success()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "something outlived kubectl delete -f");
    Ok(())
}
