//! Area "scale" (issue #14): at 1k and 10k Services × 10 Pods in one namespace, how long one
//! Pod's readiness takes from the API write to the EndpointSlice, to the kernel rule and to the
//! DNS answer, and what the controller, proxy and DNS processes spend per endpoint change.
//!
//! The parts run as separate processes ([`cluster`]); the population is made through the API
//! ([`population`]); each change is one PATCH of a Pod's status timed to its effects
//! ([`change`]) as the bench observes them ([`observe`]). Needs root (a node namespace with
//! nftables). Every wait is bounded; a change whose effect does not show within the bound is
//! counted as a timeout, never as a sample.

pub mod change;
pub mod cluster;
pub mod observe;
pub mod population;

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::Ctx;
use crate::nft_area::is_root;
use crate::peers::switchyard::{admin_client_builder, ensure_namespace};
use crate::results::{AreaResult, Better, Row, Section, Series};
use change::{Observers, Outcome};
use cluster::{Cluster, Usage};
use observe::NftMonitor;
use population::{PODS, Shape};

/// kube-proxy's default `--iptables-min-sync-period` / `--nftables-min-sync-period`, the
/// reference every latency is divided by.
const KUBE_PROXY_MIN_SYNC_MS: f64 = 1000.0;
/// Bound on each change's effects.
const CHANGE_LIMIT: Duration = Duration::from_secs(60);
/// Pause between changes: longer than the proxy's `--min-sync-period` (1 s by default), so the
/// rate limit never holds a change back and each one is measured alone.
const PAUSE: Duration = Duration::from_millis(1100);

/// What one size measured.
#[derive(Debug)]
struct SizeRun {
    services: usize,
    outcomes: Vec<Outcome>,
    /// (control, proxy, dns) CPU seconds spent during the change phase.
    cpu_s: [f64; 3],
    /// (control, proxy, dns) resident bytes after the change phase.
    rss: [u64; 3],
    /// Creating the objects, then until slices, proxy and DNS held them (seconds).
    setup_s: [f64; 4],
    /// The first `nft monitor` line that matched, as an example.
    kernel_line: Option<String>,
}

/// Runs the area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    anyhow::ensure!(
        is_root(),
        "the scale area needs root (a node network namespace with nftables)"
    );
    let sizes: Vec<(usize, usize)> = ctx.mode.pick(
        vec![(100, 3)],
        vec![(1000, 20), (10_000, 10)],
        vec![(1000, 200), (10_000, 100)],
    );
    let mut runs = Vec::new();
    for (index, &(services, changes)) in sizes.iter().enumerate() {
        tracing::info!(services, changes, "scale: starting");
        let index = u8::try_from(index).unwrap_or(u8::MAX);
        let result = run_size(ctx, index, Shape { services }, changes);
        if let Err(e) = &result {
            tracing::error!(services, error = format!("{e:#}"), "scale: size failed");
        }
        runs.push((services, changes, result.map_err(|e| format!("{e:#}"))));
    }
    Ok(report(ctx, &runs))
}

fn run_size(ctx: &Ctx, index: u8, shape: Shape, changes: usize) -> anyhow::Result<SizeRun> {
    let tmp = tempfile::tempdir()?;
    let mut cluster = Cluster::start(ctx, index, tmp.path())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(measure_size(&mut cluster, shape, changes));
    // Stop the watch and the monitor's thread before the processes they read from go.
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn measure_size(
    cluster: &mut Cluster,
    shape: Shape,
    changes: usize,
) -> anyhow::Result<SizeRun> {
    let base = cluster.base();
    let http = admin_client_builder(&cluster.data_dir)?
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the API client")?;
    // Watches have no overall timeout; only the connection attempt is bounded.
    let watch_http = admin_client_builder(&cluster.data_dir)?
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the watch client")?;
    ensure_namespace(&http, &base, population::NAMESPACE).await?;
    // Sync bounds grow with the population: 2 minutes plus 60 ms per service.
    let limit = Duration::from_secs(120) + Duration::from_millis(60) * shape.services as u32;
    let start = Instant::now();
    population::create_all(&http, &base, shape, limit).await?;
    let created = start.elapsed();
    tracing::info!(
        services = shape.services,
        ?created,
        "scale: population created"
    );
    let slices = population::wait_slices(&http, &base, shape, limit).await?;
    cluster.check_alive()?;
    let proxy = population::wait_proxy(&cluster.uplink.ns, shape, limit).await?;
    let dns = population::wait_dns(cluster.dns_addr, shape, limit).await?;
    tracing::info!(?slices, ?proxy, ?dns, "scale: synced");

    let (_, version) = population::ready_endpoints(&http, &base).await?;
    let (slice_tx, slice_rx) = mpsc::unbounded_channel();
    let watch = tokio::spawn(observe::watch_slices(
        watch_http,
        base.clone(),
        population::NAMESPACE.to_string(),
        version,
        slice_tx,
    ));
    let (nft_tx, nft_rx) = mpsc::unbounded_channel();
    let monitor = NftMonitor::start(&cluster.uplink.ns, nft_tx)?;
    let mut nft_rx = nft_rx;
    monitor.wait_until_idle(&mut nft_rx, limit).await?;
    // Give the watch time to connect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut obs = Observers {
        slices: slice_rx,
        nft: nft_rx,
    };

    let before = cluster.usage()?;
    let mut outcomes = Vec::new();
    for k in 0..changes {
        cluster.check_alive()?;
        if watch.is_finished() {
            let why = match watch.await {
                Ok(Ok(())) => "ended".to_string(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => format!("{e}"),
            };
            anyhow::bail!("the EndpointSlice watch stopped: {why}");
        }
        let c = change::plan(k, shape.services);
        let outcome = change::measure(
            &http,
            &cluster.base(),
            cluster.dns_addr,
            &mut obs,
            c,
            CHANGE_LIMIT,
        )
        .await?;
        tracing::info!(k, ?c, ?outcome, "scale: change");
        outcomes.push(outcome);
        tokio::time::sleep(PAUSE).await;
    }
    let after = cluster.usage()?;
    watch.abort();
    let cpu = |i: usize| after[i].cpu_s - before[i].cpu_s;
    let kernel_line = outcomes.iter().find_map(|o| o.kernel_line.clone());
    Ok(SizeRun {
        services: shape.services,
        outcomes,
        cpu_s: [cpu(0), cpu(1), cpu(2)],
        rss: after.map(|u: Usage| u.rss),
        setup_s: [created, slices, proxy, dns].map(|d| d.as_secs_f64()),
        kernel_line,
    })
}

/// The three end-to-end paths, their labels and the kind of change each applies to.
const PATHS: [(&str, &str); 3] = [
    ("slice", "API write → EndpointSlice watch event"),
    (
        "kernel",
        "API write → nft change in the node namespace (ClusterIP)",
    ),
    ("dns", "API write → new A set on the wire (headless)"),
];

fn samples(run: &SizeRun, path: &str) -> (Vec<f64>, usize) {
    let mut got = Vec::new();
    let mut timeouts = 0;
    for o in &run.outcomes {
        let value = match path {
            "slice" => Some(o.slice_ms),
            "kernel" if !o.headless => Some(o.kernel_ms),
            "dns" if o.headless => Some(o.dns_ms),
            _ => None,
        };
        match value {
            Some(Some(v)) => got.push(v),
            Some(None) => timeouts += 1,
            None => {}
        }
    }
    (got, timeouts)
}

fn path_series(name: &str, got: &[f64], timeouts: usize) -> Series {
    if got.is_empty() {
        return Series::failed(
            name,
            format!("no change showed within {CHANGE_LIMIT:?} ({timeouts} timed out)"),
        );
    }
    Series::measured(name, got)
}

fn report(ctx: &Ctx, runs: &[(usize, usize, Result<SizeRun, String>)]) -> AreaResult {
    let kube_proxy = Series::measured(
        "kube-proxy minimum sync period (1 s)",
        &[KUBE_PROXY_MIN_SYNC_MS],
    );
    let mut latency = Vec::new();
    let mut notes = Vec::new();
    let mut usage = Vec::new();
    for (services, changes, run) in runs {
        let case = |what: &str| format!("{services} services × {PODS} pods: {what}");
        let run = match run {
            Ok(r) => r,
            Err(e) => {
                latency.push(Row {
                    case: case("setup"),
                    metric: "ms".into(),
                    better: Better::Lower,
                    subject: Series::failed("switchyard", e),
                    references: vec![],
                });
                continue;
            }
        };
        let api: Vec<f64> = run.outcomes.iter().map(|o| o.api_ms).collect();
        latency.push(Row {
            case: case("PATCH response"),
            metric: "ms".into(),
            better: Better::Lower,
            subject: Series::measured("switchyard", &api),
            references: vec![],
        });
        for (key, label) in PATHS {
            let (got, timeouts) = samples(run, key);
            for (p, metric) in [(50.0, "p50 ms"), (99.0, "p99 ms")] {
                let subject = match crate::stats::percentile(&got, p) {
                    Some(v) if p > 50.0 => Series::measured("switchyard", &[v]),
                    _ => path_series("switchyard", &got, timeouts),
                };
                latency.push(Row {
                    case: case(label),
                    metric: metric.into(),
                    better: Better::Lower,
                    subject,
                    references: vec![kube_proxy.clone()],
                });
            }
            if timeouts > 0 {
                notes.push(format!(
                    "{services} services, {label}: {timeouts} of {} changes showed nothing within \
                     {CHANGE_LIMIT:?} (timeouts, left out of the samples).",
                    timeouts + got.len()
                ));
            }
        }
        let [created, slices, proxy, dns] = run.setup_s;
        notes.push(format!(
            "{services} services: {changes} changes. Set-up (not measured against anything): \
             creating {} objects took {created:.1} s; then the slices held every pod after \
             {slices:.1} s more, the proxy's rules after {proxy:.1} s more, DNS after {dns:.1} s \
             more.",
            services * (PODS + 1)
        ));
        for (i, name) in [
            "switchyard run (store, API, controllers)",
            "switchyard proxy (nftables)",
            "switchyard dns",
        ]
        .iter()
        .enumerate()
        {
            let per_1k = run.cpu_s[i] / run.outcomes.len().max(1) as f64 * 1000.0;
            usage.push(Row {
                case: format!("{services} services: {name}"),
                metric: "CPU s per 1k endpoint changes".into(),
                better: Better::Lower,
                subject: Series::measured("switchyard", &[per_1k]),
                references: vec![],
            });
            usage.push(Row {
                case: format!("{services} services: {name}"),
                metric: "RSS MiB".into(),
                better: Better::Lower,
                subject: Series::measured("switchyard", &[run.rss[i] as f64 / 1048576.0]),
                references: vec![],
            });
        }
    }
    let growth = growth_rows(runs);
    let kernel_example = runs
        .iter()
        .find_map(|(_, _, r)| r.as_ref().ok()?.kernel_line.clone())
        .map(|l| {
            format!(
                " The first matching monitor line looked like `{}`.",
                l.replace('`', "'")
            )
        })
        .unwrap_or_default();
    let method = format!(
        "Three processes as on separate machines: `switchyard run --proxy-mode none \
         --dns-listen none` (store, API, controllers) listening on the host end of a veth pair; \
         `switchyard proxy --mode nftables` (default `--min-sync-period 1s`, 8 shards) in a node \
         network namespace the bench creates, reaching the API over the veth; `switchyard dns` \
         on loopback; the proxy and DNS use the admin kubeconfig. All three pinned to CPU(s) \
         `{}`, sybench to `{}`. Population, through the HTTPS API with 32 requests in flight: \
         N Services in one namespace (one port; one in ten headless) × {PODS} Pods each (labels \
         matching, nodeName the bench's node, status podIP unique, Ready True), then waited \
         for until the slices, the proxy's ruleset and DNS held them. Each change is one \
         `PATCH …/pods/<pod>/status` (merge patch of the Ready condition), in pairs (not \
         ready, then ready again), alternating ClusterIP and headless services, {} apart (more \
         than the proxy's minimum sync period, so its rate limit never delays a change). \
         t0 = just before the PATCH; the slice time is the arrival of the EndpointSlice watch \
         event showing the new readiness; the kernel time is the arrival of the first \
         `nft monitor` line (run in the node namespace, line-buffered) naming the Pod's address \
         (ClusterIP changes); the DNS time is the first UDP answer for the headless name whose \
         A set shows the change (queried 1 ms apart, each query bounded by 100 ms). Each \
         change is bounded by {CHANGE_LIMIT:?}; a path that shows nothing in time is a timeout \
         and stays out of the samples. p50 rows give the median with [min–max]; p99 rows give \
         the 99th percentile (with fewer than 100 changes it is close to the maximum). The \
         reference is kube-proxy's default minimum sync period (1 s), so the ratio column says \
         how far under it a change lands. CPU seconds are utime + stime from `/proc/PID/stat` \
         before and after the change phase (pauses included), divided per 1000 changes; RSS \
         is VmRSS after it. Timing starts only once `nft monitor` is idle (it reads the \
         whole ruleset before it reports anything). The load column of \
         the table at the top says how busy the machine was.{kernel_example}",
        ctx.server_cpus,
        ctx.client_cpus,
        humantime(PAUSE),
    );
    let mut sections = vec![Section {
        title: "One Pod's readiness, end to end".into(),
        method,
        rows: latency,
        notes,
    }];
    if !growth.is_empty() {
        sections.push(Section {
            title: "Growth from 1k to 10k services".into(),
            method: "The same medians at 10k services divided by those at 1k (the reference \
                     column is the 1k figure, the ratio the growth). Growth no faster than log N \
                     would be log(10 000) / log(1 000) = 1.33."
                .into(),
            rows: growth,
            notes: vec![],
        });
    }
    sections.push(Section {
        title: "CPU and memory per process".into(),
        method: "CPU seconds per 1000 endpoint changes and resident memory, per process, at \
                 each size (see the method above)."
            .into(),
        rows: usage,
        notes: vec![],
    });
    AreaResult {
        area: "scale".into(),
        title: "Scale: one namespace, 1k and 10k services".into(),
        run: ctx.run_info(),
        sections,
    }
}

fn humantime(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// 10k ÷ 1k rows for each latency path and each process's CPU and RSS, when both sizes ran.
fn growth_rows(runs: &[(usize, usize, Result<SizeRun, String>)]) -> Vec<Row> {
    let ok: Vec<&SizeRun> = runs
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .collect();
    let (Some(small), Some(large)) = (ok.first(), ok.last()) else {
        return vec![];
    };
    if small.services == large.services {
        return vec![];
    }
    let mut rows = Vec::new();
    for (key, label) in PATHS {
        let (a, _) = samples(small, key);
        let (b, _) = samples(large, key);
        rows.push(Row {
            case: format!("{label}, p50"),
            metric: format!("ms at {} services", large.services),
            better: Better::Lower,
            subject: path_series("switchyard", &b, 0),
            references: vec![path_series(
                &format!("at {} services", small.services),
                &a,
                0,
            )],
        });
    }
    for (i, name) in ["switchyard run", "switchyard proxy", "switchyard dns"]
        .iter()
        .enumerate()
    {
        let per = |r: &SizeRun| r.cpu_s[i] / r.outcomes.len().max(1) as f64 * 1000.0;
        rows.push(Row {
            case: format!("{name}, CPU per 1k changes"),
            metric: format!("CPU s at {} services", large.services),
            better: Better::Lower,
            subject: Series::measured("switchyard", &[per(large)]),
            references: vec![Series::measured(
                format!("at {} services", small.services),
                &[per(small)],
            )],
        });
        rows.push(Row {
            case: format!("{name}, RSS"),
            metric: format!("MiB at {} services", large.services),
            better: Better::Lower,
            subject: Series::measured("switchyard", &[large.rss[i] as f64 / 1048576.0]),
            references: vec![Series::measured(
                format!("at {} services", small.services),
                &[small.rss[i] as f64 / 1048576.0],
            )],
        });
    }
    rows
}
