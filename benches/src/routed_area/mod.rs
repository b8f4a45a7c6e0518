//! Area "routed" (issue #14): new connections, keep-alive requests and bulk from a client
//! namespace through a node namespace to a backend namespace, for switchyard's nftables rules
//! (NodePort and ClusterIP) at 10 and at 10k services (1k in quick mode), against the same
//! path with no rules (direct), direct with conntrack on, a kube-proxy-shaped nftables ruleset
//! for the same services, HAProxy in TCP mode on the node, and switchyard's userspace proxy.
//!
//! The network is [`topology`]; the services come from switchyard's API ([`services`]); the
//! systems are put in place and removed per repetition ([`cases`]); the reference ruleset is
//! [`kube_shape`]. Needs root. Every process and namespace is removed on drop, even on failure.

pub mod cases;
pub mod kube_shape;
pub mod services;
pub mod topology;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;

use crate::Ctx;
use crate::nft_area::{is_root, probe};
use crate::peers::switchyard::admin_client_builder;
use crate::proxy_area::tools;
use crate::results::{AreaResult, Better, Row, Section, Series};
use crate::scale_area::cluster::Control;
use cases::{ALL, Case, Inputs, System};
use topology::{CLIENT_IP, NODE_IP, POD_CIDR, Routed, TcpCounters};

/// wrk connections.
const CONNS: u32 = 50;

type Samples = Result<Vec<f64>, String>;

/// Everything one case measured at one size.
#[derive(Debug, Clone)]
struct Fig {
    case: Case,
    cps: Samples,
    rps: Samples,
    gbps: Samples,
    errors: u64,
    /// The node's conntrack entries after each repetition of the case.
    conntrack: Vec<f64>,
    /// The TCP counters' growth during the case's connection-rate runs, summed.
    tcp: TcpCounters,
}

impl Fig {
    fn new(case: Case) -> Fig {
        Fig {
            case,
            cps: Ok(vec![]),
            rps: Ok(vec![]),
            gbps: Ok(vec![]),
            errors: 0,
            conntrack: vec![],
            tcp: TcpCounters::default(),
        }
    }

    fn fail(&mut self, e: &anyhow::Error) {
        let m = format!("{e:#}");
        (self.cps, self.rps, self.gbps) = (Err(m.clone()), Err(m.clone()), Err(m));
    }
}

fn push(slot: &mut Samples, v: anyhow::Result<f64>) {
    match (slot.as_mut(), v) {
        (Ok(s), Ok(x)) => s.push(x),
        (Ok(_), Err(e)) => *slot = Err(format!("{e:#}")),
        _ => {}
    }
}

fn series(name: &str, s: &Samples) -> Series {
    match s {
        Ok(v) => Series::measured(name, v),
        Err(e) => Series::failed(name, e),
    }
}

/// Run sizes: services, repetitions, seconds per load run.
fn plan(ctx: &Ctx) -> (Vec<usize>, usize, u32) {
    ctx.mode.pick(
        (vec![10], 1, 1),
        (vec![10, 1000], 3, 2),
        (vec![10, 10_000], 3, 5),
    )
}

/// Runs the area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    anyhow::ensure!(
        is_root(),
        "the routed area needs root (it creates network namespaces and runs nft in them)"
    );
    for tool in ["wrk", "iperf3", "haproxy", "conntrack", "nft"] {
        crate::peers::find_program(tool)?;
    }
    let (sizes, reps, seconds) = plan(ctx);
    let tmp = tempfile::tempdir().context("temp dir")?;
    let net = Routed::create()?;
    let _backends = cases::start_backends(ctx, &net, tmp.path())?;
    let _haproxy = cases::start_haproxy(ctx, &net, tmp.path())?;
    let mut sections = Vec::new();
    for &n in &sizes {
        tracing::info!(services = n, reps, "routed: size");
        let dir = tmp.path().join(format!("size-{n}"));
        std::fs::create_dir_all(&dir)?;
        let figs = match run_size(ctx, &net, n, reps, seconds, &dir) {
            Ok(figs) => figs,
            Err(e) => {
                tracing::error!(
                    services = n,
                    error = format!("{e:#}"),
                    "routed: size failed"
                );
                ALL.iter()
                    .map(|c| {
                        let mut f = Fig::new(*c);
                        f.fail(&e);
                        f
                    })
                    .collect()
            }
        };
        sections.push(section(ctx, n, reps, seconds, &figs));
    }
    Ok(AreaResult {
        area: "routed".into(),
        title: "Routed: client → node → backend namespaces".into(),
        run: ctx.run_info(),
        sections,
    })
}

/// One size: a fresh `switchyard run` with `n` services, then every case `reps` times, the
/// order of the systems rotated each repetition.
fn run_size(
    ctx: &Ctx,
    net: &Routed,
    n: usize,
    reps: usize,
    seconds: u32,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<Fig>> {
    let control = Control::start(ctx, &net.uplink, dir)?;
    let base = format!("https://{}", control.api);
    let http = admin_client_builder(&control.data_dir)?
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the API client")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let limit = Duration::from_secs(120) + Duration::from_millis(30) * n as u32;
    let population = rt.block_on(services::create_all(&http, &base, n, limit))?;
    let kube = kube_shape::Cluster {
        cluster_cidr: POD_CIDR.into(),
        node_ips: vec![NODE_IP],
        ports: population.ports.clone(),
    };
    let kube_script = kube.table().to_string();
    let kubeconfig = control.kubeconfig();
    let inputs = Inputs {
        ctx,
        net,
        kubeconfig: &kubeconfig,
        kube_script: &kube_script,
        probed: &population.probed,
        log_dir: dir,
    };
    let mut figs: Vec<Fig> = ALL.iter().map(|c| Fig::new(*c)).collect();
    let mut systems: Vec<System> = Vec::new();
    for c in ALL {
        if !systems.contains(&c.system()) {
            systems.push(c.system());
        }
    }
    for rep in 0..reps {
        let mut order = systems.clone();
        order.rotate_left(rep % systems.len());
        for system in order {
            tracing::info!(services = n, rep, ?system, "routed: measuring");
            let active = match cases::bring_up(system, &ALL, &inputs) {
                Ok(a) => a,
                Err(e) => {
                    for f in figs.iter_mut().filter(|f| f.case.system() == system) {
                        f.fail(&e);
                    }
                    continue;
                }
            };
            for f in figs.iter_mut().filter(|f| f.case.system() == system) {
                measure(ctx, net, &population.probed, seconds, f);
                f.conntrack.push(net.conntrack_count() as f64);
                net.flush_conntrack()?;
            }
            cases::tear_down(active, net)?;
        }
    }
    drop(control);
    Ok(figs)
}

/// One repetition of one case: connection rate, keep-alive request rate, bulk.
fn measure(ctx: &Ctx, net: &Routed, probed: &services::Probed, seconds: u32, fig: &mut Fig) {
    let (http, bulk) = fig.case.targets(probed);
    let ns = Some(net.client.name());
    let before = net.tcp_counters();
    let cps = tools::wrk_in(ns, &ctx.client_cpus, http, CONNS, seconds, true).map(|r| {
        fig.errors += r.errors;
        r.rps
    });
    push(&mut fig.cps, cps);
    if let (Ok(before), Ok(after)) = (before, net.tcp_counters()) {
        fig.tcp.add(after.since(before));
    }
    let rps = tools::wrk_in(ns, &ctx.client_cpus, http, CONNS, seconds, false).map(|r| {
        fig.errors += r.errors;
        r.rps
    });
    push(&mut fig.rps, rps);
    let gbps = tools::iperf3_in(ns, &ctx.client_cpus, bulk, seconds).map(|r| r.gbps);
    push(&mut fig.gbps, gbps);
    // One connect afterwards proves the path still works (a case that broke mid-run would
    // otherwise only show as a low rate).
    if let Err(e) = probe::run(ctx, &net.client, IpAddr::V4(CLIENT_IP), http, 1) {
        fig.fail(&e.context("the path stopped answering after the load"));
    }
}

/// The three workloads: (key, case text, metric).
const WORKLOADS: [(&str, &str, &str); 3] = [
    (
        "cps",
        "one connection per request (`Connection: close`), 50 concurrent",
        "connections/s",
    ),
    ("rps", "keep-alive requests, 50 connections", "requests/s"),
    ("gbps", "bulk TCP, 1 stream", "Gbit/s"),
];

fn pick<'a>(fig: &'a Fig, key: &str) -> &'a Samples {
    match key {
        "cps" => &fig.cps,
        "rps" => &fig.rps,
        _ => &fig.gbps,
    }
}

fn section(ctx: &Ctx, n: usize, reps: usize, seconds: u32, figs: &[Fig]) -> Section {
    let fig = |c: Case| figs.iter().find(|f| f.case == c);
    let s = |c: Case, key: &str| match fig(c) {
        Some(f) => series(c.label(), pick(f, key)),
        None => Series::failed(c.label(), "not run"),
    };
    let mut rows = Vec::new();
    for (key, workload, metric) in WORKLOADS {
        let groups: [(Case, &str, Vec<Case>); 3] = [
            (
                Case::SwitchyardNodePort,
                "NodePort",
                vec![
                    Case::Direct,
                    Case::DirectConntrack,
                    Case::KubeNodePort,
                    Case::Haproxy,
                    Case::SwitchyardFullyRandom,
                ],
            ),
            (
                Case::SwitchyardClusterIp,
                "ClusterIP",
                vec![Case::Direct, Case::DirectConntrack, Case::KubeClusterIp],
            ),
            (
                Case::Userspace,
                "userspace NodePort",
                vec![Case::Direct, Case::Haproxy],
            ),
        ];
        for (subject, what, refs) in groups {
            rows.push(Row {
                case: format!("{n} services, {what}: {workload}"),
                metric: metric.into(),
                better: Better::Higher,
                subject: s(subject, key),
                references: refs.iter().map(|r| s(*r, key)).collect(),
            });
        }
    }
    let mut notes = Vec::new();
    // The references against direct, which the table (switchyard against each) does not show.
    for (key, _, metric) in WORKLOADS {
        let median = |c: Case| {
            fig(c).and_then(|f| match pick(f, key) {
                Ok(v) => crate::stats::Summary::of(v).map(|s| s.median),
                Err(_) => None,
            })
        };
        let direct = median(Case::Direct);
        let parts: Vec<String> = [
            Case::DirectConntrack,
            Case::KubeNodePort,
            Case::KubeClusterIp,
            Case::Haproxy,
            Case::SwitchyardFullyRandom,
        ]
        .iter()
        .filter_map(|c| Some(format!("{} {:.2}×", c.label(), median(*c)? / direct?)))
        .collect();
        if !parts.is_empty() {
            notes.push(format!(
                "References against direct, {metric}: {}.",
                parts.join(", ")
            ));
        }
    }
    let errors: Vec<String> = figs
        .iter()
        .map(|f| format!("{} {}", f.case.label(), f.errors))
        .collect();
    notes.push(format!(
        "wrk errors (socket errors + non-2xx) over all runs: {}.",
        errors.join(", ")
    ));
    let retrans: Vec<String> = figs
        .iter()
        .map(|f| {
            let t = f.tcp;
            format!(
                "{} {} / {} / {}",
                f.case.label(),
                t.syn_retrans,
                t.client_resets,
                t.backend_paws_rejects
            )
        })
        .collect();
    notes.push(format!(
        "During the connection-rate runs, summed over the repetitions: SYNs the client \
         retransmitted (`TcpExtTCPSynRetrans`) / resets the client sent (`Tcp OutRsts`) / \
         SYNs the backend refused by PAWS (`TcpExtPAWSTimewait`, a SYN on a four-tuple it \
         holds in TIME_WAIT with an older timestamp; the client resets and resends after a \
         few ms): {}.",
        retrans.join(", ")
    ));
    let conntrack: Vec<String> = figs
        .iter()
        .map(|f| {
            let max = f.conntrack.iter().copied().fold(0.0, f64::max);
            format!("{} {max:.0}", f.case.label())
        })
        .collect();
    notes.push(format!(
        "Node conntrack entries after a case's runs (largest over the repetitions; flushed \
         after each): {}.",
        conntrack.join(", ")
    ));
    let n_nodeports = (0..n).filter(|i| services::is_node_port(*i, n)).count();
    Section {
        title: format!("{n} services: client → node → backend"),
        method: method(ctx, n, n_nodeports, reps, seconds),
        rows,
        notes,
    }
}

fn method(ctx: &Ctx, n: usize, node_ports: usize, reps: usize, seconds: u32) -> String {
    let proxy_flags = cases::proxy_args("MODE").join(" ");
    format!(
        "Three network namespaces made by the bench: client 10.77.1.2/24 — veth — node \
         (10.77.1.1/24 and 10.77.2.1/24, `net.ipv4.ip_forward=1`) — veth — backend \
         10.77.2.2/24; client and backend route everything via the node. Backend: one \
         `sybench backend` HTTP/1.1 server on 10.77.2.2:8080 (64-byte body, no delay) and \
         `iperf3 -s -B 10.77.2.2 -p 5201`, both pinned with `taskset -c {client}`. Client, in \
         its namespace, pinned with `taskset -c {client}`: connections with \
         `wrk -t1 -c{CONNS} -d{seconds}s --latency -H 'Connection: close'` (one TCP connection \
         per request; the backend closes), keep-alive requests with the same without the \
         header, bulk with `iperf3 -c <target> -t {seconds}`. `switchyard run --proxy-mode none \
         --dns-listen none` (store, API, controllers) runs on the host, reached by the node \
         over a third veth, as in the scale area; {n} selector-less Services in one namespace, \
         each with a manual Endpoints object naming the backend (mirrored into \
         EndpointSlices, all waited for before any proxy starts); {node_ports} of them \
         NodePort (one in ten, and the last), the rest ClusterIP. The probed Service is the \
         last one created, with ports 80→8080 and 5201→5201; NodePort traffic goes to \
         10.77.1.1:<nodePort>, ClusterIP traffic to <clusterIP>:80 / :5201 via the client's \
         default route. Cases: direct = client to 10.77.2.2 with no rule in the node (the \
         namespace then tracks no connection at all); direct + conntrack = the same with \
         `{ct}` loaded; switchyard nftables = `switchyard proxy --kubeconfig <admin> \
         --node-name scale-node --metrics-listen none {proxy_flags}` with MODE `nftables` \
         (defaults otherwise: 8 shards, random endpoint pick, `masquerade` keeping the \
         client's source port where it is free) in the node namespace, pinned to `{server}`; \
         switchyard nftables fully-random = the same with `--masquerade-fully-random` \
         (kube-proxy's choice); kube-proxy-shaped = one table `ip kube-proxy` in the shape of \
         kube-proxy's nftables mode (Kubernetes 1.31+) for the same services, ClusterIPs and \
         NodePorts as the API allocated them, loaded with `nft -f`: sets `cluster-ips`, \
         `nodeport-ips`; verdict maps `service-ips`, `service-nodeports`, `firewall-ips`, \
         `no-endpoint-services`, `no-endpoint-nodeports`; base chains filter-prerouting / \
         -input / -forward / -output at priority -110 (`ct state new jump …-check`), \
         filter-output-post-dnat at -90, nat-prerouting / nat-output at -100 (`jump \
         services`), nat-postrouting at 100 (`jump masquerading`, which masquerades \
         `fully-random` what `mark-for-masquerade` marked with 0x4000); per service port a \
         `service-<hash>-<ns>/<name>/tcp/<port>` chain (masquerade mark for sources outside \
         {POD_CIDR}, `numgen random mod <n> vmap` to its endpoint chains), per endpoint an \
         `endpoint-…` chain (`dnat to`), per NodePort an `external-…` chain; HAProxy = \
         `{haproxy}` `mode tcp`, `nbthread 1`, on 10.77.1.1:18080 and :15201, pinned to \
         `{server}`; switchyard userspace = the same `switchyard proxy` with MODE `userspace` \
         and `--proxy-interface none`, NodePort. Every repetition of a system starts from \
         `nft flush ruleset` and `conntrack -F` in the node, starts the system's proxy (if \
         any) and waits until the client connects to its targets, measures, then kills the \
         proxy and flushes again (conntrack is also flushed between a system's cases, so \
         TIME_WAIT entries never pile up from one case into the next). Client and node \
         send TCP timestamps from the clock alone (`net.ipv4.tcp_timestamps=2`, no \
         per-address-pair offset): with the kernel's default offsets, a case that reaches the \
         backend through another address than the case before it sends older timestamps on \
         the same four-tuples, and the backend refuses those SYNs by PAWS while the earlier \
         case's TIME_WAIT lasts (60 s), so a case would pay for its predecessor. HAProxy runs \
         throughout (a listener affects no other case). {reps} repetitions, the order of \
         the systems rotated each repetition; medians with [min–max]. Higher is better in \
         every row; ratios are switchyard ÷ each reference, all in the same run. The kernel \
         path's work (forwarding, conntrack, NAT) runs in softirq context on whichever CPU \
         the packet is processed on — mostly the sending side's, i.e. the client's and \
         backend's `{client}` for veth — and is not pinned; only processes are.",
        client = ctx.client_cpus,
        server = ctx.server_cpus,
        ct = cases::CONNTRACK_RULE,
        haproxy = crate::peers::haproxy::version(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_compare_each_switchyard_path_with_its_references() {
        let mut figs: Vec<Fig> = ALL.iter().map(|c| Fig::new(*c)).collect();
        for (i, f) in figs.iter_mut().enumerate() {
            f.cps = Ok(vec![1000.0 + i as f64]);
            f.rps = Ok(vec![2000.0]);
            f.gbps = Ok(vec![3.0]);
            f.conntrack = vec![i as f64];
        }
        figs[5].fail(&anyhow::anyhow!("kube shape broke"));
        let ctx = Ctx {
            mode: crate::mode::Mode::Smoke,
            switchyard: "switchyard".into(),
            server_cpus: "1".into(),
            client_cpus: "0".into(),
        };
        let s = section(&ctx, 10, 1, 1, &figs);
        assert_eq!(s.rows.len(), 9);
        let nodeport_cps = &s.rows[0];
        assert_eq!(nodeport_cps.subject.name, Case::SwitchyardNodePort.label());
        assert_eq!(nodeport_cps.references.len(), 5);
        assert_eq!(nodeport_cps.ratio(0), Some(1002.0 / 1000.0));
        assert!(nodeport_cps.references[2].error.as_deref() == Some("kube shape broke"));
        assert!(s.method.contains("--nodeport-addresses 10.77.1.1/32"));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("direct + conntrack 1.00×"))
        );
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("switchyard userspace, NodePort 8"))
        );
    }
}
