//! CRUD over real HTTP for every kind: create, get, list, update (with 409 on a stale
//! resourceVersion), status subresource, delete; bad input rejected with the right code and
//! a message naming the field, leaving the store unchanged.

mod support;

use serde_json::{Value, json};
use support::{Api, TestResult};

fn ns_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

#[tokio::test]
async fn every_kind_round_trips() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("crud");
    api.namespace(&ns).await?;
    let cases: Vec<(String, Value)> = vec![
        (
            format!("/api/v1/namespaces/{ns}/services"),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        (
            format!("/api/v1/namespaces/{ns}/pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        ),
        (
            format!("/api/v1/namespaces/{ns}/endpoints"),
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}),
        ),
        (
            format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "manual-abc", "labels": {"kubernetes.io/service-name": "manual"}},
                "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}], "ports": [{"port": 80}]}),
        ),
        (
            "/api/v1/nodes".to_string(),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{}", std::process::id())}}),
        ),
    ];
    for (collection, body) in cases {
        let created = api.post(&collection, &body).await?;
        assert_eq!(created.code, 201, "{collection}: {}", created.body);
        let name = created.body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rv = created.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(rv.parse::<u64>().is_ok(), "{collection}: rv {rv:?}");
        assert!(created.body["metadata"]["uid"].is_string());
        assert!(created.body["metadata"]["creationTimestamp"].is_string());
        let path = format!("{collection}/{name}");
        let got = api.get(&path).await?;
        assert_eq!(got.code, 200);
        assert_eq!(got.body["metadata"]["uid"], created.body["metadata"]["uid"]);

        let again = api.post(&collection, &body).await?;
        assert_eq!(again.code, 409, "{}", again.body);
        assert_eq!(again.body["reason"], "AlreadyExists");

        let mut changed = got.body.clone();
        changed["metadata"]["labels"] = json!({"edited": "yes"});
        let updated = api.put(&path, &changed).await?;
        assert_eq!(updated.code, 200, "{path}: {}", updated.body);
        assert_eq!(updated.body["metadata"]["labels"]["edited"], "yes");
        assert_ne!(
            updated.body["metadata"]["resourceVersion"],
            got.body["metadata"]["resourceVersion"]
        );

        // The first version's resourceVersion is now stale.
        let stale = api.put(&path, &got.body).await?;
        assert_eq!(stale.code, 409, "{}", stale.body);
        assert_eq!(stale.body["reason"], "Conflict");
        assert!(
            stale.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("the object has been modified"),
            "{}",
            stale.body
        );

        let list = api.get(&collection).await?;
        assert_eq!(list.code, 200);
        assert!(
            list.body["items"]
                .as_array()
                .is_some_and(|i| i.iter().any(|o| o["metadata"]["name"] == name))
        );
        assert!(list.body["metadata"]["resourceVersion"].is_string());

        let deleted = api.delete(&path).await?;
        assert_eq!(deleted.code, 200, "{}", deleted.body);
        assert_eq!(api.get(&path).await?.code, 404);
    }
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn generation_status_and_generate_name_follow_kubernetes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("gen");
    api.namespace(&ns).await?;
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let created = api
        .post(
            &pods,
            &json!({"metadata": {"generateName": "worker-"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        )
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let name = created.body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        name.starts_with("worker-") && name.len() == "worker-".len() + 5,
        "{name}"
    );
    assert_eq!(created.body["metadata"]["generation"], 1);
    let path = format!("{pods}/{name}");

    // Labels only: generation stays.
    let mut body = created.body.clone();
    body["metadata"]["labels"] = json!({"a": "b"});
    let r = api.put(&path, &body).await?;
    assert_eq!(r.body["metadata"]["generation"], 1);
    // Spec change: generation grows. Status in a main-resource PUT is ignored.
    let mut body = r.body.clone();
    body["spec"]["containers"][0]["image"] = json!("other");
    body["status"] = json!({"phase": "Running", "podIP": "10.244.0.9"});
    let r = api.put(&path, &body).await?;
    assert_eq!(r.body["metadata"]["generation"], 2);
    assert_ne!(r.body["status"]["podIP"], "10.244.0.9");
    // The status subresource changes status only.
    let mut body = r.body.clone();
    body["status"] = json!({"phase": "Running", "podIP": "10.244.0.9"});
    body["spec"]["containers"][0]["image"] = json!("ignored");
    let r = api.put(&format!("{path}/status"), &body).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["status"]["podIP"], "10.244.0.9");
    assert_eq!(r.body["spec"]["containers"][0]["image"], "other");

    // A Service PUT without the allocated clusterIP keeps it and is no spec change.
    let services = format!("/api/v1/namespaces/{ns}/services");
    let svc = api
        .post(
            &services,
            &json!({"metadata": {"name": "keep-ip"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(svc.code, 201, "{}", svc.body);
    let replaced = api
        .put(&format!("{services}/keep-ip"),
            &json!({"metadata": {"name": "keep-ip", "labels": {"x": "y"}}, "spec": {"ports": [{"port": 80}]}}))
        .await?;
    assert_eq!(replaced.code, 200, "{}", replaced.body);
    assert_eq!(
        replaced.body["spec"]["clusterIP"],
        svc.body["spec"]["clusterIP"]
    );
    assert_eq!(
        replaced.body["metadata"]["generation"], 1,
        "{}",
        replaced.body
    );
    cp.shutdown().await;
    Ok(())
}

/// Every bad request gets its code and a message naming the field, and changes nothing.
#[tokio::test]
async fn bad_input_is_rejected_and_leaves_the_store_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("bad");
    api.namespace(&ns).await?;
    let services = format!("/api/v1/namespaces/{ns}/services");
    let ok = api
        .post(
            &services,
            &json!({"metadata": {"name": "keep"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(ok.code, 201, "{}", ok.body);
    let snapshot = |r: &Value| -> Vec<Value> { r["items"].as_array().cloned().unwrap_or_default() };
    // The controllers write in other namespaces meanwhile: compare only what this test owns.
    let own_namespace = format!("/api/v1/namespaces?fieldSelector=metadata.name%3D{ns}");
    let before_services = snapshot(&api.get(&services).await?.body);
    let before_namespaces = snapshot(&api.get(&own_namespace).await?.body);

    let cases: Vec<(reqwest::Method, String, &str, String, u16, &str)> = vec![
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "Bad_Name"}}).to_string(),
            422,
            "metadata.name",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "1abc"}}).to_string(),
            422,
            "metadata.name",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {}}).to_string(),
            422,
            "metadata.name",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x", "labels": {"bad key!": "v"}}}).to_string(),
            422,
            "metadata.labels",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x", "labels": {"k": "-bad-"}}}).to_string(),
            422,
            "metadata.labels",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x", "annotations": {"/x": "v"}}}).to_string(),
            422,
            "metadata.annotations",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x", "namespace": "elsewhere"}}).to_string(),
            400,
            "metadata.namespace",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": "eighty"}]}}).to_string(),
            400,
            "spec.ports[0].port",
        ),
        (
            reqwest::Method::POST,
            format!("{services}?fieldValidation=Strict"),
            "application/json",
            json!({"metadata": {"name": "x"}, "spec": {"colour": "red"}}).to_string(),
            400,
            "spec.colour",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            "{not json".to_string(),
            400,
            "not valid JSON",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/json",
            json!({"kind": "Pod", "metadata": {"name": "x"}}).to_string(),
            400,
            "kind",
        ),
        (
            reqwest::Method::POST,
            services.clone(),
            "application/cbor",
            "x".to_string(),
            415,
            "media type",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/namespaces/does-not-exist/services".to_string(),
            "application/json",
            json!({"metadata": {"name": "x"}}).to_string(),
            404,
            "namespaces \"does-not-exist\" not found",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/namespaces".to_string(),
            "application/json",
            json!({"metadata": {"name": "a.b"}}).to_string(),
            422,
            "metadata.name",
        ),
        (
            reqwest::Method::PUT,
            format!("{services}/keep"),
            "application/json",
            json!({"metadata": {"name": "other"}}).to_string(),
            400,
            "metadata.name",
        ),
        (
            reqwest::Method::PUT,
            format!("{services}/keep"),
            "application/json",
            json!({"metadata": {"name": "keep", "resourceVersion": "1"}}).to_string(),
            409,
            "the object has been modified",
        ),
        (
            reqwest::Method::PUT,
            format!("{services}/missing"),
            "application/json",
            json!({"metadata": {"name": "missing"}}).to_string(),
            404,
            "services \"missing\" not found",
        ),
        (
            reqwest::Method::PATCH,
            format!("{services}/keep"),
            "application/apply-patch+yaml",
            "{}".to_string(),
            415,
            "server-side apply",
        ),
        (
            reqwest::Method::PATCH,
            format!("{services}/keep"),
            "application/json-patch+json",
            json!([{"op": "test", "path": "/metadata/name", "value": "nope"}]).to_string(),
            422,
            "patch",
        ),
        (
            reqwest::Method::GET,
            format!("{services}?labelSelector=a%20in%20(b"),
            "",
            String::new(),
            400,
            "labelSelector",
        ),
        (
            reqwest::Method::GET,
            format!("{services}?fieldSelector=spec.clusterIP%3D1.2.3.4"),
            "",
            String::new(),
            400,
            "spec.clusterIP",
        ),
        (
            reqwest::Method::GET,
            format!("{services}?limit=ten"),
            "",
            String::new(),
            400,
            "limit",
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/namespaces/default".to_string(),
            "",
            String::new(),
            403,
            "may not be deleted",
        ),
        (
            reqwest::Method::PUT,
            services.clone(),
            "application/json",
            json!({"metadata": {"name": "x"}}).to_string(),
            405,
            "not supported",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/widgets".to_string(),
            "",
            String::new(),
            404,
            "could not find",
        ),
    ];
    // `default` may not exist yet unless the controllers created it; the 403 case needs it.
    api.namespace("default").await?;
    for (method, path, content_type, body, code, needle) in cases {
        let body = (!body.is_empty()).then_some(body);
        let r = api.send(method.clone(), &path, content_type, body).await?;
        assert_eq!(r.code, code, "{method} {path}: {}", r.body);
        assert_eq!(r.body["kind"], "Status", "{method} {path}: {}", r.body);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{method} {path}: {message:?} lacks {needle:?}"
        );
    }
    let after_services = snapshot(&api.get(&services).await?.body);
    let after_namespaces = snapshot(&api.get(&own_namespace).await?.body);
    assert_eq!(before_services, after_services);
    assert_eq!(before_namespaces, after_namespaces);
    assert_eq!(api.get("/api/v1/namespaces/a.b").await?.code, 404);
    assert_eq!(
        api.get("/api/v1/namespaces/does-not-exist").await?.code,
        404
    );
    assert_eq!(api.get("/api/v1/namespaces/default").await?.code, 200);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn yaml_bodies_and_unknown_field_warnings() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("yaml");
    api.namespace(&ns).await?;
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: from-yaml\nspec:\n  ports:\n  - port: 8080\n  extra: 1\n";
    let r = api
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/namespaces/{ns}/services"),
            "application/yaml",
            Some(yaml.to_string()),
        )
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["ports"][0]["port"], 8080);
    let warning = r
        .headers
        .get("warning")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(warning.contains("spec.extra"), "{warning:?}");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dry_run_answers_without_storing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("dryrun");
    api.namespace(&ns).await?;
    let services = format!("/api/v1/namespaces/{ns}/services");
    let before = api.get(&services).await?.body["items"].clone();
    let r = api
        .post(
            &format!("{services}?dryRun=All"),
            &json!({"metadata": {"name": "ghost"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(
        r.body["spec"]["clusterIP"].is_string(),
        "admission ran: {}",
        r.body
    );
    assert_eq!(api.get(&format!("{services}/ghost")).await?.code, 404);
    let bad = api
        .post(
            &format!("{services}?dryRun=All"),
            &json!({"metadata": {"name": "Bad"}}),
        )
        .await?;
    assert_eq!(bad.code, 422);
    let after = api.get(&services).await?.body["items"].clone();
    assert_eq!(after, before);
    assert_eq!(after, json!([]));
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn delete_preconditions_are_checked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("precond");
    api.namespace(&ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/pods/p");
    let created = api
        .post(&format!("/api/v1/namespaces/{ns}/pods"),
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .await?;
    assert_eq!(created.code, 201, "{}", created.body);
    let options = |uid: &Value| json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}});
    let wrong = api
        .send(
            reqwest::Method::DELETE,
            &path,
            "application/json",
            Some(options(&json!("not-the-uid")).to_string()),
        )
        .await?;
    assert_eq!(wrong.code, 409, "{}", wrong.body);
    assert!(
        wrong.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Precondition failed")
    );
    assert_eq!(api.get(&path).await?.code, 200);
    let right = api
        .send(
            reqwest::Method::DELETE,
            &path,
            "application/json",
            Some(options(&created.body["metadata"]["uid"]).to_string()),
        )
        .await?;
    assert_eq!(right.code, 200, "{}", right.body);
    assert_eq!(api.get(&path).await?.code, 404);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn delete_collection_removes_what_the_selector_picks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let api = Api::for_plane(&cp);
    let ns = ns_name("delcoll");
    api.namespace(&ns).await?;
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let r = api
            .post(
                &pods,
                &json!({"metadata": {"name": name, "labels": {"tier": tier}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            )
            .await?;
        assert_eq!(r.code, 201, "{}", r.body);
    }
    let r = api
        .delete(&format!("{pods}?labelSelector=tier%3Dweb"))
        .await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    let left = api.get(&pods).await?.body;
    let names: Vec<&str> = left["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["c"]);
    cp.shutdown().await;
    Ok(())
}
