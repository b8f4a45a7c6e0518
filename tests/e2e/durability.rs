//! The store's promises across crashes and restarts: every acknowledged write survives SIGKILL
//! in the middle of a burst; watches resume from a resourceVersion after a restart; stale updates
//! get 409 and too-old watches 410.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually};

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"burst": "yes"}},
        // Not the scheduler's: the watch shows only this test's own writes, no bindings.
        "spec": {"schedulerName": "e2e-manual", "containers": [{"name": "c", "image": "registry.example/app:1"}]}
    })
}

fn rv_of(v: &Value) -> u64 {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill9_during_a_burst() -> TestResult {
    let mut sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let acked: Arc<Mutex<BTreeMap<String, (String, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (http, url, acked, stop) = (
            sy.http.clone(),
            sy.url("/api/v1/namespaces/default/pods"),
            acked.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("burst-{w}-{i}");
                let Ok(response) = http.post(&url).json(&pod(&name)).send().await else {
                    break;
                };
                if response.status().as_u16() != 201 {
                    continue;
                }
                let Ok(body) = response.json::<Value>().await else {
                    continue;
                };
                let uid = body
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                acked
                    .lock()
                    .await
                    .insert(name, (uid.to_string(), rv_of(&body)));
            }
        }));
    }
    // Let the burst run until a good number of writes were acknowledged, then pull the plug
    // while the writers are still going.
    let enough = eventually(600, || async {
        (acked.lock().await.len() >= 150).then_some(())
    })
    .await;
    sy.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    assert!(
        enough.is_some(),
        "the burst never reached 150 acknowledged writes"
    );
    let acked = acked.lock().await.clone();

    sy.restart().await?;
    let (status, list) = sy
        .get("/api/v1/namespaces/default/pods?labelSelector=burst%3Dyes")
        .await?;
    assert_eq!(status, 200);
    let stored: BTreeMap<String, (String, u64)> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let name = i
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let uid = i
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    (name.to_string(), (uid.to_string(), rv_of(i)))
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, (uid, rv)) in &acked {
        let found = stored.get(name);
        assert!(
            found.is_some(),
            "acknowledged write {name} (rv {rv}) lost after kill -9"
        );
        assert_eq!(
            found.map(|f| &f.0),
            Some(uid),
            "{name} came back with another uid"
        );
    }
    // The revision keeps increasing after the crash.
    let max_rv = acked.values().map(|(_, rv)| *rv).max().unwrap_or(0);
    let (status, created) = sy
        .post("/api/v1/namespaces/default/pods", &pod("after-crash"))
        .await?;
    assert_eq!(status, 201, "{created}");
    assert!(
        rv_of(&created) > max_rv,
        "resourceVersion went backwards after restart"
    );
    Ok(())
}

/// Reads newline-delimited watch events from `path` until `want` events arrived (bounded).
async fn watch_events(sy: &Switchyard, path: &str, want: usize) -> TestResult<Vec<Value>> {
    let mut response = sy.http.get(sy.url(path)).send().await?;
    assert_eq!(response.status().as_u16(), 200, "watch {path}");
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while events.len() < want {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            if let Ok(event) = serde_json::from_slice::<Value>(&line)
                && event["type"] != "BOOKMARK"
            {
                events.push(event);
            }
        }
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_a_resource_version_after_restart() -> TestResult {
    let mut sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let (status, first) = sy
        .post("/api/v1/namespaces/default/pods", &pod("w-0"))
        .await?;
    assert_eq!(status, 201);
    let from = rv_of(&first);
    for i in 1..=3 {
        let (status, _) = sy
            .post("/api/v1/namespaces/default/pods", &pod(&format!("w-{i}")))
            .await?;
        assert_eq!(status, 201);
    }
    assert_eq!(sy.delete("/api/v1/namespaces/default/pods/w-2").await?, 200);
    sy.restart().await?;

    let path = format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={from}");
    let events = watch_events(&sy, &path, 4).await?;
    let seen: Vec<String> = events
        .iter()
        .map(|e| {
            let name = e
                .pointer("/object/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            format!("{} {name}", e["type"].as_str().unwrap_or("?"))
        })
        .collect();
    assert_eq!(seen, ["ADDED w-1", "ADDED w-2", "ADDED w-3", "DELETED w-2"]);
    let rvs: Vec<u64> = events.iter().map(|e| rv_of(&e["object"])).collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {rvs:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_update_conflicts_and_expired_watch_is_410() -> TestResult {
    let options = SwitchyardOptions {
        args: vec!["--watch-history".into(), "5".into()],
        ..Default::default()
    };
    let sy = Switchyard::start(options).await?;
    let (status, created) = sy
        .post("/api/v1/namespaces/default/pods", &pod("c-0"))
        .await?;
    assert_eq!(status, 201);
    let stale = created.clone();
    let mut fresh = created.clone();
    fresh["metadata"]["labels"]["v"] = json!("2");
    let (status, _) = sy
        .put("/api/v1/namespaces/default/pods/c-0", &fresh)
        .await?;
    assert_eq!(status, 200);
    let mut conflicting = stale;
    conflicting["metadata"]["labels"]["v"] = json!("3");
    let (status, body) = sy
        .put("/api/v1/namespaces/default/pods/c-0", &conflicting)
        .await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["reason"], "Conflict");
    let (_, now) = sy.get("/api/v1/namespaces/default/pods/c-0").await?;
    assert_eq!(
        now["metadata"]["labels"]["v"], "2",
        "the conflicting update changed the object"
    );

    for i in 1..=20 {
        let (status, _) = sy
            .post("/api/v1/namespaces/default/pods", &pod(&format!("c-{i}")))
            .await?;
        assert_eq!(status, 201);
    }
    let path = format!(
        "/api/v1/namespaces/default/pods?watch=true&resourceVersion={}",
        rv_of(&created)
    );
    let events = watch_events(&sy, &path, 1).await?;
    let first = events.first().cloned().unwrap_or_default();
    assert_eq!(first["type"], "ERROR", "{first}");
    assert_eq!(first["object"]["code"], 410, "{first}");
    Ok(())
}
