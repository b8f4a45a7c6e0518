//! The routed topology: a `client` namespace, the `node` namespace (an
//! [`Uplink`](crate::scale_area::cluster::Uplink) namespace, so it also reaches the API on the
//! host) and a `backend` namespace, joined by two veth pairs:
//!
//! ```text
//! client 10.77.1.2/24 ── 10.77.1.1/24 node 10.77.2.1/24 ── 10.77.2.2/24 backend
//! ```
//!
//! The node forwards (`net.ipv4.ip_forward=1`); client and backend route everything via the
//! node. Both veth pairs are created inside the namespaces (never in the host's), so deleting
//! the namespaces on drop removes them, even when the area fails half-way.
//!
//! Nothing here measures; it builds the network and reads or flushes the node's conntrack.

use std::net::Ipv4Addr;

use anyhow::Context;

use crate::nft_area::netns::Netns;
use crate::scale_area::cluster::Uplink;

/// The client's address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
/// The node's address on the client side (NodePorts, HAProxy and the userspace proxy listen
/// here).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// The node's address on the backend side.
pub const NODE_BACKEND_SIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// The backend's address (every endpoint of every service).
pub const BACKEND_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
/// The pod network the proxies are told about (`--cluster-cidr`): the backend's subnet, so
/// the client is outside it and its ClusterIP traffic is masqueraded, as kube-proxy does.
pub const POD_CIDR: &str = "10.77.2.0/24";
/// The uplink index the routed area uses (see [`Uplink::create`]).
const UPLINK_INDEX: u8 = 3;

/// The three namespaces and their links; everything is deleted on drop.
#[derive(Debug)]
pub struct Routed {
    /// Where wrk and iperf3 run.
    pub client: Netns,
    /// Where the backends run.
    pub backend: Netns,
    /// The node namespace (forwarding, where every proxy and ruleset lives) and its uplink to
    /// the host, where `switchyard run` listens.
    pub uplink: Uplink,
}

impl Routed {
    /// Builds the topology (namespaces named `sybench-<tag>-<pid>`).
    pub fn create() -> anyhow::Result<Routed> {
        let uplink = Uplink::create("routed", UPLINK_INDEX)?;
        let client = Netns::create("routed-client")?;
        let backend = Netns::create("routed-backend")?;
        let routed = Routed {
            client,
            backend,
            uplink,
        };
        routed.wire().context("wiring client → node → backend")?;
        Ok(routed)
    }

    /// The node namespace.
    pub fn node(&self) -> &Netns {
        &self.uplink.ns
    }

    fn wire(&self) -> anyhow::Result<()> {
        let node = self.node();
        pair(
            &self.client,
            "to-node",
            CLIENT_IP,
            node,
            "to-client",
            NODE_IP,
        )?;
        pair(
            &self.backend,
            "to-node",
            BACKEND_IP,
            node,
            "to-backend",
            NODE_BACKEND_SIDE_IP,
        )?;
        node.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        // TCP timestamps from the clock alone, without the per-address-pair random offset
        // (`tcp_timestamps=2`), in the two namespaces that open connections to the backend.
        // With the default offsets, a case that reaches the backend through another address
        // (the node port, a ClusterIP, HAProxy on the node) sends older timestamps than the
        // case before it on the same four-tuples; the backend then refuses its SYNs by PAWS
        // while the earlier case's TIME_WAIT lasts (60 s), and the case pays for its
        // predecessor. One client with one clock is what each case should see.
        // `SYBENCH_ROUTED_TS_OFFSETS=1` keeps the kernel's default, to show that effect.
        if std::env::var_os("SYBENCH_ROUTED_TS_OFFSETS").is_none() {
            for ns in [&self.client, node] {
                ns.exec("sysctl", &["-qw", "net.ipv4.tcp_timestamps=2"])?;
            }
        }
        let via_node = NODE_IP.to_string();
        self.client
            .exec("ip", &["route", "add", "default", "via", &via_node])?;
        let via_node = NODE_BACKEND_SIDE_IP.to_string();
        self.backend
            .exec("ip", &["route", "add", "default", "via", &via_node])?;
        Ok(())
    }

    /// Empties the node's ruleset (`nft flush ruleset`): no hook left, so no conntrack either.
    pub fn flush_rules(&self) -> anyhow::Result<()> {
        self.node().exec("nft", &["flush", "ruleset"])?;
        Ok(())
    }

    /// Deletes every conntrack entry of the node namespace (`conntrack -F`), so TIME_WAIT
    /// entries of one case never weigh on the next.
    pub fn flush_conntrack(&self) -> anyhow::Result<()> {
        // `conntrack -F` fails when the table does not exist yet in this namespace (no rule
        // has ever asked for it); there is nothing to flush then.
        let _ = self.node().exec("conntrack", &["-F"]);
        Ok(())
    }

    /// The node namespace's conntrack entry count (`conntrack -C`; 0 when no rule has made
    /// the namespace track anything).
    pub fn conntrack_count(&self) -> u64 {
        self.node()
            .exec("conntrack", &["-C"])
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    }

    /// The TCP counters that explain a connection-rate figure, read from the client and the
    /// backend namespaces.
    pub fn tcp_counters(&self) -> anyhow::Result<TcpCounters> {
        let client_netstat = read(&self.client, "/proc/net/netstat")?;
        let client_snmp = read(&self.client, "/proc/net/snmp")?;
        let backend_netstat = read(&self.backend, "/proc/net/netstat")?;
        let get = |text: &str, prefix: &str, name: &str| {
            netstat_value(text, prefix, name)
                .ok_or_else(|| anyhow::anyhow!("{prefix} {name} missing from /proc/net"))
        };
        Ok(TcpCounters {
            syn_retrans: get(&client_netstat, "TcpExt:", "TCPSynRetrans")?,
            client_resets: get(&client_snmp, "Tcp:", "OutRsts")?,
            backend_paws_rejects: get(&backend_netstat, "TcpExt:", "PAWSTimewait")?,
        })
    }
}

/// Counters that tell why a connection was slow to open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// SYNs the client retransmitted (`TcpExtTCPSynRetrans`).
    pub syn_retrans: u64,
    /// Resets the client sent (`Tcp OutRsts`): a client answers with a reset an ACK that does
    /// not acknowledge its SYN, then resends the SYN after the minimum timeout (a few ms).
    pub client_resets: u64,
    /// Segments the backend refused by PAWS on a socket it holds (`TcpExtPAWSTimewait`): a SYN
    /// reusing a four-tuple still in TIME_WAIT whose timestamp is older than the last one seen,
    /// answered with that ACK.
    pub backend_paws_rejects: u64,
}

impl TcpCounters {
    /// What grew from `before` to `self`.
    pub fn since(self, before: TcpCounters) -> TcpCounters {
        TcpCounters {
            syn_retrans: self.syn_retrans.saturating_sub(before.syn_retrans),
            client_resets: self.client_resets.saturating_sub(before.client_resets),
            backend_paws_rejects: self
                .backend_paws_rejects
                .saturating_sub(before.backend_paws_rejects),
        }
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: TcpCounters) {
        self.syn_retrans += other.syn_retrans;
        self.client_resets += other.client_resets;
        self.backend_paws_rejects += other.backend_paws_rejects;
    }
}

fn read(ns: &Netns, path: &str) -> anyhow::Result<String> {
    let out = ns.exec("cat", &[path])?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One counter of `/proc/net/netstat`: the file pairs a header line (`TcpExt: A B …`) with a
/// value line under the same prefix.
fn netstat_value(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let at = names.split_whitespace().position(|n| n == name);
        if let Some(at) = at {
            return values.split_whitespace().nth(at)?.parse().ok();
        }
    }
    None
}

/// A veth pair from `a` (device `a_dev`, `a_ip`/24) to `b` (`b_dev`, `b_ip`/24), created in
/// `a` with its peer moved to `b` at once; both ends up.
fn pair(
    a: &Netns,
    a_dev: &str,
    a_ip: Ipv4Addr,
    b: &Netns,
    b_dev: &str,
    b_ip: Ipv4Addr,
) -> anyhow::Result<()> {
    a.exec(
        "ip",
        &[
            "link",
            "add",
            a_dev,
            "type",
            "veth",
            "peer",
            "name",
            b_dev,
            "netns",
            b.name(),
        ],
    )?;
    a.exec("ip", &["addr", "add", &format!("{a_ip}/24"), "dev", a_dev])?;
    b.exec("ip", &["addr", "add", &format!("{b_ip}/24"), "dev", b_dev])?;
    a.exec("ip", &["link", "set", a_dev, "up"])?;
    b.exec("ip", &["link", "set", b_dev, "up"])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_counter_under_its_header() {
        let text =
            "TcpExt: SyncookiesSent TCPSynRetrans\nTcpExt: 0 41\nIpExt: InNoRoutes\nIpExt: 3\n";
        assert_eq!(netstat_value(text, "TcpExt:", "TCPSynRetrans"), Some(41));
        assert_eq!(netstat_value(text, "IpExt:", "InNoRoutes"), Some(3));
        assert_eq!(netstat_value(text, "TcpExt:", "Missing"), None);
    }

    /// The client reaches the backend through the node (and only through it: with forwarding
    /// off the path is gone), and dropping the topology removes its namespaces.
    #[test]
    fn the_client_reaches_the_backend_through_the_node() -> anyhow::Result<()> {
        if !testkit::require_root(
            "the_client_reaches_the_backend_through_the_node",
            "creates network namespaces",
        ) {
            return Ok(());
        }
        let net = Routed::create()?;
        let names = [
            net.client.name().to_string(),
            net.backend.name().to_string(),
        ];
        // A connect to a closed port of the backend: refused (curl exit 7) means the SYN got
        // there and the reset came back; a timeout (28) means the path is broken.
        let connect = |net: &Routed| -> anyhow::Result<Option<i32>> {
            let url = format!("http://{BACKEND_IP}:9/");
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", net.client.name(), "curl", "-sS"])
                .args(["--max-time", "2", &url])
                .output()?;
            Ok(out.status.code())
        };
        assert_eq!(
            connect(&net)?,
            Some(7),
            "the backend did not answer through the node"
        );
        net.node()
            .exec("sysctl", &["-qw", "net.ipv4.ip_forward=0"])?;
        assert_eq!(
            connect(&net)?,
            Some(28),
            "the backend answered without the node forwarding"
        );
        assert_eq!(net.conntrack_count(), 0);
        drop(net);
        let listed = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        for n in names {
            assert!(!listed.contains(&n), "{n} left behind");
        }
        Ok(())
    }
}
