//! Lists over real HTTP: label and field selectors, all-namespace lists, paging with limit and
//! continue at one snapshot revision, and Tables.

mod support;

use serde_json::{Value, json};
use support::{Api, TestResult};

#[tokio::test]
async fn selectors_paging_and_tables() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let pid = std::process::id();
    let (a, b) = (format!("list-a-{pid}"), format!("list-b-{pid}"));
    api.namespace(&a).await?;
    api.namespace(&b).await?;
    for (ns, name, tier) in [
        (&a, "p1", "web"),
        (&a, "p2", "db"),
        (&a, "p3", "web"),
        (&b, "p4", "web"),
    ] {
        let r = api
            .post(
                &format!("/api/v1/namespaces/{ns}/pods"),
                &json!({"metadata": {"name": name, "labels": {"tier": tier}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            )
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
    }
    let r = api
        .get(&format!(
            "/api/v1/namespaces/{a}/pods?labelSelector=tier%3Dweb"
        ))
        .await?;
    assert_eq!(support::item_names(&r.body), ["p1", "p3"]);
    let r = api.get("/api/v1/pods?labelSelector=tier%3Dweb").await?;
    assert_eq!(support::item_names(&r.body), ["p1", "p3", "p4"]);
    let r = api
        .get(&format!(
            "/api/v1/pods?fieldSelector=metadata.namespace%3D{b}"
        ))
        .await?;
    assert_eq!(support::item_names(&r.body), ["p4"]);
    let r = api
        .get(&format!(
            "/api/v1/namespaces/{a}/pods?fieldSelector=metadata.name!%3Dp1"
        ))
        .await?;
    assert_eq!(support::item_names(&r.body), ["p2", "p3"]);

    // Paging: two pages, the second read at the first page's revision even after a write.
    let first = api
        .get(&format!("/api/v1/namespaces/{a}/pods?limit=2"))
        .await?;
    assert_eq!(support::item_names(&first.body), ["p1", "p2"]);
    assert_eq!(first.body["metadata"]["remainingItemCount"], 1);
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty());
    api.delete(&format!("/api/v1/namespaces/{a}/pods/p3"))
        .await?;
    let second = api
        .get(&format!(
            "/api/v1/namespaces/{a}/pods?limit=2&continue={token}"
        ))
        .await?;
    assert_eq!(second.code, 200, "{}", second.body);
    assert_eq!(support::item_names(&second.body), ["p3"]);
    assert_eq!(
        second.body["metadata"]["resourceVersion"],
        first.body["metadata"]["resourceVersion"]
    );
    assert!(second.body["metadata"].get("continue").is_none());
    let bad = api
        .get(&format!("/api/v1/namespaces/{a}/pods?continue=garbage"))
        .await?;
    assert_eq!(bad.code, 400);

    // Tables for kubectl.
    let table = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{a}/pods"),
            "",
            None,
        )
        .await?;
    assert_eq!(table.body["kind"], "PodList");
    let t: Value = api
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/{a}/pods"),
        )
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn discovery_health_and_metrics() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let core = api.get("/api/v1").await?;
    let services = core.body["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "services")
        .cloned()
        .unwrap_or_default();
    assert_eq!(services["shortNames"], json!(["svc"]));
    assert_eq!(services["namespaced"], true);
    assert!(
        services["verbs"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("watch")))
    );
    let groups = api.get("/apis").await?;
    assert!(
        groups.body["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "discovery.k8s.io"))
    );
    assert_eq!(api.get("/version").await?.body["major"], "1");
    for path in ["/healthz", "/readyz", "/livez"] {
        assert_eq!(api.get(path).await?.code, 200, "{path}");
    }
    let text = api
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await?
        .text()
        .await?;
    for name in [
        "switchyard_apiserver_requests_total{verb=\"get\",resource=\"\",code=\"200\"}",
        "switchyard_store_resource_version",
        "switchyard_store_objects{kind=\"Service\"}",
        "switchyard_store_commit_duration_seconds_bucket",
        "switchyard_store_commit_batch_size_count",
        "switchyard_apiserver_watches",
        "switchyard_apiserver_request_duration_seconds_count{verb=\"get\"}",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    cp.shutdown().await;
    Ok(())
}
