//! The Deployment controller against a real control plane on loopback (HTTPS, admin token).
//! The plane's own ReplicaSet controller makes the Pods; the test plays the kubelet: a
//! background task marks every Pod Ready, and checks, on every list of the ReplicaSets it takes
//! (one consistent snapshot), that a rollout keeps within `replicas + maxSurge` Pods and
//! `replicas - maxUnavailable` available ones.
//! Covered: the first ReplicaSet (name, hash label, owner reference, revision), an image
//! change rolled to a second ReplicaSet ending complete, an undo through the revision
//! annotation (revision 3 with revision-history 1), pause (no new ReplicaSet, scaling still
//! applies) and resume; and, with kubectl, `rollout status/history/undo/pause/resume/restart`.

#![allow(clippy::unwrap_used)] // tests fail loudly on a poisoned lock

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::kubectl::Kubectl;
use support::{Api, TestResult};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SETS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// Polls `check` until it returns `Some`, for at most 60 s (400 tries).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<Option<T>>>,
{
    for _ in 0..400 {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"kubernetes.io/change-cause": "first"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

/// The rollout bounds the fake checks: (replicas, maxSurge, maxUnavailable).
type Bounds = Arc<Mutex<Option<(i64, i64, i64)>>>;

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Plays the kubelet (every Pod Ready at once, so the ReplicaSet controller counts it
/// available) and records bound violations seen in the ReplicaSets' status, until aborted (at
/// most 3000 rounds).
async fn fake_replicaset_controller(api: Api, bounds: Bounds, violations: Arc<Mutex<Vec<String>>>) {
    for _ in 0..3000 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let Ok(list) = api.get(SETS).await else {
            continue;
        };
        let items = list.body["items"].as_array().cloned().unwrap_or_default();
        if let Some((replicas, surge, unavailable)) = *bounds.lock().unwrap() {
            let wanted: i64 = items.iter().map(|rs| int(&rs["spec"]["replicas"])).sum();
            let available: i64 = items
                .iter()
                .map(|rs| int(&rs["spec"]["replicas"]).min(int(&rs["status"]["availableReplicas"])))
                .sum();
            if wanted > replicas + surge || available < replicas - unavailable {
                violations
                    .lock()
                    .unwrap()
                    .push(format!("{wanted} wanted, {available} available: {items:?}"));
            }
        }
        // The kubelet's part: every Pod the ReplicaSet controller made is Ready at once.
        let Ok(pods) = api.get(PODS).await else {
            continue;
        };
        for pod in pods.body["items"].as_array().cloned().unwrap_or_default() {
            let ready = pod["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if ready || !pod["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let mut next = pod.clone();
            next["apiVersion"] = json!("v1");
            next["kind"] = json!("Pod");
            next["status"]["phase"] = json!("Running");
            next["status"]["conditions"] = json!([
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
            ]);
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let _ = api.put(&format!("{PODS}/{name}/status"), &next).await;
        }
    }
}

/// Starts the fake on `plane`; aborted when the handle drops.
struct Fake {
    task: tokio::task::JoinHandle<()>,
    bounds: Bounds,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(plane: &control::server::ControlPlane) -> Fake {
        let bounds: Bounds = Arc::default();
        let violations = Arc::<Mutex<Vec<String>>>::default();
        let task = tokio::spawn(fake_replicaset_controller(
            Api::for_plane(plane),
            bounds.clone(),
            violations.clone(),
        ));
        Fake {
            task,
            bounds,
            violations,
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Deployment's ReplicaSets by name.
async fn sets(api: &Api) -> TestResult<BTreeMap<String, Value>> {
    let list = api.get(SETS).await?.body;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rs| {
            (
                rs["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                rs.clone(),
            )
        })
        .collect())
}

fn annotation<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
}

/// Waits until the Deployment's status says its rollout finished (what `kubectl rollout
/// status` checks) with `replicas`, and returns it.
async fn complete(api: &Api, name: &str, replicas: i64) -> TestResult<Value> {
    eventually(&format!("deployment {name} complete"), || async {
        let d = api.get(&format!("{DEPLOYMENTS}/{name}")).await?.body;
        let s = &d["status"];
        let progressing = s["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Progressing")
            .cloned()
            .unwrap_or_default();
        let done = int(&s["observedGeneration"]) >= int(&d["metadata"]["generation"])
            && int(&s["updatedReplicas"]) == replicas
            && int(&s["replicas"]) == replicas
            && int(&s["availableReplicas"]) == replicas
            && progressing["reason"] == "NewReplicaSetAvailable";
        Ok(done.then_some(d))
    })
    .await
}

/// The one ReplicaSet with replicas, once every other one has none and it has `replicas` of
/// `image`.
async fn only_active(api: &Api, replicas: i64, image: &str) -> TestResult<Value> {
    eventually("one active replica set", || async {
        let all = sets(api).await?;
        let active: Vec<&Value> = all
            .values()
            .filter(|rs| int(&rs["spec"]["replicas"]) > 0)
            .collect();
        Ok(match active.as_slice() {
            [one]
                if int(&one["spec"]["replicas"]) == replicas
                    && one["spec"]["template"]["spec"]["containers"][0]["image"] == image =>
            {
                Some((*one).clone())
            }
            _ => None,
        })
    })
    .await
}

fn image_patch(image: &str) -> Value {
    json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}])
}

#[tokio::test]
async fn deployment_rolls_undoes_and_pauses() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let fake = Fake::start(&plane);

    let created = api
        .post(DEPLOYMENTS, &deployment("web", "nginx:1.26"))
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let d = complete(&api, "web", 3).await?;
    let first = only_active(&api, 3, "nginx:1.26").await?;
    let hash = first["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!hash.is_empty(), "{first}");
    assert_eq!(first["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(
        first["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(
        first["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
        hash.as_str()
    );
    let owner = &first["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Deployment");
    assert_eq!(owner["uid"], d["metadata"]["uid"]);
    assert_eq!(
        (
            owner["controller"].clone(),
            owner["blockOwnerDeletion"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(annotation(&first, "deployment.kubernetes.io/revision"), "1");
    assert_eq!(annotation(&first, "kubernetes.io/change-cause"), "first");
    assert_eq!(
        annotation(&first, "deployment.kubernetes.io/desired-replicas"),
        "3"
    );
    assert_eq!(
        annotation(&first, "deployment.kubernetes.io/max-replicas"),
        "4"
    );
    assert_eq!(annotation(&d, "deployment.kubernetes.io/revision"), "1");

    // A new image rolls to a second ReplicaSet within the bounds.
    *fake.bounds.lock().unwrap() = Some((3, 1, 1));
    let patched = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/json-patch+json",
            &image_patch("nginx:1.27"),
        )
        .await?;
    assert_eq!(patched.code, 200, "{}", patched.body);
    let second = only_active(&api, 3, "nginx:1.27").await?;
    assert_ne!(second["metadata"]["name"], first["metadata"]["name"]);
    let d = complete(&api, "web", 3).await?;
    assert_eq!(
        annotation(&second, "deployment.kubernetes.io/revision"),
        "2"
    );
    assert_eq!(annotation(&d, "deployment.kubernetes.io/revision"), "2");
    let all = sets(&api).await?;
    assert_eq!(all.len(), 2, "{all:?}");
    let violations = fake.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "bounds broken: {violations:?}");

    // Undo as kubectl does: the revision-1 template goes back into the Deployment.
    let mut template = first["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    let undo = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
    let undone = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/json-patch+json",
            &undo,
        )
        .await?;
    assert_eq!(undone.code, 200, "{}", undone.body);
    let back = only_active(&api, 3, "nginx:1.26").await?;
    assert_eq!(
        back["metadata"]["name"], first["metadata"]["name"],
        "the old ReplicaSet is reused: {} vs {}",
        back["spec"]["template"], first["spec"]["template"]
    );
    let d = complete(&api, "web", 3).await?;
    let back = sets(&api)
        .await?
        .remove(first["metadata"]["name"].as_str().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(annotation(&back, "deployment.kubernetes.io/revision"), "3");
    assert_eq!(
        annotation(&back, "deployment.kubernetes.io/revision-history"),
        "1"
    );
    assert_eq!(annotation(&d, "deployment.kubernetes.io/revision"), "3");
    assert_eq!(sets(&api).await?.len(), 2);
    let violations = fake.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "bounds broken: {violations:?}");
    *fake.bounds.lock().unwrap() = None;

    // Paused: a template change makes no ReplicaSet, scaling still applies.
    let paused = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/merge-patch+json",
            &json!({"spec": {"paused": true}}),
        )
        .await?;
    assert_eq!(paused.code, 200, "{}", paused.body);
    eventually("the DeploymentPaused condition", || async {
        let d = api.get(&format!("{DEPLOYMENTS}/web")).await?.body;
        let reason = d["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Progressing")
            .map(|c| c["reason"].clone());
        Ok((reason == Some(json!("DeploymentPaused"))).then_some(()))
    })
    .await?;
    let changed = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/json-patch+json",
            &image_patch("nginx:1.28"),
        )
        .await?;
    assert_eq!(changed.code, 200, "{}", changed.body);
    let scaled = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 5}}),
        )
        .await?;
    assert_eq!(scaled.code, 200, "{}", scaled.body);
    let grown = only_active(&api, 5, "nginx:1.26").await?;
    assert_eq!(grown["metadata"]["name"], first["metadata"]["name"]);
    eventually("the paused Deployment to report 5 replicas", || async {
        let d = api.get(&format!("{DEPLOYMENTS}/web")).await?.body;
        Ok((d["status"]["replicas"] == 5).then_some(()))
    })
    .await?;
    assert_eq!(sets(&api).await?.len(), 2, "no rollout while paused");

    // Resumed: the paused template rolls out.
    let resumed = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            "application/merge-patch+json",
            &json!({"spec": {"paused": false}}),
        )
        .await?;
    assert_eq!(resumed.code, 200, "{}", resumed.body);
    let third = only_active(&api, 5, "nginx:1.28").await?;
    assert_eq!(
        third["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let d = complete(&api, "web", 5).await?;
    assert_eq!(annotation(&d, "deployment.kubernetes.io/revision"), "4");
    assert_eq!(sets(&api).await?.len(), 3);
    drop(fake);
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kubectl_rollout_commands_work() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let plane = support::start(&data, 10_000).await?;
    let api = Api::for_plane(&plane);
    let kubectl = Kubectl::new(&data)?;
    let _fake = Fake::start(&plane);

    let created = api
        .post(DEPLOYMENTS, &deployment("shop", "nginx:1.26"))
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let out = kubectl
        .run(&["rollout", "status", "deployment/shop", "--timeout=60s"])
        .await?;
    assert!(
        out.contains("deployment \"shop\" successfully rolled out"),
        "{out}"
    );

    kubectl
        .run(&["set", "image", "deployment/shop", "web=nginx:1.27"])
        .await?;
    kubectl
        .run(&[
            "annotate",
            "deployment/shop",
            "kubernetes.io/change-cause=to 1.27",
            "--overwrite",
        ])
        .await?;
    let out = kubectl
        .run(&["rollout", "status", "deployment/shop", "--timeout=60s"])
        .await?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = kubectl
        .run(&["rollout", "history", "deployment/shop"])
        .await?;
    let rows: Vec<Vec<&str>> = history
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.iter().any(|r| r.first() == Some(&"1")), "{history}");
    assert!(rows.iter().any(|r| r.first() == Some(&"2")), "{history}");

    let out = kubectl.run(&["rollout", "undo", "deployment/shop"]).await?;
    assert!(out.contains("rolled back"), "{out}");
    let out = kubectl
        .run(&["rollout", "status", "deployment/shop", "--timeout=60s"])
        .await?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = kubectl
        .run(&["rollout", "history", "deployment/shop"])
        .await?;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    let image = kubectl
        .run(&[
            "get",
            "deployment/shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await?;
    assert_eq!(image, "nginx:1.26");

    let out = kubectl
        .run(&["rollout", "pause", "deployment/shop"])
        .await?;
    assert!(out.contains("paused"), "{out}");
    let out = kubectl
        .run(&["rollout", "resume", "deployment/shop"])
        .await?;
    assert!(out.contains("resumed"), "{out}");
    let out = kubectl
        .run(&["rollout", "restart", "deployment/shop"])
        .await?;
    assert!(out.contains("restarted"), "{out}");
    let out = kubectl
        .run(&["rollout", "status", "deployment/shop", "--timeout=60s"])
        .await?;
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = kubectl
        .run(&["rollout", "history", "deployment/shop"])
        .await?;
    assert!(history.lines().any(|l| l.starts_with('4')), "{history}");
    plane.shutdown().await;
    Ok(())
}
