//! Registers this host as a Node in the API (so it gets a pod CIDR and endpoints can be local),
//! and works out the node's name and addresses.

use std::net::IpAddr;

use anyhow::Result;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::PostParams;

use crate::cli::NodeArgs;

/// This node's name and addresses, from the flags or the host.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The node's name.
    pub name: String,
    /// The node's addresses (at least one).
    pub ips: Vec<IpAddr>,
}

impl NodeIdentity {
    /// From `--node-name` / `--node-ip`, defaulting to the host name and 127.0.0.1.
    pub fn from_args(args: &NodeArgs) -> NodeIdentity {
        let name = args.node_name.clone().unwrap_or_else(host_name);
        let ips = if args.node_ip.is_empty() {
            vec![IpAddr::from([127, 0, 0, 1])]
        } else {
            args.node_ip.clone()
        };
        NodeIdentity { name, ips }
    }
}

/// The host name, lower-cased (`localhost` when unknown).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Creates the Node object if it does not exist yet (an existing one is left as it is).
pub async fn register(client: kube::Client, node: &NodeIdentity) -> Result<()> {
    let api: Api<Node> = Api::all(client);
    if api.get_opt(&node.name).await?.is_some() {
        return Ok(());
    }
    let addresses: Vec<serde_json::Value> = node
        .ips
        .iter()
        .map(|ip| serde_json::json!({"type": "InternalIP", "address": ip.to_string()}))
        .chain(std::iter::once(
            serde_json::json!({"type": "Hostname", "address": node.name}),
        ))
        .collect();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let object: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": {"kubernetes.io/hostname": node.name}},
        "status": {
            "addresses": addresses,
            // What the scheduler counts requests against (memory is not limited here).
            "capacity": {"cpu": cpus.to_string(), "pods": "110"},
            "allocatable": {"cpu": cpus.to_string(), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "SwitchyardReady",
                            "message": "switchyard is running on this node"}],
            "nodeInfo": {"kubeletVersion": concat!("switchyard-v", env!("CARGO_PKG_VERSION")),
                         "architecture": std::env::consts::ARCH, "operatingSystem": std::env::consts::OS,
                         "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "",
                         "kubeProxyVersion": "", "machineID": "", "osImage": "", "systemUUID": ""}
        }
    }))?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(e) if cluster_watch::status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
