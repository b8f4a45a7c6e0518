//! Resource limits of the API over real HTTP: patch bombs and oversized patch results answer
//! 413 before the server allocates, JSON Patches hold at most 10,000 operations, collection
//! deletes are all-or-nothing and refused (405, nothing deleted) where kube-apiserver does not
//! serve them, and continue tokens stay within their namespace.

mod support;

use serde_json::{Value, json};
use support::{Api, TestResult};

const JSON_PATCH: &str = "application/json-patch+json";
const MERGE_PATCH: &str = "application/merge-patch+json";
const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";

/// The peak resident memory of this process (the server runs in it), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// A Pod whose container carries `arg` (annotations are capped at 256 KiB; arguments are not).
fn pod(name: &str, arg: &str) -> Value {
    json!({
        "metadata": {"name": name, "annotations": {"note": "z".repeat(200_000)}},
        "spec": {"containers": [{"name": "c", "image": "i", "args": [arg]}]},
    })
}

#[tokio::test]
async fn patch_bombs_and_oversized_results_answer_413_and_change_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    let ns = "limits-patch";
    api.namespace(ns).await?;
    let r = api
        .post(
            &format!("/api/v1/namespaces/{ns}/pods"),
            &pod("web", &"x".repeat(1_500_000)),
        )
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    let path = format!("/api/v1/namespaces/{ns}/pods/web");
    let before = api.get(&path).await?.body;

    // Copying a map into itself 25 times doubles it each time (2^25 copies unbounded).
    // The annotations (200 KB) pass 3 MiB at the fourth copy.
    let peak = peak_rss_kib();
    let bomb: Vec<Value> = (0..25)
        .map(|i| {
            json!({"op": "copy", "from": "/metadata/annotations",
                "path": format!("/metadata/annotations/c{i}")})
        })
        .collect();
    let r = api.patch(&path, JSON_PATCH, &Value::Array(bomb)).await?;
    assert_eq!(r.code, 413, "{}", r.body);
    assert_eq!(r.body["reason"], "RequestEntityTooLarge");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("3145728"),
        "{}",
        r.body
    );
    let grown = peak_rss_kib().saturating_sub(peak);
    assert!(
        grown < 64 * 1024,
        "the bomb grew the peak RSS by {grown} KiB"
    );

    // More operations than kube-apiserver accepts.
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"op": "test", "path": "/kind", "value": "Pod"}))
        .collect();
    let r = api.patch(&path, JSON_PATCH, &Value::Array(many)).await?;
    assert_eq!(r.code, 413, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("10000"),
        "{}",
        r.body
    );

    // Merge and strategic results over 3 MiB (each body is below the request size limit).
    let more = json!({"spec": {"initContainers": [
        {"name": "init", "image": "i", "args": ["y".repeat(1_700_000)]}
    ]}});
    for content_type in [MERGE_PATCH, STRATEGIC_PATCH] {
        let r = api.patch(&path, content_type, &more).await?;
        assert_eq!(r.code, 413, "{content_type}: {}", r.body);
        assert_eq!(r.body["reason"], "RequestEntityTooLarge");
    }
    assert_eq!(api.get(&path).await?.body, before);

    // Within the bounds, patches still apply.
    let r = api
        .patch(
            &path,
            JSON_PATCH,
            &json!([
                {"op": "add", "path": "/metadata/labels", "value": {}},
                {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/app"},
            ]),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["app"], "web");
    let r = api
        .patch(
            &path,
            MERGE_PATCH,
            &json!({"metadata": {"labels": {"tier": "web"}}}),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["tier"], "web");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn collection_deletes_are_refused_where_upstream_refuses_them_and_delete_nothing()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    for ns in ["limits-del-a", "limits-del-b"] {
        api.namespace(ns).await?;
        for (name, tier) in [("web", "front"), ("api", "back"), ("db", "back")] {
            let r = api
                .post(
                    &format!("/api/v1/namespaces/{ns}/services"),
                    &json!({"metadata": {"name": name, "labels": {"tier": tier}},
                        "spec": {"ports": [{"port": 80}]}}),
                )
                .await?;
            assert_eq!(r.code, 201, "{}", r.body);
        }
    }
    let namespaces = support::item_names(&api.get("/api/v1/namespaces").await?.body);
    assert!(namespaces.contains(&"limits-del-a".to_string()));

    let r = api.delete("/api/v1/namespaces").await?;
    assert_eq!(r.code, 405, "{}", r.body);
    assert_eq!(r.body["reason"], "MethodNotAllowed");
    assert_eq!(
        support::item_names(&api.get("/api/v1/namespaces").await?.body),
        namespaces
    );

    let services = support::item_names(&api.get("/api/v1/services").await?.body);
    let r = api.delete("/api/v1/services").await?;
    assert_eq!(r.code, 405, "{}", r.body);
    assert_eq!(
        support::item_names(&api.get("/api/v1/services").await?.body),
        services
    );

    // Within a namespace: exactly the selected objects go, in the other namespace nothing.
    let r = api
        .delete("/api/v1/namespaces/limits-del-a/services?labelSelector=tier%3Dback")
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(support::item_names(&r.body), ["api", "db"]);
    let left = api
        .get("/api/v1/namespaces/limits-del-a/services")
        .await?
        .body;
    assert_eq!(support::item_names(&left), ["web"]);
    let other = api
        .get("/api/v1/namespaces/limits-del-b/services")
        .await?
        .body;
    assert_eq!(support::item_names(&other), ["api", "db", "web"]);

    // Nodes (cluster-scoped) are served, as kube-apiserver serves them.
    for (name, pool) in [("limits-n1", "a"), ("limits-n2", "b")] {
        let r = api
            .post(
                "/api/v1/nodes",
                &json!({"metadata": {"name": name, "labels": {"limits-pool": pool}}}),
            )
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
    }
    let r = api
        .delete("/api/v1/nodes?labelSelector=limits-pool%3Da")
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(support::item_names(&r.body), ["limits-n1"]);
    let nodes = support::item_names(&api.get("/api/v1/nodes").await?.body);
    assert!(nodes.contains(&"limits-n2".to_string()), "{nodes:?}");
    assert!(!nodes.contains(&"limits-n1".to_string()), "{nodes:?}");

    // A dry run deletes nothing but answers what it would delete.
    let r = api
        .delete("/api/v1/namespaces/limits-del-b/services?dryRun=All")
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(support::item_names(&r.body), ["api", "db", "web"]);
    let other = api
        .get("/api/v1/namespaces/limits-del-b/services")
        .await?
        .body;
    assert_eq!(support::item_names(&other), ["api", "db", "web"]);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_continue_token_of_another_namespace_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    for ns in ["limits-page-a", "limits-page-b"] {
        api.namespace(ns).await?;
        for name in ["s1", "s2", "s3"] {
            let r = api
                .post(
                    &format!("/api/v1/namespaces/{ns}/services"),
                    &json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}),
                )
                .await?;
            assert_eq!(r.code, 201, "{}", r.body);
        }
    }
    let first = api
        .get("/api/v1/namespaces/limits-page-a/services?limit=1")
        .await?;
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty(), "{}", first.body);
    let r = api
        .get(&format!(
            "/api/v1/namespaces/limits-page-b/services?limit=1&continue={token}"
        ))
        .await?;
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("continue:"),
        "{}",
        r.body
    );
    let r = api
        .get(&format!(
            "/api/v1/namespaces/limits-page-a/services?limit=5&continue={token}"
        ))
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(support::item_names(&r.body), ["s2", "s3"]);
    cp.shutdown().await;
    Ok(())
}
