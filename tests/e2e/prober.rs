//! The node agent inside `switchyard run`, in network namespaces: a node namespace (with an
//! uplink and a default route, like a real node) runs `switchyard run` with the nftables proxy;
//! three Pod namespaces hang off it by veth pairs (and the same with the userspace proxy). Two Pods serve HTTP with a `/healthz` the
//! test turns bad and good; their httpGet readinessProbe takes the Pod out of the
//! EndpointSlice and out of the ClusterIP's rotation, and back. A third Pod's tcpSocket
//! readinessProbe names a closed port, which keeps it out throughout. Everything the test reads
//! from the API goes through `switchyard get` inside the node namespace.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use testkit::{Netns, veth};

use crate::support::{
    KillOnDrop, TestResult, eventually, require_root, require_tool, switchyard_bin, wait_for_file,
};

const NODE: &str = "probe-node";
const PORT: u16 = 8080;

/// A tiny HTTP server inside a Pod namespace: `/healthz` answers 200 while `healthy` is set
/// and 500 otherwise; every other path answers the Pod's name. Stops when `stop` is set.
struct Backend {
    healthy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn backend(ns: &Netns, name: &'static str) -> TestResult<Backend> {
    let healthy = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, s) = (healthy.clone(), stop.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    ns.spawn(move || {
        let listener = match TcpListener::bind(("0.0.0.0", PORT)) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        let _ = listener.set_nonblocking(true);
        let _ = ready_tx.send(Ok(()));
        // Bounded by the stop flag, which the test sets when it ends (pass or fail).
        while !s.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 2048];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let (code, body) = if path.starts_with("/healthz") {
                        if h.load(Ordering::Relaxed) {
                            ("200 OK", "ok")
                        } else {
                            ("500 Internal Server Error", "sick")
                        }
                    } else {
                        ("200 OK", name)
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5))??;
    Ok(Backend { healthy, stop })
}

/// The node's view of the cluster through `switchyard` inside the node namespace.
struct Cli<'a> {
    node: &'a Netns,
    kubeconfig: PathBuf,
}

impl Cli<'_> {
    fn json(&self, args: &[&str]) -> Option<Value> {
        let out = self
            .node
            .command(switchyard_bin())
            .args(args)
            .args(["-o", "json", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    fn apply(&self, manifest: &str) -> TestResult<bool> {
        let mut child = self
            .node
            .command(switchyard_bin())
            .args(["apply", "-f", "-", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(manifest.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            eprintln!("apply: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out.status.success())
    }

    /// `ip -> ready` of the endpoints of Service `web`, sorted.
    fn endpoints(&self) -> Vec<(String, bool)> {
        let Some(list) = self.json(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for slice in list["items"].as_array().into_iter().flatten() {
            for ep in slice["endpoints"].as_array().into_iter().flatten() {
                let ready = ep
                    .pointer("/conditions/ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                for a in ep["addresses"].as_array().into_iter().flatten() {
                    out.push((a.as_str().unwrap_or_default().to_string(), ready));
                }
            }
        }
        out.sort();
        out
    }

    /// The Pod's `Ready` condition (status, message).
    fn ready_condition(&self, pod: &str) -> Option<(String, String)> {
        let pod = self.json(&["get", "pods", pod])?;
        let condition = pod["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        Some((
            condition["status"].as_str()?.to_string(),
            condition["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }
}

/// One HTTP GET of `http://ip/` from the node namespace; the answering Pod's name.
fn ask(node: &Netns, ip: &str) -> Option<String> {
    let out = node
        .command("curl")
        .args(["-s", "--max-time", "2", &format!("http://{ip}/")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn pod(name: &str, ip: &str, probes: &str) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web}}
spec:
  nodeName: {NODE}
  containers:
  - name: web
    image: backend
    ports: [{{name: http, containerPort: {PORT}}}]
{probes}
status:
  podIP: {ip}
"#
    )
}

const HTTP_PROBES: &str = "    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
      failureThreshold: 2
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 1";

const CLOSED_PORT_PROBE: &str = "    readinessProbe:
      tcpSocket: {port: 9}
      periodSeconds: 1";

fn pair(ip: &str, ready: bool) -> (String, bool) {
    (ip.to_string(), ready)
}

#[tokio::test]
async fn failing_readiness_probes_take_pods_out_of_the_nftables_service() -> TestResult {
    probes_decide_the_rotation(
        "failing_readiness_probes_take_pods_out_of_the_nftables_service",
        "nftables",
    )
    .await
}

#[tokio::test]
async fn failing_readiness_probes_take_pods_out_of_the_userspace_service() -> TestResult {
    probes_decide_the_rotation(
        "failing_readiness_probes_take_pods_out_of_the_userspace_service",
        "userspace",
    )
    .await
}

/// The whole scenario with the proxy in `mode`.
async fn probes_decide_the_rotation(test: &str, mode: &str) -> TestResult {
    if !require_root(test, "network namespaces, nftables")
        || !require_tool(test, "nft")
        || !require_tool(test, "curl")
    {
        return Ok(());
    }
    let node = Netns::new("pn")?;
    let world = Netns::new("pw")?;
    veth(
        &node,
        "up0",
        &["10.66.0.1/24".parse()?],
        &world,
        "eth0",
        &["10.66.0.2/24".parse()?],
    )?;
    node.ip(&["route", "add", "default", "via", "10.66.0.2"])?;
    node.enable_forwarding()?;
    let mut pods = Vec::new();
    for i in 1..=3u8 {
        let ns = Netns::new(&format!("pp{i}"))?;
        veth(
            &node,
            &format!("pod{i}"),
            &[format!("10.66.{i}.1/24").parse()?],
            &ns,
            "eth0",
            &[format!("10.66.{i}.2/24").parse()?],
        )?;
        ns.ip(&["route", "add", "default", "via", &format!("10.66.{i}.1")])?;
        pods.push(ns);
    }
    let one = backend(&pods[0], "p1")?;
    let two = backend(&pods[1], "p2")?;

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let child = node
        .command(switchyard_bin())
        .args([
            "run",
            "--api-listen",
            "127.0.0.1:6443",
            "--dns-listen",
            "none",
        ])
        .args(["--metrics-listen", "127.0.0.1:10249", "--proxy-mode", mode])
        .args([
            "--min-sync-period",
            "0s",
            "--node-name",
            NODE,
            "--node-ip",
            "10.66.0.1",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let _server = KillOnDrop(child);
    let kubeconfig = data.join("admin.kubeconfig");
    assert!(
        wait_for_file(&kubeconfig),
        "no admin.kubeconfig was written"
    );
    let cli = Cli {
        node: &node,
        kubeconfig,
    };

    let manifest = [
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n".to_string(),
        pod("p1", "10.66.1.2", HTTP_PROBES),
        pod("p2", "10.66.2.2", HTTP_PROBES),
        pod("p3", "10.66.3.2", CLOSED_PORT_PROBE),
    ]
    .concat();
    let mut applied = false;
    for _ in 0..100 {
        if cli.apply(&manifest)? {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(applied, "the manifest was never applied");
    let cluster_ip = cli
        .json(&["get", "services", "web"])
        .and_then(|s| s["spec"]["clusterIP"].as_str().map(str::to_string))
        .ok_or("no ClusterIP")?;

    // Both healthy Pods turn ready; the closed port keeps p3 out.
    let want = vec![
        pair("10.66.1.2", true),
        pair("10.66.2.2", true),
        pair("10.66.3.2", false),
    ];
    let got = eventually(400, || async {
        Some(cli.endpoints()).filter(|e| *e == want)
    })
    .await;
    assert!(
        got.is_some(),
        "endpoints never became {want:?}: {:?}",
        cli.endpoints()
    );
    let both = eventually(200, || async {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..8 {
            seen.insert(ask(&node, &cluster_ip)?);
        }
        (seen.len() == 2).then_some(seen)
    })
    .await;
    assert!(both.is_some(), "the ClusterIP never reached both Pods");

    // p2's health endpoint fails: it leaves the slice and the rotation.
    two.healthy.store(false, Ordering::Relaxed);
    let want = vec![
        pair("10.66.1.2", true),
        pair("10.66.2.2", false),
        pair("10.66.3.2", false),
    ];
    let got = eventually(400, || async {
        Some(cli.endpoints()).filter(|e| *e == want)
    })
    .await;
    assert!(got.is_some(), "p2 never left: {:?}", cli.endpoints());
    let (status, message) = cli
        .ready_condition("p2")
        .ok_or("p2 has no Ready condition")?;
    assert_eq!(status, "False");
    assert_eq!(message, "containers with unready status: [web]");
    // The proxy follows the slice: wait (bounded) until a batch avoids p2, then no new
    // connection may reach it.
    let settled = eventually(200, || async {
        let names: Option<Vec<String>> = (0..6).map(|_| ask(&node, &cluster_ip)).collect();
        names.filter(|n| n.iter().all(|n| n == "p1"))
    })
    .await;
    assert!(
        settled.is_some(),
        "connections kept reaching the unready Pod"
    );
    for _ in 0..20 {
        assert_eq!(ask(&node, &cluster_ip).as_deref(), Some("p1"));
    }

    // Healthy again: back in the slice and the rotation.
    two.healthy.store(true, Ordering::Relaxed);
    let want = vec![
        pair("10.66.1.2", true),
        pair("10.66.2.2", true),
        pair("10.66.3.2", false),
    ];
    let got = eventually(400, || async {
        Some(cli.endpoints()).filter(|e| *e == want)
    })
    .await;
    assert!(got.is_some(), "p2 never came back: {:?}", cli.endpoints());
    let back = eventually(200, || async {
        (0..8)
            .filter_map(|_| ask(&node, &cluster_ip))
            .any(|n| n == "p2")
            .then_some(())
    })
    .await;
    assert!(back.is_some(), "the ClusterIP never reached p2 again");

    // p3 stayed out the whole time, and says why.
    let (status, message) = cli
        .ready_condition("p3")
        .ok_or("p3 has no Ready condition")?;
    assert_eq!(status, "False");
    assert_eq!(message, "containers with unready status: [web]");

    // kubelet's prober metrics counted both results; the liveness failures were recorded as
    // Events when the API serves them, and counted as unrecorded otherwise.
    let metrics = node
        .command("curl")
        .args(["-s", "--max-time", "5", "http://127.0.0.1:10249/metrics"])
        .output()?;
    let text = String::from_utf8_lossy(&metrics.stdout).to_string();
    let samples = testkit::parse_exposition(&text).map_err(|e| format!("{e}\n{text}"))?;
    let count = |kind: &str, result: &str| {
        testkit::value_of(
            &samples,
            "prober_probe_total",
            &[("probe_type", kind), ("result", result)],
        )
        .unwrap_or(0.0)
    };
    assert!(count("Readiness", "successful") > 0.0, "{text}");
    assert!(count("Readiness", "failed") > 0.0, "{text}");
    assert!(count("Liveness", "failed") > 0.0, "{text}");
    let events = cli.json(&["get", "events"]);
    let recorded = events.as_ref().is_some_and(|list| {
        list["items"].as_array().into_iter().flatten().any(|e| {
            e["reason"] == "Unhealthy"
                && e["message"] == "Liveness probe failed: HTTP probe failed with statuscode: 500"
                && e["involvedObject"]["name"] == "p2"
        })
    });
    let unrecorded = testkit::value_of(
        &samples,
        "switchyard_agent_events_unrecorded_total",
        &[("reason", "not_served")],
    )
    .unwrap_or(0.0);
    assert!(
        recorded || unrecorded > 0.0,
        "liveness failures were neither Events nor counted\n{text}"
    );
    drop(one);
    Ok(())
}

/// The Pod's `Ready` condition status and `phase`, over the API.
async fn readiness(sy: &crate::support::Switchyard, pod: &str) -> TestResult<(String, String)> {
    let (_, pod) = sy
        .get(&format!("/api/v1/namespaces/default/pods/{pod}"))
        .await?;
    let ready = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string();
    let phase = pod["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((ready, phase))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_agent_with_a_node_identity_probes_only_its_pods() -> TestResult {
    use crate::support::{Switchyard, SwitchyardOptions};
    let sy = Switchyard::start(SwitchyardOptions {
        args: vec!["--node-agent=false".into()],
        ..Default::default()
    })
    .await?;
    let node = "remote-agent-node";
    let issued = Command::new(switchyard_bin())
        .args(["kubeconfig", "--user", &format!("system:node:{node}")])
        .args(["--group", "system:nodes", "--server"])
        .arg(sy.server())
        .arg("--data-dir")
        .arg(sy.data_dir())
        .output()?;
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("node.kubeconfig");
    std::fs::write(&kubeconfig, &issued.stdout)?;

    let open = TcpListener::bind("127.0.0.1:0")?;
    let open_port = open.local_addr()?.port();
    let closed_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let pod = |name: &str, node: &str, port: u16| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "app",
                "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 1}}]},
            "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "False"}]}
        })
    };
    for body in [
        pod("up", node, open_port),
        pod("down", node, closed_port),
        pod("elsewhere", "another-node", open_port),
    ] {
        let (code, answer) = sy.post("/api/v1/namespaces/default/pods", &body).await?;
        assert_eq!(code, 201, "{answer}");
    }
    let child = Command::new(switchyard_bin())
        .args(["agent", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--node-name", node])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let _agent = KillOnDrop(child);

    let ready = eventually(400, || async {
        readiness(&sy, "up")
            .await
            .ok()
            .filter(|r| *r == ("True".to_string(), "Running".to_string()))
    })
    .await;
    assert!(
        ready.is_some(),
        "up never turned Ready: {:?}",
        readiness(&sy, "up").await?
    );
    assert_eq!(
        readiness(&sy, "down").await?,
        ("False".to_string(), "Running".to_string()),
        "a closed port must keep the Pod unready"
    );
    // Another node's Pod is not this agent's to write.
    assert_eq!(
        readiness(&sy, "elsewhere").await?,
        ("False".to_string(), "Pending".to_string())
    );

    // The port closes: one failure (failureThreshold 1) takes the Pod out.
    drop(open);
    let unready = eventually(400, || async {
        readiness(&sy, "up").await.ok().filter(|r| r.0 == "False")
    })
    .await;
    assert!(unready.is_some(), "up stayed Ready after its port closed");
    Ok(())
}
