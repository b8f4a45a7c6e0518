//! The ReplicationController / ReplicaSet controller against a real control plane on loopback
//! (HTTPS, admin token; the controller runs inside the plane as `switchyard run` starts it):
//! an RC with 3 replicas gets 3 Pods made from its template with its controller
//! ownerReference and a status that counts them; scaled to 1 through `/scale` it deletes 2;
//! a deleted Pod is replaced. A ReplicaSet with a `matchExpressions` selector adopts a
//! matching orphan Pod (creating only the rest), releases a Pod relabelled out of its selector
//! and replaces it, and scales up and down through `/scale`.

mod support;

use std::collections::BTreeSet;
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

const PODS: &str = "/api/v1/namespaces/default/pods";
const RCS: &str = "/api/v1/namespaces/default/replicationcontrollers";
const RSS: &str = "/apis/apps/v1/namespaces/default/replicasets";

/// The Pods of `default` whose controller ownerReference has `uid`.
async fn controlled(api: &Api, uid: &str) -> TestResult<Vec<Value>> {
    let list = api.get(PODS).await?;
    assert_eq!(list.code, 200, "{}", list.body);
    Ok(list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == uid && r["controller"] == true)
        })
        .cloned()
        .collect())
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until exactly `count` Pods are controlled by `uid` and returns their names.
async fn wait_for_pods(api: &Api, uid: &str, count: usize) -> TestResult<BTreeSet<String>> {
    wait_for_pods_where(api, uid, count, |_| true).await
}

/// Waits until exactly `count` Pods are controlled by `uid` and their names pass `check`.
async fn wait_for_pods_where(
    api: &Api,
    uid: &str,
    count: usize,
    check: impl Fn(&BTreeSet<String>) -> bool,
) -> TestResult<BTreeSet<String>> {
    eventually(&format!("{count} pods controlled by {uid}"), || async {
        let names: BTreeSet<String> = controlled(api, uid).await?.iter().map(name_of).collect();
        Ok((names.len() == count && check(&names)).then_some(names))
    })
    .await
}

/// Waits until the owner at `path` reports `replicas` in its status for its current generation.
async fn wait_for_status(api: &Api, path: &str, replicas: i64) -> TestResult<Value> {
    eventually(&format!("{path} to report {replicas} replicas"), || async {
        let owner = api.get(path).await?.body;
        let status = &owner["status"];
        let settled = status["replicas"].as_i64().unwrap_or(0) == replicas
            && status["observedGeneration"] == owner["metadata"]["generation"];
        Ok(settled.then(|| owner.clone()))
    })
    .await
}

async fn scale(api: &Api, path: &str, replicas: i64) -> TestResult {
    let reply = api
        .patch(
            &format!("{path}/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": replicas}}),
        )
        .await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    Ok(())
}

/// Deletes one Pod and waits until `uid` controls `count` Pods again, none of them that one.
async fn delete_and_see_replaced(api: &Api, uid: &str, victim: &str, count: usize) -> TestResult {
    let reply = api.delete(&format!("{PODS}/{victim}")).await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    eventually(&format!("{victim} to be replaced"), || async {
        let names: BTreeSet<String> = controlled(api, uid).await?.iter().map(name_of).collect();
        Ok((names.len() == count && !names.contains(victim)).then_some(()))
    })
    .await
}

#[tokio::test]
async fn replication_controller_creates_scales_down_and_replaces_pods() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let rc = json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "myweb"},
        "spec": {"replicas": 3, "selector": {"app": "myweb"},
                 "template": {"metadata": {"labels": {"app": "myweb"},
                                           "annotations": {"tutorial": "rc"}},
                              "spec": {"containers": [{"name": "myweb", "image": "nginx:1.13",
                                                       "ports": [{"containerPort": 80}]}]}}}
    });
    let created = api.post(RCS, &rc).await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let uid = created.body["metadata"]["uid"]
        .as_str()
        .ok_or("rc without uid")?
        .to_string();

    let first = wait_for_pods(&api, &uid, 3).await?;
    for pod in controlled(&api, &uid).await? {
        let name = name_of(&pod);
        assert!(
            name.starts_with("myweb-") && name.len() > "myweb-".len(),
            "{name}"
        );
        assert_eq!(pod["metadata"]["generateName"], "myweb-", "{pod}");
        assert_eq!(pod["metadata"]["labels"]["app"], "myweb", "{pod}");
        assert_eq!(pod["metadata"]["annotations"]["tutorial"], "rc", "{pod}");
        let refs = pod["metadata"]["ownerReferences"]
            .as_array()
            .ok_or("no ownerReferences")?;
        assert_eq!(refs.len(), 1, "{pod}");
        assert_eq!(
            refs[0],
            json!({"apiVersion": "v1", "kind": "ReplicationController", "name": "myweb",
                   "uid": uid, "controller": true, "blockOwnerDeletion": true})
        );
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1.13");
    }
    let owner = wait_for_status(&api, &format!("{RCS}/myweb"), 3).await?;
    assert_eq!(owner["status"]["fullyLabeledReplicas"], 3, "{owner}");

    scale(&api, &format!("{RCS}/myweb"), 1).await?;
    let left = wait_for_pods(&api, &uid, 1).await?;
    assert!(
        left.is_subset(&first),
        "scaling down created pods: {left:?}"
    );
    let mut gone = 0;
    for name in first.difference(&left) {
        let reply = api.get(&format!("{PODS}/{name}")).await?;
        assert_eq!(reply.code, 404, "{name} survived: {}", reply.body);
        gone += 1;
    }
    assert_eq!(gone, 2);
    wait_for_status(&api, &format!("{RCS}/myweb"), 1).await?;

    let victim = left.iter().next().ok_or("no pod left")?.clone();
    delete_and_see_replaced(&api, &uid, &victim, 1).await?;
    Ok(())
}

#[tokio::test]
async fn replica_set_adopts_releases_and_scales_with_match_expressions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let plane = support::start(dir.path(), 10_000).await?;
    let api = Api::for_plane(&plane);
    let labels = json!({"tier": "frontend", "env": "prod"});
    let orphan = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}
    });
    let reply = api.post(PODS, &orphan).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);
    // A Pod the selector rejects (env not in the set) stays alone.
    let mut stranger = orphan.clone();
    stranger["metadata"] =
        json!({"name": "stranger", "labels": {"tier": "frontend", "env": "dev"}});
    let reply = api.post(PODS, &stranger).await?;
    assert_eq!(reply.code, 201, "{}", reply.body);

    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "frontend"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"tier": "frontend"},
                              "matchExpressions": [{"key": "env", "operator": "In",
                                                    "values": ["prod", "staging"]}]},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    });
    let created = api.post(RSS, &rs).await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let uid = created.body["metadata"]["uid"]
        .as_str()
        .ok_or("rs without uid")?
        .to_string();
    let path = format!("{RSS}/frontend");

    // Adopted whether the controller saw the orphan before the ReplicaSet or after (then it
    // adopts it and deletes the Pod it made too many).
    wait_for_pods_where(&api, &uid, 2, |names| names.contains("orphan")).await?;
    let adopted = api.get(&format!("{PODS}/orphan")).await?.body;
    assert_eq!(
        adopted["metadata"]["ownerReferences"][0],
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "frontend",
               "uid": uid, "controller": true, "blockOwnerDeletion": true})
    );
    let stranger = api.get(&format!("{PODS}/stranger")).await?.body;
    assert!(
        stranger["metadata"]["ownerReferences"].is_null(),
        "{stranger}"
    );
    wait_for_status(&api, &path, 2).await?;

    // Relabelled out of the selector: released and replaced.
    let reply = api
        .patch(
            &format!("{PODS}/orphan"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"env": "dev"}}}),
        )
        .await?;
    assert_eq!(reply.code, 200, "{}", reply.body);
    eventually("the relabelled pod to be released", || async {
        let pod = api.get(&format!("{PODS}/orphan")).await?.body;
        let refs = pod["metadata"]["ownerReferences"].as_array().cloned();
        Ok(refs.is_none_or(|r| r.is_empty()).then_some(()))
    })
    .await?;
    let pods = wait_for_pods_where(&api, &uid, 2, |names| !names.contains("orphan")).await?;

    scale(&api, &path, 4).await?;
    let more = wait_for_pods(&api, &uid, 4).await?;
    assert!(pods.is_subset(&more), "scaling up replaced pods: {more:?}");
    wait_for_status(&api, &path, 4).await?;
    scale(&api, &path, 1).await?;
    let left = wait_for_pods(&api, &uid, 1).await?;
    assert!(left.is_subset(&more), "{left:?}");
    let victim = left.iter().next().ok_or("no pod left")?.clone();
    delete_and_see_replaced(&api, &uid, &victim, 1).await?;
    let owner = wait_for_status(&api, &path, 1).await?;
    assert_eq!(owner["status"]["fullyLabeledReplicas"], 1, "{owner}");
    // The released Pods and the stranger were left alone.
    for name in ["orphan", "stranger"] {
        let reply = api.get(&format!("{PODS}/{name}")).await?;
        assert_eq!(reply.code, 200, "{name}: {}", reply.body);
    }
    Ok(())
}
