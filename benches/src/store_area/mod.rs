//! Area 2, the control store vs etcd 3.4: durable conditional create/update throughput with 1
//! and 64 clients, watch delivery latency to 100 watchers, RSS per stored object and restart
//! time with 10k (quick) / 100k (full) objects.
//!
//! Both sides are real processes on loopback pinned to the server CPUs, driven by the same
//! Rust HTTP client (reqwest, HTTP/1.1, one connection per concurrent client) writing the same
//! Pod JSON: switchyard through its Kubernetes-style API over HTTPS with its admin bearer token
//! (its default; never `--insecure-loopback-http`), etcd through its gRPC-gateway JSON API over
//! plain HTTP. The generated text says so (`TRANSPORT_NOTE`). Never talks to anything but the
//! daemons it started.

mod target;
mod workload;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::Ctx;
use crate::peers::{Daemon, etcd, switchyard};
use crate::results::{AreaResult, Better, Row, Section, Series};
use target::Target;
use workload::Write;

/// How the two sides are reached, stated in every section of the generated report: the figures
/// include switchyard's TLS and token check, which the etcd peer does not do.
const TRANSPORT_NOTE: &str = "switchyard is measured as it ships: HTTPS (rustls, the instance's \
    own CA) with bearer-token authentication (the admin token) on every request. The etcd peer \
    is plain HTTP without authentication (etcd's defaults), so switchyard's figures include TLS \
    and token checks that etcd's do not.";

/// Sizes for one run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    ops_one: usize,
    ops_many: usize,
    clients: usize,
    watchers: usize,
    watch_writes: usize,
    objects: usize,
}

/// The samples of one system, one entry per metric (an error stops only that metric).
#[derive(Debug)]
struct Figures {
    create_one: Samples,
    create_many: Samples,
    update_one: Samples,
    update_many: Samples,
    watch_p50: Samples,
    watch_p99: Samples,
    rss_per_object: Samples,
    restart: Samples,
}

type Samples = Result<Vec<f64>, String>;

impl Default for Figures {
    fn default() -> Self {
        Figures {
            create_one: Ok(vec![]),
            create_many: Ok(vec![]),
            update_one: Ok(vec![]),
            update_many: Ok(vec![]),
            watch_p50: Ok(vec![]),
            watch_p99: Ok(vec![]),
            rss_per_object: Ok(vec![]),
            restart: Ok(vec![]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Switchyard,
    Etcd,
}

/// Runs the store area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    let sizes = Sizes {
        ops_one: ctx.mode.pick(50, 500, 2000),
        ops_many: ctx.mode.pick(200, 2000, 20_000),
        clients: 64,
        watchers: 100,
        watch_writes: ctx.mode.pick(10, 100, 500),
        objects: ctx.mode.pick(500, 10_000, 100_000),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the client runtime")?;
    let [sy, et] = rt.block_on(measure_all(ctx, sizes));
    let etcd_name = etcd::version()
        .split_whitespace()
        .nth(2)
        .map_or_else(|| "etcd".to_string(), |v| format!("etcd {v}"));
    let row = |case: String, metric: &str, better, s: &Samples, e: &Samples| Row {
        case,
        metric: metric.into(),
        better,
        subject: series("switchyard", s),
        references: vec![series(&etcd_name, e)],
    };
    let c = sizes.clients;
    let writes = Section {
        title: "Durable conditional writes".into(),
        method: format!(
            "switchyard: `{} run --proxy-mode none --dns-listen none --metrics-listen none \
             --data-dir <tmp> --api-listen 127.0.0.1:<port>`, POST/PUT \
             `https://127.0.0.1:<port>/api/v1/namespaces/default/pods` with \
             `Authorization: Bearer <admin token>`. Reference: `{etcd_name}` (Debian etcd-server), one \
             member, temp data dir, default fsync, `--quota-backend-bytes 8GiB`, driven through its \
             gRPC-gateway JSON API: `/v3/kv/txn` with compare `create_revision == 0` (create) or \
             `mod_revision == read revision` (update), as kube-apiserver does, over plain HTTP. \
             Both servers pinned \
             with `taskset -c {}`; the client (`sybench`, tokio current-thread, reqwest HTTP/1.1, \
             one keep-alive connection per client) on `{}`. Body: the same ~1.3 KB Pod JSON \
             (base64 inside etcd's JSON, as the gateway requires). 1 client: {} writes; {c} \
             clients: {} writes, split evenly; updates rewrite objects owned by one client. {} \
             repetitions, both servers up, alternating which goes first.",
            ctx.switchyard.display(),
            ctx.server_cpus,
            ctx.client_cpus,
            sizes.ops_one,
            sizes.ops_many,
            ctx.mode.reps()
        ),
        rows: vec![
            row(
                "create, 1 client".into(),
                "writes/s",
                Better::Higher,
                &sy.create_one,
                &et.create_one,
            ),
            row(
                format!("create, {c} clients"),
                "writes/s",
                Better::Higher,
                &sy.create_many,
                &et.create_many,
            ),
            row(
                "update, 1 client".into(),
                "writes/s",
                Better::Higher,
                &sy.update_one,
                &et.update_one,
            ),
            row(
                format!("update, {c} clients"),
                "writes/s",
                Better::Higher,
                &sy.update_many,
                &et.update_many,
            ),
        ],
        notes: vec![TRANSPORT_NOTE.into()],
    };
    let watch = Section {
        title: format!("Watch delivery to {} watchers", sizes.watchers),
        method: format!(
            "{} watches of the default namespace's pods (switchyard: `?watch=true&resourceVersion=N`; \
             etcd: `/v3/watch` on the pod prefix from revision N+1), each on its own connection, \
             all read by the client process; then {} sequential creates. Latency = event arrival \
             at a watcher − the moment its create request was sent, over all (watcher, write) \
             pairs; p50 and p99 per repetition, median of {} repetitions.",
            sizes.watchers,
            sizes.watch_writes,
            ctx.mode.reps()
        ),
        rows: vec![
            row("watch p50".into(), "ms", Better::Lower, &sy.watch_p50, &et.watch_p50),
            row("watch p99".into(), "ms", Better::Lower, &sy.watch_p99, &et.watch_p99),
        ],
        notes: vec![
            "The client reads all watch streams on one CPU, so client-side queueing is part of both figures.".into(),
            TRANSPORT_NOTE.into(),
        ],
    };
    let size = Section {
        title: format!("Memory and restart with {} objects", sizes.objects),
        method: format!(
            "A fresh server loaded with {} Pods by {c} clients. RSS per object = (VmRSS after the \
             load − VmRSS before) ÷ objects, one load per system. Restart = SIGKILL, start again \
             on the same data dir, time until a one-item list (etcd: range) of pods returns an \
             item (switchyard: over HTTPS, so the first TLS handshake is included); {} \
             restarts.",
            sizes.objects,
            ctx.mode.reps()
        ),
        rows: vec![
            row(
                "RSS per stored Pod".into(),
                "bytes",
                Better::Lower,
                &sy.rss_per_object,
                &et.rss_per_object,
            ),
            row(
                format!("restart with {} Pods", sizes.objects),
                "ms to serve data",
                Better::Lower,
                &sy.restart,
                &et.restart,
            ),
        ],
        notes: vec![TRANSPORT_NOTE.into()],
    };
    Ok(AreaResult {
        area: "store".into(),
        title: "Control store vs etcd".into(),
        run: ctx.run_info(),
        sections: vec![writes, watch, size],
    })
}

fn series(name: &str, samples: &Samples) -> Series {
    match samples {
        Ok(v) => Series::measured(name, v),
        Err(e) => Series::failed(name, e),
    }
}

/// Starts a server of `kind` and a client for it with room for `connections` concurrent
/// connections.
async fn start(
    ctx: &Ctx,
    kind: Kind,
    data: &Path,
    logs: &Path,
    connections: usize,
) -> anyhow::Result<(Daemon, Target)> {
    match kind {
        Kind::Switchyard => {
            let s = switchyard::start(
                &ctx.switchyard,
                &ctx.server_cpus,
                data,
                logs,
                &Default::default(),
            )?;
            let base = s.base();
            let http = tuned(s.client_builder()?, connections)?;
            switchyard::ensure_namespace(&http, &base, "default").await?;
            Ok((s.daemon, Target::Switchyard { base, http }))
        }
        Kind::Etcd => {
            let e = etcd::start(&ctx.server_cpus, data, logs)?;
            let http = tuned(reqwest::Client::builder().no_proxy(), connections)?;
            Ok((
                e.daemon,
                Target::Etcd {
                    base: format!("http://{}", e.client),
                    http,
                },
            ))
        }
    }
}

/// The same connection settings for both systems: HTTP/1.1, one keep-alive connection per
/// concurrent client, 30 s per request.
fn tuned(builder: reqwest::ClientBuilder, connections: usize) -> anyhow::Result<reqwest::Client> {
    builder
        .http1_only()
        .pool_max_idle_per_host(connections + 128)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Measures both systems. Writes and watches run with both servers up, alternating which goes
/// first in each repetition so drift on the machine does not always favour one; memory and
/// restart use a fresh server of each kind in turn.
async fn measure_all(ctx: &Ctx, sizes: Sizes) -> [Figures; 2] {
    let kinds = [Kind::Switchyard, Kind::Etcd];
    let mut figs = [Figures::default(), Figures::default()];
    let connections = sizes.clients.max(sizes.watchers);
    let tmp = match tempfile::tempdir().context("temp dir") {
        Ok(v) => v,
        Err(e) => {
            for f in &mut figs {
                fail(f.all_slots(), &format!("{e:#}"));
            }
            return figs;
        }
    };
    let logs = tmp.path();
    let mut running = Vec::new();
    for kind in kinds {
        let data = logs.join(format!("writes-{}", tag(kind)));
        running.push(
            start(ctx, kind, &data, logs, connections)
                .await
                .map_err(|e| format!("{e:#}")),
        );
    }
    for rep in 0..ctx.mode.reps() {
        let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let (Some(Ok((daemon, target))), Some(f)) = (running.get_mut(k), figs.get_mut(k))
            else {
                continue;
            };
            write_rep(target, sizes, tag(kinds[k]), rep, f).await;
            if let Err(e) = daemon.check_alive() {
                running[k] = Err(format!("{e:#}"));
            }
        }
    }
    for (k, r) in running.into_iter().enumerate() {
        if let (Err(e), Some(f)) = (r, figs.get_mut(k)) {
            tracing::warn!(kind = ?kinds[k], error = %e, "store writes failed");
            fail(f.write_slots(), &e);
        }
    }
    for (k, kind) in kinds.into_iter().enumerate() {
        let Some(f) = figs.get_mut(k) else { continue };
        if let Err(e) = size_phase(ctx, kind, sizes, logs, connections, f).await {
            tracing::warn!(?kind, error = format!("{e:#}"), "store size phase failed");
            fail(
                vec![&mut f.rss_per_object, &mut f.restart],
                &format!("{e:#}"),
            );
        }
    }
    figs
}

fn tag(kind: Kind) -> &'static str {
    match kind {
        Kind::Switchyard => "sy",
        Kind::Etcd => "et",
    }
}

/// Marks every still-empty slot as failed with `msg` (slots with data keep it).
fn fail(slots: Vec<&mut Samples>, msg: &str) {
    for slot in slots {
        if slot.as_ref().is_ok_and(Vec::is_empty) {
            *slot = Err(msg.to_string());
        }
    }
}

impl Figures {
    fn write_slots(&mut self) -> Vec<&mut Samples> {
        vec![
            &mut self.create_one,
            &mut self.create_many,
            &mut self.update_one,
            &mut self.update_many,
            &mut self.watch_p50,
            &mut self.watch_p99,
        ]
    }

    fn all_slots(&mut self) -> Vec<&mut Samples> {
        vec![
            &mut self.create_one,
            &mut self.create_many,
            &mut self.update_one,
            &mut self.update_many,
            &mut self.watch_p50,
            &mut self.watch_p99,
            &mut self.rss_per_object,
            &mut self.restart,
        ]
    }
}

/// One repetition of the write and watch workloads against `target`.
async fn write_rep(target: &Target, sizes: Sizes, tag: &str, rep: usize, f: &mut Figures) {
    let t = format!("{tag}-r{rep}");
    push(
        &mut f.create_one,
        workload::throughput(
            target,
            Write::Create,
            1,
            sizes.ops_one,
            &format!("{t}-c1"),
            &[],
        )
        .await,
    );
    push(
        &mut f.create_many,
        workload::throughput(
            target,
            Write::Create,
            sizes.clients,
            sizes.ops_many,
            &format!("{t}-cn"),
            &[],
        )
        .await,
    );
    // One object for the 1-client updates, one per client for the others.
    let names: Vec<String> = (0..=sizes.clients).map(|i| format!("{t}-u-{i}")).collect();
    match workload::load(target, &names, sizes.clients).await {
        Ok(objects) => {
            push(
                &mut f.update_one,
                workload::throughput(
                    target,
                    Write::Update,
                    1,
                    sizes.ops_one,
                    &t,
                    objects.get(..1).unwrap_or_default(),
                )
                .await,
            );
            push(
                &mut f.update_many,
                workload::throughput(
                    target,
                    Write::Update,
                    sizes.clients,
                    sizes.ops_many,
                    &t,
                    objects.get(1..).unwrap_or_default(),
                )
                .await,
            );
        }
        Err(e) => {
            let e = format!("loading update targets: {e:#}");
            f.update_one = Err(e.clone());
            f.update_many = Err(e);
        }
    }
    match workload::watch_latency(
        target,
        sizes.watchers,
        sizes.watch_writes,
        &format!("{t}-w"),
    )
    .await
    {
        Ok((p50, p99)) => {
            push(&mut f.watch_p50, Ok(p50));
            push(&mut f.watch_p99, Ok(p99));
        }
        Err(e) => {
            f.watch_p50 = Err(format!("{e:#}"));
            f.watch_p99 = Err(format!("{e:#}"));
        }
    }
}

/// Memory per object and restart time on a fresh data dir.
async fn size_phase(
    ctx: &Ctx,
    kind: Kind,
    sizes: Sizes,
    logs: &Path,
    connections: usize,
    f: &mut Figures,
) -> anyhow::Result<()> {
    let tag = tag(kind);
    let data = logs.join(format!("size-{tag}"));
    let (daemon, target) = start(ctx, kind, &data, logs, connections).await?;
    let before = daemon.rss_bytes()?;
    let names: Vec<String> = (0..sizes.objects)
        .map(|i| format!("{tag}-obj-{i}"))
        .collect();
    workload::load(&target, &names, sizes.clients)
        .await
        .context("bulk load")?;
    let after = daemon.rss_bytes()?;
    f.rss_per_object = Ok(vec![(after as f64 - before as f64) / sizes.objects as f64]);
    let mut daemon = Some(daemon);
    for _ in 0..ctx.mode.reps() {
        if let Some(d) = daemon.take() {
            d.stop();
        }
        let started = Instant::now();
        let (d, target) = start(ctx, kind, &data, logs, connections).await?;
        let deadline = started + Duration::from_secs(300);
        while !target.serves_data().await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not serve data within 300s of a restart",
                target.name()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        push(&mut f.restart, Ok(started.elapsed().as_secs_f64() * 1e3));
        daemon = Some(d);
    }
    Ok(())
}

fn push(slot: &mut Samples, value: anyhow::Result<f64>) {
    match (slot.as_mut(), value) {
        (Ok(v), Ok(x)) => v.push(x),
        (Ok(_), Err(e)) => *slot = Err(format!("{e:#}")),
        (Err(_), _) => {}
    }
}
