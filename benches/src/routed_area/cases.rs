//! The systems the routed area compares and how each is put in place in the node namespace
//! and taken out again, so every repetition of every case starts from an empty ruleset and an
//! empty conntrack table:
//!
//! - direct: no rule at all (the namespace does not even track connections);
//! - direct + conntrack: one rule that makes conntrack track new flows;
//! - switchyard nftables: `switchyard proxy --mode nftables`, started for the repetition and
//!   killed after it (its tables flushed);
//! - the kube-proxy-shaped ruleset ([`super::kube_shape`]), loaded with `nft -f`;
//! - HAProxy in TCP mode, running for the whole area (a listener, no rule);
//! - switchyard userspace: `switchyard proxy --mode userspace`, started for the repetition.
//!
//! Nothing here measures; [`super`] runs the load against each case's targets.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::services::{BULK_PORT, HTTP_PORT, Probed};
use super::topology::{BACKEND_IP, CLIENT_IP, NODE_IP, POD_CIDR, Routed};
use crate::Ctx;
use crate::nft_area::probe;
use crate::peers::{Daemon, find_program, haproxy};
use crate::scale_area::cluster::spawn_proxy;

/// The rule that makes the node track flows and nothing else.
pub const CONNTRACK_RULE: &str = "table ip track { chain pre { type filter hook prerouting priority 0; ct state new counter; }; }";
/// HAProxy's ports on the node's client-side address.
const HAPROXY_HTTP: u16 = 18080;
const HAPROXY_BULK: u16 = 15201;
/// How long a proxy may take from start to forwarding the probed service.
const READY_LIMIT: Duration = Duration::from_secs(120);

/// One measured path: a system and the address the client sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Client → backend, no rules in the node.
    Direct,
    /// The same with conntrack tracking in the node.
    DirectConntrack,
    /// switchyard nftables, the probed service's NodePort.
    SwitchyardNodePort,
    /// switchyard nftables, the probed service's ClusterIP.
    SwitchyardClusterIp,
    /// switchyard nftables with `--masquerade-fully-random` (kube-proxy's masquerade), NodePort.
    SwitchyardFullyRandom,
    /// The kube-proxy-shaped ruleset, NodePort.
    KubeNodePort,
    /// The kube-proxy-shaped ruleset, ClusterIP.
    KubeClusterIp,
    /// HAProxy `mode tcp` on the node.
    Haproxy,
    /// switchyard userspace, NodePort.
    Userspace,
}

/// Every case, in the order of the first repetition.
pub const ALL: [Case; 9] = [
    Case::Direct,
    Case::DirectConntrack,
    Case::SwitchyardNodePort,
    Case::SwitchyardClusterIp,
    Case::SwitchyardFullyRandom,
    Case::KubeNodePort,
    Case::KubeClusterIp,
    Case::Haproxy,
    Case::Userspace,
];

impl Case {
    /// The name shown in the report.
    pub fn label(self) -> &'static str {
        match self {
            Case::Direct => "direct (routed, no rules)",
            Case::DirectConntrack => "direct + conntrack",
            Case::SwitchyardNodePort => "switchyard nftables, NodePort",
            Case::SwitchyardClusterIp => "switchyard nftables, ClusterIP",
            Case::SwitchyardFullyRandom => "switchyard nftables fully-random, NodePort",
            Case::KubeNodePort => "kube-proxy-shaped nftables, NodePort",
            Case::KubeClusterIp => "kube-proxy-shaped nftables, ClusterIP",
            Case::Haproxy => "HAProxy mode tcp",
            Case::Userspace => "switchyard userspace, NodePort",
        }
    }

    /// The system behind the case (cases of one system share its set-up).
    pub fn system(self) -> System {
        match self {
            Case::Direct => System::Direct,
            Case::DirectConntrack => System::Conntrack,
            Case::SwitchyardNodePort | Case::SwitchyardClusterIp => System::SwitchyardNft,
            Case::SwitchyardFullyRandom => System::SwitchyardFullyRandom,
            Case::KubeNodePort | Case::KubeClusterIp => System::Kube,
            Case::Haproxy => System::Haproxy,
            Case::Userspace => System::Userspace,
        }
    }

    /// (HTTP, bulk) targets of the case.
    pub fn targets(self, p: &Probed) -> (SocketAddr, SocketAddr) {
        match self {
            Case::Direct | Case::DirectConntrack => (
                SocketAddr::from((BACKEND_IP, HTTP_PORT)),
                SocketAddr::from((BACKEND_IP, BULK_PORT)),
            ),
            Case::SwitchyardNodePort
            | Case::SwitchyardFullyRandom
            | Case::KubeNodePort
            | Case::Userspace => (p.node_port_http, p.node_port_bulk),
            Case::SwitchyardClusterIp | Case::KubeClusterIp => {
                (p.cluster_ip_http, p.cluster_ip_bulk)
            }
            Case::Haproxy => (
                SocketAddr::from((NODE_IP, HAPROXY_HTTP)),
                SocketAddr::from((NODE_IP, HAPROXY_BULK)),
            ),
        }
    }
}

/// What is put into the node namespace for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// Nothing.
    Direct,
    /// [`CONNTRACK_RULE`].
    Conntrack,
    /// `switchyard proxy --mode nftables`.
    SwitchyardNft,
    /// The same with `--masquerade-fully-random`.
    SwitchyardFullyRandom,
    /// The kube-proxy-shaped ruleset.
    Kube,
    /// HAProxy (always running).
    Haproxy,
    /// `switchyard proxy --mode userspace`.
    Userspace,
}

/// What stays up while one system is measured; dropping it kills the proxy process, if any.
#[derive(Debug)]
pub struct Active {
    /// The proxy started for this system.
    pub proxy: Option<Daemon>,
}

/// What a system needs to come up.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The run.
    pub ctx: &'a Ctx,
    /// The namespaces.
    pub net: &'a Routed,
    /// The admin kubeconfig of `switchyard run`.
    pub kubeconfig: &'a Path,
    /// The kube-proxy-shaped ruleset for this size, as an `nft -f` script.
    pub kube_script: &'a str,
    /// The probed service.
    pub probed: &'a Probed,
    /// Where proxy logs go.
    pub log_dir: &'a Path,
}

/// Empties the node (rules and conntrack), puts `system` in place and waits until the
/// targets of its cases answer from the client.
pub fn bring_up(system: System, cases: &[Case], i: &Inputs<'_>) -> anyhow::Result<Active> {
    i.net.flush_rules()?;
    i.net.flush_conntrack()?;
    let proxy = match system {
        System::Direct | System::Haproxy => None,
        System::Conntrack => {
            i.net.node().nft_script(CONNTRACK_RULE)?;
            None
        }
        System::Kube => {
            i.net
                .node()
                .nft_script(i.kube_script)
                .context("loading the kube-proxy-shaped ruleset")?;
            None
        }
        System::SwitchyardNft | System::SwitchyardFullyRandom => {
            let args = proxy_args("nftables");
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut log = "proxy-nftables";
            if system == System::SwitchyardFullyRandom {
                args.push("--masquerade-fully-random");
                log = "proxy-nftables-fully-random";
            }
            Some(spawn_proxy(
                i.ctx,
                i.net.node(),
                i.kubeconfig,
                &args,
                log,
                i.log_dir,
            )?)
        }
        System::Userspace => {
            let args = proxy_args("userspace");
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.extend(["--proxy-interface", "none"]);
            Some(spawn_proxy(
                i.ctx,
                i.net.node(),
                i.kubeconfig,
                &args,
                "proxy-userspace",
                i.log_dir,
            )?)
        }
    };
    let mut active = Active { proxy };
    for case in cases.iter().filter(|c| c.system() == system) {
        let (http, bulk) = case.targets(i.probed);
        for target in [http, bulk] {
            wait_answering(i.ctx, i.net, target, &mut active)
                .with_context(|| format!("{}: {target} never answered", case.label()))?;
        }
    }
    Ok(active)
}

/// Takes `system` out again: kills its proxy and empties rules and conntrack.
pub fn tear_down(active: Active, net: &Routed) -> anyhow::Result<()> {
    drop(active);
    net.flush_rules()?;
    net.flush_conntrack()
}

/// Flags (after `switchyard proxy --kubeconfig … --node-name … --metrics-listen none`) both
/// switchyard proxy modes share: the node's client-side address is the node IP
/// and the only NodePort address; the backend's subnet is the pod network.
pub fn proxy_args(mode: &str) -> Vec<String> {
    vec![
        "--mode".into(),
        mode.into(),
        "--node-ip".into(),
        NODE_IP.to_string(),
        "--nodeport-addresses".into(),
        format!("{NODE_IP}/32"),
        "--cluster-cidr".into(),
        POD_CIDR.into(),
    ]
}

/// Connects from the client to `target` until it accepts (bounded by [`READY_LIMIT`]); fails
/// early when the proxy exits.
fn wait_answering(
    ctx: &Ctx,
    net: &Routed,
    target: SocketAddr,
    active: &mut Active,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last = None;
    for _ in 0..2000 {
        if let Some(p) = active.proxy.as_mut() {
            p.check_alive()?;
        }
        match probe::run(ctx, &net.client, IpAddr::V4(CLIENT_IP), target, 1) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        if start.elapsed() > READY_LIMIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
        .context(format!("not answering within {READY_LIMIT:?}"))
}

/// HAProxy in the node namespace, `nbthread 1`, pinned to the server CPUs, one frontend for
/// HTTP and one for bulk on the node's client-side address.
pub fn start_haproxy(ctx: &Ctx, net: &Routed, dir: &Path) -> anyhow::Result<Daemon> {
    let frontends = [
        haproxy::Frontend {
            name: "web".into(),
            bind: SocketAddr::from((NODE_IP, HAPROXY_HTTP)),
            servers: vec![SocketAddr::from((BACKEND_IP, HTTP_PORT))],
        },
        haproxy::Frontend {
            name: "bulk".into(),
            bind: SocketAddr::from((NODE_IP, HAPROXY_BULK)),
            servers: vec![SocketAddr::from((BACKEND_IP, BULK_PORT))],
        },
    ];
    let conf = dir.join("haproxy.cfg");
    std::fs::write(&conf, haproxy::config(&frontends))?;
    let mut args = net.node().prefix();
    args.extend([
        find_program("haproxy")?.display().to_string(),
        "-db".into(),
        "-f".into(),
        conf.display().to_string(),
    ]);
    Daemon::spawn("haproxy", &ctx.server_cpus, Path::new("ip"), &args, dir)
}

/// The backends in the backend namespace, pinned to the client CPUs: one `sybench backend`
/// HTTP server on [`HTTP_PORT`] and one `iperf3 -s` on [`BULK_PORT`].
pub fn start_backends(ctx: &Ctx, net: &Routed, dir: &Path) -> anyhow::Result<[Daemon; 2]> {
    let exe = std::env::current_exe().context("finding sybench's own path")?;
    let mut http = net.backend.prefix();
    http.extend([
        exe.display().to_string(),
        "backend".into(),
        "--serve".into(),
        format!("{BACKEND_IP}:{HTTP_PORT}=0"),
    ]);
    let http = Daemon::spawn("backend", &ctx.client_cpus, Path::new("ip"), &http, dir)?;
    let mut bulk = net.backend.prefix();
    bulk.extend([
        find_program("iperf3")?.display().to_string(),
        "-s".into(),
        "-B".into(),
        BACKEND_IP.to_string(),
        "-p".into(),
        BULK_PORT.to_string(),
    ]);
    let bulk = Daemon::spawn(
        "iperf3-server",
        &ctx.client_cpus,
        Path::new("ip"),
        &bulk,
        dir,
    )?;
    Ok([http, bulk])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_group_into_systems_and_every_label_is_distinct() {
        let mut labels: Vec<&str> = ALL.iter().map(|c| c.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ALL.len());
        assert_eq!(Case::KubeClusterIp.system(), System::Kube);
        assert_eq!(Case::SwitchyardNodePort.system(), System::SwitchyardNft);
        let probed = Probed {
            node_port_http: SocketAddr::from((NODE_IP, 30001)),
            node_port_bulk: SocketAddr::from((NODE_IP, 30002)),
            cluster_ip_http: "10.96.0.20:80"
                .parse()
                .unwrap_or(SocketAddr::from((NODE_IP, 1))),
            cluster_ip_bulk: "10.96.0.20:5201"
                .parse()
                .unwrap_or(SocketAddr::from((NODE_IP, 1))),
        };
        assert_eq!(Case::Userspace.targets(&probed).0.port(), 30001);
        assert_eq!(Case::Direct.targets(&probed).1.ip(), IpAddr::V4(BACKEND_IP));
        assert_eq!(Case::KubeClusterIp.targets(&probed).1.port(), 5201);
    }

    /// The conntrack-only rule is valid nft and makes the namespace track flows.
    #[test]
    fn the_conntrack_rule_loads() -> anyhow::Result<()> {
        if !testkit::require_root("the_conntrack_rule_loads", "loads nft in a namespace")
            || !testkit::require_tool("the_conntrack_rule_loads", "nft")
        {
            return Ok(());
        }
        let ns = crate::nft_area::netns::Netns::create(&testkit::unique_name("ctrule"))?;
        ns.nft_script(CONNTRACK_RULE)?;
        let listed = ns.exec("nft", &["list", "ruleset"])?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.contains("ct state new counter"), "{listed}");
        Ok(())
    }
}
