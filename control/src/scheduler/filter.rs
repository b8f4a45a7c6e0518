//! Whether a Pod may run on a Node, as kube-scheduler's default filters decide it, in their
//! order: `spec.unschedulable`, taints (NoSchedule and NoExecute, against the Pod's
//! tolerations; a node that is not Ready counts as tainted `node.kubernetes.io/not-ready`, as the
//! node lifecycle controller would taint it), `nodeSelector` and required node affinity, then
//! resources (pods count, cpu, memory against allocatable minus what bound Pods request).
//! Pure functions over typed objects; the first failing filter gives the node's reasons.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};

use super::usage::NodeTotals;
use crate::admission::pod::NOT_READY_TAINT;
use crate::admission::pod::resources::{Requests, milli_value};

/// The taint key of a node marked `spec.unschedulable`.
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Why a node cannot take a Pod, worded as kube-scheduler words it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unfit {
    /// `spec.unschedulable` and no toleration for it.
    Unschedulable,
    /// A NoSchedule or NoExecute taint the Pod does not tolerate.
    Taint {
        /// The taint's key.
        key: String,
        /// The taint's value (empty when none).
        value: String,
    },
    /// `nodeSelector` or required node affinity does not match.
    Affinity,
    /// The node already holds as many Pods as it allows.
    TooManyPods,
    /// Not enough of a resource (`cpu`, `memory`) is left.
    Insufficient(&'static str),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Unschedulable => f.write_str("node(s) were unschedulable"),
            Unfit::Taint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Unfit::Affinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Unfit::TooManyPods => f.write_str("Too many pods"),
            Unfit::Insufficient(what) => write!(f, "Insufficient {what}"),
        }
    }
}

/// A node's name (empty when it has none).
pub fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

/// Checks every filter for `pod` on `node` with `used` already requested there; `requests` is
/// the Pod's own ([`crate::admission::pod::resources::pod_requests`]). Empty when it fits.
pub fn check(pod: &Pod, requests: Requests, node: &Node, used: &NodeTotals) -> Vec<Unfit> {
    let tolerations: &[Toleration] = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    if unschedulable
        && !tolerations.iter().any(|t| {
            tolerates(
                t,
                &Taint {
                    key: UNSCHEDULABLE_TAINT.to_string(),
                    effect: "NoSchedule".to_string(),
                    ..Taint::default()
                },
            )
        })
    {
        return vec![Unfit::Unschedulable];
    }
    if let Some(taint) = taints(node)
        .into_iter()
        .filter(|t| matches!(t.effect.as_str(), "NoSchedule" | "NoExecute"))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
    {
        return vec![Unfit::Taint {
            key: taint.key,
            value: taint.value.unwrap_or_default(),
        }];
    }
    if !matches_affinity(pod, node) {
        return vec![Unfit::Affinity];
    }
    resource_fit(requests, node, used)
}

/// The node's taints, plus `not-ready:NoSchedule` when its Ready condition is not True.
fn taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if !is_ready(node) && !taints.iter().any(|t| t.key == NOT_READY_TAINT) {
        taints.push(Taint {
            key: NOT_READY_TAINT.to_string(),
            effect: "NoSchedule".to_string(),
            ..Taint::default()
        });
    }
    taints
}

/// Whether the node's `Ready` condition is True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Whether `toleration` tolerates `taint`: same effect (or any), same key (or any, with
/// `Exists`), and `Exists` or an equal value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            !key.is_empty()
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Whether the node matches the Pod's `nodeSelector` and its required node affinity (any one
/// of the `nodeSelectorTerms`).
pub fn matches_affinity(pod: &Pod, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let spec = pod.spec.as_ref();
    let selector = spec
        .and_then(|s| s.node_selector.as_ref())
        .unwrap_or(&empty);
    if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(selector) => selector
            .node_selector_terms
            .iter()
            .any(|term| term_matches(term, labels, node_name(node))),
    }
}

/// One term: every expression and every field requirement holds; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(name))
        })
}

/// One requirement against the value the node has for its key (`None`: no such label).
fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |text: &str| text.parse::<i64>().ok();
    let compare = |ordering: std::cmp::Ordering| match (values, value.and_then(number)) {
        ([bound], Some(have)) => number(bound).is_some_and(|b| have.cmp(&b) == ordering),
        _ => false,
    };
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(std::cmp::Ordering::Greater),
        "Lt" => compare(std::cmp::Ordering::Less),
        _ => false,
    }
}

/// What a node offers: `status.allocatable`, else `status.capacity`; `None` per resource
/// the node does not report (no limit is enforced for it).
pub fn allocatable(node: &Node, resource: &str) -> Option<i128> {
    let status = node.status.as_ref()?;
    status
        .allocatable
        .as_ref()
        .and_then(|a| a.get(resource))
        .or_else(|| status.capacity.as_ref().and_then(|c| c.get(resource)))
        .and_then(|q| milli_value(&q.0))
}

/// Pods count, cpu and memory against what is left on the node.
fn resource_fit(requests: Requests, node: &Node, used: &NodeTotals) -> Vec<Unfit> {
    let mut out = Vec::new();
    if let Some(max) = allocatable(node, "pods").map(|m| m / 1000)
        && i128::from(used.pods) + 1 > max
    {
        out.push(Unfit::TooManyPods);
    }
    if requests.cpu_milli > 0
        && let Some(cpu) = allocatable(node, "cpu")
        && requests.cpu_milli > cpu - used.requests.cpu_milli
    {
        out.push(Unfit::Insufficient("cpu"));
    }
    if requests.memory > 0
        && let Some(memory) = allocatable(node, "memory").map(|m| m / 1000)
        && requests.memory > memory - used.requests.memory
    {
        out.push(Unfit::Insufficient("memory"));
    }
    out
}

/// The message of a Pod no node fits, as kube-scheduler writes it: `0/3 nodes are available:
/// 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.` (counts per
/// reason, sorted as text).
pub fn unschedulable_message(nodes: usize, reasons: &[Vec<Unfit>]) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".to_string();
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for unfit in reasons.iter().flatten() {
        *counts.entry(unfit.to_string()).or_default() += 1;
    }
    let mut parts: Vec<String> = counts
        .into_iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests;
