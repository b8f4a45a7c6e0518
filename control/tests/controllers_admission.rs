//! End-to-end admission through the API: allocation conflicts come back as 422 Status objects
//! naming the field, allocations survive a restart (the store's repair pass rebuilds them from
//! the stored objects), and deleting an object frees what it held.

mod support;

use std::path::Path;

use control::server::ControlPlane;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn start(dir: &Path) -> TestResult<(ControlPlane, Client)> {
    let plane = support::start(dir, 1000).await?;
    let client = support::kube_client(&plane)?;
    Ok((plane, client))
}

fn service(name: &str, spec: Value) -> TestResult<Service> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

/// The Status of a failed call, or an error when it succeeded.
fn status_of<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
) -> TestResult<Box<kube::core::Status>> {
    match result {
        Err(kube::Error::Api(status)) => Ok(status),
        other => Err(format!("expected an API error, got {other:?}").into()),
    }
}

#[tokio::test]
async fn conflicts_are_422_and_allocations_survive_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (plane, client) = start(dir.path()).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let dns = service(
        "dns",
        json!({"clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
    )?;
    services.create(&pp, &dns).await?;
    let status = status_of(
        services
            .create(
                &pp,
                &service(
                    "dns2",
                    json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
                )?,
            )
            .await,
    )?;
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "Service \"dns2\" is invalid: spec.clusterIPs[0]: Invalid value: \"10.96.0.10\": provided IP is already allocated"
    );
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    assert_eq!(causes[0].field, "spec.clusterIPs[0]");
    let np = service(
        "np",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
    )?;
    services.create(&pp, &np).await?;
    let status = status_of(
        services
            .create(
                &pp,
                &service(
                    "np2",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
                )?,
            )
            .await,
    )?;
    assert!(
        status.message.contains(
            "spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated"
        ),
        "{}",
        status.message
    );
    let status = status_of(
        services
            .create(&pp, &service("bad", json!({"ports": [{"port": 0}]}))?)
            .await,
    )?;
    assert!(
        status
            .message
            .contains("spec.ports[0].port: Invalid value: 0"),
        "{}",
        status.message
    );

    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "n1"}}))?,
        )
        .await?;
    let cidr = node.spec.and_then(|s| s.pod_cidr).unwrap_or_default();
    assert!(cidr.starts_with("10.244."), "{cidr}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}))?,
        )
        .await?;
    let pod_ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
    let prefix = cidr
        .rsplit_once('.')
        .map(|(a, _)| a.to_string())
        .unwrap_or_default();
    assert!(pod_ip.starts_with(&prefix), "{pod_ip} not in {cidr}");
    plane.shutdown().await;

    // After a restart the allocators are rebuilt from the stored objects.
    let (plane, client) = start(dir.path()).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let status = status_of(
        services
            .create(
                &pp,
                &service(
                    "dns3",
                    json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
                )?,
            )
            .await,
    )?;
    assert!(
        status.message.contains("already allocated"),
        "{}",
        status.message
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let status = status_of(
        nodes
            .create(
                &pp,
                &serde_json::from_value(
                    json!({"metadata": {"name": "n2"}, "spec": {"podCIDR": cidr}}),
                )?,
            )
            .await,
    )?;
    assert!(
        status.message.contains("spec.podCIDRs[0]"),
        "{}",
        status.message
    );
    // Deleting the holder frees the IP.
    services.delete("dns", &DeleteParams::default()).await?;
    services
        .create(
            &pp,
            &service(
                "dns3",
                json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
            )?,
        )
        .await?;
    plane.shutdown().await;
    Ok(())
}
