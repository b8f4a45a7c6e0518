//! `switchyard apply` / `get` / `delete` against a running server: the demo and the seed
//! manifests apply unchanged, a second apply is `unchanged`, output looks like kubectl's, and bad
//! input is refused with an error naming the problem and nothing stored changes; unknown fields
//! are refused by default (`fieldValidation=Strict`) and the server's warnings are printed.

use serde_json::Value;

use crate::support::{Switchyard, SwitchyardOptions, TestResult};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example(path: &str) -> String {
    format!("{}/examples/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_manifest_applies_then_is_unchanged_and_gets_like_kubectl() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let out = sy.cli(&["apply", "-f", &example("demo.yaml")])?;
    assert!(out.status.success(), "apply failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "service/web created",
        "service/web-headless created",
        "pod/web-1 created",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    let again = sy.cli(&["apply", "-f", &example("demo.yaml")])?;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again = text(&again.stdout);
    assert!(again.contains("service/web unchanged"), "{again}");
    assert!(!again.contains("created"), "{again}");

    let get = sy.cli(&["get", "svc"])?;
    assert!(get.status.success(), "{}", text(&get.stderr));
    let table = text(&get.stdout);
    let header: Vec<&str> = table
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
        ]
    );
    let web = table
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_default();
    assert!(
        web.contains("NodePort") && web.contains("80:30080/TCP"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("kubernetes ")),
        "built-in service missing:\n{table}"
    );

    let json = sy.cli(&["get", "svc", "web", "-o", "json"])?;
    let object: Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(object["spec"]["ports"][0]["nodePort"], 30080);
    let cluster_ip = object["spec"]["clusterIP"].as_str().unwrap_or_default();
    assert!(
        cluster_ip.starts_with("10."),
        "no ClusterIP allocated: {object}"
    );

    let all = text(&sy.cli(&["get", "pods", "-A", "-o", "wide"])?.stdout);
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(all.contains("127.0.0.11"), "{all}");

    let deleted = sy.cli(&["delete", "svc", "web"])?;
    assert!(deleted.status.success());
    assert!(text(&deleted.stdout).contains("service \"web\" deleted"));
    let missing = sy.cli(&["get", "svc", "web"])?;
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("not found"),
        "{}",
        text(&missing.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_manifests_apply_unchanged() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    for file in [
        "seeds/namespace.yaml",
        "seeds/pod-initcontainer.yaml",
        "seeds/static-web.yaml",
        "seeds/tomcat-server.yaml",
    ] {
        let out = sy.cli(&["apply", "-f", &example(file)])?;
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
    }
    let (status, svc) = sy
        .get("/api/v1/namespaces/default/services/tomcat-server")
        .await?;
    assert_eq!(status, 200);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30001);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    let (status, _) = sy
        .get("/api/v1/namespaces/mayikt-sit/pods/mayikt-pod-initcontainer")
        .await?;
    assert_eq!(status, 200);
    Ok(())
}

/// The tutorial's `extensions/v1beta1` Deployment (no selector) applies with `switchyard
/// apply`, is stored as apps/v1 with the selector that version defaulted, and kubectl lists it
/// at the preferred version and at the legacy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tutorial_extensions_deployment_applies_and_lists_at_both_versions() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let manifest = example("seeds/tomcat-deployment.yaml");
    let out = sy.cli(&["apply", "-f", &manifest])?;
    assert!(out.status.success(), "apply failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("deployment/tomcat-deployment created"),
        "{stdout}"
    );
    let again = sy.cli(&["apply", "-f", &manifest])?;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again = text(&again.stdout);
    assert!(
        again.contains("deployment/tomcat-deployment unchanged"),
        "{again}"
    );
    let (status, stored) = sy
        .get("/apis/apps/v1/namespaces/default/deployments/tomcat-deployment")
        .await?;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        stored["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app": "tomcat", "tier": "frontend"})
    );
    if testkit::kubectl_available() {
        for resource in ["deploy", "deploy.v1beta1.extensions"] {
            let out = std::process::Command::new("kubectl")
                .arg(format!("--kubeconfig={}", sy.kubeconfig().display()))
                .args(["get", resource])
                .env_remove("KUBECONFIG")
                .output()?;
            let stdout = text(&out.stdout);
            assert!(
                out.status.success()
                    && stdout
                        .lines()
                        .any(|l| l.starts_with("tomcat-deployment") && l.contains("/3")),
                "kubectl get {resource}: {stdout}{}",
                text(&out.stderr)
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_with_a_named_reason_and_store_nothing() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let (_, before) = sy.get("/api/v1/services").await?;
    let cases = [
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: [broken\n",
            "invalid YAML",
        ),
        (
            "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: d}\n",
            "unsupported CronJob",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec: {ports: [{port: 80}]}\n",
            "metadata.name",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: p}\nspec: {ports: [{port: 70000}]}\n",
            "spec.ports[0].port",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: np}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}\n",
            "spec.ports[0].nodePort",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: ip}\nspec: {clusterIP: 192.0.2.1, ports: [{port: 80}]}\n",
            "spec.clusterIP",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: sel}\nspec: {selector: {\"bad key!\": x}, ports: [{port: 80}]}\n",
            "spec.selector",
        ),
    ];
    for (manifest, expected) in cases {
        let out = sy.apply_text(manifest)?;
        assert!(!out.status.success(), "accepted bad manifest:\n{manifest}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected),
            "error for\n{manifest}\nshould mention {expected:?}, got:\n{stderr}"
        );
    }
    let (_, after) = sy.get("/api/v1/services").await?;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .map(|o| o["metadata"]["name"].to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        names(&before),
        names(&after),
        "a refused manifest changed the store"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_validates_fields_strictly_and_prints_server_warnings() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let typo = "spec.containers[0].readinessProbe.initialDelaySecands";
    let pod = |field: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: typo}}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    readinessProbe: {{{field}: 3, tcpSocket: {{port: 80}}}}\n"
        )
    };
    // Strict by default: refused, naming the field, and nothing stored.
    let out = sy.apply_text(&pod("initialDelaySecands"))?;
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("strict decoding error: unknown field \"{typo}\"")),
        "{stderr}"
    );
    let (code, _) = sy.get("/api/v1/namespaces/default/pods/typo").await?;
    assert_eq!(code, 404);

    // --validate=warn: created, and the server's warning printed.
    let file = sy.data_dir().join("typo.yaml");
    std::fs::write(&file, pod("initialDelaySecands"))?;
    let path = file.display().to_string();
    let out = sy.cli(&["apply", "--validate=warn", "-f", &path])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pod/typo created"));
    assert!(
        text(&out.stderr).contains(&format!("Warning: unknown field \"{typo}\"")),
        "{}",
        text(&out.stderr)
    );

    // An update (a merge patch) is validated too: a new unknown field is refused by default.
    std::fs::write(&file, pod("periodSecands"))?;
    let out = sy.cli(&["apply", "-f", &path])?;
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr)
            .contains("unknown field \"spec.containers[0].readinessProbe.periodSecands\""),
        "{}",
        text(&out.stderr)
    );
    // --validate=false: applied silently.
    let out = sy.cli(&["apply", "--validate=false", "-f", &path])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("Warning"),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = sy.get("/api/v1/namespaces/default/pods/typo").await?;
    assert_eq!(code, 200);
    Ok(())
}
