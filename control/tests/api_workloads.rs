//! The workload kinds through kubectl 1.32: the tutorials' ReplicationController and Deployment
//! manifests apply, `kubectl get rc,deploy,rs` prints kubectl's columns, `kubectl scale` goes
//! through the `/scale` subresource and the RC's Pods follow, `-o yaml` shows the apps/v1 defaults, a Deployment whose
//! selector does not match its template is refused naming the field, and `kubectl exec`
//! answers that there is no container runtime.

mod support;

use serde_json::Value;
use support::kubectl::Kubectl;
use support::{Api, TestResult};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn tutorial_workloads_apply_get_and_scale() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let cp = support::start(&data, 1000).await?;
    let _api = Api::for_plane(&cp);
    let kubectl = Kubectl::new(&data)?;

    let out = kubectl
        .run(&["apply", "-f", &fixture("rc-myweb.yaml")])
        .await?;
    assert!(out.contains("replicationcontroller/myweb created"), "{out}");
    let out = kubectl
        .run(&["apply", "-f", &fixture("deployment-tomcat.yaml")])
        .await?;
    assert!(
        out.contains("deployment.apps/tomcat-deployment created"),
        "{out}"
    );
    assert!(out.contains("service/tomcat-server created"), "{out}");
    let again = kubectl
        .run(&["apply", "-f", &fixture("deployment-tomcat.yaml")])
        .await?;
    assert!(
        again.contains("deployment.apps/tomcat-deployment unchanged"),
        "{again}"
    );

    let table = kubectl.run(&["get", "rc,deploy,rs"]).await?;
    let rc_header = table.lines().next().unwrap_or_default();
    let header: Vec<&str> = rc_header.split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "{table}"
    );
    assert!(
        table.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            // CURRENT and READY depend on how far the controller got.
            cells.starts_with(&["replicationcontroller/myweb", "2"])
        }),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("deployment.apps/tomcat-deployment") && l.contains("0/3")),
        "{table}"
    );

    let out = kubectl.run(&["scale", "rc/myweb", "--replicas=3"]).await?;
    assert!(out.contains("replicationcontroller/myweb scaled"), "{out}");
    let out = kubectl
        .run(&["scale", "deployment/tomcat-deployment", "--replicas=1"])
        .await?;
    assert!(
        out.contains("deployment.apps/tomcat-deployment scaled"),
        "{out}"
    );
    let rc: Value =
        serde_json::from_str(&kubectl.run(&["get", "rc", "myweb", "-o", "json"]).await?)?;
    assert_eq!(rc["spec"]["replicas"], 3);
    assert_eq!(
        rc["metadata"]["generation"], 2,
        "scaling changes the spec: {rc}"
    );
    // The controller makes the tutorial's Pods: `kubectl get pods -l app=myweb` lists three.
    let mut listed = String::new();
    for _ in 0..100 {
        listed = kubectl
            .run(&["get", "pods", "-l", "app=myweb", "-o", "name"])
            .await?;
        if listed
            .lines()
            .filter(|l| l.starts_with("pod/myweb-"))
            .count()
            == 3
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("pod/myweb-"))
            .count(),
        3,
        "{listed}"
    );

    let yaml = kubectl
        .run(&["get", "deploy", "tomcat-deployment", "-o", "yaml"])
        .await?;
    for line in [
        "progressDeadlineSeconds: 600",
        "revisionHistoryLimit: 10",
        "maxSurge: 25%",
        "maxUnavailable: 25%",
        "type: RollingUpdate",
        "replicas: 1",
        "protocol: TCP",
    ] {
        assert!(yaml.contains(line), "{line:?} missing in:\n{yaml}");
    }

    let err = kubectl
        .run_failing(&["apply", "-f", &fixture("deployment-bad-selector.yaml")])
        .await?;
    assert!(
        err.contains("spec.template.metadata.labels")
            && err.contains("`selector` does not match template `labels`"),
        "{err}"
    );
    let listed = kubectl.run(&["get", "deploy", "-o", "name"]).await?;
    assert!(
        !listed.contains("mismatched"),
        "a refused object was stored: {listed}"
    );

    let explain = kubectl
        .run(&["explain", "deployment.spec.strategy"])
        .await?;
    assert!(explain.contains("rollingUpdate"), "{explain}");
    Ok(())
}

#[tokio::test]
async fn pod_runtime_subresources_say_there_is_no_runtime() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);
    let reply = api.get("/api/v1/namespaces/default/pods/web/log").await?;
    assert_eq!(reply.code, 400, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("no container runtime"), "{}", reply.body);
    Ok(())
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas_with_preconditions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(&dir.path().join("data"), 1000).await?;
    let api = Api::for_plane(&cp);
    let rs = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let base = "/apis/apps/v1/namespaces/default/replicasets";
    let created = api.post(base, &rs).await?;
    assert_eq!(created.code, 201, "{}", created.body);
    // The ReplicaSet controller writes the status once it made the Pod; after that the
    // object stays put, so the resourceVersion read below is still current when it is sent.
    let mut settled = false;
    for _ in 0..200 {
        let stored = api.get(&format!("{base}/web")).await?.body;
        if stored["status"]["replicas"] == 1 && stored["status"]["observedGeneration"] == 1 {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    assert!(
        settled,
        "the controller never reported the ReplicaSet's pod"
    );
    let scale = api.get(&format!("{base}/web/scale")).await?;
    assert_eq!(scale.code, 200, "{}", scale.body);
    assert_eq!(scale.body["kind"], "Scale");
    assert_eq!(scale.body["apiVersion"], "autoscaling/v1");
    assert_eq!(scale.body["spec"]["replicas"], 1, "defaulted to 1");
    assert_eq!(scale.body["status"]["selector"], "app=web");
    let mut stale = scale.body.clone();
    stale["spec"]["replicas"] = 4.into();
    stale["metadata"]["resourceVersion"] = "1".into();
    let refused = api.put(&format!("{base}/web/scale"), &stale).await?;
    assert_eq!(refused.code, 409, "{}", refused.body);
    let mut fresh = scale.body.clone();
    fresh["spec"]["replicas"] = 4.into();
    let put = api.put(&format!("{base}/web/scale"), &fresh).await?;
    assert_eq!(put.code, 200, "{}", put.body);
    assert_eq!(put.body["spec"]["replicas"], 4);
    let negative = api
        .patch(
            &format!("{base}/web/scale"),
            "application/merge-patch+json",
            &serde_json::json!({"spec": {"replicas": -1}}),
        )
        .await?;
    assert_eq!(negative.code, 422, "{}", negative.body);
    let stored = api.get(&format!("{base}/web")).await?;
    assert_eq!(stored.body["spec"]["replicas"], 4);
    let no_scale = api
        .get("/apis/apps/v1/namespaces/default/daemonsets/x/scale")
        .await?;
    assert_eq!(no_scale.code, 404, "{}", no_scale.body);
    Ok(())
}
