//! Address exhaustion and conflicts through the API: a taken or out-of-range NodePort is a 422
//! naming the field; a full service range is, as in Kubernetes, an internal error saying the
//! range is full; nothing is stored for a refused request, and a restart rebuilds the
//! allocations exactly (no address handed out twice).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Switchyard, SwitchyardOptions, TestResult};

fn service(name: &str, node_port: Option<u16>) -> Value {
    let mut port = json!({"port": 80});
    let mut spec = json!({"ports": [], "selector": {"app": name}});
    if let Some(np) = node_port {
        port["nodePort"] = json!(np);
        spec["type"] = json!("NodePort");
    }
    spec["ports"] = json!([port]);
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_service_range_and_taken_node_port_are_clear_errors() -> TestResult {
    // A /28 has 14 usable addresses; the first belongs to default/kubernetes.
    let options = SwitchyardOptions {
        args: vec!["--service-cidr".into(), "10.96.0.0/28".into()],
        ..Default::default()
    };
    let mut sy = Switchyard::start(options).await?;
    let mut ips = BTreeSet::new();
    let mut refused = None;
    for i in 0..20 {
        let (status, body) = sy
            .post(
                "/api/v1/namespaces/default/services",
                &service(&format!("s{i}"), None),
            )
            .await?;
        if status == 201 {
            let ip = body["spec"]["clusterIP"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(ips.insert(ip.clone()), "{ip} handed out twice");
        } else {
            refused = Some((i, status, body));
            break;
        }
    }
    let (index, status, body) = refused.ok_or("the range never filled up")?;
    assert_eq!(
        index, 12,
        "a /28 should take 12 services besides kubernetes and kube-dns (.10)"
    );
    // kube-apiserver answers an exhausted range with 500 "failed to allocate a serviceIP: range
    // is full"; so do we, with the range in the message.
    assert_eq!(status, 500, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("10.96.0.0/28") && message.contains("full"),
        "{message}"
    );
    let (status, _) = sy.get("/api/v1/namespaces/default/services/s13").await?;
    assert_eq!(status, 404, "the refused service was stored");

    // Free one address, restart, and make sure the rebuilt allocator neither loses nor repeats.
    assert_eq!(
        sy.delete("/api/v1/namespaces/default/services/s3").await?,
        200
    );
    sy.restart().await?;
    let (status, body) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &service("again", None),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let (status, _) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &service("again2", None),
        )
        .await?;
    assert_eq!(
        status, 500,
        "a full range accepted another service after restart"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_node_port_is_refused_naming_the_field() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let (status, body) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &service("first", Some(30555)),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let (status, body) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &service("second", Some(30555)),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("spec.ports[0].nodePort"), "{message}");
    let (status, body) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &service("third", Some(40000)),
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("spec.ports[0].nodePort")
    );
    Ok(())
}
