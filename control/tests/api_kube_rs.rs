//! kube-rs against the API: `Api::list`, `Api::watch`, and `cluster_watch::spawn` (what the
//! proxy and DNS use) seeing a new Service in its snapshot, and re-listing after its
//! resourceVersion expired across restarts.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_watch::{ClusterState, ObjectKey, WatchConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use support::TestResult;

const WAIT: Duration = Duration::from_secs(30);

fn service(name: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

async fn namespace(client: &kube::Client, name: &str) -> TestResult {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &ns).await?;
    Ok(())
}

/// Waits (bounded) until `done` holds for the newest snapshot.
async fn wait_for(
    rx: &mut tokio::sync::watch::Receiver<std::sync::Arc<ClusterState>>,
    what: &str,
    done: impl Fn(&ClusterState) -> bool,
) -> TestResult {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if done(&rx.borrow_and_update()) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return Err(format!("watch ended before {what}").into()),
            Err(_) => return Err(format!("timed out waiting for {what}").into()),
        }
    }
}

#[tokio::test]
async fn list_watch_and_reflector_see_new_services() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let client = support::kube_client(&cp)?;
    let ns = format!("kube-rs-{}", std::process::id());
    namespace(&client, &ns).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(&PostParams::default(), &service("web"))
        .await?;

    let list = services
        .list(&ListParams::default().labels("app=web"))
        .await?;
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    assert_eq!(names, ["web"]);
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    assert!(!rv.is_empty());

    let mut events = services
        .watch(&WatchParams::default().timeout(20), &rv)
        .await?
        .boxed();
    services
        .create(&PostParams::default(), &service("api"))
        .await?;
    // Bookmarks (asked for by default) may come first; the next real event is the new service.
    let mut added = None;
    for _ in 0..10 {
        match tokio::time::timeout(WAIT, events.try_next()).await?? {
            Some(WatchEvent::Bookmark(b)) => assert!(!b.metadata.resource_version.is_empty()),
            Some(WatchEvent::Added(svc)) => {
                added = Some(svc);
                break;
            }
            other => return Err(format!("expected ADDED api, got {other:?}").into()),
        }
    }
    let added = added.ok_or("no ADDED event after 10 bookmarks")?;
    assert_eq!(added.metadata.name.as_deref(), Some("api"));

    let handle = cluster_watch::spawn(client.clone(), WatchConfig::default());
    let mut rx = handle.subscribe();
    let web = ObjectKey::new(ns.clone(), "web");
    wait_for(&mut rx, "the first sync", |s| {
        s.synced && s.services.contains_key(&web)
    })
    .await?;
    services
        .create(&PostParams::default(), &service("late"))
        .await?;
    let late = ObjectKey::new(ns.clone(), "late");
    wait_for(&mut rx, "the new service", |s| {
        s.services.contains_key(&late)
    })
    .await?;
    services.delete("web", &DeleteParams::default()).await?;
    wait_for(&mut rx, "the deletion", |s| !s.services.contains_key(&web)).await?;
    drop(handle);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn reflector_relists_after_its_resource_version_expired() -> TestResult {
    let dir = tempfile::tempdir()?;
    let history = 3;
    let cp = support::start(dir.path(), history).await?;
    let addr = cp.local_addr();
    let client = support::kube_client(&cp)?;
    let ns = format!("relist-{}", std::process::id());
    namespace(&client, &ns).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(&PostParams::default(), &service("gone"))
        .await?;
    let handle = cluster_watch::spawn(client.clone(), WatchConfig::default());
    let mut rx = handle.subscribe();
    let gone = ObjectKey::new(ns.clone(), "gone");
    wait_for(&mut rx, "the first sync", |s| {
        s.synced && s.services.contains_key(&gone)
    })
    .await?;
    cp.shutdown().await;

    // Meanwhile, elsewhere: more changes than the history keeps.
    let other = support::start(dir.path(), history).await?;
    let other_client = support::kube_client(&other)?;
    let elsewhere: Api<Service> = Api::namespaced(other_client, &ns);
    for i in 0..4 {
        elsewhere
            .create(&PostParams::default(), &service(&format!("fresh{i}")))
            .await?;
    }
    elsewhere.delete("gone", &DeleteParams::default()).await?;
    other.shutdown().await;

    // Back on the original address: the watcher's resourceVersion is too old, so it re-lists.
    let cp = support::start_on(dir.path(), addr, history).await?;
    let fresh = ObjectKey::new(ns.clone(), "fresh3");
    wait_for(&mut rx, "the re-list", |s| {
        s.services.contains_key(&fresh) && !s.services.contains_key(&gone)
    })
    .await?;
    let metrics = cp.metrics_text();
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "switchyard_apiserver_requests_total{verb=\"list\",resource=\"services\",code=\"200\"}"
        )),
        "no re-list of services reached the restarted server:\n{metrics}"
    );
    drop(handle);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() -> TestResult {
    use kube::runtime::watcher::{self, Event};
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 1000).await?;
    let client = support::kube_client(&cp)?;
    let ns = format!("stream-{}", std::process::id());
    namespace(&client, &ns).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(&PostParams::default(), &service("first"))
        .await?;
    let config = watcher::Config::default().streaming_lists();
    let mut stream = watcher::watcher(services.clone(), config).boxed();
    let mut seen = Vec::new();
    for _ in 0..10 {
        match tokio::time::timeout(WAIT, stream.try_next()).await?? {
            Some(Event::InitApply(svc)) => seen.push(svc.metadata.name.unwrap_or_default()),
            Some(Event::InitDone) => break,
            Some(_) => {}
            None => return Err("the watcher ended".into()),
        }
    }
    assert_eq!(seen, ["first"]);
    services
        .create(&PostParams::default(), &service("second"))
        .await?;
    let mut applied = None;
    for _ in 0..10 {
        if let Some(Event::Apply(svc)) = tokio::time::timeout(WAIT, stream.try_next()).await?? {
            applied = svc.metadata.name;
            break;
        }
    }
    assert_eq!(applied.as_deref(), Some("second"));
    cp.shutdown().await;
    Ok(())
}
