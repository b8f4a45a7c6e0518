//! Unit tests of the store against a real database in a temporary directory.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::admission::{Admission, AdmissionConfig};
use crate::error::ApiError;

fn open(dir: &Path, history: usize) -> Store {
    open_with(dir, history, 1024)
}

fn open_with(dir: &Path, history: usize, broadcast_capacity: usize) -> Store {
    let admission = Admission::new(AdmissionConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let config = StoreConfig {
        watch_history: history,
        broadcast_capacity,
        ..StoreConfig::default()
    };
    Store::open(dir, admission, config).unwrap_or_else(|e| panic!("{e}"))
}

fn object(kind: Kind, value: serde_json::Value) -> Object {
    Object::from_json(kind, value).unwrap_or_else(|e| panic!("{e}"))
}

async fn create(
    store: &Store,
    kind: Kind,
    value: serde_json::Value,
) -> Result<Arc<Object>, ApiError> {
    Ok(store
        .write(Write::Create(Box::new(object(kind, value))))
        .await?)
}

#[tokio::test]
async fn create_update_delete_round_trip_with_revisions() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "team"}}),
    )
    .await?;
    let svc = create(
        &store,
        Kind::Service,
        json!({"metadata": {"name": "web", "namespace": "team"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await?;
    assert_eq!(svc.resource_version(), Some(2));
    assert_eq!(svc.meta().generation, Some(1));
    assert!(svc.meta().uid.is_some());

    let stale = svc.meta().resource_version.clone();
    let update = |port: i32, rv: Option<String>| Write::Update {
        kind: Kind::Service,
        namespace: Some("team".into()),
        name: "web".into(),
        status: false,
        change: Box::new(move |old: &Object| {
            let mut json = old.to_json();
            json["spec"]["ports"][0]["port"] = port.into();
            json["metadata"]["resourceVersion"] = rv.map(Into::into).unwrap_or_default();
            Ok(Object::from_json(Kind::Service, json)?)
        }),
    };
    let updated = store.write(update(81, stale.clone())).await?;
    assert_eq!(updated.resource_version(), Some(3));
    assert_eq!(updated.meta().generation, Some(2));
    let conflict = store.write(update(82, stale)).await.err();
    assert!(
        conflict
            .clone()
            .is_some_and(|e| ApiError::from(e).is_conflict()),
        "{conflict:?}"
    );

    let deleted = store
        .write(Write::Delete {
            kind: Kind::Service,
            namespace: Some("team".into()),
            name: "web".into(),
            uid: None,
            resource_version: None,
            propagation: None,
        })
        .await?;
    assert_eq!(deleted.resource_version(), Some(4));
    assert!(store.get(Kind::Service, Some("team"), "web").is_none());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn reopen_restores_objects_revision_and_history() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 5);
    create(&store, Kind::Namespace, json!({"metadata": {"name": "a"}})).await?;
    for i in 0..20 {
        create(
            &store,
            Kind::Pod,
            json!({"metadata": {"name": format!("p{i}"), "namespace": "a"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        )
        .await?;
    }
    let before = store.snapshot();
    store.close().await;
    let store = open(dir.path(), 5);
    let after = store.snapshot();
    assert_eq!(after.revision, 21);
    assert_eq!(after.len(), before.len());
    assert_eq!(store.oldest_event(), Some(17));
    assert!(store.feed_from(10).is_err());
    let mut feed = store.feed_from(18)?;
    let next = feed.next().await.map_err(ApiError::from)?;
    assert_eq!(next.revision, 19);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn namespace_delete_cascades_in_one_batch() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "gone"}}),
    )
    .await?;
    create(
        &store,
        Kind::Pod,
        json!({"metadata": {"name": "p", "namespace": "gone"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
    )
    .await?;
    create(
        &store,
        Kind::Service,
        json!({"metadata": {"name": "s", "namespace": "gone"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await?;
    let mut feed = store.feed_from(store.revision())?;
    store
        .write(Write::Delete {
            kind: Kind::Namespace,
            namespace: None,
            name: "gone".into(),
            uid: None,
            resource_version: None,
            propagation: None,
        })
        .await?;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = feed.next().await.map_err(ApiError::from)?;
        assert_eq!(event.kind_of_change, EventType::Deleted);
        kinds.push(event.kind());
    }
    assert_eq!(kinds, vec![Kind::Pod, Kind::Service, Kind::Namespace]);
    assert_eq!(store.snapshot().len(), 0);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_lagging_feed_is_refilled_from_history_in_order() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open_with(dir.path(), 100, 2);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "lag"}}),
    )
    .await?;
    let mut feed = store.feed_from(store.revision())?;
    for i in 0..20 {
        create(
            &store,
            Kind::Pod,
            json!({"metadata": {"name": format!("p{i}"), "namespace": "lag"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        )
        .await?;
    }
    for i in 0..20 {
        let event = feed.next().await.map_err(ApiError::from)?;
        assert_eq!(event.object.name(), format!("p{i}"));
        assert_eq!(event.revision, i + 2);
    }
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_feed_that_lags_past_the_history_ends_expired() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open_with(dir.path(), 5, 2);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "lag"}}),
    )
    .await?;
    let mut feed = store.feed_from(store.revision())?;
    for i in 0..20 {
        create(
            &store,
            Kind::Pod,
            json!({"metadata": {"name": format!("p{i}"), "namespace": "lag"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        )
        .await?;
    }
    let outcome = feed.next().await;
    assert!(
        matches!(outcome, Err(FeedError::Expired { .. })),
        "{outcome:?}"
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_failed_commit_answers_500_and_releases_allocations() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "disk"}}),
    )
    .await?;
    let svc = json!({"metadata": {"name": "web", "namespace": "disk"},
        "spec": {"clusterIP": "10.96.0.77", "ports": [{"port": 80}]}});
    let before = store.snapshot();
    store
        .shared
        .fail_next_commit
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = create(&store, Kind::Service, svc.clone()).await.err();
    assert_eq!(failed.map(|e| e.code), Some(500));
    assert_eq!(store.revision(), before.revision);
    assert!(store.get(Kind::Service, Some("disk"), "web").is_none());
    // The address the failed write took was given back: the same request now succeeds.
    let stored = create(&store, Kind::Service, svc).await?;
    assert_eq!(stored.to_json()["spec"]["clusterIP"], "10.96.0.77");
    store.close().await;
    // And what failed never reached the disk.
    let store = open(dir.path(), 100);
    assert_eq!(store.revision(), before.revision + 1);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn concurrent_creates_of_one_name_yield_one_object() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "race"}}),
    )
    .await?;
    let attempts = (0..8).map(|_| {
        create(
            &store,
            Kind::Pod,
            json!({"metadata": {"name": "same", "namespace": "race"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        )
    });
    let outcomes = futures::future::join_all(attempts).await;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let conflicts = outcomes
        .iter()
        .filter(|o| {
            o.as_ref()
                .err()
                .is_some_and(|e| e.reason == "AlreadyExists")
        })
        .count();
    assert_eq!((created, conflicts), (1, 7));
    assert_eq!(store.revision(), 2);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_panicking_change_costs_one_request_not_the_writer() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "boom"}}),
    )
    .await?;
    let failed = store
        .write(Write::Update {
            kind: Kind::Namespace,
            namespace: None,
            name: "boom".into(),
            status: false,
            change: Box::new(|_| panic!("injected")),
        })
        .await
        .err();
    assert_eq!(failed.map(|e| ApiError::from(e).code), Some(500));
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "after"}}),
    )
    .await?;
    assert_eq!(store.revision(), 2);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_resource_version_from_the_future_is_expired() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "now"}}),
    )
    .await?;
    assert_eq!(
        store.feed_from(50).err().map(|e| ApiError::from(e).code),
        Some(410)
    );
    assert!(store.feed_from(1).is_ok());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_collection_delete_that_fails_midway_deletes_nothing() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "bulk"}}),
    )
    .await?;
    for name in ["a", "b", "c"] {
        create(
            &store,
            Kind::Service,
            json!({"metadata": {"name": name, "namespace": "bulk"},
                "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    }
    let revision = store.revision();
    // The filter fails on the second object, after the first was deleted in the working state.
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let failed = store
        .write_all(
            Write::DeleteCollection {
                kind: Kind::Service,
                namespace: Some("bulk".into()),
                filter: Box::new(move |_| {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert!(n < 1, "injected failure on object {n}");
                    true
                }),
                propagation: None,
            },
            false,
        )
        .await
        .err();
    assert_eq!(failed.map(|e| ApiError::from(e).code), Some(500));
    assert_eq!(store.revision(), revision);
    assert_eq!(store.snapshot().of_kind(Kind::Service).len(), 3);
    // Without a failure, all go in one revision each, and namespaces are refused outright.
    let deleted = store
        .write_all(
            Write::DeleteCollection {
                kind: Kind::Service,
                namespace: Some("bulk".into()),
                filter: Box::new(|obj| obj.name() != "c"),
                propagation: None,
            },
            false,
        )
        .await?;
    assert_eq!(deleted.len(), 2);
    assert_eq!(store.snapshot().of_kind(Kind::Service).len(), 1);
    let refused = store
        .write_all(
            Write::DeleteCollection {
                kind: Kind::Namespace,
                namespace: None,
                filter: Box::new(|_| true),
                propagation: None,
            },
            false,
        )
        .await
        .err();
    assert_eq!(refused.map(|e| ApiError::from(e).code), Some(405));
    assert!(store.get(Kind::Namespace, None, "bulk").is_some());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn after_a_failed_commit_the_store_reopens_and_writes_again() -> Result<(), ApiError> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(
        &store,
        Kind::Namespace,
        json!({"metadata": {"name": "one"}}),
    )
    .await?;
    for round in 0..3 {
        store
            .shared
            .fail_next_commit
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let failed = create(
            &store,
            Kind::Namespace,
            json!({"metadata": {"name": format!("lost-{round}")}}),
        )
        .await
        .err();
        assert_eq!(failed.map(|e| e.code), Some(500));
        // The writer reopens the database; a later write succeeds (the first may find the
        // reopen not yet due and answer 503).
        let mut written = None;
        for _ in 0..100 {
            match create(
                &store,
                Kind::Namespace,
                json!({"metadata": {"name": format!("kept-{round}")}}),
            )
            .await
            {
                Ok(obj) => {
                    written = Some(obj);
                    break;
                }
                Err(e) if e.code == 503 => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
        assert!(written.is_some(), "round {round}: no write succeeded");
        assert_eq!(store.write_failure(), None);
    }
    store.close().await;
    let store = open(dir.path(), 100);
    let names: Vec<String> = store
        .snapshot()
        .of_kind(Kind::Namespace)
        .values()
        .map(|ns| ns.name().to_string())
        .collect();
    assert_eq!(names, ["kept-0", "kept-1", "kept-2", "one"]);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn propagation_policies_leave_their_finalizer_and_a_repeat_may_switch() -> Result<(), ApiError>
{
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(e.to_string()))?;
    let store = open(dir.path(), 100);
    create(&store, Kind::Namespace, json!({"metadata": {"name": "gc"}})).await?;
    let cm = |name: &str| json!({"metadata": {"name": name, "namespace": "gc"}});
    create(&store, Kind::ConfigMap, cm("orphaning")).await?;
    create(&store, Kind::ConfigMap, cm("plain")).await?;
    let delete = |name: &str, propagation| Write::Delete {
        kind: Kind::ConfigMap,
        namespace: Some("gc".into()),
        name: name.into(),
        uid: None,
        resource_version: None,
        propagation,
    };
    let marked = store
        .write(delete("orphaning", Some(Propagation::Orphan)))
        .await?;
    assert!(marked.meta().deletion_timestamp.is_some());
    assert_eq!(
        marked.meta().finalizers,
        Some(vec![ORPHAN_FINALIZER.to_string()])
    );
    // No policy named: the finalizer on the object decides, nothing changes.
    let again = store.write(delete("orphaning", None)).await?;
    assert_eq!(again.resource_version(), marked.resource_version());
    // Foreground replaces orphan, keeping the deletionTimestamp.
    let switched = store
        .write(delete("orphaning", Some(Propagation::Foreground)))
        .await?;
    assert_eq!(
        switched.meta().finalizers,
        Some(vec![FOREGROUND_FINALIZER.to_string()])
    );
    assert_eq!(
        switched.meta().deletion_timestamp,
        marked.meta().deletion_timestamp
    );
    // Background leaves no finalizer: the object goes.
    store
        .write(delete("orphaning", Some(Propagation::Background)))
        .await?;
    assert!(
        store
            .get(Kind::ConfigMap, Some("gc"), "orphaning")
            .is_none()
    );
    store
        .write(delete("plain", Some(Propagation::Background)))
        .await?;
    assert!(store.get(Kind::ConfigMap, Some("gc"), "plain").is_none());
    store.close().await;
    Ok(())
}
