//! Criterion: cluster DNS answers from a built name table (`dns::NameTable::answer`) for an A
//! hit, an NXDOMAIN and an SRV, with 10k services; and building the table.

use std::hint::black_box;
use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use criterion::{Criterion, criterion_group, criterion_main};
use dns::{DnsConfig, NameTable, TableOptions};
use hickory_proto::op::Query;
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn state(n: usize) -> ClusterState {
    let mut state = ClusterState {
        synced: true,
        revision: 1,
        ..ClusterState::default()
    };
    for i in 0..n {
        let service = Service {
            metadata: ObjectMeta {
                namespace: Some("bench".into()),
                name: Some(format!("svc-{i}")),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(format!("10.96.{}.{}", i / 250, i % 250 + 1)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
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

fn lookups(c: &mut Criterion) {
    let Ok(options) = TableOptions::from_config(&DnsConfig::default()) else {
        return;
    };
    let st = state(10_000);
    c.bench_function("dns/NameTable::build 10k services", |b| {
        b.iter(|| NameTable::build(black_box(&st), options.clone()))
    });
    let table = NameTable::build(&st, options);
    let query = |name: &str, t| Name::from_ascii(name).map(|n| Query::query(n, t));
    let (Ok(hit), Ok(miss), Ok(srv)) = (
        query("svc-4242.bench.svc.cluster.local.", RecordType::A),
        query("missing.bench.svc.cluster.local.", RecordType::A),
        query(
            "_http._tcp.svc-4242.bench.svc.cluster.local.",
            RecordType::SRV,
        ),
    ) else {
        return;
    };
    // A benchmark of the wrong answer would be worse than none.
    for (what, q) in [("A hit", &hit), ("SRV", &srv)] {
        if table.answer(q).answers.is_empty() {
            eprintln!(
                "dns_lookup: the {what} query got no answer; the fixture no longer matches the table"
            );
            return;
        }
    }
    c.bench_function("dns/answer A hit (10k services)", |b| {
        b.iter(|| black_box(table.answer(black_box(&hit))).answers.len())
    });
    c.bench_function("dns/answer NXDOMAIN (10k services)", |b| {
        b.iter(|| black_box(table.answer(black_box(&miss))).answers.len())
    });
    c.bench_function("dns/answer SRV (10k services)", |b| {
        b.iter(|| black_box(table.answer(black_box(&srv))).answers.len())
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
