//! Area 3, DNS: dnsperf QPS and p50/p99 latency for a cluster-zone query mix (A hit, SRV,
//! NXDOMAIN, PTR) against switchyard, dnsmasq, unbound and knot serving identical records; RSS
//! per 10k services; time from an API change to the new answer.
//!
//! switchyard is the real binary fed through its own API (services created over HTTPS with the
//! instance's admin token, ClusterIPs allocated by it): the store runs as `switchyard run`
//! without DNS, and the nameserver as its own `switchyard dns --kubeconfig <admin kubeconfig>`
//! process watching that API over HTTPS, so its RSS is the DNS daemon's alone. The peers get
//! configs generated from the services switchyard allocated, so every server answers the same
//! names with the same data. All servers run at once, pinned to the same CPUs, one worker each;
//! repetitions rotate through them.

pub mod autopath;
pub mod daemon;
pub mod dnsperf;
pub mod pinning;
pub mod probe;
pub mod settle;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::Ctx;
use crate::peers::dns_servers::{self, DnsPeer, PeerKind, ServiceRecord};
use crate::peers::switchyard::{self, Parts};
use crate::results::{AreaResult, Better, Row, Section, Series};
use probe::QType;

const ZONE: &str = "cluster.local";
const NAMESPACE: &str = "default";

/// Per-server samples.
#[derive(Debug)]
struct ServerFigures {
    name: String,
    qps: Result<Vec<f64>, String>,
    p50: Result<Vec<f64>, String>,
    p99: Result<Vec<f64>, String>,
    rss_per_10k: Result<Vec<f64>, String>,
    lost: u64,
    codes: Option<String>,
    /// Threads found outside the server CPUs before a measurement (`tid (was CPUs)`).
    repinned: Vec<String>,
}

impl ServerFigures {
    fn new(name: String) -> Self {
        ServerFigures {
            name,
            qps: Ok(vec![]),
            p50: Ok(vec![]),
            p99: Ok(vec![]),
            rss_per_10k: Ok(vec![]),
            lost: 0,
            codes: None,
            repinned: vec![],
        }
    }

    fn fail(name: String, e: &anyhow::Error) -> Self {
        let msg = format!("{e:#}");
        ServerFigures {
            name,
            qps: Err(msg.clone()),
            p50: Err(msg.clone()),
            p99: Err(msg.clone()),
            rss_per_10k: Err(msg),
            lost: 0,
            codes: None,
            repinned: vec![],
        }
    }
}

/// Runs the DNS area.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    let services = ctx.mode.pick(200, 10_000, 30_000);
    let seconds = ctx.mode.pick(1, 2, 10);
    let rate = ctx.mode.pick(500, 2000, 2000);
    let reps = ctx.mode.reps();
    let tmp = tempfile::tempdir().context("temp dir")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("client runtime")?;

    // switchyard: the store and API without DNS, fed through its API, and the nameserver as a
    // process of its own watching it.
    let sy = switchyard::start(
        &ctx.switchyard,
        &ctx.server_cpus,
        &tmp.path().join("switchyard-data"),
        tmp.path(),
        &Parts::default(),
    )?;
    let base = sy.base();
    let http = sy.client()?;
    rt.block_on(switchyard::ensure_namespace(&http, &base, NAMESPACE))?;
    let sy_dns = daemon::start(ctx, &sy.kubeconfig(), tmp.path())?;
    let dns_addr = sy_dns.addr;
    let rss_before = sy_dns.daemon.rss_bytes()?;
    let records = rt.block_on(create_services(&http, &base, services))?;
    let last = records.last().context("no service created")?;
    probe::wait_for_answer(
        dns_addr,
        &last.fqdn(ZONE),
        QType::A,
        Duration::from_secs(120),
    )
    .context("switchyard DNS never answered the last service")?;
    let rss_after = sy_dns.daemon.rss_bytes()?;
    let mut sy_fig = ServerFigures::new("switchyard".into());
    sy_fig.rss_per_10k = Ok(vec![per_10k(rss_before, rss_after, services)]);

    let queries = tmp.path().join("queries.txt");
    std::fs::write(&queries, query_file(&records)).context("writing the query file")?;

    // Peers with the same records, plus their empty-config RSS for the memory figure.
    let mut peers: Vec<(PeerKind, Result<DnsPeer, anyhow::Error>)> = Vec::new();
    let mut peer_figs: Vec<ServerFigures> = Vec::new();
    for kind in PeerKind::ALL {
        let name = kind.version();
        match start_ready(kind, &records, ctx, &tmp.path().join("full"), last) {
            Ok(peer) => {
                let mut fig = ServerFigures::new(name);
                fig.rss_per_10k =
                    peer_rss_per_10k(kind, &peer, &records, ctx, tmp.path(), services)
                        .map(|v| vec![v])
                        .map_err(|e| format!("{e:#}"));
                peer_figs.push(fig);
                peers.push((kind, Ok(peer)));
            }
            Err(e) => {
                tracing::warn!(
                    peer = kind.program(),
                    error = format!("{e:#}"),
                    "peer not measured"
                );
                peer_figs.push(ServerFigures::fail(name, &e));
                peers.push((kind, Err(e)));
            }
        }
    }

    // The setup's leftover work (watch events of the new services, zone loads) must not fall
    // on whoever is measured first.
    let settled = settle::wait_until_idle(
        &ctx.server_cpus,
        0.9,
        Duration::from_millis(500),
        Duration::from_secs(60),
    )?;
    for rep in 0..reps {
        // Rotate who goes first so drift does not always favour the same server.
        let mut order: Vec<usize> = (0..=peers.len()).collect();
        let shift = rep % order.len();
        order.rotate_left(shift);
        for i in order {
            let (addr, pid, fig) = if i == 0 {
                (dns_addr, sy_dns.daemon.pid(), &mut sy_fig)
            } else {
                let Some((_, Ok(peer))) = peers.get(i - 1) else {
                    continue;
                };
                let Some(fig) = peer_figs.get_mut(i - 1) else {
                    continue;
                };
                (peer.addr, peer.daemon.pid(), fig)
            };
            measure_once(ctx, addr, pid, &queries, seconds, rate, fig);
        }
    }

    let mut change = Vec::new();
    let mut change_err = None;
    for rep in 0..reps {
        match rt.block_on(api_change_to_answer(&http, &base, dns_addr, rep)) {
            Ok(ms) => change.push(ms),
            Err(e) => {
                change_err = Some(format!("{e:#}"));
                break;
            }
        }
    }
    drop(peers);
    drop(sy_dns);
    let autopath = autopath::section(ctx, &rt, &http, &base, &sy.kubeconfig(), tmp.path());
    drop(sy);

    let row = |case: &str,
               metric: &str,
               better,
               pick: &dyn Fn(&ServerFigures) -> &Result<Vec<f64>, String>| Row {
        case: case.into(),
        metric: metric.into(),
        better,
        subject: series(&sy_fig.name, pick(&sy_fig)),
        references: peer_figs.iter().map(|f| series(&f.name, pick(f))).collect(),
    };
    let mix = "¼ A of an existing service, ¼ SRV `_http._tcp.<svc>`, ¼ A of a missing name (NXDOMAIN), ¼ PTR of a ClusterIP";
    let method = format!(
        "{services} ClusterIP services created through switchyard's API (`switchyard run --dns-listen \
         none --proxy-mode none`), fed over HTTPS with the admin token and served by `switchyard dns --kubeconfig \
         <data dir>/admin.kubeconfig --dns-listen 127.0.0.1:<port>` as a separate process \
         watching the API over HTTPS (TTL {}); dnsmasq (`host-record`, `srv-host`, \
         `local=/{ZONE}/`), unbound (`local-zone static`, `local-data`, `local-data-ptr`, \
         `num-threads: 1`, module `iterator`) and knot (authoritative zone files for `{ZONE}` and \
         `10.in-addr.arpa`, 1 UDP worker) serve records generated from the same list. All servers \
         on 127.0.0.1 pinned with `taskset -c {}` (every thread checked and, if a server moved \
         one, pinned back before each measurement; before the first run, a wait until the server \
         CPUs are 90% idle over 0.5 s); {} pinned to `{}`. Query mix: {mix}, names \
         spread over all services. Throughput: `dnsperf -l {seconds} -c 4 -q 200` (flat out). \
         Latency: `dnsperf -l {seconds} -Q {rate} -c 1 -q 100 -v`, every reply timed. {reps} \
         repetitions, order rotated each time.",
        dns_servers::TTL,
        ctx.server_cpus,
        dnsperf::version(),
        ctx.client_cpus
    );
    let mut notes = vec![format!(
        "Queries lost over all runs: {}.",
        std::iter::once(&sy_fig)
            .chain(peer_figs.iter())
            .map(|f| format!("{} {}", f.name, f.lost))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    notes.push(format!(
        "Response codes of the first flat-out run (identical data should give the same split): {}.",
        std::iter::once(&sy_fig)
            .chain(peer_figs.iter())
            .map(|f| format!("{}: {}", f.name, f.codes.as_deref().unwrap_or("none")))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let repinned: Vec<String> = std::iter::once(&sy_fig)
        .chain(peer_figs.iter())
        .filter(|f| !f.repinned.is_empty())
        .map(|f| {
            let mut threads = f.repinned.clone();
            threads.dedup();
            format!("{}: {}", f.name, threads.join(", "))
        })
        .collect();
    notes.push(if repinned.is_empty() {
        "Every thread of every server was on the server CPUs before each measurement.".into()
    } else {
        format!(
            "Threads that had left the server CPUs and were moved back before measuring (knot \
             pins UDP worker i to CPU i mod online CPUs itself): {}.",
            repinned.join("; ")
        )
    });
    notes.push(format!(
        "Before the first run the server CPUs were left to settle: {:.1} s until {:.0}% idle over 0.5 s{}.",
        settled.waited.as_secs_f64(),
        settled.idle * 100.0,
        if settled.quiet { "" } else { " (timed out at 60 s)" }
    ));
    notes.push("dnsmasq's `host-record` creates the PTR together with the A record (no separate `ptr-record` needed).".into());
    let queries_section = Section {
        title: format!("Cluster-zone queries, {services} services"),
        method,
        rows: vec![
            row("query mix, flat out", "queries/s", Better::Higher, &|f| {
                &f.qps
            }),
            row(
                &format!("query mix at {rate} qps"),
                "p50 ms",
                Better::Lower,
                &|f| &f.p50,
            ),
            row(
                &format!("query mix at {rate} qps"),
                "p99 ms",
                Better::Lower,
                &|f| &f.p99,
            ),
        ],
        notes,
    };
    let memory = Section {
        title: "Memory per 10k services".into(),
        method: format!(
            "switchyard: VmRSS of the `switchyard dns` process after creating {services} services \
             through the API and seeing the last one answered, minus its VmRSS before (synced, \
             serving only the built-in `default/kubernetes`), scaled to 10k. The store and API \
             are another process and not counted; the DNS process does hold its own watch cache \
             of the Service and EndpointSlice objects besides the name table. Peers: VmRSS \
             serving the {services} services minus VmRSS with an empty config, scaled to 10k."
        ),
        rows: vec![row("RSS per 10k services", "bytes", Better::Lower, &|f| {
            &f.rss_per_10k
        })],
        notes: vec![],
    };
    let change_row = Row {
        case: "create a Service, then poll its A record every 1 ms".into(),
        metric: "ms until answered".into(),
        better: Better::Lower,
        subject: match change_err {
            Some(e) if change.is_empty() => Series::failed("switchyard", e),
            _ => Series::measured("switchyard", &change),
        },
        references: vec![],
    };
    let propagation = Section {
        title: "API change to DNS answer".into(),
        method: format!(
            "Time from sending `POST /api/v1/namespaces/{NAMESPACE}/services` to the first NOERROR \
             answer with a record for the new name from the `switchyard dns` process (store \
             commit, watch event over HTTPS, table update), {reps} times. The peers serve static \
             configuration and have no equivalent path, so there is no reference on this row."
        ),
        rows: vec![change_row],
        notes: vec![],
    };
    Ok(AreaResult {
        area: "dns".into(),
        title: "Cluster DNS vs dnsmasq, unbound and knot".into(),
        run: ctx.run_info(),
        sections: vec![queries_section, memory, propagation, autopath],
    })
}

fn series(name: &str, v: &Result<Vec<f64>, String>) -> Series {
    match v {
        Ok(v) => Series::measured(name, v),
        Err(e) => Series::failed(name, e),
    }
}

fn per_10k(before: u64, after: u64, n: usize) -> f64 {
    (after as f64 - before as f64) / n.max(1) as f64 * 10_000.0
}

fn measure_once(
    ctx: &Ctx,
    addr: SocketAddr,
    pid: u32,
    queries: &Path,
    seconds: u32,
    rate: u32,
    fig: &mut ServerFigures,
) {
    // Every server runs where the method says, whatever it did to its threads' affinity.
    match pinning::repin(pid, &ctx.server_cpus) {
        Ok(moved) => fig.repinned.extend(
            moved
                .into_iter()
                .map(|m| format!("thread {} (was on CPU {})", m.tid, m.was)),
        ),
        Err(e) => {
            let msg = format!("pinning to the server CPUs failed: {e:#}");
            fig.qps = Err(msg.clone());
            fig.p50 = Err(msg.clone());
            fig.p99 = Err(msg);
            return;
        }
    }
    match dnsperf::throughput(&ctx.client_cpus, addr, queries, seconds) {
        Ok(t) => {
            fig.lost += t.lost;
            fig.codes.get_or_insert(t.codes);
            if let Ok(v) = fig.qps.as_mut() {
                v.push(t.qps);
            }
        }
        Err(e) => fig.qps = Err(format!("{e:#}")),
    }
    match dnsperf::latencies(&ctx.client_cpus, addr, queries, seconds, rate) {
        Ok(l) => {
            let (p50, p99) = dnsperf::p50_p99(&l);
            if let (Ok(a), Ok(b)) = (fig.p50.as_mut(), fig.p99.as_mut()) {
                a.push(p50);
                b.push(p99);
            }
        }
        Err(e) => {
            fig.p50 = Err(format!("{e:#}"));
            fig.p99 = Err(format!("{e:#}"));
        }
    }
}

fn start_ready(
    kind: PeerKind,
    records: &[ServiceRecord],
    ctx: &Ctx,
    dir: &Path,
    probe_record: &ServiceRecord,
) -> anyhow::Result<DnsPeer> {
    let mut peer = dns_servers::start(kind, records, ZONE, &ctx.server_cpus, dir)?;
    let start = Instant::now();
    loop {
        peer.daemon.check_alive()?;
        if probe::query(
            peer.addr,
            &probe_record.fqdn(ZONE),
            QType::A,
            Duration::from_millis(200),
        )
        .is_ok_and(|r| r.rcode == 0 && r.answers > 0)
        {
            return Ok(peer);
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(120),
            "{} did not answer within 120 s; log: {}",
            kind.program(),
            peer.daemon.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn peer_rss_per_10k(
    kind: PeerKind,
    peer: &DnsPeer,
    _records: &[ServiceRecord],
    ctx: &Ctx,
    dir: &Path,
    services: usize,
) -> anyhow::Result<f64> {
    let full = peer.daemon.rss_bytes()?;
    let mut empty = dns_servers::start(kind, &[], ZONE, &ctx.server_cpus, &dir.join("empty"))?;
    // An empty server answers NXDOMAIN (or REFUSED) for everything: wait for any reply.
    let start = Instant::now();
    while probe::query(
        empty.addr,
        &format!("x.{ZONE}"),
        QType::A,
        Duration::from_millis(200),
    )
    .is_err()
    {
        empty.daemon.check_alive()?;
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "empty {} never answered",
            kind.program()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let base = empty.daemon.rss_bytes()?;
    Ok(per_10k(base, full, services))
}

fn service_json(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    })
}

async fn create_service(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<ServiceRecord> {
    let url = format!("{base}/api/v1/namespaces/{NAMESPACE}/services");
    let resp = http.post(url).json(&service_json(name)).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "creating service {name}: HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    let v: Value = serde_json::from_str(&text).context("service JSON")?;
    let ip: Ipv4Addr = v
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .context("created service has no spec.clusterIP")?
        .parse()
        .context("spec.clusterIP is not IPv4")?;
    Ok(ServiceRecord {
        name: name.into(),
        namespace: NAMESPACE.into(),
        ip,
        port_name: "http".into(),
        port: 80,
    })
}

async fn create_services(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> anyhow::Result<Vec<ServiceRecord>> {
    const CLIENTS: usize = 32;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (http, base) = (http.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (c..n).step_by(CLIENTS) {
                out.push((i, create_service(&http, &base, &format!("svc-{i}")).await?));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

async fn api_change_to_answer(
    http: &reqwest::Client,
    base: &str,
    dns: SocketAddr,
    rep: usize,
) -> anyhow::Result<f64> {
    let name = format!("new-svc-{rep}");
    let start = Instant::now();
    let record = create_service(http, base, &name).await?;
    let fqdn = record.fqdn(ZONE);
    tokio::task::spawn_blocking(move || {
        probe::wait_for_answer(dns, &fqdn, QType::A, Duration::from_secs(30))
    })
    .await??;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// The dnsperf query file: the four query kinds in turn, spread over every service.
fn query_file(records: &[ServiceRecord]) -> String {
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        let line = match i % 4 {
            0 => format!("{} A\n", r.fqdn(ZONE)),
            1 => format!("{} SRV\n", r.srv_name(ZONE)),
            2 => format!("missing-{i}.{NAMESPACE}.svc.{ZONE} A\n"),
            _ => format!("{} PTR\n", dns_servers::reverse_name(r.ip)),
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_file_has_the_four_kinds_in_equal_parts() {
        let records: Vec<ServiceRecord> = (0..8u8)
            .map(|i| ServiceRecord {
                name: format!("s{i}"),
                namespace: NAMESPACE.into(),
                ip: Ipv4Addr::new(10, 96, 0, i + 1),
                port_name: "http".into(),
                port: 80,
            })
            .collect();
        let q = query_file(&records);
        assert_eq!(q.lines().count(), 8);
        for suffix in [" A", " SRV", " PTR"] {
            assert!(
                q.lines().filter(|l| l.ends_with(suffix)).count() >= 2,
                "{q}"
            );
        }
        assert_eq!(q.lines().filter(|l| l.starts_with("missing-")).count(), 2);
        assert!(q.contains("_http._tcp.s1.default.svc.cluster.local SRV"));
        assert!(q.contains("4.0.96.10.in-addr.arpa PTR"));
    }
}
