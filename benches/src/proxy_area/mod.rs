//! Area 4, the userspace proxy: request rate and p50/p99 latency over keep-alive connections,
//! connection rate, and bulk TCP throughput, for direct (no proxy) vs switchyard's userspace
//! proxy vs HAProxy 2.6 in TCP mode. Loopback only.
//!
//! Same client (wrk / iperf3 pinned to the client CPUs), same backends (one `sybench backend`
//! process and one iperf3 server, pinned to the server CPUs), same CPU budget for both proxies
//! (switchyard's whole process and HAProxy with `nbthread 1`, pinned to the server CPUs; the
//! threads each actually ran are read from `/proc` and written into the method). Besides the
//! rates, each proxy's own CPU time per request, connection and gigabyte (`/proc/<pid>/stat`):
//! the proxies share a core with the backends, so this is the figure a busy machine disturbs
//! least.

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
    cpu_req: Samples,
    cpu_conn: Samples,
    cpu_gb: Samples,
    /// Bulk with the endpoints on the client CPUs and the proxy alone on the server CPUs.
    gbps_apart: Samples,
    /// The proxy's CPU use during that run, % of one CPU.
    busy_apart: Samples,
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
            cpu_req: Ok(vec![]),
            cpu_conn: Ok(vec![]),
            cpu_gb: Ok(vec![]),
            gbps_apart: Ok(vec![]),
            busy_apart: Ok(vec![]),
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
            gbps: Err(m.clone()),
            cpu_req: Err(m.clone()),
            cpu_conn: Err(m.clone()),
            cpu_gb: Err(m.clone()),
            gbps_apart: Err(m.clone()),
            busy_apart: Err(m),
            errors: 0,
        }
    }
}

/// Where each system under test listens.
struct Endpoints {
    http: SocketAddr,
    bulk: SocketAddr,
    /// Bulk to the iperf3 server that runs on the client CPUs.
    bulk_apart: SocketAddr,
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
    let (iperf, iperf_addr) = start_iperf_server(&ctx.server_cpus, tmp.path())?;
    // A second iperf3 server next to the client: with both endpoints on the client CPUs the
    // proxy has the server CPUs to itself, which shows whether the proxy is the limit.
    let (iperf_apart, iperf_apart_addr) = start_iperf_server(&ctx.client_cpus, tmp.path())?;

    let direct = Endpoints {
        http: b.addrs[0],
        bulk: iperf_addr,
        bulk_apart: iperf_apart_addr,
    };
    let bulk_targets = [iperf_addr, iperf_apart_addr];
    let sy = start_switchyard(ctx, &rt, tmp.path(), &b.addrs, bulk_targets);
    let hap = start_haproxy(ctx, tmp.path(), &b.addrs, bulk_targets);

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
            let (ep, pid) = match i {
                0 => (
                    sy.as_ref().ok().map(|(_, e)| e),
                    sy.as_ref().ok().map(|(s, _)| s.daemon.pid()),
                ),
                1 => (
                    hap.as_ref().ok().map(|(_, e)| e),
                    hap.as_ref().ok().map(|(d, _)| d.pid()),
                ),
                _ => (Some(&direct), None),
            };
            let (Some(ep), Some(fig)) = (ep, figs.get_mut(i)) else {
                continue;
            };
            measure(ctx, ep, seconds, fig, pid);
        }
    }
    let threads = format!(
        "Same thread count: switchyard's tokio runtime sizes its worker pool from the CPU mask \
         it starts with, {} for `taskset -c {}`, against HAProxy's `nbthread 1`{}. Threads at \
         the end of the run (`/proc/<pid>/task`): switchyard {}; HAProxy {}.",
        match cpu_count(&ctx.server_cpus) {
            Some(1) => "one worker thread".to_string(),
            Some(n) => format!("{n} worker threads"),
            None => "as many workers as CPUs".to_string(),
        },
        ctx.server_cpus,
        match cpu_count(&ctx.server_cpus) {
            Some(1) => "",
            _ => " (NOT the same thread count: compare with care)",
        },
        sy.as_ref().map_or_else(
            |e| format!("not run ({e})"),
            |(s, _)| threads(s.daemon.pid())
        ),
        hap.as_ref()
            .map_or_else(|e| format!("not run ({e})"), |(d, _)| threads(d.pid())),
    );
    drop(sy);
    drop(hap);
    iperf.stop();
    iperf_apart.stop();
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
    // Direct has no proxy process: CPU rows compare against HAProxy only.
    let cpu_row = |case: String, metric: &str, pick: &dyn Fn(&Fig) -> &Samples| Row {
        case,
        metric: metric.into(),
        better: Better::Lower,
        subject: series(&sy_fig.name, pick(&sy_fig)),
        references: vec![series(&hap_fig.name, pick(&hap_fig))],
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
         rotated. The ratio against direct is the cost of the proxy hop. {threads} Proxy CPU: \
         the proxy process's user + system time over each run (`/proc/<pid>/stat`, which \
         includes the loopback receive work the kernel does while the process sends) divided \
         by the requests, connections or gigabytes it carried.",
        haproxy::version(),
        ctx.server_cpus,
        ctx.client_cpus,
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
            cpu_row(
                format!("keep-alive requests, {CONNS} connections"),
                "proxy CPU µs/request",
                &|f| &f.cpu_req,
            ),
            cpu_row(
                format!("one connection per request, {CONNS} concurrent"),
                "proxy CPU µs/connection",
                &|f| &f.cpu_conn,
            ),
            cpu_row("bulk TCP, 1 stream".into(), "proxy CPU ms/GB", &|f| {
                &f.cpu_gb
            }),
        ],
        notes,
    };
    let apart = Section {
        title: "Bulk with the proxy on a core of its own".into(),
        method: format!(
            "The bulk row again with the CPUs split differently: the iperf3 client and a second \
             `iperf3 -s` both pinned with `taskset -c {client}`, the proxy alone on `{server}` \
             (the HTTP backends there are idle). Direct is then client and server sharing \
             `{client}`, the endpoints' whole budget either way, so the ratio against direct \
             shows what the extra TCP hop costs the endpoints' core when the proxy's own work \
             costs them nothing. Proxy busy: the proxy's user + system CPU time over the run's \
             wall time, in % of one CPU; below 100 % the proxy is not what limits the rate. \
             Runs alternate with the rows above ({reps} repetitions, {seconds} s each).",
            client = ctx.client_cpus,
            server = ctx.server_cpus,
        ),
        rows: vec![
            row(
                "bulk TCP, 1 stream, proxy on its own CPU".into(),
                "Gbit/s",
                Better::Higher,
                &|f| &f.gbps_apart,
            ),
            cpu_row(
                "bulk TCP, 1 stream, proxy on its own CPU".into(),
                "proxy busy % of a CPU",
                &|f| &f.busy_apart,
            ),
        ],
        notes: vec![],
    };
    Ok(AreaResult {
        area: "proxy".into(),
        title: "Userspace proxy".into(),
        run: ctx.run_info(),
        sections: vec![section, apart],
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

/// `pid`'s CPU seconds now, when there is a process to watch.
fn cpu_now(pid: Option<u32>) -> Option<f64> {
    pid.and_then(|p| tools::cpu_seconds(p).ok())
}

/// CPU used by `pid` since `before`, per unit of `work`, times `scale`.
fn cpu_per(pid: Option<u32>, before: Option<f64>, work: f64, scale: f64) -> Option<f64> {
    let used = cpu_now(pid)? - before?;
    (work > 0.0).then(|| used / work * scale)
}

fn measure(ctx: &Ctx, ep: &Endpoints, seconds: u32, fig: &mut Fig, pid: Option<u32>) {
    let before = cpu_now(pid);
    match tools::wrk(&ctx.client_cpus, ep.http, CONNS, seconds, false) {
        Ok(r) => {
            fig.errors += r.errors;
            push(&mut fig.rps, Ok(r.rps));
            push(&mut fig.p50, Ok(r.p50_ms));
            push(&mut fig.p99, Ok(r.p99_ms));
            if let Some(us) = cpu_per(pid, before, r.requests as f64, 1e6) {
                push(&mut fig.cpu_req, Ok(us));
            }
        }
        Err(e) => {
            let m = format!("{e:#}");
            fig.rps = Err(m.clone());
            fig.p50 = Err(m.clone());
            fig.p99 = Err(m.clone());
            fig.cpu_req = Err(m);
        }
    }
    let before = cpu_now(pid);
    let cps = tools::wrk(&ctx.client_cpus, ep.http, CONNS, seconds, true).map(|r| {
        fig.errors += r.errors;
        if let Some(us) = cpu_per(pid, before, r.requests as f64, 1e6) {
            push(&mut fig.cpu_conn, Ok(us));
        }
        r.rps
    });
    push(&mut fig.cps, cps);
    let before = cpu_now(pid);
    let bulk = tools::iperf3(&ctx.client_cpus, ep.bulk, seconds).map(|r| {
        if let Some(ms) = cpu_per(pid, before, r.bytes / 1e9, 1e3) {
            push(&mut fig.cpu_gb, Ok(ms));
        }
        r.gbps
    });
    push(&mut fig.gbps, bulk);
    let before = cpu_now(pid);
    let apart = tools::iperf3(&ctx.client_cpus, ep.bulk_apart, seconds).map(|r| {
        if let Some(busy) = cpu_per(pid, before, f64::from(seconds), 100.0) {
            push(&mut fig.busy_apart, Ok(busy));
        }
        r.gbps
    });
    push(&mut fig.gbps_apart, apart);
}

/// An `iperf3 -s` on 127.0.0.1 pinned to `cpus`, ready for clients.
fn start_iperf_server(cpus: &str, dir: &std::path::Path) -> anyhow::Result<(Daemon, SocketAddr)> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut d = Daemon::spawn(
        "iperf3-server",
        cpus,
        &find_program("iperf3")?,
        &[
            "-s".into(),
            "-B".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        dir,
    )?;
    d.wait_tcp(addr, Duration::from_secs(10))?;
    Ok((d, addr))
}

/// How many CPUs a taskset list (`1`, `0-3`, `0,2-3`) names.
fn cpu_count(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        n += hi.checked_sub(lo)? + 1;
    }
    Some(n)
}

/// `pid`'s threads by name, e.g. `1 tokio-rt-worker, 1 store-writer, 1 switchyard`.
fn threads(pid: u32) -> String {
    match tools::thread_names(pid) {
        Ok(names) => {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for n in names {
                *counts.entry(n).or_default() += 1;
            }
            let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{c} `{n}`")).collect();
            parts.join(", ")
        }
        Err(e) => format!("unknown ({e:#})"),
    }
}

fn start_switchyard(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    backends: &[SocketAddr],
    [iperf, iperf_apart]: [SocketAddr; 2],
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
    let base = sy.base();
    let http = sy.client()?;
    let eps = rt.block_on(async {
        switchyard::ensure_namespace(&http, &base, "default").await?;
        let web = sy_service::create(&http, &base, "bench-web", backends, false).await?;
        let bulk = sy_service::create(&http, &base, "bench-bulk", &[iperf], false).await?;
        let apart =
            sy_service::create(&http, &base, "bench-bulk-apart", &[iperf_apart], false).await?;
        let http_addr = SocketAddr::from(([127, 0, 0, 1], web));
        sy_service::wait_http(http_addr, Duration::from_secs(30)).await?;
        anyhow::Ok(Endpoints {
            http: http_addr,
            bulk: SocketAddr::from(([127, 0, 0, 1], bulk)),
            bulk_apart: SocketAddr::from(([127, 0, 0, 1], apart)),
        })
    })?;
    Ok((sy, eps))
}

fn start_haproxy(
    ctx: &Ctx,
    dir: &std::path::Path,
    backends: &[SocketAddr],
    [iperf, iperf_apart]: [SocketAddr; 2],
) -> anyhow::Result<(Daemon, Endpoints)> {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let bulk = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let bulk_apart = SocketAddr::from(([127, 0, 0, 1], free_port()?));
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
            haproxy::Frontend {
                name: "bulk-apart".into(),
                bind: bulk_apart,
                servers: vec![iperf_apart],
            },
        ],
        dir,
    )?;
    Ok((
        d,
        Endpoints {
            http,
            bulk,
            bulk_apart,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cpus_of_taskset_lists() {
        assert_eq!(cpu_count("1"), Some(1));
        assert_eq!(cpu_count("0-3"), Some(4));
        assert_eq!(cpu_count("0,2-3"), Some(3));
        assert_eq!(cpu_count("3-1"), None);
        assert_eq!(cpu_count("x"), None);
    }
}
