//! Area 1, IPAM: how fast switchyard's allocators hand out ClusterIPs and NodePorts.
//!
//! There is no external peer for an in-process allocator, so the reference is a naive
//! allocator written here (a `HashSet` of taken offsets, random start, linear probe), which is
//! the shape most hand-rolled allocators take. Both run in this process on the same thread;
//! the report says so. Never touches the network.

mod naive;

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use anyhow::Context;
use ipam::{PortAllocator, ServiceIpAllocator};

use crate::Ctx;
use crate::results::{AreaResult, Better, Row, Section, Series};
use naive::NaiveAllocator;

/// Runs the IPAM area and returns its result.
pub fn run(ctx: &Ctx) -> anyhow::Result<AreaResult> {
    let reps = ctx.mode.reps();
    let cidr: ipnet::IpNet = "10.96.0.0/16".parse().context("service CIDR")?;
    let cidr_v4 = match cidr {
        ipnet::IpNet::V4(n) => n,
        ipnet::IpNet::V6(_) => anyhow::bail!("expected an IPv4 CIDR"),
    };
    // Usable: network and broadcast excluded.
    let usable = (1u32 << (32 - cidr_v4.prefix_len())) - 2;
    let ports = 30000u16..=32767;
    let port_count = u32::from(*ports.end() - *ports.start()) + 1;

    let mut fill_sy = Vec::new();
    let mut fill_naive = Vec::new();
    let mut ports_sy = Vec::new();
    let mut ports_naive = Vec::new();
    let mut churn_sy = Vec::new();
    let mut churn_naive = Vec::new();
    let churn_ops = ctx.mode.pick(20_000, 200_000, 1_000_000);
    for rep in 0..reps {
        let seed = rep as u64 + 1;
        fill_sy.push(time_ms(|| fill_service_ips(cidr, seed, usable))?);
        fill_naive.push(time_ms(|| {
            let mut n = NaiveAllocator::new(usable, seed);
            for _ in 0..usable {
                black_box(n.allocate_next().context("naive /16 fill")?);
            }
            Ok(())
        })?);
        ports_sy.push(time_ms(|| {
            let mut p = PortAllocator::with_seed(ports.clone(), seed)?;
            for _ in 0..port_count {
                black_box(p.allocate_next()?);
            }
            Ok(())
        })?);
        ports_naive.push(time_ms(|| {
            let mut n = NaiveAllocator::new(port_count, seed);
            for _ in 0..port_count {
                black_box(n.allocate_next().context("naive port fill")?);
            }
            Ok(())
        })?);
        churn_sy.push(churn_service_ips(cidr, seed, usable / 2, churn_ops)?);
        churn_naive.push(churn_naive_rate(usable, seed, usable / 2, churn_ops)?);
    }
    let reference = "naive HashSet allocator";
    let rows = vec![
        Row {
            case: format!("fill {cidr} ({usable} dynamic ClusterIPs)"),
            metric: "ms to fill".into(),
            better: Better::Lower,
            subject: Series::measured("switchyard ipam", &fill_sy),
            references: vec![Series::measured(reference, &fill_naive)],
        },
        Row {
            case: format!(
                "fill NodePorts {}-{} ({port_count})",
                ports.start(),
                ports.end()
            ),
            metric: "ms to fill".into(),
            better: Better::Lower,
            subject: Series::measured("switchyard ipam", &ports_sy),
            references: vec![Series::measured(reference, &ports_naive)],
        },
        Row {
            case: format!("{cidr} half full, allocate+release"),
            metric: "allocations/s".into(),
            better: Better::Higher,
            subject: Series::measured("switchyard ipam", &churn_sy),
            references: vec![Series::measured(reference, &churn_naive)],
        },
    ];
    let method = format!(
        "In-process, single thread, {} build, `sybench` pinned with `taskset` to the client \
         CPU. There is no external peer for an allocator, so the reference is a naive allocator \
         written for this benchmark: a `HashSet<u32>` of taken offsets, a random start and a \
         linear probe to the next free offset (the usual hand-rolled shape). switchyard: \
         `ipam::ServiceIpAllocator::with_seed` / `ipam::PortAllocator::with_seed` \
         (`allocate_next`), which also honour the Kubernetes static bands. Fill = allocate until \
         every usable value is taken. Churn = fill half, then {churn_ops} rounds of \
         `allocate_next` + `release` of a random held value. {reps} repetitions, different seeds.",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    Ok(AreaResult {
        area: "ipam".into(),
        title: "IPAM: ClusterIP and NodePort allocation".into(),
        run: ctx.run_info(),
        sections: vec![Section {
            title: "Allocation speed".into(),
            method,
            rows,
            notes: vec![
                "The reference is ours, not a production allocator: the ratio says how much the \
                 bitmap/band design buys over the obvious approach, nothing more."
                    .into(),
            ],
        }],
    })
}

fn time_ms(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

fn fill_service_ips(cidr: ipnet::IpNet, seed: u64, usable: u32) -> anyhow::Result<()> {
    let mut a = ServiceIpAllocator::with_seed(cidr, seed)?;
    for _ in 0..usable {
        black_box(a.allocate_next()?);
    }
    anyhow::ensure!(
        a.allocate_next().is_err(),
        "allocator not full after {usable}"
    );
    Ok(())
}

fn churn_service_ips(cidr: ipnet::IpNet, seed: u64, fill: u32, ops: u32) -> anyhow::Result<f64> {
    let mut a = ServiceIpAllocator::with_seed(cidr, seed)?;
    let mut held: Vec<IpAddr> = Vec::with_capacity(fill as usize + 1);
    for _ in 0..fill {
        held.push(a.allocate_next()?);
    }
    let mut rng = naive::SplitMix(seed);
    let start = Instant::now();
    for _ in 0..ops {
        held.push(a.allocate_next()?);
        let i = rng.below(held.len() as u64) as usize;
        let ip = held.swap_remove(i);
        anyhow::ensure!(a.release(ip), "release of held {ip} failed");
    }
    Ok(f64::from(ops) / start.elapsed().as_secs_f64())
}

fn churn_naive_rate(size: u32, seed: u64, fill: u32, ops: u32) -> anyhow::Result<f64> {
    let mut a = NaiveAllocator::new(size, seed);
    let mut held: Vec<u32> = Vec::with_capacity(fill as usize + 1);
    for _ in 0..fill {
        held.push(a.allocate_next().context("naive fill")?);
    }
    let mut rng = naive::SplitMix(seed);
    let start = Instant::now();
    for _ in 0..ops {
        held.push(a.allocate_next().context("naive churn")?);
        let i = rng.below(held.len() as u64) as usize;
        let v = held.swap_remove(i);
        anyhow::ensure!(a.release(v), "naive release of {v} failed");
    }
    Ok(f64::from(ops) / start.elapsed().as_secs_f64())
}
