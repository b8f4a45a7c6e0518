//! The nameserver's configuration ([`DnsConfig`]) and the reader for the default upstreams
//! (`/etc/resolv.conf`). It only parses and validates; it never opens sockets.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use hickory_proto::rr::Name;
use ipnet::IpNet;

use crate::DnsError;

/// Everything the nameserver needs to know besides the cluster snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Where to serve UDP and TCP (the same port for both; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The cluster zone, e.g. `cluster.local` (a trailing dot is optional).
    pub cluster_domain: String,
    /// TTL of every in-zone record, and the SOA minimum (negative-caching TTL).
    pub ttl: u32,
    /// Resolvers that answer names outside the zone, tried in order. Empty: such names are
    /// REFUSED.
    pub upstreams: Vec<SocketAddr>,
    /// Whether and how `<a-b-c-d>.<ns>.pod.<zone>` names are answered.
    pub pod_records: PodRecords,
    /// Upper bound on cached upstream answers; 0 disables the cache.
    pub cache_entries: usize,
    /// Client networks whose questions outside the cluster zone are forwarded (recursion);
    /// every other client gets REFUSED for them, while cluster-zone names are answered for
    /// everyone. The default is loopback only; [`crate::default_recursion_clients`] makes the
    /// list a node uses when none is given.
    pub recursion_clients: Vec<IpNet>,
    /// Upper bound on upstream exchanges in flight at once, each holding at most one socket;
    /// past it, questions that would go upstream are answered SERVFAIL at once. At least 1.
    pub max_upstream_inflight: usize,
    /// UDP responses per second allowed to each client network (/24 for IPv4, /56 for IPv6),
    /// with a burst of one second's worth; above it, responses are dropped and every second
    /// one is sent truncated instead (TC=1) so real clients retry over TCP. 0 turns response
    /// rate limiting off.
    pub rrl_responses_per_second: u32,
    /// autopath (CoreDNS's `autopath @kubernetes`): a question from a known Pod (needs
    /// [`PodRecords::Verified`]) for a name in its first search domain is answered for the
    /// first search-path expansion that exists, with a CNAME from the name asked, in one round
    /// trip instead of one per search domain.
    pub autopath: bool,
    /// The node's own search domains, which kubelet appends to a Pod's search path after the
    /// cluster's (`<ns>.svc.<zone> svc.<zone> <zone>`); autopath tries them in that order.
    pub autopath_search: Vec<String>,
}

/// Default of [`DnsConfig::max_upstream_inflight`] (CoreDNS forward's `max_concurrent`).
pub const DEFAULT_MAX_UPSTREAM_INFLIGHT: usize = 1024;

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 53)),
            cluster_domain: "cluster.local".to_owned(),
            ttl: 5,
            upstreams: Vec::new(),
            pod_records: PodRecords::Disabled,
            cache_entries: 10_000,
            recursion_clients: crate::acl::LOOPBACK_NETS.to_vec(),
            max_upstream_inflight: DEFAULT_MAX_UPSTREAM_INFLIGHT,
            rrl_responses_per_second: 0,
            autopath: false,
            autopath_search: Vec::new(),
        }
    }
}

impl DnsConfig {
    /// True when the pod watch must be on: [`PodRecords::Verified`] answers only for pods that
    /// exist.
    pub fn needs_pods(&self) -> bool {
        self.pod_records == PodRecords::Verified
    }

    /// The cluster zone as a lower-cased, fully qualified name, or the reason it is not one.
    pub(crate) fn zone(&self) -> Result<Name, DnsError> {
        let invalid = |reason: String| DnsError::InvalidConfig {
            field: "cluster_domain",
            reason,
        };
        let text = self.cluster_domain.trim();
        if text.is_empty() || text == "." {
            return Err(invalid("must not be empty or the root".to_owned()));
        }
        let mut name = Name::from_ascii(text).map_err(|e| invalid(format!("`{text}`: {e}")))?;
        name.set_fqdn(true);
        if name.iter().any(|label| label.is_empty()) {
            return Err(invalid(format!("`{text}` has an empty label")));
        }
        Ok(name.to_lowercase())
    }

    /// Checks every field; called by [`crate::DnsServer::start`].
    pub(crate) fn validate(&self) -> Result<Name, DnsError> {
        let zone = self.zone()?;
        if self.ttl > 86_400 {
            return Err(DnsError::InvalidConfig {
                field: "ttl",
                reason: format!("{} is above one day (86400)", self.ttl),
            });
        }
        if let Some(bad) = self.upstreams.iter().find(|a| a.port() == 0) {
            return Err(DnsError::InvalidConfig {
                field: "upstreams",
                reason: format!("{bad} has port 0"),
            });
        }
        if self.autopath && self.pod_records != PodRecords::Verified {
            return Err(DnsError::InvalidConfig {
                field: "autopath",
                reason: "needs verified pod records (`--dns-pods verified`): the asking Pod \
                         and its namespace are found by its address"
                    .to_owned(),
            });
        }
        for domain in &self.autopath_search {
            let ok = Name::from_ascii(domain).is_ok_and(|n| n.num_labels() > 0);
            if !ok {
                return Err(DnsError::InvalidConfig {
                    field: "autopath_search",
                    reason: format!("`{domain}` is not a domain name"),
                });
            }
        }
        if self.max_upstream_inflight == 0 {
            return Err(DnsError::InvalidConfig {
                field: "max_upstream_inflight",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(zone)
    }
}

/// How pod A/AAAA records (`<a-b-c-d>.<ns>.pod.<zone>`) are served (`--dns-pods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodRecords {
    /// No pod names: they are NXDOMAIN.
    #[default]
    Disabled,
    /// Any well-formed name answers the address it spells, whether or not such a pod exists.
    Insecure,
    /// Only names of pods that exist, with that address, in that namespace.
    Verified,
}

impl FromStr for PodRecords {
    type Err = DnsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "disabled" | "off" | "none" => Ok(PodRecords::Disabled),
            "insecure" => Ok(PodRecords::Insecure),
            "verified" => Ok(PodRecords::Verified),
            other => Err(DnsError::InvalidConfig {
                field: "pod_records",
                reason: format!("`{other}` is not one of disabled, insecure, verified"),
            }),
        }
    }
}

/// Reads the `nameserver` lines of a resolv.conf-style file as upstreams on port 53.
///
/// Comments (`#`, `;`) and other options are ignored; scoped IPv6 addresses (`fe80::1%eth0`)
/// are skipped with a warning since a socket address cannot carry an interface name.
///
/// # Errors
/// The file cannot be read, a nameserver value is not an IP address, or there is none.
pub fn upstreams_from_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, DnsError> {
    let text = std::fs::read_to_string(path).map_err(|source| DnsError::ResolvConfRead {
        path: path.to_owned(),
        source,
    })?;
    let mut upstreams = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(value) = words.next() else {
            continue;
        };
        if value.contains('%') {
            tracing::warn!(path = %path.display(), value, "skipping scoped nameserver address");
            continue;
        }
        let ip = IpAddr::from_str(value).map_err(|_| DnsError::ResolvConfAddress {
            path: path.to_owned(),
            line: index + 1,
            value: value.to_owned(),
        })?;
        let addr = SocketAddr::new(ip, 53);
        if !upstreams.contains(&addr) {
            upstreams.push(addr);
        }
    }
    if upstreams.is_empty() {
        return Err(DnsError::ResolvConfEmpty {
            path: path.to_owned(),
        });
    }
    Ok(upstreams)
}

/// Reads the search domains of a resolv.conf-style file: the last `search` or `domain` line
/// wins, as glibc reads it. A file that cannot be read has none.
pub fn search_from_resolv_conf(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut search = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if let Some("search" | "domain") = words.next() {
            search = words
                .map(|w| w.trim_end_matches('.').to_owned())
                .filter(|w| !w.is_empty())
                .collect();
        }
    }
    search
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_reads_nameservers_and_skips_the_rest() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = std::env::temp_dir().join(format!("dns-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("resolv.conf");
        std::fs::write(
            &path,
            "# generated\nsearch example.org\nnameserver 10.0.0.2 # primary\n\
             nameserver 2001:db8::53\nnameserver fe80::1%eth0\noptions ndots:5\nnameserver 10.0.0.2\n",
        )?;
        assert_eq!(search_from_resolv_conf(&path), ["example.org"]);
        let got = upstreams_from_resolv_conf(&path)?;
        assert_eq!(
            got,
            vec![
                "10.0.0.2:53".parse::<SocketAddr>()?,
                "[2001:db8::53]:53".parse::<SocketAddr>()?
            ]
        );
        std::fs::write(&path, "nameserver banana\n")?;
        let err = upstreams_from_resolv_conf(&path)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!(
                "{}:1: nameserver `banana` is not an IP address",
                path.display()
            ))
        );
        std::fs::write(&path, "search x\n")?;
        assert!(matches!(
            upstreams_from_resolv_conf(&path),
            Err(DnsError::ResolvConfEmpty { .. })
        ));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn zone_is_validated_and_lower_cased() {
        let mut config = DnsConfig {
            cluster_domain: "Cluster.Local".into(),
            ..DnsConfig::default()
        };
        assert_eq!(
            config.zone().map(|z| z.to_ascii()).ok(),
            Some("cluster.local.".into())
        );
        config.cluster_domain = String::new();
        assert!(config.validate().is_err_and(|e| e.is_invalid_config()));
        config.cluster_domain = "a..b".into();
        assert!(config.validate().is_err());
        config.cluster_domain = "cluster.local".into();
        config.ttl = 100_000;
        assert!(
            config
                .validate()
                .is_err_and(|e| e.to_string().contains("`ttl`"))
        );
        config.ttl = 5;
        config.max_upstream_inflight = 0;
        assert!(
            config
                .validate()
                .is_err_and(|e| e.to_string().contains("`max_upstream_inflight`"))
        );
    }

    #[test]
    fn pod_mode_parses_and_says_when_pods_are_needed() {
        assert_eq!(
            "Verified".parse::<PodRecords>().ok(),
            Some(PodRecords::Verified)
        );
        assert!("sometimes".parse::<PodRecords>().is_err());
        let config = DnsConfig {
            pod_records: PodRecords::Verified,
            ..DnsConfig::default()
        };
        assert!(config.needs_pods());
        assert!(!DnsConfig::default().needs_pods());
    }
}
