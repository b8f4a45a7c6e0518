use std::time::Duration;

use serde_json::json;

use super::*;

fn pod(name: &str, node: &str, ip: Option<&str>) -> (ObjectKey, Arc<Pod>) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"nodeName": node, "containers": [{"name": "c"}]},
        "status": {"podIP": ip},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    (ObjectKey::new("default", name), Arc::new(pod))
}

/// A client of an address where nothing listens: status writes fail and are retried, which
/// these tests do not look at.
fn client() -> kube::Client {
    let url = "http://127.0.0.1:9"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (bounded) until the agent reports `count` probed Pods.
async fn probed(agent: &NodeAgent, count: usize) -> bool {
    let line = format!("switchyard_agent_pods_probed {count}\n");
    for _ in 0..200 {
        if agent.metrics_text().contains(&line) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn only_this_nodes_pods_with_an_ip_are_probed_up_to_the_cap() {
    let (tx, rx) = watch::channel(Arc::new(ClusterState::default()));
    let config = AgentConfig {
        node_name: "n1".into(),
        max_probes_in_flight: 4,
        max_pods: 2,
    };
    let agent = NodeAgent::start(client(), rx, config).unwrap_or_else(|e| panic!("{e}"));
    let mut state = ClusterState {
        synced: true,
        ..ClusterState::default()
    };
    for (key, pod) in [
        pod("a", "n1", Some("10.0.0.1")),
        pod("b", "n1", Some("10.0.0.2")),
        pod("c", "n1", Some("10.0.0.3")),
        pod("elsewhere", "n2", Some("10.0.0.4")),
        pod("no-ip", "n1", None),
    ] {
        state.pods.insert(key, pod);
    }
    tx.send_replace(Arc::new(state.clone()));
    assert!(probed(&agent, 2).await, "{}", agent.metrics_text());

    // Two go: the one waiting for the cap (c) takes a place, nothing else does.
    state.pods.remove(&ObjectKey::new("default", "a"));
    state.pods.remove(&ObjectKey::new("default", "b"));
    tx.send_replace(Arc::new(state.clone()));
    assert!(probed(&agent, 1).await, "{}", agent.metrics_text());

    // c loses its IP: no longer probed.
    let (key, no_ip) = pod("c", "n1", None);
    state.pods.insert(key, no_ip);
    tx.send_replace(Arc::new(state));
    assert!(probed(&agent, 0).await, "{}", agent.metrics_text());
    agent.shutdown().await;
}

#[test]
fn settings_out_of_range_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let (_tx, rx) = watch::channel(Arc::new(ClusterState::default()));
        let empty = NodeAgent::start(client(), rx.clone(), AgentConfig::default());
        assert!(matches!(
            empty,
            Err(AgentError::Config {
                field: "node name",
                ..
            })
        ));
        let zero = AgentConfig {
            node_name: "n1".into(),
            max_pods: 0,
            ..AgentConfig::default()
        };
        let zero = NodeAgent::start(client(), rx, zero);
        assert!(matches!(
            zero,
            Err(AgentError::Config {
                field: "max pods",
                ..
            })
        ));
    });
}
