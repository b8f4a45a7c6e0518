//! EndpointSlices derived from Services' selectors and Pods' readiness, end to end.

use serde_json::{Value, json};

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually};

fn pod(name: &str, ip: &str, labels: Value, ready: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "app", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": ready}]}
    })
}

/// GET `path`, change it with `change`, PUT it to `path` + `subresource`, again on a 409 (the
/// scheduler may bind the Pod meanwhile), at most 10 times; the last PUT's status.
async fn read_modify_write(
    sy: &Switchyard,
    path: &str,
    subresource: &str,
    change: impl Fn(&mut Value),
) -> TestResult<u16> {
    let mut status = 0;
    for _ in 0..10 {
        let (_, mut obj) = sy.get(path).await?;
        change(&mut obj);
        status = sy.put(&format!("{path}{subresource}"), &obj).await?.0;
        if status != 409 {
            break;
        }
    }
    Ok(status)
}

/// `ip -> ready` of every endpoint in the service's slices.
async fn endpoints(sy: &Switchyard, service: &str) -> TestResult<Vec<(String, bool)>> {
    let path = format!(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{service}"
    );
    let (_, list) = sy.get(&path).await?;
    let mut out = Vec::new();
    for slice in list["items"].as_array().into_iter().flatten() {
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            let ready = ep
                .pointer("/conditions/ready")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            for a in ep["addresses"].as_array().into_iter().flatten() {
                out.push((a.as_str().unwrap_or_default().to_string(), ready));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_follow_selector_and_readiness_changes() -> TestResult {
    // The test writes readiness itself; the node agent would overwrite it.
    let sy = Switchyard::start(SwitchyardOptions {
        args: vec!["--node-agent=false".into()],
        ..SwitchyardOptions::default()
    })
    .await?;
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    });
    assert_eq!(
        sy.post("/api/v1/namespaces/default/services", &service)
            .await?
            .0,
        201
    );
    for (name, ip, ready) in [
        ("a", "10.244.9.11", "True"),
        ("b", "10.244.9.12", "True"),
        ("c", "10.244.9.13", "False"),
    ] {
        let (status, body) = sy
            .post(
                "/api/v1/namespaces/default/pods",
                &pod(name, ip, json!({"app": "web"}), ready),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
    }
    let other = pod("other", "10.244.9.9", json!({"app": "db"}), "True");
    assert_eq!(
        sy.post("/api/v1/namespaces/default/pods", &other).await?.0,
        201
    );

    let want = vec![
        ("10.244.9.11".to_string(), true),
        ("10.244.9.12".to_string(), true),
        ("10.244.9.13".to_string(), false),
    ];
    let got = eventually(200, || async {
        endpoints(&sy, "web").await.ok().filter(|e| *e == want)
    })
    .await;
    assert!(
        got.is_some(),
        "slices never matched {want:?}: now {:?}",
        endpoints(&sy, "web").await?
    );

    // Pod b becomes unready, pod c ready; pod a leaves the selector.
    let pods = "/api/v1/namespaces/default/pods";
    let ready = |status: &'static str| {
        move |pod: &mut Value| {
            pod["status"]["conditions"] = json!([{"type": "Ready", "status": status}]);
        }
    };
    assert_eq!(
        read_modify_write(&sy, &format!("{pods}/b"), "/status", ready("False")).await?,
        200
    );
    assert_eq!(
        read_modify_write(&sy, &format!("{pods}/c"), "/status", ready("True")).await?,
        200
    );
    let relabel = |pod: &mut Value| pod["metadata"]["labels"] = json!({"app": "other"});
    assert_eq!(
        read_modify_write(&sy, &format!("{pods}/a"), "", relabel).await?,
        200
    );

    let want = vec![
        ("10.244.9.12".to_string(), false),
        ("10.244.9.13".to_string(), true),
    ];
    let got = eventually(200, || async {
        endpoints(&sy, "web").await.ok().filter(|e| *e == want)
    })
    .await;
    assert!(
        got.is_some(),
        "slices never matched {want:?}: now {:?}",
        endpoints(&sy, "web").await?
    );

    // Deleting the service removes its slices.
    assert_eq!(
        sy.delete("/api/v1/namespaces/default/services/web").await?,
        200
    );
    let gone = eventually(200, || async {
        endpoints(&sy, "web").await.ok().filter(|e| e.is_empty())
    })
    .await;
    assert!(gone.is_some(), "slices outlived their service");
    Ok(())
}
