use std::sync::atomic::AtomicBool;

use super::*;
use crate::model::{Protocol, ServiceTable};
use crate::nft::fake::FakeRunner;
use crate::nft::fixture::{ep, svc, table};
use crate::nft::runner::Listing;
use crate::nft::transaction::TableId;
use std::collections::BTreeMap;

fn snapshot(table: ServiceTable, synced: bool) -> TableSnapshot {
    TableSnapshot {
        table: Arc::new(table),
        synced,
        last_event_at: None,
    }
}

fn web(endpoints: u8) -> ServiceTable {
    let eps = (0..endpoints)
        .map(|i| ep(&format!("10.244.1.{}", i + 1), 80, false))
        .collect();
    table(vec![svc("web", Protocol::Tcp, 80, &["10.96.0.10"], eps)])
}

fn config(min_sync_period: Duration) -> NftConfig {
    NftConfig {
        min_sync_period,
        stale_after: Duration::from_secs(30),
        ..NftConfig::default()
    }
}

/// Polls (virtual time) until `done`, at most 600 steps of 100 ms.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..600 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

/// A runner that fails while `fail` is set, and otherwise delegates to a fake.
#[derive(Debug, Default)]
struct Flaky {
    fail: AtomicBool,
    fake: FakeRunner,
}

impl Runner for Flaky {
    fn run(&self, tx: &Transaction) -> Result<(), SyncError> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(SyncError::Refused {
                kind: crate::nft::Refusal::Other,
                message: "injected failure".into(),
            });
        }
        self.fake.run(tx)
    }
    fn check(&self, tx: &Transaction) -> Result<(), SyncError> {
        self.fake.check(tx)
    }
    fn list(&self, family: Family) -> Result<BTreeMap<TableId, Listing>, SyncError> {
        self.fake.list(family)
    }
}

#[tokio::test(start_paused = true)]
async fn waits_for_a_complete_table_before_the_first_sync() {
    let fake = FakeRunner::new();
    let (tx, rx) = watch::channel(snapshot(web(1), false));
    let proxy = NftProxy::start_with_runner(config(Duration::ZERO), rx, Arc::new(fake.clone()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        fake.transactions().is_empty(),
        "nothing applied from a partial table"
    );
    assert!(proxy.health().is_starting());
    tx.send_replace(snapshot(web(1), true));
    assert!(until(|| proxy.sync_count() == 1).await);
    assert!(proxy.health().is_healthy());
    assert_eq!(proxy.health().status_code(), 200);
    assert!(fake.dump().contains("10.96.0.10 . tcp . 80"));
    proxy.shutdown().await;
    assert!(!fake.dump().is_empty(), "rules stay after shutdown");
}

#[tokio::test(start_paused = true)]
async fn bursts_are_coalesced_into_one_sync() {
    let fake = FakeRunner::new();
    let (tx, rx) = watch::channel(snapshot(web(1), true));
    let proxy =
        NftProxy::start_with_runner(config(Duration::from_secs(5)), rx, Arc::new(fake.clone()));
    assert!(until(|| proxy.sync_count() == 1).await);
    // Changes arrive while the loop waits out min_sync_period: all land in one sync.
    for n in 2..=20 {
        tx.send_replace(snapshot(web(n), true));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(until(|| proxy.sync_count() == 2).await);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(proxy.sync_count(), 2, "twenty changes, one sync");
    let applied = fake.transactions();
    assert_eq!(applied.len(), 2);
    assert!(
        applied[1].render().contains("10.244.1.20 . 80"),
        "{}",
        applied[1]
    );
    let metrics = proxy.metrics_text();
    assert!(
        metrics.contains("switchyard_nft_changes_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_nft_changes_pending 0"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_nft_sync_duration_seconds_count{kind=\"partial\"} 1"));
    proxy.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failures_turn_health_stale_and_recover_with_a_full_resync() {
    let runner = Arc::new(Flaky::default());
    runner.fail.store(true, Ordering::Relaxed);
    let (_tx, rx) = watch::channel(snapshot(web(1), true));
    let proxy = NftProxy::start_with_runner(config(Duration::ZERO), rx, runner.clone());
    assert!(until(|| proxy.health().stale).await);
    assert_eq!(proxy.health().status_code(), 503);
    assert!(
        !proxy
            .metrics_text()
            .contains("switchyard_nft_sync_failures_total 0")
    );
    runner.fail.store(false, Ordering::Relaxed);
    assert!(until(|| proxy.health().is_healthy()).await);
    let applied = runner.fake.transactions();
    assert_eq!(applied.len(), 1);
    assert!(
        applied[0].render().starts_with("add table ip switchyard\n"),
        "full resync"
    );
    proxy.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn requested_full_resync_rewrites_everything() {
    let fake = FakeRunner::new();
    let (_tx, rx) = watch::channel(snapshot(web(2), true));
    let proxy = NftProxy::start_with_runner(config(Duration::ZERO), rx, Arc::new(fake.clone()));
    assert!(until(|| proxy.sync_count() == 1).await);
    proxy.request_full_resync();
    assert!(until(|| proxy.sync_count() == 2).await);
    let applied = fake.transactions();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0].len(), applied[1].len() - flushes(&applied[1]));
    assert!(metrics_count(&proxy, "full") == 2);
    proxy.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn periodic_full_resync_repairs_hand_edits() {
    let fake = FakeRunner::new();
    let (_tx, rx) = watch::channel(snapshot(web(2), true));
    let mut cfg = config(Duration::ZERO);
    cfg.full_resync_period = Some(Duration::from_secs(30));
    let proxy = NftProxy::start_with_runner(cfg, rx, Arc::new(fake.clone()));
    assert!(until(|| proxy.sync_count() == 1).await);
    let service_chains = || -> Vec<(TableId, String)> {
        fake.list(Family::Ip)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(id, l)| l.chains.into_iter().map(move |c| (id, c)))
            .filter(|(_, c)| c.starts_with("service-"))
            .collect()
    };
    let chains = service_chains();
    assert_eq!(chains.len(), 1);
    let (shard, chain) = &chains[0];
    let rules = fake.chain_rules(*shard, chain);
    // Someone flushes our chain by hand; nothing in the cluster changes.
    let mut edit = Transaction::new();
    edit.chain(Verb::Flush, *shard, chain);
    assert!(fake.run(&edit).is_ok());
    assert_eq!(fake.chain_rules(*shard, chain), Some(vec![]));
    // Within the period (virtual time) the proxy resyncs fully and the rules are back.
    assert!(until(|| proxy.sync_count() == 2).await);
    assert_eq!(fake.chain_rules(*shard, chain), rules);
    assert_eq!(metrics_count(&proxy, "full"), 2);
    proxy.shutdown().await;
}

/// Flushes a full resync adds for chains and maps that already exist.
fn flushes(tx: &Transaction) -> usize {
    tx.ops().iter().filter(|op| op.verb == Verb::Flush).count()
}

fn metrics_count(proxy: &NftProxy, kind: &str) -> u64 {
    let needle = format!("switchyard_nft_sync_duration_seconds_count{{kind=\"{kind}\"}} ");
    proxy
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(needle.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn kernel_versions() {
    assert!(check_kernel("6.18.44-fc-v657").is_ok());
    assert!(check_kernel("5.13.0").is_ok());
    assert!(check_kernel("5.10.0-28-amd64").is_err());
    assert!(check_kernel("4.19").is_err());
    assert!(check_kernel("garbage").is_err());
}

#[tokio::test(start_paused = true)]
async fn stale_chains_are_deleted_without_further_changes() {
    let fake = FakeRunner::new();
    let (tx, rx) = watch::channel(snapshot(web(2), true));
    let proxy = NftProxy::start_with_runner(config(Duration::ZERO), rx, Arc::new(fake.clone()));
    assert!(until(|| proxy.sync_count() == 1).await);
    // The last endpoints go: the service chain is flushed, and deleted by a later sync.
    tx.send_replace(snapshot(web(0), true));
    let gone = || {
        fake.list(Family::Ip).is_ok_and(|tables| {
            !tables
                .values()
                .any(|l| l.chains.iter().any(|c| c.contains("default/web/")))
        })
    };
    assert!(until(gone).await, "{}", fake.dump());
    assert_eq!(
        fake.transactions().len(),
        3,
        "apply, then delete the leftovers"
    );
    proxy.shutdown().await;
}
