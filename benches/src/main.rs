//! `sybench`: switchyard's benchmark driver. Each subcommand measures one area against its
//! reference in the same run, writes `target/bench-results/<area>.json`, and `report` turns
//! those files into `docs/benchmarks.md` with plots under `docs/bench/`.
//!
//! Run it through `scripts/bench`, which installs the peers and builds release binaries. Peer
//! daemons only ever listen on loopback and are killed when the area ends, even on error.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use bench::lb_area::client::LbLoad;
use bench::mode::Mode;
use bench::peers::backends;
use bench::results::AreaResult;
use bench::{
    Ctx, backend, dns_area, ipam_area, lb_area, nft_area, proxy_area, report, routed_area,
    scale_area, store_area,
};

/// switchyard's benchmark suite.
#[derive(Debug, Parser)]
#[command(name = "sybench", about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Cmd,
}

/// Flags shared by every area.
#[derive(Debug, Clone, Args)]
struct CommonArgs {
    /// Run size: smoke (seconds, proves the harness), quick (default), full.
    #[arg(long, global = true, value_enum, default_value_t = Mode::Quick)]
    mode: Mode,
    /// Where each area writes its JSON.
    #[arg(long, global = true, default_value = "target/bench-results")]
    results_dir: PathBuf,
    /// Where `report` writes benchmarks.md and bench/*.svg.
    #[arg(long, global = true, default_value = "docs")]
    docs_dir: PathBuf,
    /// The switchyard binary under test.
    #[arg(long, global = true, default_value = "target/release/switchyard")]
    switchyard: PathBuf,
    /// CPU list (taskset syntax) for servers: switchyard and every peer.
    #[arg(long, global = true, default_value = "1")]
    server_cpus: String,
    /// CPU list for load generators (dnsperf, wrk, iperf3); sybench itself is pinned here by
    /// scripts/bench.
    #[arg(long, global = true, default_value = "0")]
    client_cpus: String,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Every area, then the report.
    All,
    /// IPAM allocation speed vs a naive allocator.
    Ipam,
    /// Control store vs etcd 3.4.
    Store,
    /// Cluster DNS vs dnsmasq, unbound and knot.
    Dns,
    /// Userspace proxy vs HAProxy vs direct.
    Proxy,
    /// nftables sync time and connection set-up vs a linear per-service chain (root).
    Nft,
    /// Connection set-up probe run inside the nft area's namespace.
    #[command(hide = true)]
    NftProbe {
        /// Address to connect to.
        #[arg(long)]
        target: std::net::SocketAddr,
        /// Sequential connects.
        #[arg(long)]
        count: usize,
        /// Local address to connect from (default: the kernel's choice).
        #[arg(long)]
        source: Option<std::net::IpAddr>,
    },
    /// One Pod's readiness to kernel rule and DNS answer at 1k and 10k services (root).
    Scale,
    /// New connections, requests and bulk through client → node → backend namespaces (root).
    Routed,
    /// Load-balancing evenness per policy; with --target, against your own service.
    Lb(LbArgs),
    /// Serve the benchmark's HTTP backends (used by the proxy and lb areas).
    #[command(hide = true)]
    Backend {
        /// `ADDR=MICROSECONDS`: one backend on ADDR answering after that delay (repeatable).
        #[arg(long = "serve", required = true)]
        serve: Vec<String>,
    },
    /// Regenerate docs/benchmarks.md from the JSON results.
    Report,
}

/// Flags of `sybench lb`.
#[derive(Debug, Args)]
struct LbArgs {
    /// Measure your own HTTP service at HOST:PORT instead of running the built-in area: one
    /// TCP connection per request, backends told apart by a response header.
    #[arg(long)]
    target: Option<std::net::SocketAddr>,
    /// Response header naming the backend that answered (e.g. one your backends set).
    #[arg(long, default_value = "X-Backend")]
    header: String,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Total requests.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// How many backends the service has (idle ones count as 0 when header values are 0..N-1).
    #[arg(long, default_value_t = 0)]
    backends: usize,
    /// Give each worker its own 127.0.0.x source address (loopback targets only), so ClientIP
    /// affinity sees distinct clients.
    #[arg(long)]
    distinct_sources: bool,
    /// Bind worker N to this IPv4 address + N (the addresses must exist on this host).
    #[arg(long)]
    sources_from: Option<std::net::Ipv4Addr>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Host header (default: the target IP).
    #[arg(long)]
    host: Option<String>,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
}

type AreaFn = fn(&Ctx) -> anyhow::Result<AreaResult>;

const AREAS: [(&str, AreaFn); 8] = [
    ("ipam", ipam_area::run),
    ("store", store_area::run),
    ("dns", dns_area::run),
    ("proxy", proxy_area::run),
    ("nft", nft_area::run),
    ("lb", lb_area::run),
    ("scale", scale_area::run),
    ("routed", routed_area::run),
];

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sybench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let c = &cli.common;
    let ctx = Ctx {
        mode: c.mode,
        switchyard: c.switchyard.clone(),
        server_cpus: c.server_cpus.clone(),
        client_cpus: c.client_cpus.clone(),
    };
    let selected: Vec<&str> = match &cli.command {
        Cmd::All => AREAS.iter().map(|(n, _)| *n).collect(),
        Cmd::Ipam => vec!["ipam"],
        Cmd::Store => vec!["store"],
        Cmd::Dns => vec!["dns"],
        Cmd::Proxy => vec!["proxy"],
        Cmd::Nft => vec!["nft"],
        Cmd::Scale => vec!["scale"],
        Cmd::Routed => vec!["routed"],
        Cmd::NftProbe {
            target,
            count,
            source,
        } => {
            println!("{}", nft_area::probe::probe_main(*target, *count, *source)?);
            return Ok(());
        }
        Cmd::Lb(args) => match &args.target {
            None => vec!["lb"],
            Some(target) => {
                let load = LbLoad {
                    target: *target,
                    workers: args.workers,
                    requests: args.requests,
                    distinct_sources: args.distinct_sources,
                    source_base: args.sources_from,
                    header: args.header.clone(),
                    host: args.host.clone().unwrap_or_else(|| target.ip().to_string()),
                    path: args.path.clone(),
                };
                print!("{}", lb_area::run_target(&load, args.backends, args.json)?);
                return Ok(());
            }
        },
        Cmd::Backend { serve } => {
            let parsed = serve
                .iter()
                .map(|s| backends::parse_serve(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            return backend::serve(parsed);
        }
        Cmd::Report => vec![],
    };
    let mut failed = Vec::new();
    for name in &selected {
        let Some((_, f)) = AREAS.iter().find(|(n, _)| n == name) else {
            continue;
        };
        tracing::info!(area = name, mode = %ctx.mode, "running");
        match f(&ctx) {
            Ok(result) => {
                let path = result.write(&c.results_dir)?;
                tracing::info!(area = name, path = %path.display(), "results written");
            }
            Err(e) => {
                tracing::error!(area = name, error = format!("{e:#}"), "area failed");
                // The page must show that the area failed, not silently keep old numbers.
                let failure = AreaResult::failed(name, ctx.run_info(), &format!("{e:#}"));
                failure.write(&c.results_dir)?;
                failed.push(*name);
            }
        }
    }
    if matches!(cli.command, Cmd::All | Cmd::Report) {
        let page = report::write(&c.results_dir, &c.docs_dir).context("writing the report")?;
        tracing::info!(page = %page.display(), "report written");
    }
    anyhow::ensure!(failed.is_empty(), "areas failed: {}", failed.join(", "));
    Ok(())
}
