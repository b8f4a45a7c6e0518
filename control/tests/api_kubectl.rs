//! kubectl 1.32 against the API: create, apply (create, then update of the same file), get
//! (plain, `-l`, `-A`, `-o wide|json|yaml`), label, describe service, delete. Each call uses the
//! `admin.kubeconfig` the plane wrote (HTTPS, its CA, the admin token), so the host's
//! configuration is never read or written.

mod support;

use std::path::Path;

use serde_json::Value;
use support::kubectl::Kubectl;
use support::{Api, TestResult};

fn write(path: &Path, text: &str) -> TestResult {
    std::fs::write(path, text)?;
    Ok(())
}

fn service_yaml(ns: &str, target_port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\n  labels:\n    app: web\nspec:\n  type: NodePort\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: {target_port}\n"
    )
}

#[tokio::test]
async fn kubectl_workflow() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);
    let kubectl = Kubectl::new(&dir.path().join("data"))?;
    let ns = format!("kubectl-{}", std::process::id());

    // Typed creates send protobuf.
    let out = kubectl.run(&["create", "namespace", &ns]).await?;
    assert!(out.contains(&format!("namespace/{ns} created")), "{out}");
    let out = kubectl
        .run(&[
            "create",
            "service",
            "clusterip",
            "typed",
            "-n",
            &ns,
            "--tcp=8080:80",
        ])
        .await?;
    assert!(out.contains("service/typed created"), "{out}");
    let typed = api
        .get(&format!("/api/v1/namespaces/{ns}/services/typed"))
        .await?
        .body;
    assert_eq!(typed["spec"]["ports"][0]["port"], 8080, "{typed}");
    assert_eq!(typed["spec"]["ports"][0]["targetPort"], 80, "{typed}");

    let manifest = dir.path().join("svc.yaml");
    write(&manifest, &service_yaml(&ns, 8080))?;
    let manifest_arg = manifest.display().to_string();
    let out = kubectl.run(&["apply", "-f", &manifest_arg]).await?;
    assert!(out.contains("service/web created"), "{out}");
    write(&manifest, &service_yaml(&ns, 9090))?;
    let out = kubectl.run(&["apply", "-f", &manifest_arg]).await?;
    assert!(out.contains("service/web configured"), "{out}");
    let stored = api
        .get(&format!("/api/v1/namespaces/{ns}/services/web"))
        .await?
        .body;
    assert_eq!(stored["spec"]["ports"][0]["targetPort"], 9090, "{stored}");
    let node_port = stored["spec"]["ports"][0]["nodePort"].as_i64().unwrap_or(0);
    let out = kubectl.run(&["apply", "-f", &manifest_arg]).await?;
    assert!(out.contains("service/web unchanged"), "{out}");
    // `kubectl diff` is a server-side dry run of the apply patch; it changes nothing.
    write(&manifest, &service_yaml(&ns, 7070))?;
    let diff = kubectl.run(&["diff", "-f", &manifest_arg]).await;
    let text = match diff {
        Ok(text) => text,
        // kubectl diff exits 1 when there are differences.
        Err(e) => e.to_string(),
    };
    assert!(text.contains("7070") && text.contains("9090"), "{text}");
    let stored = api
        .get(&format!("/api/v1/namespaces/{ns}/services/web"))
        .await?
        .body;
    assert_eq!(stored["spec"]["ports"][0]["targetPort"], 9090, "{stored}");
    write(&manifest, &service_yaml(&ns, 9090))?;

    let pod = dir.path().join("pod.yaml");
    write(
        &pod,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: {ns}\n  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: busybox\n    ports:\n    - containerPort: 9090\n"
        ),
    )?;
    let out = kubectl
        .run(&["create", "-f", &pod.display().to_string()])
        .await?;
    assert!(out.contains("pod/web-1 created"), "{out}");

    let out = kubectl.run(&["get", "services", "-n", &ns]).await?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{out}"
    );
    assert!(out.contains(&format!("80:{node_port}/TCP")), "{out}");
    let out = kubectl
        .run(&["get", "svc", "-n", &ns, "-o", "wide"])
        .await?;
    assert!(out.contains("SELECTOR") && out.contains("app=web"), "{out}");
    let out = kubectl.run(&["get", "svc", "-A"]).await?;
    assert!(out.starts_with("NAMESPACE") && out.contains(&ns), "{out}");
    let out = kubectl
        .run(&["get", "pods", "-n", &ns, "-o", "wide"])
        .await?;
    assert!(out.contains("web-1") && out.contains("NODE"), "{out}");

    let out = kubectl
        .run(&["label", "svc", "web", "-n", &ns, "tier=frontend"])
        .await?;
    assert!(out.contains("service/web labeled"), "{out}");
    let out = kubectl
        .run(&["get", "svc", "-n", &ns, "-l", "tier=frontend", "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&out)?;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(list["items"][0]["metadata"]["labels"]["tier"], "frontend");
    let out = kubectl
        .run(&["get", "svc", "-n", &ns, "-l", "tier=backend"])
        .await;
    // kubectl prints "No resources found" on stderr and succeeds.
    assert!(out.is_ok_and(|o| !o.contains("web")));
    let out = kubectl
        .run(&["get", "svc", "web", "-n", &ns, "-o", "yaml"])
        .await?;
    assert!(
        out.contains("kind: Service") && out.contains("tier: frontend"),
        "{out}"
    );

    let out = kubectl
        .run(&[
            "get",
            "svc",
            "-n",
            &ns,
            "--show-labels",
            "--sort-by=.metadata.name",
        ])
        .await?;
    assert!(
        out.contains("LABELS") && out.contains("tier=frontend"),
        "{out}"
    );
    let out = kubectl
        .run(&["annotate", "svc", "web", "-n", &ns, "note=hello"])
        .await?;
    assert!(out.contains("service/web annotated"), "{out}");
    let out = kubectl
        .run(&[
            "patch",
            "svc",
            "web",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/patched","value":"yes"}]"#,
        ])
        .await?;
    assert!(out.contains("service/web patched"), "{out}");
    let stored = api
        .get(&format!("/api/v1/namespaces/{ns}/services/web"))
        .await?
        .body;
    assert_eq!(stored["metadata"]["annotations"]["note"], "hello");
    assert_eq!(stored["metadata"]["labels"]["patched"], "yes");
    let out = kubectl.run(&["api-resources"]).await?;
    assert!(
        out.contains("endpointslices") && out.contains("svc"),
        "{out}"
    );
    let out = kubectl.run(&["get", "namespaces"]).await?;
    assert!(out.contains(&ns) && out.contains("Active"), "{out}");

    let out = kubectl
        .run(&["describe", "service", "web", "-n", &ns])
        .await?;
    for needle in [
        "Name:",
        "web",
        "Selector:",
        "app=web",
        "TargetPort:",
        "9090/TCP",
        "Events:",
    ] {
        assert!(out.contains(needle), "describe lacks {needle:?}:\n{out}");
    }

    // `kubectl get -w` watches with Tables: a change made meanwhile shows up as a row.
    let mut watcher = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubectl.kubeconfig.display()))
        .args(["get", "svc", "-n", &ns, "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = watcher.stdout.take().ok_or("no kubectl stdout")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let created = api
        .post(&format!("/api/v1/namespaces/{ns}/services"),
            &serde_json::json!({"metadata": {"name": "watched"}, "spec": {"ports": [{"port": 81}]}}))
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(deadline, lines.next_line()).await {
        let done = line.contains("ADDED") && line.contains("watched");
        seen.push(line);
        if done || seen.len() > 50 {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("ADDED") && l.contains("watched") && l.contains("81/TCP")),
        "{seen:?}"
    );
    watcher.kill().await?;

    let out = kubectl.run(&["delete", "svc", "web", "-n", &ns]).await?;
    assert!(out.contains("service \"web\" deleted"), "{out}");
    assert_eq!(
        api.get(&format!("/api/v1/namespaces/{ns}/services/web"))
            .await?
            .code,
        404
    );
    let out = kubectl.run(&["delete", "namespace", &ns]).await?;
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(
        api.get(&format!("/api/v1/namespaces/{ns}/pods/web-1"))
            .await?
            .code,
        404
    );
    cp.shutdown().await;
    Ok(())
}
