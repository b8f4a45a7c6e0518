//! Watch over real HTTP: replay from a resourceVersion (also across a restart on the same data
//! directory), synthetic ADDED events, 410 Expired as an ERROR event, bookmarks, and selectors
//! (objects entering and leaving the selection).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, TestResult, read_events};

const WAIT: Duration = Duration::from_secs(10);

fn ns_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

async fn open_watch(api: &Api, path: &str) -> TestResult<reqwest::Response> {
    let response = api.request(reqwest::Method::GET, path).send().await?;
    if response.status() != 200 {
        return Err(format!("watch {path}: {}", response.status()).into());
    }
    Ok(response)
}

fn svc(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "spec": {"ports": [{"port": 80}]}})
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_string(), name.to_string())
}

#[tokio::test]
async fn resumes_from_a_resource_version_across_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ns = ns_name("resume");
    let services = format!("/api/v1/namespaces/{ns}/services");
    let (from, expected) = {
        let cp = support::start(dir.path(), 1000).await?;
        let api = Api::for_plane(&cp);
        api.namespace(&ns).await?;
        let first = api.post(&services, &svc("a", json!({}))).await?;
        let from = first.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        api.post(&services, &svc("b", json!({}))).await?;
        let mut c = api.post(&services, &svc("c", json!({}))).await?.body;
        c["metadata"]["labels"] = json!({"v": "2"});
        api.put(&format!("{services}/c"), &c).await?;
        api.delete(&format!("{services}/b")).await?;
        cp.shutdown().await;
        (
            from,
            vec![
                pair("ADDED", "b"),
                pair("ADDED", "c"),
                pair("MODIFIED", "c"),
                pair("DELETED", "b"),
            ],
        )
    };
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let watch = open_watch(&api, &format!("{services}?watch=1&resourceVersion={from}")).await?;
    let events = read_events(watch, expected.len(), WAIT).await?;
    assert_eq!(summary(&events), expected);
    let revisions: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn too_old_resource_version_is_an_error_event_with_410() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 3).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("expired");
    api.namespace(&ns).await?;
    let services = format!("/api/v1/namespaces/{ns}/services");
    for i in 0..6 {
        let r = api
            .post(&services, &svc(&format!("s{i}"), json!({})))
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
    }
    let watch = open_watch(&api, &format!("{services}?watch=true&resourceVersion=1")).await?;
    let events = read_events(watch, 2, WAIT).await?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn initial_events_then_bookmark_then_live_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("bookmark");
    api.namespace(&ns).await?;
    let services = format!("/api/v1/namespaces/{ns}/services");
    api.post(&services, &svc("existing", json!({}))).await?;
    let watch = open_watch(
        &api,
        &format!("{services}?watch=1&allowWatchBookmarks=true"),
    )
    .await?;
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        api.post(&services, &svc("later", json!({}))).await
    };
    let (events, created) = tokio::join!(read_events(watch, 3, WAIT), writer);
    let events = events?;
    let created = created?;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(summary(&events[..1]), vec![pair("ADDED", "existing")]);
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(events[1]["object"]["kind"], "Service");
    assert!(events[1]["object"]["metadata"]["resourceVersion"].is_string());
    assert_eq!(summary(&events[2..]), vec![pair("ADDED", "later")]);
    assert_eq!(
        events[2]["object"]["metadata"]["resourceVersion"],
        created.body["metadata"]["resourceVersion"]
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn selectors_apply_to_watch_events() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("selwatch");
    api.namespace(&ns).await?;
    let services = format!("/api/v1/namespaces/{ns}/services");
    let start = api
        .post(&services, &svc("other", json!({"tier": "db"})))
        .await?;
    let from = start.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let watch = open_watch(
        &api,
        &format!("{services}?watch=1&resourceVersion={from}&labelSelector=tier%3Dweb"),
    )
    .await?;
    let script = async {
        api.post(&services, &svc("front", json!({"tier": "web"})))
            .await?;
        api.post(&services, &svc("back", json!({"tier": "db"})))
            .await?;
        // `back` starts matching, `front` stops matching.
        let patch = |tier: &str| json!({"metadata": {"labels": {"tier": tier}}});
        api.patch(
            &format!("{services}/back"),
            "application/merge-patch+json",
            &patch("web"),
        )
        .await?;
        api.patch(
            &format!("{services}/front"),
            "application/merge-patch+json",
            &patch("db"),
        )
        .await?;
        api.delete(&format!("{services}/front")).await?;
        api.delete(&format!("{services}/back")).await?;
        TestResult::Ok(())
    };
    let (events, scripted) = tokio::join!(read_events(watch, 4, WAIT), script);
    scripted?;
    assert_eq!(
        summary(&events?),
        vec![
            pair("ADDED", "front"),
            pair("ADDED", "back"),
            pair("DELETED", "front"),
            pair("DELETED", "back")
        ]
    );
    // A field selector on a namespaced watch.
    let watch = open_watch(
        &api,
        &format!("{services}?watch=1&fieldSelector=metadata.name%3Dother"),
    )
    .await?;
    let events = read_events(watch, 1, WAIT).await?;
    assert_eq!(summary(&events), vec![pair("ADDED", "other")]);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn watch_ends_at_timeout_seconds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let watch = open_watch(&api, "/api/v1/nodes?watch=1&timeoutSeconds=1").await?;
    // The stream must close by itself: read until the end, bounded by WAIT.
    let body = tokio::time::timeout(WAIT, watch.bytes()).await;
    assert!(body.is_ok(), "the watch did not end after timeoutSeconds");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn selector_transitions_survive_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ns = ns_name("selrestart");
    let services = format!("/api/v1/namespaces/{ns}/services");
    let from = {
        let cp = support::start(dir.path(), 1000).await?;
        let api = Api::for_plane(&cp);
        api.namespace(&ns).await?;
        let r = api
            .post(&services, &svc("moving", json!({"tier": "db"})))
            .await?;
        let from = r.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let patch = |tier: &str| json!({"metadata": {"labels": {"tier": tier}}});
        // Not matching -> other non-matching change -> matching -> not matching.
        api.patch(
            &format!("{services}/moving"),
            "application/merge-patch+json",
            &json!({"metadata": {"annotations": {"a": "1"}}}),
        )
        .await?;
        api.patch(
            &format!("{services}/moving"),
            "application/merge-patch+json",
            &patch("web"),
        )
        .await?;
        api.patch(
            &format!("{services}/moving"),
            "application/merge-patch+json",
            &patch("db"),
        )
        .await?;
        api.post(&services, &svc("marker", json!({"tier": "web"})))
            .await?;
        cp.shutdown().await;
        from
    };
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let watch = open_watch(
        &api,
        &format!("{services}?watch=1&resourceVersion={from}&labelSelector=tier%3Dweb"),
    )
    .await?;
    let events = read_events(watch, 3, WAIT).await?;
    assert_eq!(
        summary(&events),
        vec![
            pair("ADDED", "moving"),
            pair("DELETED", "moving"),
            pair("ADDED", "marker")
        ]
    );
    cp.shutdown().await;
    Ok(())
}
