//! The control plane's registry encodes to well-formed Prometheus text with today's names.

use crate::admission::{Admission, AdmissionConfig};
use crate::store::{Store, StoreConfig};

use super::Metrics;

#[tokio::test]
async fn encodes_requests_watches_store_and_controllers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let admission = Admission::new(AdmissionConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(dir.path(), admission, StoreConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let metrics = Metrics::new(&store);
    metrics.request("get", "services", 200);
    metrics.request("get", "services", 200);
    metrics.request("create", "pods", 409);
    metrics.latency("get", 0.003);
    let guard = metrics.watch_opened();
    let text = metrics.render();
    let samples = testkit::parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, labels: &[(&str, &str)]| testkit::value_of(&samples, name, labels);
    assert_eq!(
        value(
            "switchyard_apiserver_requests_total",
            &[("verb", "get"), ("resource", "services"), ("code", "200")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            "switchyard_apiserver_request_duration_seconds_bucket",
            &[("verb", "get"), ("le", "0.0025")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            "switchyard_apiserver_request_duration_seconds_bucket",
            &[("verb", "get"), ("le", "0.005")]
        ),
        Some(1.0)
    );
    assert_eq!(value("switchyard_apiserver_watches", &[]), Some(1.0));
    assert_eq!(value("switchyard_apiserver_watches_total", &[]), Some(1.0));
    drop(guard);
    assert!(
        metrics
            .render()
            .contains("\nswitchyard_apiserver_watches 0\n")
    );
    assert_eq!(
        value("switchyard_store_objects", &[("kind", "Service")]),
        Some(0.0)
    );
    assert!(value("switchyard_store_resource_version", &[]).is_some());
    assert_eq!(
        value("switchyard_store_commit_batch_size_count", &[]),
        Some(0.0)
    );
    assert_eq!(
        value("switchyard_store_commit_failures_total", &[]),
        Some(0.0)
    );
    assert!(text.contains("# HELP switchyard_apiserver_watches_total Watch streams opened.\n"));
    assert!(text.contains("# HELP switchyard_store_objects Stored objects by kind.\n"));
    assert!(
        text.contains("# TYPE switchyard_store_commit_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(value("switchyard_endpointslice_reconciles_total", &[]).is_some());
    store.close().await;
}
