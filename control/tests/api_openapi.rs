//! OpenAPI and server-side field validation against kubectl 1.32: `kubectl apply` validates
//! through the server (`fieldValidation=Strict`, found in `/openapi/v3`), names an unknown
//! field, honours `--validate=false|warn`; a file with a kind the server does not serve no
//! longer fails whole with "failed to download openapi" (`/openapi/v2`); `kubectl explain`
//! reads the v3 schemas. Plus the HTTP details: duplicate fields, `Warning` headers, the v2
//! media types, ETags and authentication.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Api, TestResult};

/// What one kubectl run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

struct Kubectl {
    kubeconfig: std::path::PathBuf,
}

impl Kubectl {
    fn new(data_dir: &Path) -> TestResult<Kubectl> {
        let kubeconfig = control::security::kubeconfig::admin_path(data_dir);
        if !kubeconfig.exists() {
            return Err(format!("{} was not written", kubeconfig.display()).into());
        }
        Ok(Kubectl { kubeconfig })
    }

    /// Runs kubectl (bounded to 60 s) and returns what it printed, success or not.
    async fn run(&self, args: &[&str]) -> TestResult<Run> {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            // A cache directory of the test's own, so no document is read from an earlier run.
            .arg(format!(
                "--cache-dir={}",
                self.kubeconfig
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("kubectl-cache")
                    .display()
            ))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), command.output()).await??;
        Ok(Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
        })
    }
}

fn pod_yaml(name: &str, ns: &str, probe_field: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: {name}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    readinessProbe:\n      {probe_field}: 3\n      tcpSocket:\n        port: 80\n"
    )
}

fn service_yaml(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n"
    )
}

const TYPO: &str = "spec.containers[0].readinessProbe.initialDelaySecands";

async fn exists(api: &Api, path: &str) -> TestResult<bool> {
    let reply = api.get(path).await?;
    match reply.code {
        200 => Ok(true),
        404 => Ok(false),
        code => Err(format!("GET {path}: {code} {}", reply.body).into()),
    }
}

#[tokio::test]
async fn kubectl_validation_goes_through_the_server() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);
    let kubectl = Kubectl::new(&dir.path().join("data"))?;
    let ns = format!("openapi-{}", std::process::id());
    api.post("/api/v1/namespaces", &json!({"metadata": {"name": ns}}))
        .await?;
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let services = format!("/api/v1/namespaces/{ns}/services");

    // Default (strict) validation: the Pod with the typo is refused by the server, naming the
    // field; kubectl goes on with the file's other objects, as against kube-apiserver.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "{}---\n{}",
            pod_yaml("typo", &ns, "initialDelaySecands"),
            service_yaml("typo", &ns)
        ),
    )?;
    let bad_arg = bad.display().to_string();
    let run = kubectl.run(&["apply", "-f", &bad_arg]).await?;
    assert!(!run.ok, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("strict decoding error: unknown field \"{TYPO}\"")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("failed to download openapi"),
        "{}",
        run.stderr
    );
    assert!(!exists(&api, &format!("{pods}/typo")).await?);
    assert!(
        run.stdout.contains("service/typo created"),
        "{}",
        run.stdout
    );

    // --validate=warn: created, and kubectl prints the server's warning.
    let warn = dir.path().join("warn.yaml");
    std::fs::write(&warn, pod_yaml("warned", &ns, "initialDelaySecands"))?;
    let warn_arg = warn.display().to_string();
    let run = kubectl
        .run(&["apply", "--validate=warn", "-f", &warn_arg])
        .await?;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("Warning: unknown field \"{TYPO}\"")),
        "{}",
        run.stderr
    );
    assert!(exists(&api, &format!("{pods}/warned")).await?);

    // --validate=false: created silently, the unknown field dropped.
    let run = kubectl
        .run(&["apply", "--validate=false", "-f", &bad_arg])
        .await?;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("unknown field"), "{}", run.stderr);
    let stored = api.get(&format!("{pods}/typo")).await?.body;
    assert_eq!(stored["metadata"]["name"], "typo", "{stored}");
    assert!(
        stored["spec"]["containers"][0]["readinessProbe"]
            .get("initialDelaySecands")
            .is_none(),
        "{stored}"
    );

    // A valid multi-document file applies with the default validation.
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        format!(
            "{}---\n{}",
            service_yaml("good", &ns),
            pod_yaml("good", &ns, "initialDelaySeconds")
        ),
    )?;
    let run = kubectl
        .run(&["apply", "-f", &good.display().to_string()])
        .await?;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("service/good created") && run.stdout.contains("pod/good created"),
        "{}",
        run.stdout
    );
    let stored = api.get(&format!("{pods}/good")).await?.body;
    assert_eq!(
        stored["spec"]["containers"][0]["readinessProbe"]["initialDelaySeconds"], 3,
        "{stored}"
    );

    // A kind this server does not serve fails alone: the Service beside it is created.
    let mixed = dir.path().join("mixed.yaml");
    std::fs::write(
        &mixed,
        format!(
            "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: d\n  namespace: {ns}\nspec:\n  schedule: '* * * * *'\n---\n{}",
            service_yaml("beside", &ns)
        ),
    )?;
    let run = kubectl
        .run(&["apply", "-f", &mixed.display().to_string()])
        .await?;
    assert!(!run.ok, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stderr.contains("failed to download openapi"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("CronJob"), "{}", run.stderr);
    assert!(exists(&api, &format!("{services}/beside")).await?);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kubectl_explain_reads_the_v3_schemas() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let kubectl = Kubectl::new(&dir.path().join("data"))?;
    let run = kubectl
        .run(&["explain", "pods.spec.containers.readinessProbe"])
        .await?;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("KIND:       Pod"), "{}", run.stdout);
    assert!(
        run.stdout.contains("FIELD: readinessProbe <Probe>"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("initialDelaySeconds\t<integer>")
            && run.stdout.contains("tcpSocket\t<TCPSocketAction>"),
        "{}",
        run.stdout
    );
    let run = kubectl.run(&["explain", "clusterroles.rules"]).await?;
    assert!(
        run.ok && run.stdout.contains("verbs"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn duplicate_and_unknown_fields_over_http() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);
    let services = "/api/v1/namespaces/default/services";
    let body = r#"{"metadata": {"name": "dup", "name": "dup"}, "spec": {"ports": [{"port": 80, "port": 81}], "bogus": 1}}"#;
    let reply = api
        .send(
            reqwest::Method::POST,
            &format!("{services}?fieldValidation=Strict"),
            "application/json",
            Some(body.to_string()),
        )
        .await?;
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        r#"strict decoding error: unknown field "spec.bogus", duplicate field "metadata.name", duplicate field "spec.ports[0].port""#
    );
    assert!(!exists(&api, &format!("{services}/dup")).await?);

    // Warn (the default): created with the last of each duplicate, one warning per problem.
    let reply = api
        .send(
            reqwest::Method::POST,
            services,
            "application/json",
            Some(body.to_string()),
        )
        .await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(reply.body["spec"]["ports"][0]["port"], 81);
    let warnings: Vec<&str> = reply
        .headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"spec.bogus\"""#,
            r#"299 - "duplicate field \"metadata.name\"""#,
            r#"299 - "duplicate field \"spec.ports[0].port\"""#,
        ]
    );

    // A merge patch that repeats a key is refused under Strict and changes nothing.
    let reply = api
        .send(
            reqwest::Method::PATCH,
            &format!("{services}/dup?fieldValidation=Strict"),
            "application/merge-patch+json",
            Some(r#"{"metadata": {"labels": {"a": "1", "a": "2"}}}"#.to_string()),
        )
        .await?;
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        r#"strict decoding error: duplicate field "metadata.labels.a""#
    );
    let stored = api.get(&format!("{services}/dup")).await?.body;
    assert!(stored["metadata"]["labels"].get("a").is_none(), "{stored}");

    // YAML bodies are checked the same way.
    let reply = api
        .send(
            reqwest::Method::POST,
            &format!("{services}?fieldValidation=Strict"),
            "application/yaml",
            Some(
                "metadata:\n  name: y\nspec:\n  ports:\n  - port: 80\n    nodeport: 1\n"
                    .to_string(),
            ),
        )
        .await?;
    assert_eq!(reply.code, 400, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        r#"strict decoding error: unknown field "spec.ports[0].nodeport""#
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn openapi_documents_are_cached_negotiated_and_authenticated() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);

    let index = api.get("/openapi/v3").await?;
    assert_eq!(index.code, 200);
    let url = index.body["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
    let doc = api.get(&url).await?;
    assert_eq!(doc.code, 200);
    assert!(
        doc.body["components"]["schemas"]["io.k8s.api.core.v1.Service"].is_object(),
        "no Service schema"
    );
    let etag = doc
        .headers
        .get("etag")
        .cloned()
        .ok_or("no ETag on the v3 document")?;
    let cached = api
        .request(reqwest::Method::GET, &url)
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(cached.status().as_u16(), 304);
    assert_eq!(api.get("/openapi/v3/apis/apps/v1").await?.code, 200);
    assert_eq!(api.get("/openapi/v3/apis/batch/v1beta1").await?.code, 404);

    let v2 = api.get("/openapi/v2").await?;
    assert_eq!(v2.code, 200);
    assert_eq!(v2.body["swagger"], "2.0");
    assert!(v2.body["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
    let proto = api
        .request(reqwest::Method::GET, "/openapi/v2")
        .header(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .send()
        .await?;
    assert_eq!(proto.status().as_u16(), 200);
    assert_eq!(
        proto
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    );
    let bytes = proto.bytes().await?;
    // Field 1 (swagger) = "2.0" first, as gnostic's Document starts.
    assert_eq!(bytes.get(..5), Some(&b"\x0a\x032.0"[..]));

    // Like discovery: anonymous requests are refused.
    let anonymous = Api::with_token(&cp, None);
    for path in ["/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"] {
        let code = anonymous.get(path).await?.code;
        assert!(code == 401 || code == 403, "{path}: {code}");
    }
    let value: Value = v2.body;
    assert!(value["paths"].as_object().is_some_and(|p| !p.is_empty()));
    cp.shutdown().await;
    Ok(())
}
