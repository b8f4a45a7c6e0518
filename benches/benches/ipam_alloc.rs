//! Criterion: IPAM allocate/release on a half-full /16 and a full NodePort range cycle.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ipam::{PortAllocator, ServiceIpAllocator};

fn service_ips(c: &mut Criterion) {
    let Ok(cidr) = "10.96.0.0/16".parse() else {
        return;
    };
    let Ok(mut a) = ServiceIpAllocator::with_seed(cidr, 7) else {
        return;
    };
    for _ in 0..32_000 {
        let _ = a.allocate_next();
    }
    c.bench_function(
        "ipam/service_ip allocate_next+release, /16 half full",
        |b| {
            b.iter(|| {
                if let Ok(ip) = a.allocate_next() {
                    a.release(black_box(ip));
                }
            })
        },
    );
}

fn node_ports(c: &mut Criterion) {
    let Ok(mut p) = PortAllocator::with_seed(30000..=32767, 7) else {
        return;
    };
    for _ in 0..1_000 {
        let _ = p.allocate_next();
    }
    c.bench_function("ipam/node_port allocate_next+release", |b| {
        b.iter(|| {
            if let Ok(port) = p.allocate_next() {
                p.release(black_box(port));
            }
        })
    });
}

criterion_group!(benches, service_ips, node_ports);
criterion_main!(benches);
