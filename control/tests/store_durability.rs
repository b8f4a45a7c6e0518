//! The store across restarts and its lifecycle rules, over real HTTP against a real database:
//! a reopen after many writes yields the same objects and revision, namespace deletion
//! cascades, and finalizers hold a deletion until they are removed.

mod support;

use serde_json::{Value, json};
use support::{Api, TestResult};

/// The items of a list, without `default/kubernetes`: the bootstrap rewrites its endpoint port to
/// the API's current address on every start, so it legitimately differs across a restart.
fn items(list: &Value) -> Vec<Value> {
    let mut items = list["items"].as_array().cloned().unwrap_or_default();
    items.retain(|i| {
        !(i["metadata"]["namespace"] == "default" && i["metadata"]["name"] == "kubernetes")
    });
    items
}

#[tokio::test]
async fn reopen_after_many_writes_yields_the_same_objects_and_revision() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ns = format!("durable-{}", std::process::id());
    let (services, pods, revision) = {
        let cp = support::start(dir.path(), 50).await?;
        let api = Api::for_plane(&cp);
        api.namespace(&ns).await?;
        // Concurrent writers exercise group commit.
        let mut writes = Vec::new();
        for i in 0..60 {
            let api = &api;
            let ns = &ns;
            writes.push(async move {
                api.post(&format!("/api/v1/namespaces/{ns}/services"),
                    &json!({"metadata": {"name": format!("s{i}")}, "spec": {"ports": [{"port": 80}]}}))
                    .await
            });
        }
        for r in futures::future::join_all(writes).await {
            let r = r?;
            assert_eq!(r.code, 201, "{}", r.body);
        }
        for i in 0..20 {
            api.delete(&format!("/api/v1/namespaces/{ns}/services/s{i}"))
                .await?;
            let r = api
                .post(&format!("/api/v1/namespaces/{ns}/pods"),
                    &json!({"metadata": {"name": format!("p{i}")}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
                .await?;
            assert_eq!(r.code, 201, "{}", r.body);
        }
        let services = api.get("/api/v1/services").await?.body;
        let pods = api.get("/api/v1/pods").await?.body;
        let revision = services["metadata"]["resourceVersion"].clone();
        cp.shutdown().await;
        (services, pods, revision)
    };
    let cp = support::start(dir.path(), 50).await?;
    let api = Api::for_plane(&cp);
    let services_again = api.get("/api/v1/services").await?.body;
    let pods_again = api.get("/api/v1/pods").await?.body;
    assert_eq!(items(&services_again), items(&services));
    assert_eq!(items(&pods_again), items(&pods));
    // Controllers may write after start; the revision never goes back.
    let again: u64 = services_again["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .parse()?;
    let before: u64 = revision.as_str().unwrap_or("0").parse()?;
    assert!(again >= before, "{again} < {before}");
    let text = cp.metrics_text();
    assert!(text.contains("switchyard_store_commit_batch_size_count"));
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deleting_a_namespace_deletes_everything_in_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let pid = std::process::id();
    let (gone, kept) = (format!("gone-{pid}"), format!("kept-{pid}"));
    for ns in [&gone, &kept] {
        api.namespace(ns).await?;
        let r = api
            .post(
                &format!("/api/v1/namespaces/{ns}/services"),
                &json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
            )
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
        let r = api
            .post(&format!("/api/v1/namespaces/{ns}/pods"),
                &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
    }
    let r = api.delete(&format!("/api/v1/namespaces/{gone}")).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(
        api.get(&format!("/api/v1/namespaces/{gone}")).await?.code,
        404
    );
    assert!(
        items(
            &api.get(&format!("/api/v1/namespaces/{gone}/services"))
                .await?
                .body
        )
        .is_empty()
    );
    assert!(
        items(
            &api.get(&format!("/api/v1/namespaces/{gone}/pods"))
                .await?
                .body
        )
        .is_empty()
    );
    assert_eq!(
        items(
            &api.get(&format!("/api/v1/namespaces/{kept}/services"))
                .await?
                .body
        )
        .len(),
        1
    );
    // Creating in a namespace that no longer exists fails.
    let r = api
        .post(&format!("/api/v1/namespaces/{gone}/pods"),
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .await?;
    assert_eq!(r.code, 404, "{}", r.body);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = format!("final-{}", std::process::id());
    api.namespace(&ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/services/held");
    let r = api
        .post(
            &format!("/api/v1/namespaces/{ns}/services"),
            &json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]},
                    "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    let r = api.delete(&path).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    let held = api.get(&path).await?;
    assert_eq!(held.code, 200);
    assert!(held.body["metadata"]["deletionTimestamp"].is_string());
    // No new finalizers while deleting.
    let r = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
        )
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    // Removing the last finalizer completes the deletion.
    let r = api
        .patch(
            &path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(api.get(&path).await?.code, 404);
    cp.shutdown().await;
    Ok(())
}
