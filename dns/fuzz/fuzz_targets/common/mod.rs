//! The handler both fuzz targets feed: the shared cluster fixture of the DNS tests, with pod
//! records on.

use std::sync::Arc;

use cluster_watch::{ClusterState, ObjectKey};
use dns::{DnsConfig, DnsHandler, NameTable, PodRecords, TableOptions};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    services: Vec<Service>,
    endpoint_slices: Vec<EndpointSlice>,
    pods: Vec<Pod>,
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The handler over the fixture, or `None` when the fixture does not load.
pub fn handler() -> Option<DnsHandler> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("../../../tests/fixtures/cluster.json")).ok()?;
    let mut state = ClusterState {
        synced: true,
        ..ClusterState::default()
    };
    for s in fixture.services {
        state.services.insert(key(&s.metadata), Arc::new(s));
    }
    for s in fixture.endpoint_slices {
        state.endpoint_slices.insert(key(&s.metadata), Arc::new(s));
    }
    for p in fixture.pods {
        state.pods.insert(key(&p.metadata), Arc::new(p));
    }
    let config = DnsConfig {
        pod_records: PodRecords::Insecure,
        ..DnsConfig::default()
    };
    let options = TableOptions::from_config(&config).ok()?;
    Some(DnsHandler::for_table(NameTable::build(&state, options)))
}

