//! Scale: the cost of a one-service change must not grow with the number of services (verdict
//! maps, not linear chains), in the fake and in the real kernel. Prints sync times for the
//! report; asserts only sizes, never times. `NFT_SCALE_SERVICES` (default 2000) sets the
//! kernel test's size, e.g. 30000.

mod nft_fixture;
#[allow(unused_imports)]
mod support;

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use nft_fixture::{ep, svc, table};
use proxy::model::{Protocol, ServicePort, ServiceTable};
use proxy::nft::{FakeRunner, NftConfig, NftRunner, Runner, Syncer};
use support::{Netns, require_root};

type TestResult = Result<(), Box<dyn Error>>;

/// `n` services, two endpoints each; service `changed` gets a third endpoint when asked.
fn services(n: u32, changed: Option<u32>) -> ServiceTable {
    let ports: Vec<ServicePort> = (0..n)
        .map(|i| {
            let (hi, lo) = ((i >> 8) & 0xff, i & 0xff);
            let cluster_ip = format!("10.96.{hi}.{lo}");
            let mut endpoints = vec![
                ep(&format!("10.244.{hi}.{lo}"), 8080, false),
                ep(&format!("10.245.{hi}.{lo}"), 8080, false),
            ];
            if changed == Some(i) {
                endpoints.push(ep(&format!("10.246.{hi}.{lo}"), 8080, false));
            }
            let mut port = svc(
                "scale",
                &format!("svc-{i}"),
                Protocol::Tcp,
                80,
                &[&cluster_ip],
                endpoints,
            );
            port.node_port = u16::try_from(30000 + i % 2000).ok();
            port
        })
        .collect();
    table(ports)
}

fn config() -> NftConfig {
    NftConfig {
        cluster_cidrs: vec!["10.244.0.0/14".parse().unwrap_or_else(|e| panic!("{e}"))],
        ..NftConfig::default()
    }
}

/// (full ops, one-service change ops, one-service add ops) for `n` services through
/// `runner`, printing times.
fn measure(n: u32, runner: Arc<dyn Runner>, label: &str) -> Result<[usize; 3], Box<dyn Error>> {
    let mut syncer = Syncer::new(config().rule_config(), runner);
    let (before, after) = (services(n, None), services(n, Some(n / 2)));
    let grown = {
        let mut ports: Vec<ServicePort> = after.ports.iter().map(|p| (**p).clone()).collect();
        let extra = services(n + 1, None)
            .ports
            .iter()
            .find(|p| p.id.name == format!("svc-{n}"))
            .map(|p| ServicePort {
                // NodePorts repeat every 2000 services; the new one must not collide.
                node_port: None,
                ..(**p).clone()
            });
        ports.extend(extra);
        table(ports)
    };
    let start = Instant::now();
    let full = syncer.sync(&before)?;
    let full_time = start.elapsed();
    let planned = syncer.plan(&after)?.len();
    let start = Instant::now();
    let partial = syncer.sync(&after)?;
    let partial_time = start.elapsed();
    assert_eq!(planned, partial.ops);
    let start = Instant::now();
    let added = syncer.sync(&grown)?;
    let added_time = start.elapsed();
    println!(
        "{label}: {n} services: full sync {} ops in {full_time:?}, one-service change {} ops in {partial_time:?}, one service added {} ops in {added_time:?}",
        full.ops, partial.ops, added.ops
    );
    Ok([full.ops, partial.ops, added.ops])
}

#[test]
fn one_service_change_costs_the_same_at_any_scale() -> TestResult {
    let [small_full, small, small_add] = measure(10, Arc::new(FakeRunner::new()), "fake")?;
    let [big_full, big, big_add] = measure(3000, Arc::new(FakeRunner::new()), "fake")?;
    assert!(big_full > 100 * small_full, "full sync grows with services");
    assert_eq!(
        small, big,
        "a one-service change is the same size at 10 and 3000 services"
    );
    assert_eq!(small_add, big_add, "so is adding a service");
    Ok(())
}

#[test]
fn kernel_takes_thousands_of_services() -> TestResult {
    if !require_root("kernel_takes_thousands_of_services") {
        return Ok(());
    }
    let n: u32 = std::env::var("NFT_SCALE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let ns = Netns::new("nftscale")?;
    let runner = Arc::new(NftRunner::new(Some(ns.name().to_owned())));
    let [_, partial, added] = measure(n, runner, "kernel")?;
    let [_, fake_partial, fake_added] = measure(10, Arc::new(FakeRunner::new()), "fake")?;
    assert_eq!((partial, added), (fake_partial, fake_added));
    let ruleset = ns.exec("nft", &["list", "ruleset"])?;
    assert_eq!(
        ruleset.matches(" . tcp . 80 : goto service-").count() as u32,
        n + 1,
        "every service and the added one are dispatched"
    );
    Ok(())
}
