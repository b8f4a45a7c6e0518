//! The userspace proxy inside `switchyard run`, over loopback only: a NodePort on 127.0.0.1
//! spreads connections over three real backends, and follows the API when a pod turns unready.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually};

/// A backend that answers every connection with its name.
async fn backend(name: &'static str) -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(name.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

/// Connects through `addr` and returns what the backend said.
async fn ask(addr: SocketAddr) -> Option<String> {
    let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
    let mut stream = connect.ok()?.ok()?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut text))
        .await
        .ok()?
        .ok()?;
    (!text.is_empty()).then_some(text)
}

/// A NodePort in the default range that nothing on this host listens on right now.
fn free_node_port() -> u16 {
    let start = 30000 + (std::process::id() % 2000) as u16;
    (start..32767)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap_or(32000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_port_spreads_over_backends_and_follows_readiness() -> TestResult {
    let node_port = free_node_port();
    let options = SwitchyardOptions {
        proxy_mode: Some("userspace".into()),
        args: vec![
            "--proxy-interface".into(),
            "none".into(),
            "--nodeport-addresses".into(),
            "127.0.0.1/32".into(),
            "--node-ip".into(),
            "127.0.0.1".into(),
            // This test writes the Pods' readiness itself; the node agent would overwrite it.
            "--node-agent=false".into(),
        ],
        ..Default::default()
    };
    let sy = Switchyard::start(options).await?;
    let mut pods = Vec::new();
    for name in ["b-0", "b-1", "b-2"] {
        let port = backend(name).await?;
        // Every backend is on 127.0.0.1 with its own port: a named targetPort resolves per pod.
        pods.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "b"}},
            "spec": {"nodeName": "e2e-node", "containers": [{"name": "c", "image": "app", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
    }
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"},
        "spec": {"type": "NodePort", "selector": {"app": "b"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": node_port}]}
    });
    assert_eq!(
        sy.post("/api/v1/namespaces/default/services", &service)
            .await?
            .0,
        201
    );
    for pod in &pods {
        let (status, body) = sy.post("/api/v1/namespaces/default/pods", pod).await?;
        assert_eq!(status, 201, "{body}");
    }
    let entry = SocketAddr::from(([127, 0, 0, 1], node_port));
    // Wait until all three backends are behind the NodePort.
    let all = eventually(300, || async {
        let mut seen = BTreeMap::new();
        for _ in 0..6 {
            if let Some(name) = ask(entry).await {
                *seen.entry(name).or_insert(0) += 1;
            }
        }
        (seen.len() == 3).then_some(seen)
    })
    .await;
    assert!(
        all.is_some(),
        "the NodePort never reached all three backends"
    );

    // Round-robin: 60 connections spread 20 ± 4 each.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..60 {
        let name = ask(entry)
            .await
            .ok_or("a connection through the NodePort failed")?;
        *counts.entry(name).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.values().all(|c| (16..=24).contains(c)),
        "uneven spread: {counts:?}"
    );

    // b-1 turns unready: new connections avoid it.
    let (_, mut b1) = sy.get("/api/v1/namespaces/default/pods/b-1").await?;
    b1["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    assert_eq!(
        sy.put("/api/v1/namespaces/default/pods/b-1/status", &b1)
            .await?
            .0,
        200
    );
    let avoided = eventually(300, || async {
        let mut names = Vec::new();
        for _ in 0..9 {
            names.push(ask(entry).await?);
        }
        names.iter().all(|n| n != "b-1").then_some(names)
    })
    .await;
    assert!(
        avoided.is_some(),
        "an unready backend kept receiving new connections"
    );
    Ok(())
}
