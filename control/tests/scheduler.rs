//! The scheduler and the binding subresource against a real control plane on loopback (HTTPS,
//! admin token): two labelled Nodes, one tainted; Pods with a nodeSelector, a required node
//! affinity, a toleration and requests too big for the untainted node land where they must,
//! each with an IP from its node's podCIDR; a Pod no node fits gets the Unschedulable
//! condition with kube-scheduler's message and is placed once a fitting Node appears. Also:
//! Pod defaults as stored, the binding's 409, and `kubectl describe pod` showing the probe
//! defaults.

mod support;

use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Value, json};
use support::{Api, TestResult};

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

fn node(name: &str, labels: Value, taints: Value, cpu: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Test"}],
        }
    })
}

fn pod(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c", "image": "nginx:1.27"}]);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"test": name}}, "spec": spec})
}

fn big_container() -> Value {
    json!([{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": "4"}}}])
}

const PODS: &str = "/api/v1/namespaces/default/pods";

/// The node a Pod was bound to, once it is bound.
async fn bound_node(api: &Api, name: &str) -> TestResult<String> {
    eventually(&format!("pod {name} to be scheduled"), || async {
        let pod = api.get(&format!("{PODS}/{name}")).await?.body;
        Ok(pod["spec"]["nodeName"].as_str().map(str::to_string))
    })
    .await
}

/// Checks that the Pod's IP lies in its node's podCIDR and PodScheduled is True.
async fn assert_placed(api: &Api, name: &str, node: &str) -> TestResult {
    let pod = api.get(&format!("{PODS}/{name}")).await?.body;
    let cidr: IpNet = api.get(&format!("/api/v1/nodes/{node}")).await?.body["spec"]["podCIDR"]
        .as_str()
        .ok_or("node without podCIDR")?
        .parse()?;
    let ip: std::net::IpAddr = pod["status"]["podIP"]
        .as_str()
        .ok_or_else(|| format!("pod {name} without IP: {pod}"))?
        .parse()?;
    assert!(cidr.contains(&ip), "{name}: {ip} outside {cidr}");
    let scheduled = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled")
        .ok_or("no PodScheduled condition")?;
    assert_eq!(scheduled["status"], "True", "{pod}");
    Ok(())
}

#[tokio::test]
async fn pods_land_where_selectors_taints_and_requests_allow() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let scheduler = control::scheduler::spawn(support::kube_client(&plane)?);

    for n in [
        node("east", json!({"zone": "east", "size": "2"}), json!([]), "2"),
        node(
            "west",
            json!({"zone": "west", "size": "8"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
            "8",
        ),
    ] {
        let reply = api.post("/api/v1/nodes", &n).await?;
        assert_eq!(reply.code, 201, "{}", reply.body);
    }
    let toleration = json!([{"key": "dedicated", "operator": "Equal", "value": "gpu",
                             "effect": "NoSchedule"}]);
    let pods = [
        (
            "by-selector",
            json!({"nodeSelector": {"zone": "east"}}),
            "east",
        ),
        (
            "by-affinity",
            json!({"tolerations": toleration, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["4"]}]}
            ]}}}}),
            "west",
        ),
        (
            "by-toleration",
            json!({"tolerations": toleration, "nodeSelector": {"zone": "west"}}),
            "west",
        ),
        (
            "big-tolerant",
            json!({"tolerations": toleration, "containers": big_container()}),
            "west",
        ),
        ("untainted-only", json!({}), "east"),
    ];
    for (name, spec, _) in &pods {
        let reply = api.post(PODS, &pod(name, spec.clone())).await?;
        assert_eq!(reply.code, 201, "{}", reply.body);
    }
    for (name, _, want) in &pods {
        let got = bound_node(&api, name).await?;
        assert_eq!(&got, want, "{name}");
        assert_placed(&api, name, want).await?;
    }

    // Too big for east, not tolerated on west.
    let reply = api
        .post(PODS, &pod("big", json!({"containers": big_container()})))
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let message = eventually("the Unschedulable condition", || async {
        let pod = api.get(&format!("{PODS}/big")).await?.body;
        assert!(pod["spec"]["nodeName"].is_null(), "{pod}");
        Ok(pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
            .and_then(|c| c["message"].as_str().map(str::to_string)))
    })
    .await?;
    assert_eq!(
        message,
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
         {dedicated: gpu}."
    );
    // A Node with room arrives: the waiting Pod goes there.
    let reply = api
        .post(
            "/api/v1/nodes",
            &node("north", json!({"zone": "north"}), json!([]), "16"),
        )
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(bound_node(&api, "big").await?, "north");
    assert_placed(&api, "big", "north").await?;

    scheduler.abort();
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn binding_sets_the_node_once_and_defaults_are_stored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let reply = api
        .post("/api/v1/nodes", &node("n1", json!({}), json!([]), "4"))
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    // No scheduler runs here: another scheduler's Pod stays unbound until bound by hand.
    let spec = json!({"schedulerName": "other", "containers": [{"name": "c", "image": "nginx",
        "ports": [{"containerPort": 80}],
        "readinessProbe": {"httpGet": {"port": 80}}}]});
    let reply = api.post(PODS, &pod("manual", spec)).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let stored = reply.body;
    assert_eq!(stored["status"]["phase"], "Pending", "{stored}");
    assert_eq!(stored["status"]["qosClass"], "BestEffort");
    assert_eq!(stored["spec"]["restartPolicy"], "Always");
    assert_eq!(stored["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(stored["spec"]["serviceAccountName"], "default");
    assert_eq!(
        stored["spec"]["tolerations"].as_array().map(Vec::len),
        Some(2)
    );
    let c = &stored["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTP");
    assert!(stored["status"]["podIP"].is_null(), "{stored}");

    let bind = |pod: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let reply = api
        .post(&format!("{PODS}/manual/binding"), &bind("manual", "n1"))
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(reply.body["status"], "Success");
    assert_placed(&api, "manual", "n1").await?;
    let reply = api
        .post(&format!("{PODS}/manual/binding"), &bind("manual", "n2"))
        .await?;
    assert_eq!(reply.code, 409, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "Operation cannot be fulfilled on pods/binding \"manual\": pod manual is already \
         assigned to node \"n1\""
    );
    let reply = api
        .post(&format!("{PODS}/missing/binding"), &bind("missing", "n1"))
        .await?;
    assert_eq!(reply.code, 404, "{}", reply.body);
    let reply = api
        .post(&format!("{PODS}/manual/binding"), &bind("other", "n1"))
        .await?;
    assert_eq!(reply.code, 400, "{}", reply.body);

    // Probe fields are validated by name.
    let bad = json!({"containers": [{"name": "c", "image": "nginx",
        "livenessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2, "periodSeconds": -1}}]});
    let reply = api.post(PODS, &pod("bad-probe", bad)).await?;
    assert_eq!(reply.code, 422, "{}", reply.body);
    let text = reply.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("spec.containers[0].livenessProbe.successThreshold")
            && text.contains("spec.containers[0].livenessProbe.periodSeconds"),
        "{text}"
    );

    if testkit::kubectl_available() {
        let kubeconfig = control::security::kubeconfig::admin_path(dir.path());
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new("kubectl")
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .args(["describe", "pod", "manual", "-n", "default"])
                .env_remove("KUBECONFIG")
                .output(),
        )
        .await??;
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            out.contains("delay=0s timeout=1s period=10s #success=1 #failure=3"),
            "{out}"
        );
        assert!(out.contains("Node:") && out.contains("n1"), "{out}");
    }
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn binding_needs_create_on_pods_binding() -> TestResult {
    let dir = tempfile::tempdir()?;
    let token = format!("binder-{}", std::process::id());
    let csv = dir.path().join("tokens.csv");
    std::fs::write(&csv, format!("{token},binder,uid-binder\n"))?;
    let security = control::security::SecurityConfig {
        token_auth_file: Some(csv),
        ..control::security::SecurityConfig::default()
    };
    let plane = support::start_with(
        &dir.path().join("data"),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        1000,
        security,
    )
    .await?;
    let admin = Api::for_plane(&plane);
    let binder = Api::with_token(&plane, Some(&token));
    let reply = admin
        .post("/api/v1/nodes", &node("n1", json!({}), json!([]), "4"))
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let spec = json!({"schedulerName": "other"});
    let reply = admin.post(PODS, &pod("p", spec)).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                         "target": {"kind": "Node", "name": "n1"}});
    let path = format!("{PODS}/p/binding");
    let denied = binder.post(&path, &binding).await?;
    assert_eq!(denied.code, 403, "{}", denied.body);

    let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default";
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "binder"},
        "rules": [{"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]}]});
    let reply = admin.post(&format!("{rbac}/roles"), &role).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let grant = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "binder"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binder"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "binder"}]});
    let reply = admin.post(&format!("{rbac}/rolebindings"), &grant).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    let code = eventually("the grant to take effect", || async {
        let reply = binder.post(&path, &binding).await?;
        Ok((reply.code != 403).then_some(reply.code))
    })
    .await?;
    assert_eq!(code, 201);
    // Creating pods/binding does not grant updating the Pod itself.
    let reply = binder.get(&format!("{PODS}/p")).await?;
    assert_eq!(reply.code, 403, "{}", reply.body);
    assert_eq!(
        admin.get(&format!("{PODS}/p")).await?.body["spec"]["nodeName"],
        "n1"
    );
    plane.shutdown().await;
    Ok(())
}
