//! Which Pod a client address belongs to, for autopath: a persistent map from Pod IP to the
//! Pods holding it, kept by the [`super::TableWriter`] from the Pod diffs of consecutive
//! snapshots, so a change costs work in proportion to the Pods it touches. Host-network Pods
//! share their node's address and are left out: a question from that address is the node's
//! as much as any one Pod's.

use std::net::IpAddr;
use std::sync::Arc;

use cluster_watch::ObjectKey;
use imbl::HashMap;
use k8s_openapi::api::core::v1::Pod;

use super::fragment::pod_ips;

/// Pods by address. Two Pods can hold one address for a moment (one terminating, its
/// successor starting); the first one filed answers until it is gone.
#[derive(Debug, Clone, Default)]
pub(super) struct PodsByIp {
    by_ip: HashMap<IpAddr, Vec<Arc<ObjectKey>>>,
}

impl PodsByIp {
    /// Files `pod` (stored under `key`) under each of its addresses.
    pub(super) fn insert(&mut self, key: &ObjectKey, pod: &Pod) {
        if host_network(pod) {
            return;
        }
        let key = Arc::new(key.clone());
        for ip in pod_ips(pod) {
            let keys = self.by_ip.entry(ip).or_default();
            if !keys.iter().any(|k| **k == *key) {
                keys.push(key.clone());
            }
        }
    }

    /// Takes `pod` (as it was stored under `key`) out from under each of its addresses.
    pub(super) fn remove(&mut self, key: &ObjectKey, pod: &Pod) {
        for ip in pod_ips(pod) {
            let Some(keys) = self.by_ip.get_mut(&ip) else {
                continue;
            };
            keys.retain(|k| **k != *key);
            if keys.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// The namespace of the Pod holding `ip`.
    pub(super) fn namespace_of(&self, ip: IpAddr) -> Option<&str> {
        let keys = self.by_ip.get(&ip)?;
        keys.first().map(|k| k.namespace.as_str())
    }

    /// How many addresses are filed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_ip.len()
    }
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodIP, PodSpec, PodStatus};

    fn pod(ips: &[&str], host_network: bool) -> Pod {
        Pod {
            spec: Some(PodSpec {
                host_network: Some(host_network),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                pod_ip: ips.first().map(|s| (*s).to_string()),
                pod_ips: Some(
                    ips.iter()
                        .map(|ip| PodIP {
                            ip: (*ip).to_string(),
                        })
                        .collect(),
                ),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn dual_stack_pods_are_found_by_either_address_and_leave_cleanly() {
        let mut index = PodsByIp::default();
        let key = ObjectKey::new("team-a", "web-1");
        let web = pod(&["10.0.0.5", "fd00::5"], false);
        index.insert(&key, &web);
        assert_eq!(index.namespace_of(ip("10.0.0.5")), Some("team-a"));
        assert_eq!(index.namespace_of(ip("fd00::5")), Some("team-a"));
        index.remove(&key, &web);
        assert_eq!(index.namespace_of(ip("10.0.0.5")), None);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_reused_address_stays_filed_while_either_pod_holds_it() {
        let mut index = PodsByIp::default();
        let (old, new) = (ObjectKey::new("a", "old"), ObjectKey::new("b", "new"));
        let p = pod(&["10.0.0.9"], false);
        index.insert(&old, &p);
        index.insert(&new, &p);
        assert_eq!(index.namespace_of(ip("10.0.0.9")), Some("a"));
        index.remove(&old, &p);
        assert_eq!(index.namespace_of(ip("10.0.0.9")), Some("b"));
    }

    #[test]
    fn host_network_pods_are_not_filed() {
        let mut index = PodsByIp::default();
        index.insert(
            &ObjectKey::new("kube-system", "proxy"),
            &pod(&["192.0.2.1"], true),
        );
        assert_eq!(index.namespace_of(ip("192.0.2.1")), None);
    }
}
