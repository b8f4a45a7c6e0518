//! `switchyard run` schedules: a Pod that names no node is bound to this host's Node and gets
//! an IP from that Node's podCIDR; one asking for more cpu than the Node has waits,
//! Unschedulable, with kube-scheduler's message.

use serde_json::{Value, json};

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually};

fn pod(name: &str, cpu: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "app:1",
            "resources": {"requests": {"cpu": cpu}}}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_binds_pods_to_its_node_with_an_ip_from_its_cidr() -> TestResult {
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    let pods = "/api/v1/namespaces/default/pods";
    assert_eq!(sy.post(pods, &pod("small", "10m")).await?.0, 201);
    assert_eq!(sy.post(pods, &pod("huge", "100000")).await?.0, 201);
    let placed = eventually(200, || async {
        let (_, body) = sy.get(&format!("{pods}/small")).await.ok()?;
        let node = body["spec"]["nodeName"].as_str()?.to_string();
        let ip = body["status"]["podIP"].as_str()?.to_string();
        Some((node, ip))
    })
    .await
    .ok_or("the small pod was not scheduled")?;
    let (_, node) = sy.get(&format!("/api/v1/nodes/{}", placed.0)).await?;
    let cidr: ipnet::IpNet = node["spec"]["podCIDR"]
        .as_str()
        .ok_or("node without podCIDR")?
        .parse()?;
    let ip: std::net::IpAddr = placed.1.parse()?;
    assert!(cidr.contains(&ip), "{ip} outside {cidr}");
    let message = eventually(200, || async {
        let (_, body) = sy.get(&format!("{pods}/huge")).await.ok()?;
        body["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")?["message"]
            .as_str()
            .map(str::to_string)
    })
    .await
    .ok_or("the huge pod got no Unschedulable condition")?;
    assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
    Ok(())
}
