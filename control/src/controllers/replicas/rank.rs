//! The order in which an owner's excess Pods are deleted, as kube-controller-manager ranks
//! them (`ActivePodsWithRanks`): a Pod not yet on a node before one that is; Pending before
//! Unknown before Running; not Ready before Ready; a lower `controller.kubernetes.io/
//! pod-deletion-cost` first; a Pod sharing its node with more of the owner's Pods first; the
//! more recently Ready first; more container restarts first; the more recently created first.
//! (Upstream compares the two times in logarithmic buckets; here they are compared exactly.)
//! Pure.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

use super::status::ready_since;

/// The annotation that makes a Pod cheaper (lower) or dearer (higher) to delete.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// Compares two Pods; `Less` means `a` is deleted first. `colocated` is how many of the owner's
/// Pods share each Pod's node.
fn compare(a: &Pod, b: &Pod, colocated: &HashMap<&str, usize>) -> Ordering {
    let shared = |p: &Pod| node(p).and_then(|n| colocated.get(n)).copied().unwrap_or(0);
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    node(a)
        .is_some()
        .cmp(&node(b).is_some())
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| ready_since(a).is_some().cmp(&ready_since(b).is_some()))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| shared(b).cmp(&shared(a)))
        .then_with(
            || match (ready_since(a).flatten(), ready_since(b).flatten()) {
                // The more recently Ready is deleted first; Ready without a time counts as newest.
                (Some(x), Some(y)) => y.cmp(&x),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        )
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| match (created(a), created(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
}

/// `pods` in deletion order: the first is deleted first.
pub fn deletion_order<'a>(pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut colocated: HashMap<&str, usize> = HashMap::new();
    for pod in pods {
        if let Some(n) = node(pod) {
            *colocated.entry(n).or_default() += 1;
        }
    }
    let mut ordered = pods.to_vec();
    ordered.sort_by(|a, b| compare(a, b, &colocated));
    ordered
}
