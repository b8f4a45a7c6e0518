//! What is already placed on each node: requested cpu and memory, the number of Pods, and how
//! many Pods of each spreading group (same controller, else same namespace and labels). Kept
//! up to date from the Pod watch events (and the scheduler's own bindings, until the watch
//! shows them), so a scheduling decision reads one entry per node instead of scanning Pods.
//! A relist is collected apart and swapped in whole.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

use crate::admission::pod::resources::{Requests, pod_requests};

/// A Pod's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl PodKey {
    /// The key of `pod`.
    pub fn of(pod: &Pod) -> PodKey {
        PodKey {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where a Pod sits and what it takes there.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The node.
    pub node: String,
    /// What the Pod requests.
    pub requests: Requests,
    /// Its spreading group, if any.
    pub group: Option<String>,
}

/// The totals of one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeTotals {
    /// The sum of the requests of its Pods.
    pub requests: Requests,
    /// How many Pods it holds.
    pub pods: u32,
    /// How many Pods of each spreading group it holds.
    groups: HashMap<String, u32>,
}

impl NodeTotals {
    /// How many Pods of `group` the node holds.
    pub fn in_group(&self, group: Option<&str>) -> u32 {
        group.and_then(|g| self.groups.get(g)).copied().unwrap_or(0)
    }
}

/// The spreading group of a Pod: its controller's uid, else its namespace and labels; `None`
/// for a Pod with neither.
pub fn group_of(pod: &Pod) -> Option<String> {
    if let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        return Some(format!("owner:{}", owner.uid));
    }
    let labels = pod.metadata.labels.as_ref().filter(|l| !l.is_empty())?;
    let mut text = format!(
        "labels:{}",
        pod.metadata.namespace.as_deref().unwrap_or_default()
    );
    for (k, v) in labels {
        text.push_str(&format!(" {k}={v}"));
    }
    Some(text)
}

/// The placement a Pod holds: bound to a node and not finished.
pub fn placement_of(pod: &Pod) -> Option<Placement> {
    let spec = pod.spec.as_ref()?;
    let node = spec.node_name.clone().filter(|n| !n.is_empty())?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    Some(Placement {
        node,
        requests: pod_requests(spec),
        group: group_of(pod),
    })
}

/// Every placed Pod and every node's totals.
#[derive(Debug, Default)]
pub struct Usage {
    pods: HashMap<PodKey, Placement>,
    nodes: HashMap<String, NodeTotals>,
}

impl Usage {
    /// Records that `key` holds `placement` (replacing what it held).
    pub fn place(&mut self, key: PodKey, placement: Placement) {
        self.remove(&key);
        let totals = self.nodes.entry(placement.node.clone()).or_default();
        totals.requests = totals.requests.plus(placement.requests);
        totals.pods = totals.pods.saturating_add(1);
        if let Some(group) = &placement.group {
            *totals.groups.entry(group.clone()).or_default() += 1;
        }
        self.pods.insert(key, placement);
    }

    /// Forgets what `key` held; returns it.
    pub fn remove(&mut self, key: &PodKey) -> Option<Placement> {
        let old = self.pods.remove(key)?;
        if let Some(totals) = self.nodes.get_mut(&old.node) {
            totals.requests = totals.requests.minus(old.requests);
            totals.pods = totals.pods.saturating_sub(1);
            if let Some(group) = &old.group
                && let Some(n) = totals.groups.get_mut(group)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    totals.groups.remove(group);
                }
            }
            if totals.pods == 0 {
                self.nodes.remove(&old.node);
            }
        }
        Some(old)
    }

    /// Takes in the current form of a Pod; returns whether it gave up a place on a node (so
    /// Pods waiting for room may fit now).
    pub fn observe(&mut self, pod: &Pod) -> bool {
        let key = PodKey::of(pod);
        match placement_of(pod) {
            Some(placement) => {
                let moved = self
                    .pods
                    .get(&key)
                    .is_some_and(|old| old.node != placement.node);
                self.place(key, placement);
                moved
            }
            None => self.remove(&key).is_some(),
        }
    }

    /// Whether `key` holds a place (bound, or bound by this scheduler and not yet seen).
    pub fn is_placed(&self, key: &PodKey) -> bool {
        self.pods.contains_key(key)
    }

    /// The totals of `node` (empty when it holds nothing).
    pub fn totals(&self, node: &str) -> NodeTotals {
        self.nodes.get(node).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, cpu: &str, app: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c",
                "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn totals_follow_pod_events() {
        let mut usage = Usage::default();
        assert!(!usage.observe(&pod("a", "n1", "500m", "web")));
        usage.observe(&pod("b", "n1", "250m", "web"));
        let t = usage.totals("n1");
        assert_eq!((t.requests.cpu_milli, t.pods), (750, 2));
        assert_eq!(
            t.in_group(group_of(&pod("x", "", "0", "web")).as_deref()),
            2
        );
        // Moving a Pod frees its place on the old node.
        assert!(usage.observe(&pod("b", "n2", "250m", "web")));
        assert_eq!(usage.totals("n1").requests.cpu_milli, 500);
        assert_eq!(usage.totals("n2").pods, 1);
        // A finished Pod holds nothing.
        let mut done = pod("a", "n1", "500m", "web");
        done.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        assert!(usage.observe(&done));
        assert_eq!(usage.totals("n1"), NodeTotals::default());
        assert!(usage.remove(&PodKey::of(&done)).is_none());
    }
}
