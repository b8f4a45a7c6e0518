//! How current a proxy's data path is: the same facts in both modes, answered on `/healthz` the
//! way kube-proxy answers it (200 while rules keep up with the cluster, 503 once a change has
//! waited too long, a JSON body with `lastUpdated` and `currentTime`).

use std::time::{Duration, SystemTime};

/// A proxy's freshness at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// When the data path last applied a table (`None`: never).
    pub last_applied: Option<SystemTime>,
    /// Whether the last applied table came from a complete cluster view.
    pub synced: bool,
    /// How long the oldest change not yet applied has waited (`None`: nothing waits).
    pub pending_for: Option<Duration>,
    /// A change has waited longer than the mode allows, or the applying task is gone.
    pub stale: bool,
    /// Userspace mode: listening sockets after the last apply (`None` in nftables mode).
    pub listeners: Option<usize>,
}

impl Health {
    /// The HTTP status a health endpoint answers: 503 when stale, 200 otherwise (also while
    /// starting, as kube-proxy does before its first sync).
    pub fn status_code(&self) -> u16 {
        if self.stale { 503 } else { 200 }
    }

    /// Whether nothing has been applied yet and nothing is stale.
    pub fn is_starting(&self) -> bool {
        self.last_applied.is_none() && !self.stale
    }

    /// Whether a complete view is applied and nothing waits too long.
    pub fn is_healthy(&self) -> bool {
        self.last_applied.is_some() && self.synced && !self.stale
    }

    /// The `/healthz` body: kube-proxy's `lastUpdated` and `currentTime` (RFC 3339), plus
    /// `synced`, `pendingSeconds` and, in userspace mode, `listeners`.
    pub fn to_json(&self, now: SystemTime) -> serde_json::Value {
        let mut body = serde_json::json!({
            "lastUpdated": self.last_applied.map(rfc3339),
            "currentTime": rfc3339(now),
            "synced": self.synced,
            "pendingSeconds": self.pending_for.map(|d| d.as_secs_f64()),
        });
        if let (Some(listeners), Some(map)) = (self.listeners, body.as_object_mut()) {
            map.insert("listeners".into(), listeners.into());
        }
        body
    }
}

fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn health() -> Health {
        Health {
            last_applied: None,
            synced: false,
            pending_for: None,
            stale: false,
            listeners: None,
        }
    }

    #[test]
    fn starting_healthy_and_stale_answer_like_kube_proxy() {
        let starting = health();
        assert!(starting.is_starting() && !starting.is_healthy());
        assert_eq!(starting.status_code(), 200);
        let healthy = Health {
            last_applied: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            synced: true,
            ..health()
        };
        assert!(healthy.is_healthy() && !healthy.is_starting());
        assert_eq!(healthy.status_code(), 200);
        let stale = Health {
            stale: true,
            pending_for: Some(Duration::from_secs(40)),
            ..healthy.clone()
        };
        assert!(!stale.is_healthy());
        assert_eq!(stale.status_code(), 503);
    }

    #[test]
    fn the_body_carries_rfc3339_times_and_mode_details() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = Health {
            last_applied: Some(at),
            synced: true,
            listeners: Some(3),
            ..health()
        }
        .to_json(at + Duration::from_secs(5));
        assert_eq!(body["lastUpdated"], "2023-11-14T22:13:20Z");
        assert_eq!(body["currentTime"], "2023-11-14T22:13:25Z");
        assert_eq!(body["listeners"], 3);
        assert!(body["pendingSeconds"].is_null());
        assert!(health().to_json(at).get("listeners").is_none());
    }
}
