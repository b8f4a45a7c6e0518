//! Area 5, the nftables proxy: full and one-service incremental sync time at 1k / 10k (30k in
//! `--full`) services × 10 endpoints through `proxy::nft::Syncer` applied by real `nft` inside
//! a network namespace the bench creates, against a linear chain of per-service rules (the
//! iptables-mode shape) built from the same data; and TCP connection set-up latency through
//! the rules vs direct, inside the namespace.
//!
//! Needs root (network namespaces). Never touches the host's ruleset: every `nft` call runs in
//! the bench's own namespace, which is deleted on drop.

pub mod netns;
pub mod probe;
pub mod shapes;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use proxy::nft::{
    NftRunner, Syncer,
    rules::{DEFAULT_SHARDS, RuleConfig},
};

use crate::Ctx;
use crate::peers::Daemon;
use crate::results::{AreaResult, Better, Row, Section, Series};
use netns::Netns;

pub use testkit::is_root;

const ENDPOINTS: usize = 10;
const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
const BACKEND_PORT: u16 = 8080;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 251, 0, 1);

/// Rules as `switchyard run` makes them by default (its shard count included).
fn rule_config() -> RuleConfig {
    RuleConfig {
        masquerade_mark: 0x4000,
        ..RuleConfig::default()
    }
}

/// The same with every service in one table: what sharding buys, measured.
fn one_shard_config() -> RuleConfig {
    RuleConfig {
        shards: 1,
        ..rule_config()
    }
}

/// Samples of one switchyard configuration: full sync, one endpoint moved, one service added.
struct SyncSamples {
    full: Samples,
    endpoint: Samples,
    add: Samples,
    ops: Vec<f64>,
}

impl SyncSamples {
    fn new() -> SyncSamples {
        SyncSamples {
            full: Ok(vec![]),
            endpoint: Ok(vec![]),
            add: Ok(vec![]),
            ops: Vec::new(),
        }
    }

    /// One repetition from an empty ruleset; a failure marks every series failed.
    fn measure(
        &mut self,
        ns: &Netns,
        config: RuleConfig,
        table: &proxy::model::ServiceTable,
        n: usize,
        rep: usize,
    ) {
        let result: anyhow::Result<()> = (|| {
            ns.exec("nft", &["flush", "ruleset"])?;
            let mut syncer = Syncer::new(
                config,
                Arc::new(NftRunner::new(Some(ns.name().to_string()))),
            );
            let t = Instant::now();
            syncer.sync(table).context("switchyard full sync")?;
            push(&mut self.full, Ok(ms_since(t)));
            let changed =
                shapes::with_moved_endpoint(table, rep % n.max(1), ENDPOINTS, rep as u32 + 1);
            let t = Instant::now();
            let outcome = syncer
                .sync(&changed)
                .context("switchyard incremental sync")?;
            push(&mut self.endpoint, Ok(ms_since(t)));
            self.ops.push(outcome.ops as f64);
            let grown = shapes::with_added_service(&changed, n, ENDPOINTS);
            let t = Instant::now();
            syncer.sync(&grown).context("switchyard service add")?;
            push(&mut self.add, Ok(ms_since(t)));
            Ok(())
        })();
        if let Err(e) = result {
            let failed: Samples = Err(format!("{e:#}"));
            (self.full, self.endpoint, self.add) = (failed.clone(), failed.clone(), failed);
        }
    }
}

type Samples = Result<Vec<f64>, String>;

fn series(name: &str, s: &Samples) -> Series {
    match s {
        Ok(v) => Series::measured(name, v),
        Err(e) => Series::failed(name, e),
    }
}

fn push(slot: &mut Samples, v: anyhow::Result<f64>) {
    match (slot.as_mut(), v) {
        (Ok(s), Ok(x)) => s.push(x),
        (Ok(_), Err(e)) => *slot = Err(format!("{e:#}")),
        _ => {}
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs the nft area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    anyhow::ensure!(
        is_root(),
        "the nft area needs root (it creates a network namespace and runs nft in it)"
    );
    let sizes: Vec<usize> = ctx.mode.pick(
        vec![100, 1000],
        vec![1000, 10_000],
        vec![1000, 10_000, 30_000],
    );
    let reps = ctx.mode.reps();
    let ns = Netns::create("nft")?;
    let nft_version = crate::run_info::tool_version("nft", &["--version"]);

    let mut sync_rows = Vec::new();
    for &n in &sizes {
        let table = shapes::table(n, ENDPOINTS);
        let mut sharded = SyncSamples::new();
        let mut single = SyncSamples::new();
        let (mut lin_full, mut lin_inc, mut lin_add): (Samples, Samples, Samples) =
            (Ok(vec![]), Ok(vec![]), Ok(vec![]));
        for rep in 0..reps {
            let changed_index = rep % n.max(1);
            sharded.measure(&ns, rule_config(), &table, n, rep);
            single.measure(&ns, one_shard_config(), &table, n, rep);
            let linear: anyhow::Result<()> = (|| {
                ns.exec("nft", &["flush", "ruleset"])?;
                let t = Instant::now();
                ns.nft_script(&shapes::linear_full(n, ENDPOINTS))
                    .context("linear full load")?;
                push(&mut lin_full, Ok(ms_since(t)));
                let t = Instant::now();
                ns.nft_script(&shapes::linear_incremental(
                    n,
                    ENDPOINTS,
                    changed_index,
                    rep as u32 + 1,
                ))
                .context("linear incremental")?;
                push(&mut lin_inc, Ok(ms_since(t)));
                let t = Instant::now();
                ns.nft_script(&shapes::linear_add(n, ENDPOINTS))
                    .context("linear service add")?;
                push(&mut lin_add, Ok(ms_since(t)));
                Ok(())
            })();
            if let Err(e) = linear {
                let failed: Samples = Err(format!("{e:#}"));
                (lin_full, lin_inc, lin_add) = (failed.clone(), failed.clone(), failed);
            }
        }
        let ops_note = crate::stats::Summary::of(&sharded.ops).map_or(0.0, |s| s.median);
        let subject = |s: &Samples| series(&format!("switchyard nft ({DEFAULT_SHARDS} shards)"), s);
        let one_shard = |s: &Samples| series("switchyard nft, 1 shard", s);
        let linear = |s: &Samples| series("linear per-service chain", s);
        sync_rows.push(Row {
            case: format!("{n} services × {ENDPOINTS} endpoints, full sync"),
            metric: "ms".into(),
            better: Better::Lower,
            subject: subject(&sharded.full),
            references: vec![linear(&lin_full), one_shard(&single.full)],
        });
        sync_rows.push(Row {
            case: format!("{n} services, one endpoint changed ({ops_note:.0} nft ops)"),
            metric: "ms".into(),
            better: Better::Lower,
            subject: subject(&sharded.endpoint),
            references: vec![linear(&lin_inc), one_shard(&single.endpoint)],
        });
        sync_rows.push(Row {
            case: format!("{n} services, one service added"),
            metric: "ms".into(),
            better: Better::Lower,
            subject: subject(&sharded.add),
            references: vec![linear(&lin_add), one_shard(&single.add)],
        });
    }

    let latency = connection_latency(ctx, &ns, *sizes.last().unwrap_or(&1000), reps);
    drop(ns);

    let sync_method = format!(
        "In a network namespace created by the bench (`ip netns add`), `{nft_version}`. \
         switchyard: `proxy::nft::Syncer` with `NftRunner` (one atomic transaction per sync), \
         the first sync full, then one service's endpoint moved (incremental; the row names the \
         median transaction size), then one service added. Services are spread over \
         {DEFAULT_SHARDS} shard tables per family (`--nft-shards`, the default); the same syncs \
         with every service in one table are shown as a second reference. switchyard's syncs, full \
         and incremental, go to the kernel as nf_tables netlink batches it encodes itself; the \
         linear reference is loaded with `nft -f`, as a ruleset file would be. Reference: the same services as a linear ruleset in the \
         iptables-mode shape — one `ip daddr <ClusterIP> tcp dport 80 jump svc-<i>` rule per \
         service in one chain, each service chain picking and DNATing to an endpoint exactly as \
         switchyard's do (a `numgen random` cascade), so only the dispatch differs; its \
         incremental update rewrites the dispatch chain whole plus the changed (or added) \
         service's chain, as kube-proxy's iptables mode rewrites KUBE-SERVICES each sync. Times include generating the rules and running nft; `nft flush ruleset` \
         between repetitions. sybench pinned to `{}`. {reps} repetitions.",
        ctx.client_cpus
    );
    let mut sections = vec![Section {
        title: "nftables sync time".into(),
        method: sync_method,
        rows: sync_rows,
        notes: vec![],
    }];
    sections.push(latency);
    Ok(AreaResult {
        area: "nft".into(),
        title: "nftables proxy".into(),
        run: ctx.run_info(),
        sections,
    })
}

/// Connection set-up latency through the rules, inside the namespace.
fn connection_latency(ctx: &Ctx, ns: &Netns, large: usize, reps: usize) -> Section {
    let count = ctx.mode.pick(200, 2000, 5000);
    type Ten = [Samples; 10];
    let result: anyhow::Result<Ten> = (|| {
        ns.exec(
            "ip",
            &["addr", "add", &format!("{BACKEND}/32"), "dev", "lo"],
        )?;
        // ClusterIPs need a route for the connect to reach the output hook at all; the client
        // gets its own source address so the backend never sees a hairpin (masqueraded) flow.
        ns.exec("ip", &["addr", "add", &format!("{CLIENT}/32"), "dev", "lo"])?;
        let src = CLIENT.to_string();
        ns.exec(
            "ip",
            &["route", "add", "10.96.0.0/12", "dev", "lo", "src", &src],
        )?;
        let exe = std::env::current_exe()?;
        let mut args = ns.prefix();
        args.extend([
            exe.display().to_string(),
            "backend".into(),
            "--serve".into(),
            format!("{BACKEND}:{BACKEND_PORT}=0"),
        ]);
        let tmp = tempfile::tempdir()?;
        let _backend = Daemon::spawn(
            "ns-backend",
            &ctx.server_cpus,
            std::path::Path::new("ip"),
            &args,
            tmp.path(),
        )?;
        let direct = SocketAddr::from((BACKEND, BACKEND_PORT));
        let client = std::net::IpAddr::V4(CLIENT);
        probe::wait_listening(ctx, ns, client, direct)?;
        // direct p50/p99, 10 services, `large` services, `large` in one shard.
        let mut out: [Samples; 8] = std::array::from_fn(|_| Ok(vec![]));
        // Direct, with no rules loaded: half the repetitions now, half at the end, so a drift
        // of the machine over the run shows in the reference's spread, not in the ratio.
        let direct_round = |out: &mut [Samples; 8], times: usize| -> anyhow::Result<()> {
            for _ in 0..times {
                let (p50, p99) = probe::run(ctx, ns, client, direct, count)?;
                push(&mut out[0], Ok(p50));
                push(&mut out[1], Ok(p99));
            }
            Ok(())
        };
        // "No rules" means none: the sync-time section leaves its last (linear, 10k-rule)
        // ruleset loaded, and probing "direct" through it once made the rules look faster
        // than no rules at all. One discarded run warms the backend up.
        ns.exec("nft", &["flush", "ruleset"])?;
        probe::run(ctx, ns, client, direct, count)?;
        direct_round(&mut out, reps.div_ceil(2))?;
        for (slot, n, config) in [
            (2usize, 10usize, rule_config()),
            (4, large, rule_config()),
            (6, large, one_shard_config()),
        ] {
            ns.exec("nft", &["flush", "ruleset"])?;
            let mut ports: Vec<_> = (0..n)
                .map(|i| {
                    let backend = (i == n - 1).then_some((BACKEND, BACKEND_PORT));
                    // The probed service has the backend as its only endpoint.
                    let endpoints = if backend.is_some() { 1 } else { ENDPOINTS };
                    Arc::new(shapes::service(i, endpoints, 0, backend))
                })
                .collect();
            ports.sort_by(|a, b| a.id.cmp(&b.id));
            let table = proxy::model::ServiceTable { ports };
            let mut syncer = Syncer::new(
                config,
                Arc::new(NftRunner::new(Some(ns.name().to_string()))),
            );
            syncer
                .sync(&table)
                .context("loading rules for the latency test")?;
            if let Ok(dir) = std::env::var("SYBENCH_NFT_DUMP") {
                let out = ns.exec("nft", &["list", "ruleset"])?;
                std::fs::write(format!("{dir}/nft-{n}.txt"), out.stdout)?;
            }
            let target = SocketAddr::from((shapes::cluster_ip(n - 1), 80));
            probe::wait_listening(ctx, ns, client, target)?;
            for _ in 0..reps {
                let (p50, p99) = probe::run(ctx, ns, client, target, count)?;
                push(&mut out[slot], Ok(p50));
                push(&mut out[slot + 1], Ok(p99));
            }
        }
        ns.exec("nft", &["flush", "ruleset"])?;
        // The reference: the linear per-service chain at the same size, probed service last.
        ns.nft_script(&shapes::linear_full(large, ENDPOINTS))?;
        ns.nft_script(&shapes::linear_point_at(large - 1, (BACKEND, BACKEND_PORT)))?;
        let target = SocketAddr::from((shapes::cluster_ip(large - 1), 80));
        probe::wait_listening(ctx, ns, client, target)?;
        let (mut lin50, mut lin99): (Samples, Samples) = (Ok(vec![]), Ok(vec![]));
        for _ in 0..reps {
            let (p50, p99) = probe::run(ctx, ns, client, target, count)?;
            push(&mut lin50, Ok(p50));
            push(&mut lin99, Ok(p99));
        }
        ns.exec("nft", &["flush", "ruleset"])?;
        direct_round(&mut out, reps / 2)?;
        let [a, b, c, d, e, f, g, h] = out;
        Ok([a, b, c, d, e, f, g, h, lin50, lin99])
    })();
    let [d50, d99, s50, s99, l50, l99, one50, one99, lin50, lin99] = match result {
        Ok(v) => v,
        Err(e) => std::array::from_fn(|_| Err(format!("{e:#}"))),
    };
    let row = |case: &str, metric: &str, sy: &Samples, refs: Vec<Series>| Row {
        case: case.into(),
        metric: metric.into(),
        better: Better::Lower,
        subject: series("switchyard nft", sy),
        references: refs,
    };
    let direct = |s: &Samples| series("direct (no rules)", s);
    let linear = |s: &Samples| series("linear per-service chain", s);
    let one_shard = |s: &Samples| series("switchyard nft, 1 shard", s);
    Section {
        title: "Connection set-up through the rules".into(),
        method: format!(
            "Inside the bench's namespace: one HTTP backend (`sybench backend`) on {BACKEND}:{BACKEND_PORT} \
             (pinned to `{}`), switchyard's rules for 10 and for {large} services × {ENDPOINTS} \
             endpoints, the probed service being the last one, with the backend as its one endpoint. \
             Client: `sybench nft-probe` in the namespace, pinned to `{}`, {count} sequential TCP \
             connects from {CLIENT} (SYN → SYN-ACK through DNAT in `nat-output`), p50/p99 per \
             run. Direct: the same connects from the same source to the backend address with no \
             rules loaded (`nft flush ruleset`), half of its repetitions before and half after \
             the others, after one discarded warm-up run. Every connection is closed with a reset (no TIME_WAIT). Services are spread over {DEFAULT_SHARDS} \
             shard tables (the default), each of which a new connection passes through; the \
             same rules in one shard are the third reference. Linear: the iptables-shape \
             ruleset at {large} services, the probed service last in the chain (the worst case \
             for a linear walk) and pointed at the backend.",
            ctx.server_cpus, ctx.client_cpus
        ),
        rows: vec![
            row("10 services", "connect p50 ms", &s50, vec![direct(&d50)]),
            row("10 services", "connect p99 ms", &s99, vec![direct(&d99)]),
            row(
                &format!("{large} services"),
                "connect p50 ms",
                &l50,
                vec![direct(&d50), linear(&lin50), one_shard(&one50)],
            ),
            row(
                &format!("{large} services"),
                "connect p99 ms",
                &l99,
                vec![direct(&d99), linear(&lin99), one_shard(&one99)],
            ),
        ],
        notes: vec![],
    }
}
