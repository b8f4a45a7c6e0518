//! Area 6, load balancing: how evenly switchyard spreads connections over N backends under
//! round-robin, random, least-connections and ClientIP affinity, for uniform and skewed backend
//! latencies, and what p99 the client sees; plus `sybench lb --target`, the same client against
//! any service.
//!
//! Evenness is max/mean requests per backend (1.0 = perfectly even) and the coefficient of
//! variation (0 = perfectly even). Traffic stays on loopback.

pub mod client;
mod nft_mode;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::Ctx;
use crate::peers::backends;
use crate::peers::switchyard::{self, Parts};
use crate::results::{AreaResult, Better, Row, Section, Series};
use crate::stats;
use crate::sy_service;
use client::{LbLoad, LbStats};

const N: usize = 4;
const WORKERS: usize = 16;
/// Backend delays: the uniform set, then the skewed set (one slow backend).
const UNIFORM_MS: [u64; N] = [1, 1, 1, 1];
const SKEWED_MS: [u64; N] = [1, 1, 1, 10];

/// Evenness and tail latency of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evenness {
    /// max/mean requests per backend.
    pub max_over_mean: f64,
    /// Coefficient of variation of requests per backend.
    pub cv: f64,
    /// p99 request latency, ms.
    pub p99_ms: f64,
    /// p50 request latency, ms.
    pub p50_ms: f64,
}

/// Computes evenness over `expected` backends (missing ones count as 0 requests).
pub fn evenness(stats: &LbStats, expected: &[String]) -> Evenness {
    let mut counts: Vec<f64> = expected
        .iter()
        .map(|b| stats.per_backend.get(b).copied().unwrap_or(0) as f64)
        .collect();
    // Backends we did not expect (or a missing header) still count.
    for (k, v) in &stats.per_backend {
        if !expected.contains(k) {
            counts.push(*v as f64);
        }
    }
    let sorted = stats::sorted(&stats.latencies_ms);
    Evenness {
        max_over_mean: stats::max_over_mean(&counts).unwrap_or(f64::NAN),
        cv: stats::coefficient_of_variation(&counts).unwrap_or(f64::NAN),
        p99_ms: stats::percentile_sorted(&sorted, 99.0).unwrap_or(f64::NAN),
        p50_ms: stats::percentile_sorted(&sorted, 50.0).unwrap_or(f64::NAN),
    }
}

struct Case {
    name: String,
    system: &'static str,
    max_over_mean: Result<Vec<f64>, String>,
    cv: Result<Vec<f64>, String>,
    p99: Result<Vec<f64>, String>,
}

impl Case {
    fn failed(name: String, e: &str) -> Case {
        Case {
            name,
            system: "switchyard nftables",
            max_over_mean: Err(e.to_string()),
            cv: Err(e.to_string()),
            p99: Err(e.to_string()),
        }
    }
}

/// Runs the lb area (userspace mode).
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    let requests = ctx.mode.pick(400, 4000, 20_000);
    let reps = ctx.mode.reps();
    let tmp = tempfile::tempdir().context("temp dir")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let delays: Vec<Duration> = UNIFORM_MS
        .iter()
        .chain(SKEWED_MS.iter())
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    let b = backends::start(&ctx.server_cpus, &delays, tmp.path())?;
    let (uniform, skewed) = b.addrs.split_at(N);
    let names = |offset: usize| {
        (offset..offset + N)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    };

    let mut cases = Vec::new();
    for policy in ["round-robin", "random", "least-connections"] {
        let data = tmp.path().join(format!("sy-{policy}"));
        let started = switchyard::start(
            &ctx.switchyard,
            &ctx.server_cpus,
            &data,
            tmp.path(),
            &Parts {
                proxy_mode: Some("userspace".into()),
                extra: vec![
                    "--proxy-interface".into(),
                    "none".into(),
                    "--nodeport-addresses".into(),
                    "127.0.0.1/32".into(),
                    "--lb".into(),
                    policy.into(),
                ],
                ..Parts::default()
            },
        );
        let mut variants: Vec<(String, &[SocketAddr], usize, bool)> = vec![
            (
                format!("{policy}, uniform {UNIFORM_MS:?} ms"),
                uniform,
                0,
                false,
            ),
            (
                format!("{policy}, skewed {SKEWED_MS:?} ms"),
                skewed,
                N,
                false,
            ),
        ];
        if policy == "round-robin" {
            variants.push((
                format!("ClientIP affinity, uniform {UNIFORM_MS:?} ms"),
                uniform,
                0,
                true,
            ));
            variants.push((
                format!("ClientIP affinity, skewed {SKEWED_MS:?} ms"),
                skewed,
                N,
                true,
            ));
        }
        let sy = match started {
            Ok(sy) => sy,
            Err(e) => {
                let m = format!("{e:#}");
                for (name, ..) in variants {
                    cases.push(Case {
                        name,
                        system: "switchyard userspace",
                        max_over_mean: Err(m.clone()),
                        cv: Err(m.clone()),
                        p99: Err(m.clone()),
                    });
                }
                continue;
            }
        };
        let base = sy.base();
        let http = sy.client()?;
        for (i, (name, addrs, offset, affinity)) in variants.into_iter().enumerate() {
            let mut case = Case {
                name,
                system: "switchyard userspace",
                max_over_mean: Ok(vec![]),
                cv: Ok(vec![]),
                p99: Ok(vec![]),
            };
            let result = rt.block_on(async {
                switchyard::ensure_namespace(&http, &base, "default").await?;
                let port =
                    sy_service::create(&http, &base, &format!("lb-{i}"), addrs, affinity).await?;
                let target = SocketAddr::from(([127, 0, 0, 1], port));
                sy_service::wait_http(target, Duration::from_secs(30)).await?;
                let mut runs = Vec::new();
                for _ in 0..reps {
                    let load = LbLoad {
                        target,
                        workers: WORKERS,
                        requests,
                        distinct_sources: true,
                        source_base: None,
                        header: "X-Backend".into(),
                        host: "bench".into(),
                        path: "/".into(),
                    };
                    let s = client::run(&load).await;
                    anyhow::ensure!(
                        s.errors == 0,
                        "{} failed requests, first: {}",
                        s.errors,
                        s.first_error.unwrap_or_default()
                    );
                    runs.push(evenness(&s, &names(offset)));
                }
                anyhow::Ok(runs)
            });
            match result {
                Ok(runs) => {
                    for r in runs {
                        for (slot, v) in [
                            (&mut case.max_over_mean, r.max_over_mean),
                            (&mut case.cv, r.cv),
                            (&mut case.p99, r.p99_ms),
                        ] {
                            if let Ok(s) = slot.as_mut() {
                                s.push(v);
                            }
                        }
                    }
                }
                Err(e) => {
                    let m = format!("{e:#}");
                    case.max_over_mean = Err(m.clone());
                    case.cv = Err(m.clone());
                    case.p99 = Err(m);
                }
            }
            cases.push(case);
        }
    }
    drop(b);
    cases.extend(nft_mode::run(ctx, requests, reps));

    let series = |name: &str, s: &Result<Vec<f64>, String>| match s {
        Ok(v) => Series::measured(name, v),
        Err(e) => Series::failed(name, e),
    };
    let mut rows = Vec::new();
    for c in &cases {
        rows.push(Row {
            case: c.name.clone(),
            metric: "max/mean requests per backend".into(),
            better: Better::Lower,
            subject: series(c.system, &c.max_over_mean),
            references: vec![],
        });
        rows.push(Row {
            case: c.name.clone(),
            metric: "CV of requests per backend".into(),
            better: Better::Lower,
            subject: series(c.system, &c.cv),
            references: vec![],
        });
        rows.push(Row {
            case: c.name.clone(),
            metric: "p99 ms".into(),
            better: Better::Lower,
            subject: series(c.system, &c.p99),
            references: vec![],
        });
    }
    let method = format!(
        "Userspace rows: `switchyard run --proxy-mode userspace --proxy-interface none --nodeport-addresses \
         127.0.0.1/32 --lb <policy>`; ClientIP rows add `sessionAffinity: ClientIP` to the \
         Service (round-robin underneath). {N} backends per service in one `sybench backend` \
         process, each answering after a fixed delay (uniform {UNIFORM_MS:?} ms, skewed \
         {SKEWED_MS:?} ms); backends and switchyard pinned with `taskset -c {}`, the client on \
         `{}`. Client: {WORKERS} workers, each from its own source address 127.0.0.2…, one \
         new TCP connection per request (the proxy picks per connection), {requests} requests \
         per run, {reps} runs. Evenness: max/mean of requests per backend (1.0 is perfect) and \
         the coefficient of variation (0 is perfect); p99 over all requests of a run.",
        ctx.server_cpus, ctx.client_cpus
    );
    Ok(AreaResult {
        area: "lb".into(),
        title: "Load balancing".into(),
        run: ctx.run_info(),
        sections: vec![Section {
            title: "Evenness and tail latency per policy".into(),
            method,
            rows,
            notes: vec![
                "No external reference here: the ideal is max/mean 1.0 and CV 0. With ClientIP \
                 affinity each of the 16 clients sticks to one backend, so unevenness is expected \
                 and shows how the clients hashed."
                    .into(),
                "nftables rows: switchyard's rules (`proxy::nft::Syncer`, real `nft`) in a \
                 network namespace the bench creates, with backends and client inside it \
                 (client sources 10.251.0.1…); the kernel path picks with `numgen random` \
                 (random, affinity rows) or `numgen inc` (round-robin rows, `--lb round-robin`); \
                 least-connections exists only in userspace mode, as the kernel rules keep no \
                 per-endpoint connection count."
                    .into(),
            ],
        }],
    })
}

/// `sybench lb --target`: drives the user's own service and prints evenness and latency (as
/// one JSON object when `json`).
pub fn run_target(load: &LbLoad, expected_backends: usize, json: bool) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(client::run(load));
    let expected: Vec<String> =
        if expected_backends > 0 && s.per_backend.keys().all(|k| k.parse::<usize>().is_ok()) {
            (0..expected_backends).map(|i| i.to_string()).collect()
        } else {
            s.per_backend.keys().cloned().collect()
        };
    let e = evenness(&s, &expected);
    if json {
        return Ok(serde_json::json!({
            "per_backend": s.per_backend,
            "errors": s.errors,
            "first_error": s.first_error,
            "max_over_mean": e.max_over_mean,
            "cv": e.cv,
            "p50_ms": e.p50_ms,
            "p99_ms": e.p99_ms,
        })
        .to_string()
            + "\n");
    }
    let mut out = format!(
        "target {} — {} requests by {} workers, one connection per request, {} errors\n",
        load.target, load.requests, load.workers, s.errors
    );
    for (k, v) in &s.per_backend {
        out.push_str(&format!("  backend {k:>6}: {v}\n"));
    }
    out.push_str(&format!(
        "max/mean {:.3}  CV {:.3}  p50 {:.3} ms  p99 {:.3} ms\n",
        e.max_over_mean, e.cv, e.p50_ms, e.p99_ms
    ));
    if let Some(err) = s.first_error {
        out.push_str(&format!("first error: {err}\n"));
    }
    if s.per_backend.contains_key("?") {
        out.push_str(&format!(
            "note: some responses had no {} header, counted as `?`\n",
            load.header
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenness_counts_idle_backends_as_zero() {
        let mut s = LbStats::default();
        s.per_backend.insert("0".into(), 30);
        s.latencies_ms = vec![1.0; 100];
        let expected: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        let e = evenness(&s, &expected);
        assert!((e.max_over_mean - 3.0).abs() < 1e-12, "{e:?}");
        assert!(e.cv > 1.0, "{e:?}");
        assert_eq!(e.p99_ms, 1.0);
    }
}
