//! Criterion: the userspace proxy's endpoint pick (`proxy::userspace::pick`) per policy, and
//! nftables ruleset generation (`proxy::nft::Syncer::plan` against the in-memory `FakeRunner`)
//! for a full sync and a one-service change.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use bench::nft_area::shapes;
use criterion::{Criterion, criterion_group, criterion_main};
use proxy::nft::{FakeRunner, Syncer, rules::RuleConfig};
use proxy::userspace::{AffinityTable, Backend, LbPolicy, PickState, Pool, pick};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn picks(c: &mut Criterion) {
    let backends: Vec<Backend> = (0..10u16)
        .map(|i| Backend {
            addr: SocketAddr::from(([10, 244, 0, 1], 8000 + i)),
            active: Arc::new(AtomicU64::new(u64::from(i % 3))),
        })
        .collect();
    let pool = Pool::new(backends);
    let affinity = AffinityTable::new(Duration::from_secs(10800));
    let mut rng = StdRng::seed_from_u64(7);
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    for (name, policy, aff) in [
        ("round-robin", LbPolicy::RoundRobin, false),
        ("random", LbPolicy::Random, false),
        ("least-connections", LbPolicy::LeastConnections, false),
        ("ClientIP affinity", LbPolicy::RoundRobin, true),
    ] {
        let state = PickState {
            pool: &pool,
            policy,
            affinity: aff.then_some(&affinity),
            tried: &[],
        };
        c.bench_function(&format!("proxy/pick {name}, 10 endpoints"), |b| {
            b.iter(|| pick(black_box(&state), client, Instant::now(), &mut rng))
        });
    }
}

fn nft_plans(c: &mut Criterion) {
    let config = RuleConfig {
        masquerade_mark: 0x4000,
        ..RuleConfig::default()
    };
    let table = shapes::table(1000, 10);
    c.bench_function("nft/plan full, 1k services x 10 endpoints", |b| {
        b.iter(|| {
            let s = Syncer::new(config.clone(), Arc::new(FakeRunner::new()));
            s.plan(black_box(&table)).map(|t| t.len())
        })
    });
    let mut synced = Syncer::new(config, Arc::new(FakeRunner::new()));
    if synced.sync(&table).is_err() {
        return;
    }
    let changed = shapes::with_moved_endpoint(&table, 500, 10, 1);
    c.bench_function("nft/plan one-service change, 1k services", |b| {
        b.iter(|| synced.plan(black_box(&changed)).map(|t| t.len()))
    });
}

criterion_group!(benches, picks, nft_plans);
criterion_main!(benches);
