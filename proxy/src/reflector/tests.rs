use std::sync::mpsc;
use std::time::Duration;

use cluster_watch::ObjectKey;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::sync::mpsc as async_mpsc;
use tokio::time::timeout;

use super::*;
use crate::model::Rebuild;

/// Bound on every wait in these tests (never reached when the code works).
const BOUND: Duration = Duration::from_secs(20);

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn state(revision: u64) -> Arc<ClusterState> {
    Arc::new(ClusterState {
        revision,
        synced: true,
        ..ClusterState::default()
    })
}

fn service(name: &str, cluster_ip: &str) -> Result<Arc<Service>, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": cluster_ip, "ports": [{"port": 80}]}
    }))
    .map(Arc::new)
}

fn slice(service: &str, ip: &str) -> Result<Arc<EndpointSlice>, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{service}-1"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip]}]
    }))
    .map(Arc::new)
}

#[tokio::test]
async fn coalesces_snapshots_that_arrive_during_a_build_and_ends_when_clusters_close() -> TestResult
{
    let (clusters_tx, clusters_rx) = watch::channel(state(0));
    let (entered_tx, mut entered) = async_mpsc::unbounded_channel::<u64>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let mut tables = spawn_folder(clusters_rx, move |state: Arc<ClusterState>| {
        let _ = entered_tx.send(state.revision);
        // Blocks the build until the test lets it go (bounded, so a failed test cannot hang).
        let _ = release_rx.recv_timeout(BOUND);
        TableUpdate {
            table: Arc::new(ServiceTable::default()),
            changed: true,
            rebuild: Rebuild::Full,
        }
    });
    assert_eq!(timeout(BOUND, entered.recv()).await?, Some(0));
    // Three snapshots arrive while the first build runs.
    for revision in 1..=3 {
        clusters_tx.send(state(revision))?;
    }
    release_tx.send(())?;
    assert_eq!(
        timeout(BOUND, entered.recv()).await?,
        Some(3),
        "the second build takes only the newest snapshot"
    );
    release_tx.send(())?;
    drop(clusters_tx);
    // The task ends: its table sender goes, so the receiver sees the channel close.
    let ended = timeout(BOUND, async { while tables.changed().await.is_ok() {} }).await;
    assert!(
        ended.is_ok(),
        "the task ends when the cluster channel closes"
    );
    assert_eq!(
        entered.recv().await,
        None,
        "no build after revision 3; the fold is dropped with the task"
    );
    assert!(tables.borrow().synced);
    Ok(())
}

#[tokio::test]
async fn ends_when_every_table_receiver_is_dropped() -> TestResult {
    let (clusters_tx, clusters_rx) = watch::channel(state(0));
    let tables = spawn_table(clusters_rx, NodeContext::default());
    drop(tables);
    // `closed` resolves once the task has dropped its cluster receiver.
    timeout(BOUND, clusters_tx.closed()).await?;
    assert_eq!(clusters_tx.receiver_count(), 0);
    Ok(())
}

#[tokio::test]
async fn follows_slice_changes_and_keeps_untouched_ports() -> TestResult {
    let mut first = ClusterState {
        synced: true,
        ..ClusterState::default()
    };
    for (name, ip) in [("a", "10.96.0.1"), ("b", "10.96.0.2")] {
        first
            .services
            .insert(ObjectKey::new("default", name), service(name, ip)?);
        first.endpoint_slices.insert(
            ObjectKey::new("default", format!("{name}-1")),
            slice(name, "10.244.0.1")?,
        );
    }
    let (clusters_tx, clusters_rx) = watch::channel(Arc::new(first.clone()));
    let mut tables = spawn_table(clusters_rx, NodeContext::default());
    timeout(BOUND, tables.wait_for(|t| t.table.ports.len() == 2)).await??;
    let before = tables.borrow_and_update().table.clone();

    let mut second = first;
    second
        .endpoint_slices
        .insert(ObjectKey::new("default", "b-1"), slice("b", "10.244.0.9")?);
    clusters_tx.send(Arc::new(second))?;
    timeout(BOUND, tables.changed()).await??;
    let after = tables.borrow_and_update().table.clone();
    assert!(
        Arc::ptr_eq(&before.ports[0], &after.ports[0]),
        "a is untouched"
    );
    assert_eq!(after.ports[1].endpoints[0].ip.to_string(), "10.244.0.9");
    Ok(())
}
