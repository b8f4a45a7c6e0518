//! The records of the DNS benchmark, for switchyard and for its peers.
//!
//! ```text
//! bench_fixture zone    <services>   knot/BIND zone file of cluster.local on stdout
//! bench_fixture unbound <services>   unbound local-data lines on stdout
//! bench_fixture dnsmasq <services>   dnsmasq host-record lines on stdout
//! bench_fixture queries <services>   a dnsperf query file on stdout (90% hits, 10% NXDOMAIN)
//! bench_fixture serve   <services> <listen>   serve them with DnsServer until SIGTERM
//! bench_fixture build   <services>   time NameTable::build for that many services
//! ```
//!
//! Service `i` is `svc-<i>.bench.svc.cluster.local` with ClusterIP `10.96.<i/250>.<i%250+1>`
//! and TTL 5, so every server answers the same names with the same records.

use std::error::Error;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use dns::{DnsConfig, DnsServer, NameTable, TableOptions};
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::signal::unix::{SignalKind, signal};

const ZONE: &str = "cluster.local";
const TTL: u32 = 5;

fn ip(i: usize) -> Ipv4Addr {
    let third = u8::try_from(i / 250).unwrap_or(u8::MAX);
    let fourth = u8::try_from(i % 250 + 1).unwrap_or(1);
    Ipv4Addr::new(10, 96, third, fourth)
}

fn name(i: usize) -> String {
    format!("svc-{i}.bench.svc.{ZONE}")
}

fn state(services: usize) -> ClusterState {
    let mut state = ClusterState {
        synced: true,
        revision: 1,
        ..ClusterState::default()
    };
    for i in 0..services {
        let service = Service {
            metadata: ObjectMeta {
                namespace: Some("bench".into()),
                name: Some(format!("svc-{i}")),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip(i).to_string()),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        state.services.insert(
            ObjectKey::new("bench", format!("svc-{i}")),
            Arc::new(service),
        );
    }
    state
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_fixture zone|unbound|dnsmasq|queries|build|serve <services> [listen]";
    let (Some(command), Some(count)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let services: usize = count
        .parse()
        .map_err(|_| format!("<services> `{count}`: not a number"))?;
    if services == 0 || services > 62_500 {
        return Err("<services> must be between 1 and 62500".into());
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    match command.as_str() {
        "zone" => {
            writeln!(out, "$ORIGIN {ZONE}.\n$TTL {TTL}")?;
            writeln!(
                out,
                "@ SOA ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}"
            )?;
            writeln!(out, "@ NS ns.dns.{ZONE}.")?;
            writeln!(out, "dns-version TXT \"1.1.0\"")?;
            for i in 0..services {
                writeln!(out, "{}. A {}", name(i), ip(i))?;
            }
        }
        "unbound" => {
            for i in 0..services {
                writeln!(out, "  local-data: \"{}. {TTL} IN A {}\"", name(i), ip(i))?;
            }
        }
        "dnsmasq" => {
            for i in 0..services {
                writeln!(out, "host-record={},{},{TTL}", name(i), ip(i))?;
            }
        }
        "queries" => {
            // A fixed, evenly spread sequence: no randomness, so every server gets the same load.
            for q in 0..100_000usize {
                if q % 10 == 9 {
                    writeln!(out, "missing-{q}.bench.svc.{ZONE} A")?;
                } else {
                    writeln!(out, "{} A", name(q.wrapping_mul(7919) % services))?;
                }
            }
        }
        "build" => {
            let state = state(services);
            let options = TableOptions::from_config(&DnsConfig::default())?;
            let runs = 20u32;
            let started = std::time::Instant::now();
            let mut names = 0;
            for _ in 0..runs {
                names = NameTable::build(&state, options.clone()).len();
            }
            let each = started.elapsed() / runs;
            writeln!(
                out,
                "{services} services: {names} names, {each:?} per build"
            )?;
        }
        "serve" => {
            let listen: SocketAddr = args
                .get(2)
                .ok_or(usage)?
                .parse()
                .map_err(|_| "listen must be an address like 127.0.0.1:5300")?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let (_sender, receiver) = tokio::sync::watch::channel(Arc::new(state(services)));
                let config = DnsConfig {
                    listen,
                    ttl: TTL,
                    ..DnsConfig::default()
                };
                let server = DnsServer::start(config, receiver).await?;
                eprintln!("serving {services} services on {}", server.local_addr());
                // Runs until SIGINT or SIGTERM (the bench script kills it by pid).
                let mut term = signal(SignalKind::terminate())?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                server.shutdown().await;
                Ok::<_, Box<dyn Error>>(())
            })?;
        }
        other => return Err(format!("unknown command `{other}`; {usage}").into()),
    }
    out.flush()?;
    Ok(())
}
