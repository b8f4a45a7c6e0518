//! The scheduling decision for one Pod: every node through the filters
//! ([`super::filter::check`]), then the best of those that fit: fewest Pods of the same
//! spreading group, then least requested (the mean share of cpu and memory left unrequested
//! after placing the Pod, as kube-scheduler's LeastAllocated), then fewest Pods, then name.
//! Pure; it reads the node list and the per-node totals and writes nothing.

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::filter::{self, Unfit, allocatable, node_name};
use super::usage::{NodeTotals, Usage, group_of};
use crate::admission::pod::resources::{Requests, pod_requests};

/// The outcome for one Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind it to this node.
    Bind(String),
    /// No node fits; the message for the `PodScheduled` condition.
    Unschedulable(String),
}

/// How full a node would be with the Pod on it: the mean of the requested shares of cpu and
/// memory (0 for a resource the node does not report).
fn requested_share(node: &Node, used: &NodeTotals, requests: Requests) -> f64 {
    let share = |want: i128, have: Option<i128>| match have {
        Some(have) if have > 0 => (want as f64 / have as f64).min(1.0),
        _ => 0.0,
    };
    let after = used.requests.plus(requests);
    let cpu = share(after.cpu_milli, allocatable(node, "cpu"));
    let memory = share(after.memory, allocatable(node, "memory").map(|m| m / 1000));
    (cpu + memory) / 2.0
}

/// Chooses a node for `pod` among `nodes`, given what is placed already.
pub fn decide(pod: &Pod, nodes: &[Arc<Node>], usage: &Usage) -> Decision {
    let requests = pod.spec.as_ref().map(pod_requests).unwrap_or_default();
    let group = group_of(pod);
    let mut reasons: Vec<Vec<Unfit>> = Vec::new();
    let mut best: Option<(u32, f64, u32, &str)> = None;
    for node in nodes {
        let name = node_name(node);
        let used = usage.totals(name);
        let unfit = filter::check(pod, requests, node, &used);
        if !unfit.is_empty() {
            reasons.push(unfit);
            continue;
        }
        let score = (
            used.in_group(group.as_deref()),
            requested_share(node, &used, requests),
            used.pods,
            name,
        );
        let better = best.as_ref().is_none_or(|b| {
            score
                .0
                .cmp(&b.0)
                .then(score.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal))
                .then(score.2.cmp(&b.2))
                .then(score.3.cmp(b.3))
                == Ordering::Less
        });
        if better {
            best = Some(score);
        }
    }
    match best {
        Some((_, _, _, name)) => Decision::Bind(name.to_string()),
        None => Decision::Unschedulable(filter::unschedulable_message(nodes.len(), &reasons)),
    }
}
