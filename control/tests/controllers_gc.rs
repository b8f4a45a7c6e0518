//! Garbage collection through ownerReferences against a real control plane on loopback
//! (HTTPS, admin token), with owner → dependents chains built by hand (a Deployment owning a
//! ReplicaSet owning Pods, uids taken from the created owners): a background delete of the
//! Deployment removes the ReplicaSet and the Pods; an orphan delete of a ReplicaSet leaves its
//! Pods without the owner reference; a foreground delete shows the owner with a
//! deletionTimestamp and `foregroundDeletion` until its dependents are gone, then removes it;
//! a Pod whose owner never existed is collected, one with a second, present owner keeps that
//! one. Also the DeleteOptions checks (unknown policy, both fields, uid precondition).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, TestResult};

/// Polls `check` until it returns `Some`, for at most 30 s (200 tries).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = TestResult<Option<T>>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

/// Waits until `path` answers 404.
async fn gone(api: &Api, path: &str) -> TestResult {
    eventually(&format!("{path} to be deleted"), || async {
        Ok((api.get(path).await?.code == 404).then_some(()))
    })
    .await
}

fn apps(ns: &str, plural: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/{plural}")
}

fn pods(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

fn owner(kind: &str, api_version: &str, created: &Value) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "name": created["metadata"]["name"], "uid": created["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    })
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app, "pod-template-hash": "h1"}},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})
}

async fn create(api: &Api, path: &str, body: Value) -> TestResult<Value> {
    let reply = api.post(path, &body).await?;
    if reply.code != 201 {
        return Err(format!("POST {path}: {} {}", reply.code, reply.body).into());
    }
    Ok(reply.body)
}

/// A paused Deployment with 2 replicas (so that a Deployment controller leaves it be).
async fn deployment(api: &Api, ns: &str, name: &str) -> TestResult<Value> {
    create(
        api,
        &apps(ns, "deployments"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
               "spec": {"replicas": 2, "paused": true,
                        "selector": {"matchLabels": {"app": "web", "pod-template-hash": "h1"}},
                        "template": template("web")}}),
    )
    .await
}

/// A ReplicaSet of 2 replicas selecting `app=web`, owned by `owned_by` when given (its Pods
/// are made by the test; a ReplicaSet controller finds exactly its replicas).
async fn replica_set(
    api: &Api,
    ns: &str,
    name: &str,
    owned_by: Option<&Value>,
) -> TestResult<Value> {
    labelled_replica_set(api, ns, name, owned_by, "web", 2).await
}

/// A ReplicaSet of `replicas` selecting `app=<app>`, owned by `owned_by` when given.
async fn labelled_replica_set(
    api: &Api,
    ns: &str,
    name: &str,
    owned_by: Option<&Value>,
    app: &str,
    replicas: u32,
) -> TestResult<Value> {
    let mut meta = json!({"name": name});
    if let Some(d) = owned_by {
        meta["ownerReferences"] = json!([owner("Deployment", "apps/v1", d)]);
    }
    create(
        api,
        &apps(ns, "replicasets"),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
               "spec": {"replicas": replicas,
                        "selector": {"matchLabels": {"app": app, "pod-template-hash": "h1"}},
                        "template": template(app)}}),
    )
    .await
}

/// A Pod with the ReplicaSet's labels, owned through `owners`, with extra `finalizers`.
async fn pod(
    api: &Api,
    ns: &str,
    name: &str,
    owners: Value,
    finalizers: Value,
) -> TestResult<Value> {
    create(
        api,
        &pods(ns),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": {"app": "web", "pod-template-hash": "h1"},
                            "ownerReferences": owners, "finalizers": finalizers},
               "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}),
    )
    .await
}

async fn delete_with(api: &Api, path: &str, options: Value) -> TestResult<support::Reply> {
    api.send(
        reqwest::Method::DELETE,
        path,
        "application/json",
        Some(options.to_string()),
    )
    .await
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn background_delete_of_a_deployment_leaves_nothing_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start_without_workload_controllers(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let ns = "gc-background";
    api.namespace(ns).await?;
    let d = deployment(&api, ns, "web").await?;
    let rs = replica_set(&api, ns, "web-h1", Some(&d)).await?;
    let by_rs = json!([owner("ReplicaSet", "apps/v1", &rs)]);
    for name in ["web-h1-a", "web-h1-b"] {
        pod(&api, ns, name, by_rs.clone(), json!([])).await?;
    }

    let reply = api
        .delete(&format!("{}/web", apps(ns, "deployments")))
        .await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(
        api.get(&format!("{}/web", apps(ns, "deployments")))
            .await?
            .code,
        404,
        "a background delete removes the owner at once"
    );
    gone(&api, &format!("{}/web-h1", apps(ns, "replicasets"))).await?;
    for name in ["web-h1-a", "web-h1-b"] {
        gone(&api, &format!("{}/{name}", pods(ns))).await?;
    }
    let left = api.get(&pods(ns)).await?.body;
    assert_eq!(support::item_names(&left), Vec::<String>::new());
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn orphan_delete_leaves_the_pods_without_the_reference() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start_without_workload_controllers(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let ns = "gc-orphan";
    api.namespace(ns).await?;
    let rs = replica_set(&api, ns, "web-h1", None).await?;
    let other = labelled_replica_set(&api, ns, "other", None, "other", 0).await?;
    let by_rs = json!([owner("ReplicaSet", "apps/v1", &rs)]);
    pod(&api, ns, "lone", by_rs.clone(), json!([])).await?;
    // Two owners: only the orphaning one's reference goes.
    let mut shared = by_rs.clone();
    let mut second = owner("ReplicaSet", "apps/v1", &other);
    second["controller"] = json!(false);
    shared.as_array_mut().ok_or("array")?.push(second);
    pod(&api, ns, "shared", shared, json!([])).await?;

    let path = format!("{}/web-h1", apps(ns, "replicasets"));
    let reply = delete_with(
        &api,
        &path,
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}),
    )
    .await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert!(
        reply.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        reply.body
    );
    assert!(
        finalizers(&reply.body).contains(&"orphan".to_string()),
        "{}",
        reply.body
    );
    gone(&api, &path).await?;

    let lone = api.get(&format!("{}/lone", pods(ns))).await?;
    assert_eq!(lone.code, 200, "{}", lone.body);
    assert!(
        lone.body["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r.as_array().is_some_and(|a| a.is_empty())),
        "{}",
        lone.body
    );
    let shared = api.get(&format!("{}/shared", pods(ns))).await?;
    assert_eq!(shared.code, 200, "{}", shared.body);
    let refs = shared.body["metadata"]["ownerReferences"].clone();
    assert_eq!(refs.as_array().map(Vec::len), Some(1), "{refs}");
    assert_eq!(refs[0]["uid"], other["metadata"]["uid"], "{refs}");
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn foreground_delete_removes_the_owner_last() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start_without_workload_controllers(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let ns = "gc-foreground";
    api.namespace(ns).await?;
    let d = deployment(&api, ns, "web").await?;
    let rs = replica_set(&api, ns, "web-h1", Some(&d)).await?;
    let by_rs = json!([owner("ReplicaSet", "apps/v1", &rs)]);
    pod(&api, ns, "free", by_rs.clone(), json!([])).await?;
    // This Pod is held by a finalizer of its own, so the deletion waits on it.
    pod(&api, ns, "held", by_rs, json!(["example.com/hold"])).await?;

    let deploy_path = format!("{}/web", apps(ns, "deployments"));
    let rs_path = format!("{}/web-h1", apps(ns, "replicasets"));
    let held_path = format!("{}/held", pods(ns));
    let reply = api
        .send(
            reqwest::Method::DELETE,
            &format!("{deploy_path}?propagationPolicy=Foreground"),
            "",
            None,
        )
        .await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert!(
        finalizers(&reply.body).contains(&"foregroundDeletion".to_string()),
        "{}",
        reply.body
    );

    gone(&api, &format!("{}/free", pods(ns))).await?;
    eventually("the held pod to be marked for deletion", || async {
        let held = api.get(&held_path).await?.body;
        Ok(held["metadata"]["deletionTimestamp"]
            .is_string()
            .then_some(()))
    })
    .await?;
    // While a blocking dependent remains, its owners stay, marked.
    for path in [&deploy_path, &rs_path] {
        let owner = api.get(path).await?;
        assert_eq!(owner.code, 200, "{path}: {}", owner.body);
        assert!(
            owner.body["metadata"]["deletionTimestamp"].is_string(),
            "{}",
            owner.body
        );
        assert!(
            finalizers(&owner.body).contains(&"foregroundDeletion".to_string()),
            "{}",
            owner.body
        );
    }

    let released = api
        .patch(
            &held_path,
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await?;
    assert!(released.code == 200, "{}", released.body);
    gone(&api, &held_path).await?;
    gone(&api, &rs_path).await?;
    gone(&api, &deploy_path).await?;
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pods_with_owners_that_never_existed_are_collected() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start_without_workload_controllers(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let ns = "gc-dangling";
    api.namespace(ns).await?;
    // Selects none of the test's Pods and wants none: a ReplicaSet controller leaves them be.
    let rs = labelled_replica_set(&api, ns, "real", None, "other", 0).await?;
    let ghost = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ghost",
                       "uid": "00000000-0000-0000-0000-000000000001",
                       "controller": true, "blockOwnerDeletion": true});
    pod(&api, ns, "stray", json!([ghost.clone()]), json!([])).await?;
    // Same name as a real ReplicaSet, another uid: the owner it names is gone too.
    let mut impostor = owner("ReplicaSet", "apps/v1", &rs);
    impostor["uid"] = json!("00000000-0000-0000-0000-000000000002");
    pod(&api, ns, "renamed", json!([impostor]), json!([])).await?;
    // A present owner beside the missing one: the Pod stays, the dangling reference goes.
    let mut real = owner("ReplicaSet", "apps/v1", &rs);
    real["controller"] = json!(false);
    pod(&api, ns, "kept", json!([ghost, real]), json!([])).await?;

    gone(&api, &format!("{}/stray", pods(ns))).await?;
    gone(&api, &format!("{}/renamed", pods(ns))).await?;
    let refs = eventually("the dangling reference to be dropped", || async {
        let kept = api.get(&format!("{}/kept", pods(ns))).await?;
        let refs = kept.body["metadata"]["ownerReferences"].clone();
        Ok((kept.code == 200 && refs.as_array().is_some_and(|r| r.len() == 1)).then_some(refs))
    })
    .await?;
    assert_eq!(refs[0]["uid"], rs["metadata"]["uid"], "{refs}");
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn delete_options_are_checked_like_kube_apiserver() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start_without_workload_controllers(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let ns = "gc-options";
    api.namespace(ns).await?;
    let rs = labelled_replica_set(&api, ns, "web-h1", None, "web", 0).await?;
    let path = format!("{}/web-h1", apps(ns, "replicasets"));

    let unknown = api
        .send(
            reqwest::Method::DELETE,
            &format!("{path}?propagationPolicy=Sideways"),
            "",
            None,
        )
        .await?;
    assert_eq!(unknown.code, 422, "{}", unknown.body);
    assert_eq!(
        unknown.body["message"],
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \
         \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
    );
    assert_eq!(
        unknown.body["details"]["causes"][0]["field"],
        "propagationPolicy"
    );
    let both = delete_with(
        &api,
        &path,
        json!({"propagationPolicy": "Orphan", "orphanDependents": true}),
    )
    .await?;
    assert_eq!(both.code, 422, "{}", both.body);
    let stale = delete_with(
        &api,
        &path,
        json!({"preconditions": {"uid": "00000000-0000-0000-0000-000000000009"}}),
    )
    .await?;
    assert_eq!(stale.code, 409, "{}", stale.body);
    assert_eq!(api.get(&path).await?.code, 200, "nothing was deleted");

    // The legacy orphanDependents=true through a collection delete marks each object.
    let collection = delete_with(
        &api,
        &apps(ns, "replicasets"),
        json!({"orphanDependents": true}),
    )
    .await?;
    assert_eq!(collection.code, 200, "{}", collection.body);
    let marked = &collection.body["items"][0];
    assert_eq!(marked["metadata"]["uid"], rs["metadata"]["uid"]);
    assert!(
        finalizers(marked).contains(&"orphan".to_string()),
        "{marked}"
    );
    gone(&api, &path).await?;
    plane.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn kubectl_cascade_flags() -> TestResult {
    if !testkit::kubectl_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let plane = support::start_without_workload_controllers(&data, 10_000).await?;
    let api = Api::for_plane(&plane);
    let kubectl = support::kubectl::Kubectl::new(&data)?;
    let ns = "gc-kubectl";
    api.namespace(ns).await?;

    // --cascade=orphan: kubectl returns once the ReplicaSet is gone; its Pod stays, unowned.
    let rs = labelled_replica_set(&api, ns, "orphaned", None, "web", 1).await?;
    pod(
        &api,
        ns,
        "left",
        json!([owner("ReplicaSet", "apps/v1", &rs)]),
        json!([]),
    )
    .await?;
    let out = kubectl
        .run(&["delete", "rs", "orphaned", "-n", ns, "--cascade=orphan"])
        .await?;
    assert!(
        out.contains("replicaset.apps \"orphaned\" deleted"),
        "{out}"
    );
    let left = api.get(&format!("{}/left", pods(ns))).await?;
    assert_eq!(left.code, 200, "{}", left.body);
    assert!(
        left.body["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        left.body
    );

    // --cascade=foreground: kubectl waits for the Deployment, which goes after its dependents.
    let d = deployment(&api, ns, "front").await?;
    let rs = replica_set(&api, ns, "front-h1", Some(&d)).await?;
    pod(
        &api,
        ns,
        "front-pod",
        json!([owner("ReplicaSet", "apps/v1", &rs)]),
        json!([]),
    )
    .await?;
    let out = kubectl
        .run(&[
            "delete",
            "deployment",
            "front",
            "-n",
            ns,
            "--cascade=foreground",
        ])
        .await?;
    assert!(out.contains("deployment.apps \"front\" deleted"), "{out}");
    assert_eq!(
        api.get(&format!("{}/front-h1", apps(ns, "replicasets")))
            .await?
            .code,
        404
    );
    assert_eq!(api.get(&format!("{}/front-pod", pods(ns))).await?.code, 404);

    // The default (background): the Deployment goes at once, its dependents after.
    let d = deployment(&api, ns, "back").await?;
    let rs = replica_set(&api, ns, "back-h1", Some(&d)).await?;
    pod(
        &api,
        ns,
        "back-pod",
        json!([owner("ReplicaSet", "apps/v1", &rs)]),
        json!([]),
    )
    .await?;
    let out = kubectl
        .run(&["delete", "deployment", "back", "-n", ns])
        .await?;
    assert!(out.contains("deployment.apps \"back\" deleted"), "{out}");
    gone(&api, &format!("{}/back-h1", apps(ns, "replicasets"))).await?;
    gone(&api, &format!("{}/back-pod", pods(ns))).await?;
    plane.shutdown().await;
    Ok(())
}
