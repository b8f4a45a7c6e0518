//! PATCH over real HTTP: JSON Patch, JSON Merge Patch and strategic merge patch (merge keys,
//! directives), on the main resource and on `/status`.

mod support;

use serde_json::json;
use support::{Api, TestResult};

#[tokio::test]
async fn the_three_patch_types_apply() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = format!("patch-{}", std::process::id());
    api.namespace(&ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/services/web");
    let created = api
        .post(
            &format!("/api/v1/namespaces/{ns}/services"),
            &json!({"metadata": {"name": "web", "labels": {"app": "web", "old": "x"}},
                "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}),
        )
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);

    let r = api
        .patch(
            &path,
            "application/json-patch+json",
            &json!([{"op": "replace", "path": "/metadata/labels/app", "value": "web2"},
                    {"op": "remove", "path": "/metadata/labels/old"}]),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"], json!({"app": "web2"}));

    let r = api
        .patch(&path, "application/merge-patch+json",
            &json!({"metadata": {"annotations": {"note": "hi"}}, "spec": {"selector": {"app": "web2"}}}))
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["annotations"]["note"], "hi");
    assert_eq!(r.body["spec"]["selector"], json!({"app": "web2"}));
    // Merge patch replaces lists whole.
    assert_eq!(r.body["spec"]["ports"].as_array().map(Vec::len), Some(2));

    let r = api
        .patch(
            &path,
            "application/strategic-merge-patch+json",
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080},
                                       {"port": 53, "protocol": "UDP", "$patch": "delete"},
                                       {"name": "https", "port": 443}]}}),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    let ports = r.body["spec"]["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let summary: Vec<(i64, String, i64)> = ports
        .iter()
        .map(|p| {
            (
                p["port"].as_i64().unwrap_or(0),
                p["name"].as_str().unwrap_or("").to_string(),
                p["targetPort"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (80, "http".to_string(), 8080),
            (443, "https".to_string(), 443)
        ]
    );

    // A patch that makes the object invalid is rejected and changes nothing.
    let before = api.get(&path).await?.body;
    let r = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"bad key!": "x"}}}),
        )
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(api.get(&path).await?.body, before);

    // A resourceVersion in a patch is a precondition.
    let r = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}),
        )
        .await?;
    assert_eq!(r.code, 409, "{}", r.body);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn status_patch_changes_only_status() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let node = format!("patch-node-{}", std::process::id());
    let r = api
        .post("/api/v1/nodes", &json!({"metadata": {"name": node}}))
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    let path = format!("/api/v1/nodes/{node}");
    let r = api
        .patch(
            &format!("{path}/status"),
            "application/strategic-merge-patch+json",
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    "metadata": {"labels": {"ignored": "yes"}}}),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["status"]["conditions"][0]["type"], "Ready");
    assert!(
        r.body["metadata"]["labels"].get("ignored").is_none(),
        "{}",
        r.body
    );
    // Conditions merge by type.
    let r = api
        .patch(
            &format!("{path}/status"),
            "application/strategic-merge-patch+json",
            &json!({"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}),
        )
        .await?;
    assert_eq!(
        r.body["status"]["conditions"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );
    cp.shutdown().await;
    Ok(())
}
