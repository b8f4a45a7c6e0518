//! What one EndpointSlice change costs the proxy at scale, in process (no kernel, no API):
//! from a new `ClusterState` to the new table, and from the new table to the nft partial-sync
//! transaction, the old way (`ServiceTable::build` from scratch, then a deep compare with the
//! previous table) against the incremental [`TableBuilder`]. Prints figures; asserts nothing.
//!
//! `cargo run --release -p proxy --example table_scale -- [SERVICES] [ENDPOINTS] [ROUNDS] [OLD]`
//! (defaults: 10000 Services, 10 endpoints each, 5 rounds, OLD 1), all in one namespace.
//! `OLD` 0 skips the old way after the first table (at 10k Services in a debug build each of
//! its rounds takes minutes: `slices_for_service` scans the namespace once per Service).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_watch::{ClusterState, ObjectKey};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proxy::model::{NodeContext, ServiceTable, TableBuilder};
use proxy::nft::{Family, Listing, NftConfig, Runner, SyncError, Syncer, TableId, Transaction};

const NAMESPACE: &str = "scale";

/// A runner that applies nothing and lists empty tables: the sync computes its plan only.
#[derive(Debug)]
struct PlanOnly;

impl Runner for PlanOnly {
    fn run(&self, _tx: &Transaction) -> Result<(), SyncError> {
        Ok(())
    }
    fn check(&self, _tx: &Transaction) -> Result<(), SyncError> {
        Ok(())
    }
    fn list(&self, _family: Family) -> Result<BTreeMap<TableId, Listing>, SyncError> {
        Ok(BTreeMap::new())
    }
}

fn arg(index: usize, default: usize) -> usize {
    std::env::args()
        .nth(index)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn service(i: usize) -> Result<Service, serde_json::Error> {
    let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("svc-{i}"), "namespace": NAMESPACE},
        "spec": {"clusterIP": ip, "clusterIPs": [ip],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    }))
}

/// Service `i`'s slice; `generation` moves the first endpoint.
fn slice(
    i: usize,
    endpoints: usize,
    generation: usize,
) -> Result<EndpointSlice, serde_json::Error> {
    let endpoints: Vec<serde_json::Value> = (0..endpoints)
        .map(|j| {
            let host = if j == 0 { generation % 250 } else { j };
            serde_json::json!({
                "addresses": [format!("10.{}.{}.{}", 100 + j, i / 250, (i % 250) + host)],
                "conditions": {"ready": true},
                "nodeName": format!("node-{}", j % 3)
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("svc-{i}-abcde"), "namespace": NAMESPACE,
                     "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn Error>> {
    let (services, endpoints, rounds) = (arg(1, 10_000), arg(2, 10), arg(3, 5).max(1));
    let measure_old = arg(4, 1) != 0;
    let node = NodeContext {
        node_name: "node-0".into(),
    };
    let mut state = ClusterState {
        synced: true,
        ..ClusterState::default()
    };
    for i in 0..services {
        state.services.insert(
            ObjectKey::new(NAMESPACE, format!("svc-{i}")),
            Arc::new(service(i)?),
        );
        state.endpoint_slices.insert(
            ObjectKey::new(NAMESPACE, format!("svc-{i}-abcde")),
            Arc::new(slice(i, endpoints, 0)?),
        );
    }
    let config = NftConfig::default().rule_config();
    let mut old_syncer = Syncer::new(config.clone(), Arc::new(PlanOnly));
    let mut new_syncer = Syncer::new(config, Arc::new(PlanOnly));

    let mut builder = TableBuilder::new(node.clone());
    let started = Instant::now();
    builder.update(Arc::new(state.clone()));
    let first_update = started.elapsed();
    let started = Instant::now();
    let full = new_syncer.sync(builder.table())?;
    let full_sync = started.elapsed();
    println!(
        "{services} services x {endpoints} endpoints, one namespace: first table: TableBuilder \
         {first_update:?}; full nft plan {} ops in {full_sync:?}",
        full.ops
    );
    let mut old_table = ServiceTable::default();
    if measure_old {
        let started = Instant::now();
        old_table = ServiceTable::build(&state, &node);
        println!("first table: build {:?}", started.elapsed());
        old_syncer.sync(&old_table)?;
    }

    let (mut build_times, mut update_times) = (Vec::new(), Vec::new());
    let (mut old_plans, mut new_plans) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let changed = services / 2 + round;
        state.endpoint_slices.insert(
            ObjectKey::new(NAMESPACE, format!("svc-{changed}-abcde")),
            Arc::new(slice(changed, endpoints, round)?),
        );
        state.revision += 1;
        let snapshot = Arc::new(state.clone());

        // Before: rebuild everything, then compare the whole table with the previous one.
        let (mut differs, mut old_ops) = (false, 0);
        if measure_old {
            let started = Instant::now();
            let table = ServiceTable::build(&snapshot, &node);
            differs = table != old_table;
            build_times.push(started.elapsed());
            old_table = table;
            let started = Instant::now();
            old_ops = old_syncer.sync(&old_table)?.ops;
            old_plans.push(started.elapsed());
        }

        // After: fold only the change in.
        let started = Instant::now();
        let update = builder.update(snapshot);
        update_times.push(started.elapsed());
        let started = Instant::now();
        let new_ops = new_syncer.sync(&update.table)?.ops;
        new_plans.push(started.elapsed());
        println!(
            "round {round}: changed {differs}/{} ({:?}); nft ops {old_ops} (build) / {new_ops} (builder)",
            update.changed, update.rebuild
        );
    }
    println!(
        "one slice changed, median of {rounds}: new ClusterState -> new table: TableBuilder {:?}; \
         new table -> nft partial-sync plan after TableBuilder {:?}",
        median(update_times),
        median(new_plans)
    );
    if measure_old {
        println!(
            "the old way: build+compare {:?}; nft partial-sync plan after build {:?}",
            median(build_times),
            median(old_plans)
        );
    }
    Ok(())
}
