//! Crash safety: a child process writes through the API as fast as it can and reports every
//! acknowledged write; it is killed with SIGKILL mid-stream; the store reopened on the same
//! directory must hold every acknowledged object, with a consistent revision and history.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{Api, TestResult};

const DIR_ENV: &str = "SWITCHYARD_CRASH_CHILD_DIR";
const NAMESPACE: &str = "crash";

/// The child: writes pods forever (4 at a time), printing `ack <name>` after each 201.
#[tokio::test]
#[ignore = "run by crash_mid_write_keeps_every_acknowledged_write as a child process"]
async fn crash_child() -> TestResult {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return Ok(());
    };
    let cp = support::start(std::path::Path::new(&dir), 100_000).await?;
    let api = Api::for_plane(&cp);
    api.namespace(NAMESPACE).await?;
    for round in 0..100_000u32 {
        let writes = (0..4).map(|i| {
            let name = format!("p{round}-{i}");
            let api = &api;
            async move {
                let r = api
                    .post(&format!("/api/v1/namespaces/{NAMESPACE}/pods"),
                        &json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
                    .await?;
                TestResult::Ok((name, r.code))
            }
        });
        for outcome in futures::future::join_all(writes).await {
            let (name, code) = outcome?;
            if code == 201 {
                println!("ack {name}");
            }
        }
    }
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn crash_mid_write_keeps_every_acknowledged_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // Kill the child however the test ends.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut child = Reap(child);
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        if let Some(name) = line?.strip_prefix("ack ") {
            acked.push(name.to_string());
            if acked.len() >= 60 {
                break;
            }
        }
    }
    assert_eq!(acked.len(), 60, "the child stopped early");
    // SIGKILL while the child is still writing.
    child.0.kill()?;
    child.0.wait()?;

    let cp = support::start(dir.path(), 100_000).await?;
    let api = Api::for_plane(&cp);
    let list = api
        .get(&format!("/api/v1/namespaces/{NAMESPACE}/pods"))
        .await?
        .body;
    let stored: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for name in &acked {
        assert!(
            stored.contains(&name.as_str()),
            "acknowledged {name} was lost"
        );
    }
    // The history replays into exactly the stored set: nothing half-written.
    let revision: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .parse()?;
    let response = api
        .request(
            reqwest::Method::GET,
            &format!(
                "/api/v1/namespaces/{NAMESPACE}/pods?watch=1&resourceVersion=1&timeoutSeconds=2"
            ),
        )
        .send()
        .await?;
    let events =
        support::read_events(response, usize::MAX, std::time::Duration::from_secs(10)).await?;
    let mut replayed: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "ADDED")
        .filter(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|v| v <= revision)
        })
        .filter_map(|e| e["object"]["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let mut stored_sorted: Vec<String> = stored.iter().map(|s| s.to_string()).collect();
    replayed.sort();
    stored_sorted.sort();
    assert_eq!(replayed, stored_sorted);
    let objects: Vec<&Value> = list["items"].as_array().into_iter().flatten().collect();
    assert!(objects.iter().all(|o| o["metadata"]["uid"].is_string()));
    cp.shutdown().await;
    Ok(())
}
