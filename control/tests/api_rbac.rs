//! RBAC authorization over real HTTPS with bearer tokens from a token file: users are denied
//! until a binding grants them, RoleBindings grant only in their namespace, the built-in
//! kube-proxy and node roles, the node restriction, anonymous access, validation of the RBAC
//! kinds, and `kubectl auth can-i` / `kubectl auth whoami` with a user's own kubeconfig.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use control::ControlPlane;
use control::security::SecurityConfig;
use serde_json::{Value, json};
use support::{Api, TestResult};

/// A plane with a token file and the tokens of its users.
struct Plane {
    _dir: tempfile::TempDir,
    data: PathBuf,
    cp: ControlPlane,
    alice: String,
    bob: String,
    node: String,
    proxy: String,
}

impl Plane {
    async fn start() -> TestResult<Plane> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let token = |who: &str| format!("{who}-{}", uuid_like());
        let (alice, bob, node, proxy) = (token("alice"), token("bob"), token("n1"), token("proxy"));
        let csv = dir.path().join("tokens.csv");
        std::fs::write(
            &csv,
            format!(
                "{alice},alice,uid-alice,\"dev,qa\"\n{bob},bob,uid-bob\n\
                 {node},system:node:n1,uid-n1,\"system:nodes\"\n\
                 {proxy},system:kube-proxy,uid-proxy\n"
            ),
        )?;
        let security = SecurityConfig {
            token_auth_file: Some(csv),
            ..SecurityConfig::default()
        };
        let cp = support::start_with(
            &data,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            1000,
            security,
        )
        .await?;
        let plane = Plane {
            _dir: dir,
            data,
            cp,
            alice,
            bob,
            node,
            proxy,
        };
        plane.wait_ready().await?;
        Ok(plane)
    }

    /// Waits (bounded) until the built-in objects, the RBAC defaults among them, exist.
    async fn wait_ready(&self) -> TestResult {
        let admin = self.admin();
        for _ in 0..200 {
            if admin.get("/readyz").await?.code == 200 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the plane did not become ready".into())
    }

    fn admin(&self) -> Api {
        Api::for_plane(&self.cp)
    }

    fn as_user(&self, token: &str) -> Api {
        Api::with_token(&self.cp, Some(token))
    }
}

/// A string unique enough for tokens of one test run.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

async fn create(api: &Api, path: &str, body: Value) -> TestResult<Value> {
    let r = api.post(path, &body).await?;
    if r.code != 201 {
        return Err(format!("POST {path}: {} {}", r.code, r.body).into());
    }
    Ok(r.body)
}

fn service(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}})
}

fn role_binding(name: &str, role_kind: &str, role: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })
}

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

#[tokio::test]
async fn alice_is_granted_view_in_her_namespace_only() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    let alice = plane.as_user(&plane.alice);
    admin.namespace("team-a").await?;
    admin.namespace("team-b").await?;
    create(&admin, "/api/v1/namespaces/team-a/services", service("web")).await?;

    let denied = alice.get("/api/v1/namespaces/team-a/services").await?;
    assert_eq!(denied.code, 403, "{}", denied.body);
    assert_eq!(denied.body["kind"], "Status");
    assert_eq!(denied.body["reason"], "Forbidden");
    assert_eq!(
        denied.body["message"],
        "services is forbidden: User \"alice\" cannot list resource \"services\" in API group \
         \"\" in the namespace \"team-a\""
    );

    create(
        &admin,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        role_binding("alice-view", "ClusterRole", "view", "alice"),
    )
    .await?;
    let listed = alice.get("/api/v1/namespaces/team-a/services").await?;
    assert_eq!(listed.code, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["metadata"]["name"], "web");
    let one = alice.get("/api/v1/namespaces/team-a/services/web").await?;
    assert_eq!(one.code, 200, "{}", one.body);
    // Through kube-rs too.
    let client = support::kube_client_with_token(&plane.cp, &plane.alice)?;
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client.clone(), "team-a");
    assert_eq!(services.list(&Default::default()).await?.items.len(), 1);
    let elsewhere: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client, "team-b");
    match elsewhere.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403),
        other => panic!("team-b list: {other:?}"),
    }

    // Not in another namespace, not across all namespaces (list and watch), and no writes.
    let cases = [
        ("GET", "/api/v1/namespaces/team-b/services"),
        ("GET", "/api/v1/services"),
        ("GET", "/api/v1/services?watch=true"),
        ("GET", "/apis/discovery.k8s.io/v1/endpointslices"),
        ("POST", "/api/v1/namespaces/team-a/services"),
        ("DELETE", "/api/v1/namespaces/team-a/services/web"),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings",
        ),
        ("GET", "/metrics"),
    ];
    for (method, path) in cases {
        let body = (method == "POST").then(|| service("other").to_string());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let r = alice
            .send(method.clone(), path, "application/json", body)
            .await?;
        assert_eq!(r.code, 403, "{method} {path}: {}", r.body);
    }
    let all = alice.get("/api/v1/services").await?;
    assert!(
        all.body["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("at the cluster scope")),
        "{}",
        all.body
    );
    let metrics = alice.get("/metrics").await?;
    assert_eq!(
        metrics.body["message"],
        "forbidden: User \"alice\" cannot get path \"/metrics\""
    );
    // Nothing was written by the denied requests.
    let stored = admin.get("/api/v1/namespaces/team-a/services").await?;
    assert_eq!(stored.body["items"].as_array().map(Vec::len), Some(1));

    // A watch in her namespace is allowed and streams.
    let watch = alice
        .request(
            reqwest::Method::GET,
            "/api/v1/namespaces/team-a/services?watch=true",
        )
        .send()
        .await?;
    assert_eq!(watch.status().as_u16(), 200);
    let events = support::read_events(watch, 1, Duration::from_secs(10)).await?;
    assert_eq!(
        events.first().map(|e| e["type"].clone()),
        Some(json!("ADDED"))
    );

    // Bob, with no binding, sees nothing; a Role of his own in team-b grants just that.
    let bob = plane.as_user(&plane.bob);
    assert_eq!(
        bob.get("/api/v1/namespaces/team-a/services").await?.code,
        403
    );
    create(
        &admin,
        &format!("{RBAC}/namespaces/team-b/roles"),
        json!({"metadata": {"name": "svc-reader"},
               "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]}),
    )
    .await?;
    create(
        &admin,
        &format!("{RBAC}/namespaces/team-b/rolebindings"),
        role_binding("bob", "Role", "svc-reader", "bob"),
    )
    .await?;
    assert_eq!(
        bob.get("/api/v1/namespaces/team-b/services").await?.code,
        200
    );
    assert_eq!(
        bob.get("/api/v1/namespaces/team-a/services").await?.code,
        403
    );
    // Deleting the binding takes the grant away again.
    let gone = admin
        .delete(&format!("{RBAC}/namespaces/team-b/rolebindings/bob"))
        .await?;
    assert_eq!(gone.code, 200, "{}", gone.body);
    assert_eq!(
        bob.get("/api/v1/namespaces/team-b/services").await?.code,
        403
    );
    plane.cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rbac_objects_are_validated_and_discoverable() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    admin.namespace("v").await?;
    let mut bad = role_binding("bad", "Deployment", "view", "alice");
    bad["subjects"][0]["kind"] = json!("Robot");
    let r = admin
        .post(&format!("{RBAC}/namespaces/v/rolebindings"), &bad)
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    let fields: Vec<&str> = r.body["details"]["causes"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["roleRef.kind", "subjects[0].kind"], "{}", r.body);

    let path = format!("{RBAC}/namespaces/v/rolebindings");
    let stored = create(
        &admin,
        &path,
        role_binding("ok", "ClusterRole", "view", "alice"),
    )
    .await?;
    let mut changed = stored.clone();
    changed["roleRef"]["name"] = json!("edit");
    let r = admin.put(&format!("{path}/ok"), &changed).await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("roleRef")),
        "{}",
        r.body
    );
    let crb = json!({
        "metadata": {"name": "to-a-role"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
    });
    let r = admin
        .post(&format!("{RBAC}/clusterrolebindings"), &crb)
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);

    // The built-in roles exist, with names holding ':'.
    for name in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:node-proxier",
        "system:node",
    ] {
        let r = admin.get(&format!("{RBAC}/clusterroles/{name}")).await?;
        assert_eq!(r.code, 200, "{name}: {}", r.body);
    }
    let r = admin
        .get(&format!("{RBAC}/clusterrolebindings/cluster-admin"))
        .await?;
    assert_eq!(r.body["subjects"][0]["name"], "system:masters");

    let groups = admin.get("/apis").await?.body;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["name"].as_str()).collect())
        .unwrap_or_default();
    for group in [
        "rbac.authorization.k8s.io",
        "authorization.k8s.io",
        "authentication.k8s.io",
    ] {
        assert!(names.contains(&group), "{group} missing from {names:?}");
    }
    let resources = admin.get(RBAC).await?.body;
    let kinds: Vec<&str> = resources["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
    );
    plane.cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kube_proxy_reads_services_and_slices_but_cannot_delete() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    admin.namespace("web").await?;
    create(&admin, "/api/v1/namespaces/web/services", service("front")).await?;
    let proxy = plane.as_user(&plane.proxy);
    for path in [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/nodes",
    ] {
        let r = proxy.get(path).await?;
        assert_eq!(r.code, 200, "{path}: {}", r.body);
    }
    let watch = proxy
        .request(reqwest::Method::GET, "/api/v1/services?watch=true")
        .send()
        .await?;
    assert_eq!(watch.status().as_u16(), 200);
    let events = support::read_events(watch, 1, Duration::from_secs(10)).await?;
    assert!(!events.is_empty(), "no watch events");
    let slices = proxy
        .request(
            reqwest::Method::GET,
            "/apis/discovery.k8s.io/v1/endpointslices?watch=true",
        )
        .send()
        .await?;
    assert_eq!(slices.status().as_u16(), 200);
    drop(slices);
    let r = proxy
        .delete("/api/v1/namespaces/web/services/front")
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "services \"front\" is forbidden: User \"system:kube-proxy\" cannot delete resource \
         \"services\" in API group \"\" in the namespace \"web\""
    );
    assert_eq!(
        admin
            .get("/api/v1/namespaces/web/services/front")
            .await?
            .code,
        200
    );
    let r = proxy.get("/api/v1/pods").await?;
    assert_eq!(r.code, 403, "{}", r.body);
    plane.cp.shutdown().await;
    Ok(())
}

fn pod(name: &str, node: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}})
}

#[tokio::test]
async fn a_node_writes_only_its_own_node_and_pods() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    let node = plane.as_user(&plane.node);
    // The node registers itself; it may not register another.
    create(&node, "/api/v1/nodes", json!({"metadata": {"name": "n1"}})).await?;
    let r = node
        .post("/api/v1/nodes", &json!({"metadata": {"name": "n3"}}))
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("node \"n1\" is not allowed to modify node \"n3\"")),
        "{}",
        r.body
    );
    create(&admin, "/api/v1/nodes", json!({"metadata": {"name": "n2"}})).await?;
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod("on-n1", "n1"),
    )
    .await?;
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod("on-n2", "n2"),
    )
    .await?;

    let label = json!({"metadata": {"labels": {"ready": "yes"}}});
    let merge = "application/merge-patch+json";
    let r = node.patch("/api/v1/nodes/n1", merge, &label).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    let r = node.patch("/api/v1/nodes/n2", merge, &label).await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not allowed to modify node \"n2\"")),
        "{}",
        r.body
    );
    let unchanged = admin.get("/api/v1/nodes/n2").await?.body;
    assert!(
        unchanged["metadata"]["labels"]["ready"].is_null(),
        "{unchanged}"
    );
    let mut own = node.get("/api/v1/nodes/n1").await?.body;
    own["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    let r = node.put("/api/v1/nodes/n1/status", &own).await?;
    assert_eq!(r.code, 200, "{}", r.body);

    // Pod status: its own pods only.
    let mut mine = node
        .get("/api/v1/namespaces/default/pods/on-n1")
        .await?
        .body;
    mine["status"]["phase"] = json!("Running");
    let r = node
        .put("/api/v1/namespaces/default/pods/on-n1/status", &mine)
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["status"]["phase"], "Running");
    let mut theirs = node
        .get("/api/v1/namespaces/default/pods/on-n2")
        .await?
        .body;
    theirs["status"]["phase"] = json!("Failed");
    let r = node
        .put("/api/v1/namespaces/default/pods/on-n2/status", &theirs)
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m
                .contains("can only update pod status for pods with spec.nodeName set to itself")),
        "{}",
        r.body
    );
    let stored = admin
        .get("/api/v1/namespaces/default/pods/on-n2")
        .await?
        .body;
    assert_ne!(stored["status"]["phase"], "Failed");
    // Other writes are refused.
    let r = node
        .post("/api/v1/namespaces/default/services", &service("sneaky"))
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    let r = node.delete("/api/v1/nodes/n1").await?;
    assert_eq!(r.code, 403, "{}", r.body);
    plane.cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn anonymous_requests_reach_only_health_and_version() -> TestResult {
    let plane = Plane::start().await?;
    let anonymous = Api::with_token(&plane.cp, None);
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let r = anonymous.get(path).await?;
        assert_eq!(r.code, 200, "{path}");
    }
    for path in [
        "/api",
        "/apis",
        "/api/v1/namespaces",
        "/metrics",
        "/openapi/v3",
    ] {
        let r = anonymous.get(path).await?;
        assert_eq!(r.code, 401, "{path}");
    }
    // Authenticated users get discovery and reviews but nothing else by default.
    let bob = plane.as_user(&plane.bob);
    for path in ["/api", "/apis", "/api/v1", "/openapi/v3", "/version"] {
        assert_eq!(bob.get(path).await?.code, 200, "{path}");
    }
    plane.cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn access_reviews_answer_for_the_caller_and_for_others() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    admin.namespace("team-a").await?;
    create(
        &admin,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        role_binding("alice-view", "ClusterRole", "view", "alice"),
    )
    .await?;
    let alice = plane.as_user(&plane.alice);
    let ask = |ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"namespace": ns, "verb": "list", "resource": "services"}}})
    };
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let yes = create(&alice, ssar, ask("team-a")).await?;
    assert_eq!(yes["status"]["allowed"], true, "{yes}");
    let no = create(&alice, ssar, ask("team-b")).await?;
    assert_eq!(no["status"]["allowed"], false, "{no}");

    let who = create(
        &alice,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await?;
    assert_eq!(who["status"]["userInfo"]["username"], "alice");
    let groups = who["status"]["userInfo"]["groups"].to_string();
    assert!(
        groups.contains("dev") && groups.contains("system:authenticated"),
        "{groups}"
    );

    // SubjectAccessReview: admins may ask about others; alice may not.
    let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let about_alice = json!({"spec": {"user": "alice", "groups": ["system:authenticated"],
        "resourceAttributes": {"namespace": "team-a", "verb": "delete", "resource": "services"}}});
    let answer = create(&admin, sar, about_alice.clone()).await?;
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    assert_eq!(alice.post(sar, &about_alice).await?.code, 403);
    let neither = admin.post(sar, &json!({"spec": {"user": "alice"}})).await?;
    assert_eq!(neither.code, 422, "{}", neither.body);
    plane.cp.shutdown().await;
    Ok(())
}

/// Runs kubectl with `kubeconfig`; returns (success, stdout, stderr).
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> TestResult<(bool, String, String)> {
    let mut command = tokio::process::Command::new("kubectl");
    command
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .env_remove("KUBECONFIG");
    let output = tokio::time::timeout(Duration::from_secs(60), command.output()).await??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    ))
}

#[tokio::test]
async fn kubectl_auth_can_i_and_whoami_with_alices_kubeconfig() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let plane = Plane::start().await?;
    let admin_config = control::security::kubeconfig::admin_path(&plane.data);
    let alice_config = plane.data.join("alice.kubeconfig");
    let url = plane.cp.url();
    let yaml = control::security::kubeconfig::render(&control::security::kubeconfig::ClientSpec {
        server: &url,
        ca_pem: plane.cp.credentials().ca_pem.as_deref(),
        tls_server_name: None,
        user: "alice",
        token: Some(&plane.alice),
        client_cert: None,
    })?;
    std::fs::write(&alice_config, yaml)?;
    let admin = plane.admin();
    admin.namespace("team-a").await?;
    admin.namespace("team-b").await?;

    let (ok, out, err) = kubectl(
        &alice_config,
        &["auth", "can-i", "list", "services", "-n", "team-a"],
    )
    .await?;
    assert!(!ok && out.trim() == "no", "before the binding: {out}{err}");

    // The admin applies a Role and a RoleBinding with kubectl, then reads them back.
    let manifest = plane.data.join("rbac.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: svc-reader\n  \
         namespace: team-a\nrules:\n- apiGroups: [\"\"]\n  resources: [services]\n  verbs: [get, \
         list, watch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
         metadata:\n  name: alice-reads\n  namespace: team-a\nroleRef:\n  apiGroup: \
         rbac.authorization.k8s.io\n  kind: Role\n  name: svc-reader\nsubjects:\n- apiGroup: \
         rbac.authorization.k8s.io\n  kind: User\n  name: alice\n",
    )?;
    let manifest_arg = manifest.display().to_string();
    let (ok, out, err) = kubectl(&admin_config, &["apply", "-f", &manifest_arg]).await?;
    assert!(ok, "apply: {out}{err}");
    assert!(
        out.contains("role.rbac.authorization.k8s.io/svc-reader created"),
        "{out}"
    );
    assert!(
        out.contains("rolebinding.rbac.authorization.k8s.io/alice-reads created"),
        "{out}"
    );
    let (ok, out, err) = kubectl(&admin_config, &["apply", "-f", &manifest_arg]).await?;
    assert!(ok && out.contains("unchanged"), "second apply: {out}{err}");
    let (ok, out, err) = kubectl(
        &admin_config,
        &["get", "rolebindings", "-n", "team-a", "-o", "wide"],
    )
    .await?;
    assert!(ok, "get: {err}");
    assert!(
        out.contains("alice-reads") && out.contains("Role/svc-reader") && out.contains("alice"),
        "{out}"
    );
    let (ok, out, err) = kubectl(&admin_config, &["get", "clusterroles", "view"]).await?;
    assert!(ok && out.contains("view"), "get clusterroles: {out}{err}");
    let (ok, out, err) = kubectl(
        &admin_config,
        &["describe", "role", "svc-reader", "-n", "team-a"],
    )
    .await?;
    assert!(
        ok && out.contains("services") && out.contains("[get list watch]"),
        "describe: {out}{err}"
    );

    let (ok, out, err) = kubectl(
        &alice_config,
        &["auth", "can-i", "list", "services", "-n", "team-a"],
    )
    .await?;
    assert!(ok && out.trim() == "yes", "after the binding: {out}{err}");
    let (ok, out, _) = kubectl(
        &alice_config,
        &["auth", "can-i", "list", "services", "-n", "team-b"],
    )
    .await?;
    assert!(!ok && out.trim() == "no", "other namespace: {out}");
    let (ok, out, _) = kubectl(
        &alice_config,
        &["auth", "can-i", "delete", "services", "-n", "team-a"],
    )
    .await?;
    assert!(!ok && out.trim() == "no", "delete: {out}");
    let (ok, out, err) = kubectl(&alice_config, &["get", "services", "-n", "team-a"]).await?;
    assert!(ok, "alice get: {out}{err}");
    let (ok, _, err) = kubectl(&alice_config, &["get", "services", "-n", "team-b"]).await?;
    assert!(!ok && err.contains("forbidden"), "alice get team-b: {err}");

    let (ok, out, err) = kubectl(&alice_config, &["auth", "whoami"]).await?;
    assert!(ok, "whoami: {err}");
    assert!(
        out.contains("alice") && out.contains("system:authenticated"),
        "{out}"
    );
    plane.cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_namespace_admin_cannot_grant_what_they_do_not_hold() -> TestResult {
    let plane = Plane::start().await?;
    let admin = plane.admin();
    admin.namespace("team-a").await?;
    admin.namespace("team-b").await?;
    create(
        &admin,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        role_binding("alice-admin", "ClusterRole", "admin", "alice"),
    )
    .await?;
    let alice = plane.as_user(&plane.alice);
    let roles = format!("{RBAC}/namespaces/team-a/roles");
    let bindings = format!("{RBAC}/namespaces/team-a/rolebindings");

    // Within what `admin` holds in team-a: allowed.
    let pod_reader = json!({"metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    create(&alice, &roles, pod_reader).await?;
    create(
        &alice,
        &bindings,
        role_binding("bob-edit", "ClusterRole", "edit", "bob"),
    )
    .await?;
    let bob = plane.as_user(&plane.bob);
    assert_eq!(bob.get("/api/v1/namespaces/team-a/pods").await?.code, 200);

    // Beyond it: refused, and nothing stored.
    let nodes = json!({"metadata": {"name": "node-reader"},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]});
    let r = alice.post(&roles, &nodes).await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("attempting to grant RBAC permissions not currently held")),
        "{}",
        r.body
    );
    assert_eq!(admin.get(&format!("{roles}/node-reader")).await?.code, 404);
    let r = alice
        .post(
            &bindings,
            &role_binding("bob-root", "ClusterRole", "cluster-admin", "bob"),
        )
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(admin.get(&format!("{bindings}/bob-root")).await?.code, 404);

    // A patch that would widen her own Role is refused too; a harmless one passes.
    let widen = json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]});
    let merge = "application/merge-patch+json";
    let r = alice
        .patch(&format!("{roles}/pod-reader"), merge, &widen)
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    let label = json!({"metadata": {"labels": {"team": "a"}}});
    let r = alice
        .patch(&format!("{roles}/pod-reader"), merge, &label)
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    let stored = admin.get(&format!("{roles}/pod-reader")).await?.body;
    assert_eq!(stored["rules"][0]["resources"][0], "pods", "{stored}");

    // Not in another namespace at all (RBAC), nor cluster-wide.
    let r = alice
        .post(
            &format!("{RBAC}/namespaces/team-b/roles"),
            &json!({"metadata": {"name": "x"}}),
        )
        .await?;
    assert_eq!(r.code, 403, "{}", r.body);
    plane.cp.shutdown().await;
    Ok(())
}
