//! The load-balancing cases in nftables mode: switchyard's rules (`proxy::nft::Syncer`, real
//! `nft`) inside a network namespace the bench creates, backends and the client inside it too.
//! nftables picks endpoints with `numgen random` or, for round-robin, `numgen inc` (there is
//! no least-connections in the kernel path), plus ClientIP affinity through per-endpoint
//! timeout sets.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use proxy::model::{Endpoint, ServiceTable};
use proxy::nft::{
    NftRunner, Syncer,
    rules::{Pick, RuleConfig},
};

use super::{Case, N, SKEWED_MS, UNIFORM_MS, WORKERS};
use crate::Ctx;
use crate::nft_area::netns::Netns;
use crate::nft_area::{is_root, shapes};
use crate::peers::Daemon;

const CLIENT_BASE: Ipv4Addr = Ipv4Addr::new(10, 251, 0, 1);

/// Backend `b` (0..2N) address inside the namespace.
fn backend_ip(b: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 250, 0, 1)) + b as u32)
}

/// Runs the nftables-mode cases; every case fails with the reason if the setup fails.
pub(super) fn run(ctx: &Ctx, requests: usize, reps: usize) -> Vec<Case> {
    let names = [
        format!("nftables random, uniform {UNIFORM_MS:?} ms"),
        format!("nftables random, skewed {SKEWED_MS:?} ms"),
        format!("nftables ClientIP affinity, uniform {UNIFORM_MS:?} ms"),
        format!("nftables ClientIP affinity, skewed {SKEWED_MS:?} ms"),
        format!("nftables round-robin, uniform {UNIFORM_MS:?} ms"),
        format!("nftables round-robin, skewed {SKEWED_MS:?} ms"),
    ];
    match measure(ctx, requests, reps) {
        Ok(per_case) => names
            .into_iter()
            .zip(per_case)
            .map(|(name, runs)| match runs {
                Ok(runs) => Case {
                    name,
                    system: "switchyard nftables",
                    max_over_mean: Ok(runs.iter().map(|r| r.0).collect()),
                    cv: Ok(runs.iter().map(|r| r.1).collect()),
                    p99: Ok(runs.iter().map(|r| r.2).collect()),
                },
                Err(e) => Case::failed(name, &e),
            })
            .collect(),
        Err(e) => names
            .into_iter()
            .map(|n| Case::failed(n, &format!("{e:#}")))
            .collect(),
    }
}

type Runs = Result<Vec<(f64, f64, f64)>, String>;

fn measure(ctx: &Ctx, requests: usize, reps: usize) -> anyhow::Result<Vec<Runs>> {
    anyhow::ensure!(is_root(), "nftables mode needs root (network namespace)");
    let ns = Netns::create("lb")?;
    for b in 0..2 * N {
        ns.exec(
            "ip",
            &["addr", "add", &format!("{}/32", backend_ip(b)), "dev", "lo"],
        )?;
    }
    for w in 0..WORKERS {
        let ip = Ipv4Addr::from(u32::from(CLIENT_BASE) + w as u32);
        ns.exec("ip", &["addr", "add", &format!("{ip}/32"), "dev", "lo"])?;
    }
    let src = CLIENT_BASE.to_string();
    ns.exec(
        "ip",
        &["route", "add", "10.96.0.0/12", "dev", "lo", "src", &src],
    )?;
    let tmp = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    // Two backend processes, so each service's backends are indexed 0..N.
    let mut daemons = Vec::new();
    for (set, delays) in [UNIFORM_MS, SKEWED_MS].iter().enumerate() {
        let mut args = ns.prefix();
        args.extend([exe.display().to_string(), "backend".into()]);
        for (i, ms) in delays.iter().enumerate() {
            args.push("--serve".into());
            args.push(format!("{}:8080={}", backend_ip(set * N + i), ms * 1000));
        }
        daemons.push(Daemon::spawn(
            &format!("ns-backends-{set}"),
            &ctx.server_cpus,
            std::path::Path::new("ip"),
            &args,
            tmp.path(),
        )?);
    }
    // Services 0..4: uniform, skewed, uniform+affinity, skewed+affinity.
    let mut ports = Vec::new();
    for i in 0..4usize {
        let set = i % 2;
        let mut p = shapes::service(i, 1, 0, None);
        p.endpoints = (0..N)
            .map(|e| Endpoint {
                ip: backend_ip(set * N + e).into(),
                port: 8080,
                ready: true,
                serving: true,
                terminating: false,
                node_name: Some("bench-node".into()),
                is_local: false,
            })
            .collect();
        if i >= 2 {
            p.affinity_timeout = Some(Duration::from_secs(10800));
        }
        ports.push(Arc::new(p));
    }
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    let table = ServiceTable { ports };
    let load = |pick: Pick| -> anyhow::Result<()> {
        let config = RuleConfig {
            masquerade_mark: 0x4000,
            pick,
            ..RuleConfig::default()
        };
        // A new syncer adopts what is there and rewrites every chain (one full sync).
        Syncer::new(
            config,
            Arc::new(NftRunner::new(Some(ns.name().to_string()))),
        )
        .sync(&table)
        .map(drop)
        .context("loading the rules")
    };
    load(Pick::Random)?;

    let mut out = Vec::new();
    // Services 0..4 with `numgen random`, then services 0 and 1 again with `numgen inc`.
    for (round, i) in [(0, 0usize), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)] {
        if round == 1 && i == 0 {
            load(Pick::RoundRobin)?;
        }
        let target = SocketAddr::from((shapes::cluster_ip(i), 80));
        let mut runs = Vec::new();
        let mut err = None;
        for _ in 0..reps {
            match client(ctx, &ns, target, requests) {
                Ok(r) => runs.push(r),
                Err(e) => {
                    err = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        out.push(match err {
            Some(e) => Err(e),
            None => Ok(runs),
        });
    }
    drop(daemons);
    Ok(out)
}

/// One client run inside the namespace: (max/mean, CV, p99 ms).
fn client(
    ctx: &Ctx,
    ns: &Netns,
    target: SocketAddr,
    requests: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let exe = std::env::current_exe()?;
    let output = Command::new("taskset")
        .args(["-c", &ctx.client_cpus, "ip", "netns", "exec", ns.name()])
        .arg(exe)
        .args([
            "lb",
            "--json",
            "--target",
            &target.to_string(),
            "--workers",
            &WORKERS.to_string(),
        ])
        .args([
            "--requests",
            &requests.to_string(),
            "--backends",
            &N.to_string(),
        ])
        .args(["--sources-from", &CLIENT_BASE.to_string()])
        .output()
        .context("running the client in the namespace")?;
    anyhow::ensure!(
        output.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).context("client JSON")?;
    let errors = v
        .get("errors")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    anyhow::ensure!(
        errors == 0,
        "{errors} failed requests, first: {}",
        v.get("first_error").unwrap_or(&serde_json::Value::Null)
    );
    let f = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("client JSON without {k}"))
    };
    Ok((f("max_over_mean")?, f("cv")?, f("p99_ms")?))
}
