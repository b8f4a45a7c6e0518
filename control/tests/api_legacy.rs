//! The legacy workload versions the tutorials write (`extensions/v1beta1`, `apps/v1beta1`,
//! `apps/v1beta2`) over real HTTP and through kubectl 1.32: objects created at a legacy path
//! are stored once as apps/v1 with that version's defaults, read back at either version, and
//! watched and listed in the shape of the path asked.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::kubectl::Kubectl;
use support::{Api, TestResult, read_events};

const WAIT: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A Deployment without a selector, at `api_version`.
fn deployment(api_version: &str, name: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    })
}

#[tokio::test]
async fn extensions_deployment_is_stored_as_apps_v1_with_its_defaults() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start_without_workload_controllers(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let legacy = "/apis/extensions/v1beta1/namespaces/default/deployments";
    let stored = "/apis/apps/v1/namespaces/default/deployments";

    let created = api
        .post(legacy, &deployment("extensions/v1beta1", "old"))
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.body["apiVersion"], "extensions/v1beta1");
    let warning = created
        .headers
        .get("warning")
        .and_then(|w| w.to_str().ok())
        .unwrap_or_default();
    assert!(
        warning.contains("extensions/v1beta1 Deployment is deprecated"),
        "{warning:?}"
    );

    let v1 = api.get(&format!("{stored}/old")).await?;
    assert_eq!(v1.code, 200, "{}", v1.body);
    assert_eq!(v1.body["apiVersion"], "apps/v1");
    let spec = &v1.body["spec"];
    assert_eq!(spec["selector"], json!({"matchLabels": {"app": "old"}}));
    assert_eq!(v1.body["metadata"]["labels"], json!({"app": "old"}));
    assert_eq!(
        spec["strategy"]["rollingUpdate"],
        json!({"maxSurge": 1, "maxUnavailable": 1})
    );
    assert_eq!(spec["revisionHistoryLimit"], i64::from(i32::MAX));
    assert_eq!(spec["progressDeadlineSeconds"], i64::from(i32::MAX));

    // apps/v1beta1 has its own defaults.
    let created = api
        .post(
            "/apis/apps/v1beta1/namespaces/default/deployments",
            &deployment("apps/v1beta1", "beta"),
        )
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let beta = api.get(&format!("{stored}/beta")).await?;
    assert_eq!(beta.body["spec"]["revisionHistoryLimit"], 2);
    assert_eq!(
        beta.body["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );

    // rollbackTo is refused naming the field, and nothing is stored.
    let mut rollback = deployment("extensions/v1beta1", "rollback");
    rollback["spec"]["rollbackTo"] = json!({"revision": 1});
    let refused = api.post(legacy, &rollback).await?;
    assert_eq!(refused.code, 422, "{}", refused.body);
    assert_eq!(refused.body["reason"], "Invalid");
    assert_eq!(
        refused.body["details"]["causes"][0]["field"],
        "spec.rollbackTo"
    );
    assert_eq!(api.get(&format!("{stored}/rollback")).await?.code, 404);

    // A body of another version at a legacy path is refused.
    let wrong = api.post(legacy, &deployment("apps/v1", "wrong")).await?;
    assert_eq!(wrong.code, 400, "{}", wrong.body);

    // Kinds a legacy version did not have are not served there.
    let none = api
        .get("/apis/extensions/v1beta1/namespaces/default/statefulsets")
        .await?;
    assert_eq!(none.code, 404, "{}", none.body);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn apps_v1_objects_read_list_patch_and_watch_at_legacy_versions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start_without_workload_controllers(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let stored = "/apis/apps/v1/namespaces/default/deployments";
    let legacy = "/apis/extensions/v1beta1/namespaces/default/deployments";
    let mut body = deployment("apps/v1", "new");
    body["spec"]["selector"] = json!({"matchLabels": {"app": "new"}});
    let created = api.post(stored, &body).await?;
    assert_eq!(created.code, 201, "{}", created.body);

    let old = api.get(&format!("{legacy}/new")).await?;
    assert_eq!(old.code, 200, "{}", old.body);
    assert_eq!(old.body["apiVersion"], "extensions/v1beta1");
    assert_eq!(old.body["kind"], "Deployment");
    assert_eq!(old.body["spec"]["revisionHistoryLimit"], 10);

    let list = api.get(legacy).await?;
    assert_eq!(list.body["apiVersion"], "extensions/v1beta1");
    assert_eq!(list.body["kind"], "DeploymentList");
    assert_eq!(list.body["items"][0]["apiVersion"], "extensions/v1beta1");
    for version in ["apps/v1beta1", "apps/v1beta2"] {
        let list = api
            .get(&format!("/apis/{version}/namespaces/default/deployments"))
            .await?;
        assert_eq!(
            list.body["items"][0]["apiVersion"], version,
            "{}",
            list.body
        );
    }

    // A merge patch at the legacy path changes the one stored object.
    let patched = api
        .patch(
            &format!("{legacy}/new"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 5}}),
        )
        .await?;
    assert_eq!(patched.code, 200, "{}", patched.body);
    assert_eq!(patched.body["apiVersion"], "extensions/v1beta1");
    let v1 = api.get(&format!("{stored}/new")).await?;
    assert_eq!(v1.body["spec"]["replicas"], 5);

    // A PUT of what a legacy GET answered round-trips.
    let mut replaced = api.get(&format!("{legacy}/new")).await?.body;
    replaced["spec"]["replicas"] = 4.into();
    let put = api.put(&format!("{legacy}/new"), &replaced).await?;
    assert_eq!(put.code, 200, "{}", put.body);
    assert_eq!(
        api.get(&format!("{stored}/new")).await?.body["spec"]["replicas"],
        4
    );

    // The scale subresource at the legacy path.
    let scale = api.get(&format!("{legacy}/new/scale")).await?;
    assert_eq!(scale.code, 200, "{}", scale.body);
    assert_eq!(scale.body["spec"]["replicas"], 4);

    // Watch events at the legacy path carry the legacy apiVersion.
    let watch = api
        .request(reqwest::Method::GET, &format!("{legacy}?watch=true"))
        .send()
        .await?;
    assert_eq!(watch.status().as_u16(), 200);
    let events = read_events(watch, 1, WAIT).await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["apiVersion"], "extensions/v1beta1");

    // Deleting at the legacy path deletes the stored object.
    let deleted = api.delete(&format!("{legacy}/new")).await?;
    assert_eq!(deleted.code, 200, "{}", deleted.body);
    assert_eq!(api.get(&format!("{stored}/new")).await?.code, 404);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn discovery_lists_legacy_versions_after_the_preferred_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start_without_workload_controllers(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let groups = api.get("/apis").await?.body;
    let apps = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "apps"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(apps["preferredVersion"]["version"], "v1", "{apps}");
    let versions: Vec<&str> = apps["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["version"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(versions, ["v1", "v1beta2", "v1beta1"]);
    let extensions = api.get("/apis/extensions").await?.body;
    assert_eq!(
        extensions["preferredVersion"]["groupVersion"],
        "extensions/v1beta1"
    );
    let resources = api.get("/apis/extensions/v1beta1").await?.body;
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    for name in [
        "deployments",
        "deployments/scale",
        "replicasets",
        "daemonsets",
    ] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    assert!(!names.contains(&"statefulsets"), "{names:?}");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kubectl_applies_the_tutorials_extensions_deployment() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let cp = support::start_without_workload_controllers(&data, 1000).await?;
    let kubectl = Kubectl::new(&data)?;
    let manifest = fixture("deployment-tomcat-extensions.yaml");

    let out = kubectl.run(&["apply", "-f", &manifest]).await?;
    assert!(
        out.contains("deployment.extensions/tomcat-deployment created"),
        "{out}"
    );
    assert!(out.contains("service/tomcat-server created"), "{out}");
    let again = kubectl.run(&["apply", "-f", &manifest]).await?;
    assert!(
        again.contains("deployment.extensions/tomcat-deployment unchanged"),
        "{again}"
    );

    // The preferred version lists it, with the selector the old version defaulted.
    let table = kubectl.run(&["get", "deploy"]).await?;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("tomcat-deployment") && l.contains("0/3")),
        "{table}"
    );
    let v1: Value = serde_json::from_str(
        &kubectl
            .run(&["get", "deploy", "tomcat-deployment", "-o", "json"])
            .await?,
    )?;
    assert_eq!(v1["apiVersion"], "apps/v1");
    assert_eq!(
        v1["spec"]["selector"]["matchLabels"],
        json!({"app": "tomcat", "tier": "frontend"})
    );
    let legacy = kubectl.run(&["get", "deploy.v1beta1.extensions"]).await?;
    assert!(
        legacy
            .lines()
            .any(|l| l.starts_with("tomcat-deployment") && l.contains("0/3")),
        "{legacy}"
    );
    let old: Value = serde_json::from_str(
        &kubectl
            .run(&[
                "get",
                "deploy.v1beta1.extensions",
                "tomcat-deployment",
                "-o",
                "json",
            ])
            .await?,
    )?;
    assert_eq!(old["apiVersion"], "extensions/v1beta1");

    // kubectl scale through the legacy resource.
    let out = kubectl
        .run(&[
            "scale",
            "deploy.v1beta1.extensions/tomcat-deployment",
            "--replicas=1",
        ])
        .await?;
    assert!(out.contains("scaled"), "{out}");
    let v1: Value = serde_json::from_str(
        &kubectl
            .run(&["get", "deploy", "tomcat-deployment", "-o", "json"])
            .await?,
    )?;
    assert_eq!(v1["spec"]["replicas"], 1);
    cp.shutdown().await;
    Ok(())
}
