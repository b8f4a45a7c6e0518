//! Area 4, the userspace proxy: request rate and p50/p99 latency over keep-alive connections,
//! connection rate, and bulk TCP throughput, for direct (no proxy) vs switchyard's userspace
//! proxy vs HAProxy 2.6 in TCP mode. Loopback only.
//!
//! Same client (wrk / iperf3 pinned to the client CPUs), same backends (one `sybench backend`
//! process and one iperf3 server, pinned to the server CPUs), same CPU budget for both proxies
//! (switchyard's whole process and HAProxy with `nbthread 1`, pinned to the server CPUs).

pub mod tools;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::Ctx;
use crate::peers::switchyard::{self, Parts};
use crate::peers::{Daemon, backends, find_program, free_port, haproxy};
use crate::results::{AreaResult, Better, Row, Section, Series};
use crate::sy_service;

const BACKENDS: usize = 4;
const CONNS: u32 = 50;

#[derive(Debug)]
struct Fig {
    name: String,
    rps: Samples,
    p50: Samples,
    p99: Samples,
    cps: Samples,
    gbps: Samples,
    errors: u64,
}

type Samples = Result<Vec<f64>, String>;

impl Fig {
    fn new(name: &str) -> Fig {
        Fig {
            name: name.into(),
            rps: Ok(vec![]),
            p50: Ok(vec![]),
            p99: Ok(vec![]),
            cps: Ok(vec![]),
            gbps: Ok(vec![]),
            errors: 0,
        }
    }

    fn failed(name: &str, e: &anyhow::Error) -> Fig {
        let m = format!("{e:#}");
        Fig {
            name: name.into(),
            rps: Err(m.clone()),
            p50: Err(m.clone()),
            p99: Err(m.clone()),
            cps: Err(m.clone()),
            gbps: Err(m),
            errors: 0,
        }
    }
}

/// Where each system under test listens.
struct Endpoints {
    http: SocketAddr,
    bulk: SocketAddr,
}

/// Runs the proxy area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    let seconds = ctx.mode.pick(1, 2, 10);
    let reps = ctx.mode.reps();
    let tmp = tempfile::tempdir().context("temp dir")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let b = backends::start(&ctx.server_cpus, &[Duration::ZERO; BACKENDS], tmp.path())?;
    let iperf_port = free_port()?;
    let iperf_addr = SocketAddr::from(([127, 0, 0, 1], iperf_port));
    let mut iperf = Daemon::spawn(
        "iperf3-server",
        &ctx.server_cpus,
        &find_program("iperf3")?,
        &[
            "-s".into(),
            "-B".into(),
            "127.0.0.1".into(),
            "-p".into(),
            iperf_port.to_string(),
        ],
        tmp.path(),
    )?;
    iperf.wait_tcp(iperf_addr, Duration::from_secs(10))?;

    let direct = Endpoints {
        http: b.addrs[0],
        bulk: iperf_addr,
    };
    let sy = start_switchyard(ctx, &rt, tmp.path(), &b.addrs, iperf_addr);
    let hap = start_haproxy(ctx, tmp.path(), &b.addrs, iperf_addr);

    let mut figs = vec![
        Fig::new("switchyard userspace"),
        Fig::new(&haproxy::version()),
        Fig::new("direct (no proxy)"),
    ];
    if let Err(e) = &sy {
        figs[0] = Fig::failed("switchyard userspace", e);
    }
    if let Err(e) = &hap {
        figs[1] = Fig::failed(&haproxy::version(), e);
    }
    for rep in 0..reps {
        let mut order = vec![0usize, 1, 2];
        let shift = rep % 3;
        order.rotate_left(shift);
        for i in order {
            let ep = match i {
                0 => sy.as_ref().ok().map(|(_, e)| e),
                1 => hap.as_ref().ok().map(|(_, e)| e),
                _ => Some(&direct),
            };
            let (Some(ep), Some(fig)) = (ep, figs.get_mut(i)) else {
                continue;
            };
            measure(ctx, ep, seconds, fig);
        }
    }
    drop(sy);
    drop(hap);
    drop(iperf);
    drop(b);

    let [sy_fig, hap_fig, direct_fig] =
        <[Fig; 3]>::try_from(figs).map_err(|_| anyhow::anyhow!("three systems"))?;
    let row = |case: String, metric: &str, better, pick: &dyn Fn(&Fig) -> &Samples| Row {
        case,
        metric: metric.into(),
        better,
        subject: series(&sy_fig.name, pick(&sy_fig)),
        references: vec![
            series(&hap_fig.name, pick(&hap_fig)),
            series(&direct_fig.name, pick(&direct_fig)),
        ],
    };
    let method = format!(
        "switchyard: `switchyard run --proxy-mode userspace --proxy-interface none \
         --nodeport-addresses 127.0.0.1/32 --dns-listen none`, a selector-less NodePort Service \
         with a manual Endpoints object listing the backends; traffic to 127.0.0.1:<nodePort>. \
         Reference: `{}` in `mode tcp`, `nbthread 1`, `balance roundrobin`, one frontend per \
         service on 127.0.0.1. Direct: the client talks to backend 0 itself. Backends: {BACKENDS} \
         HTTP/1.1 keep-alive servers in one `sybench backend` process (64-byte body, no delay) and \
         one `iperf3 -s`; backends and proxies pinned with `taskset -c {}`, wrk and iperf3 with \
         `taskset -c {}`. Requests: `wrk -t1 -c{CONNS} -d{seconds}s --latency` (keep-alive). \
         Connections: the same with `-H 'Connection: close'` (one TCP connection per request). \
         Bulk: `iperf3 -c … -t {seconds}` through one endpoint. {reps} repetitions, order \
         rotated. The ratio against direct is the cost of the proxy hop.",
        haproxy::version(),
        ctx.server_cpus,
        ctx.client_cpus
    );
    let notes = vec![format!(
        "wrk errors (socket errors + non-2xx) over all runs: {} {}, {} {}, {} {}.",
        sy_fig.name,
        sy_fig.errors,
        hap_fig.name,
        hap_fig.errors,
        direct_fig.name,
        direct_fig.errors
    )];
    let section = Section {
        title: "Userspace proxy vs HAProxy vs direct".into(),
        method,
        rows: vec![
            row(
                format!("keep-alive requests, {CONNS} connections"),
                "requests/s",
                Better::Higher,
                &|f| &f.rps,
            ),
            row(
                format!("keep-alive requests, {CONNS} connections"),
                "p50 ms",
                Better::Lower,
                &|f| &f.p50,
            ),
            row(
                format!("keep-alive requests, {CONNS} connections"),
                "p99 ms",
                Better::Lower,
                &|f| &f.p99,
            ),
            row(
                format!("one connection per request, {CONNS} concurrent"),
                "connections/s",
                Better::Higher,
                &|f| &f.cps,
            ),
            row(
                "bulk TCP, 1 stream".into(),
                "Gbit/s",
                Better::Higher,
                &|f| &f.gbps,
            ),
        ],
        notes,
    };
    Ok(AreaResult {
        area: "proxy".into(),
        title: "Userspace proxy".into(),
        run: ctx.run_info(),
        sections: vec![section],
    })
}

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

fn measure(ctx: &Ctx, ep: &Endpoints, seconds: u32, fig: &mut Fig) {
    match tools::wrk(&ctx.client_cpus, ep.http, CONNS, seconds, false) {
        Ok(r) => {
            fig.errors += r.errors;
            push(&mut fig.rps, Ok(r.rps));
            push(&mut fig.p50, Ok(r.p50_ms));
            push(&mut fig.p99, Ok(r.p99_ms));
        }
        Err(e) => {
            let m = format!("{e:#}");
            fig.rps = Err(m.clone());
            fig.p50 = Err(m.clone());
            fig.p99 = Err(m);
        }
    }
    let cps = tools::wrk(&ctx.client_cpus, ep.http, CONNS, seconds, true).map(|r| {
        fig.errors += r.errors;
        r.rps
    });
    push(&mut fig.cps, cps);
    push(
        &mut fig.gbps,
        tools::iperf3(&ctx.client_cpus, ep.bulk, seconds),
    );
}

fn start_switchyard(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    backends: &[SocketAddr],
    iperf: SocketAddr,
) -> anyhow::Result<(switchyard::Switchyard, Endpoints)> {
    let sy = switchyard::start(
        &ctx.switchyard,
        &ctx.server_cpus,
        &dir.join("switchyard-data"),
        dir,
        &Parts {
            proxy_mode: Some("userspace".into()),
            extra: vec![
                "--proxy-interface".into(),
                "none".into(),
                "--nodeport-addresses".into(),
                "127.0.0.1/32".into(),
            ],
            ..Parts::default()
        },
    )?;
    let base = format!("http://{}", sy.api);
    let http = reqwest::Client::builder().no_proxy().build()?;
    let eps = rt.block_on(async {
        switchyard::ensure_namespace(&http, &base, "default").await?;
        let web = sy_service::create(&http, &base, "bench-web", backends, false).await?;
        let bulk = sy_service::create(&http, &base, "bench-bulk", &[iperf], false).await?;
        let http_addr = SocketAddr::from(([127, 0, 0, 1], web));
        sy_service::wait_http(http_addr, Duration::from_secs(30)).await?;
        anyhow::Ok(Endpoints {
            http: http_addr,
            bulk: SocketAddr::from(([127, 0, 0, 1], bulk)),
        })
    })?;
    Ok((sy, eps))
}

fn start_haproxy(
    ctx: &Ctx,
    dir: &std::path::Path,
    backends: &[SocketAddr],
    iperf: SocketAddr,
) -> anyhow::Result<(Daemon, Endpoints)> {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let bulk = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let d = haproxy::start(
        &ctx.server_cpus,
        &[
            haproxy::Frontend {
                name: "web".into(),
                bind: http,
                servers: backends.to_vec(),
            },
            haproxy::Frontend {
                name: "bulk".into(),
                bind: bulk,
                servers: vec![iperf],
            },
        ],
        dir,
    )?;
    Ok((d, Endpoints { http, bulk }))
}
