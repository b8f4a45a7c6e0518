//! Criterion: label selector parsing and matching (`control::selector::Selector`).

use std::collections::BTreeMap;
use std::hint::black_box;

use control::selector::Selector;
use criterion::{Criterion, criterion_group, criterion_main};

fn selectors(c: &mut Criterion) {
    let text = "app=web,tier in (frontend,backend),environment!=dev,!canary";
    c.bench_function("selector/parse", |b| {
        b.iter(|| Selector::parse(black_box(text)))
    });
    let Ok(sel) = Selector::parse(text) else {
        return;
    };
    let labels: BTreeMap<String, String> = [
        ("app", "web"),
        ("tier", "backend"),
        ("environment", "prod"),
        ("pod-template-hash", "7d9c8f6b5"),
        ("version", "1.27.3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    c.bench_function("selector/matches (4 requirements, 5 labels)", |b| {
        b.iter(|| black_box(&sel).matches(black_box(&labels)))
    });
    let map: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
    let simple = Selector::from_map(&map);
    c.bench_function("selector/matches (service selector app=web)", |b| {
        b.iter(|| black_box(&simple).matches(black_box(&labels)))
    });
}

criterion_group!(benches, selectors);
criterion_main!(benches);
