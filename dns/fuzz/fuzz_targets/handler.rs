//! Feeds arbitrary bytes to the nameserver's request handler, as the UDP listener would, over
//! the shared cluster fixture. Any panic is a bug; a reply, if any, must decode.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use control::watch::{ClusterState, ObjectKey};
use dns::{DnsConfig, DnsHandler, NameTable, PodRecords, TableOptions};
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::Message;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use libfuzzer_sys::fuzz_target;

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

fn handler() -> Option<DnsHandler> {
    let fixture: Fixture =
        serde_json::from_str(include_str!("../../tests/fixtures/cluster.json")).ok()?;
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

static HANDLER: OnceLock<Option<DnsHandler>> = OnceLock::new();
static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (Some(handler), Some(runtime)) = (
        HANDLER.get_or_init(handler),
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
        }),
    ) else {
        return;
    };
    let src = SocketAddr::from(([127, 0, 0, 1], 5353));
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        if let Some(reply) = runtime.block_on(handler.respond_to_bytes(data, src, protocol)) {
            assert!(Message::from_vec(&reply).is_ok(), "undecodable reply");
        }
    }
});
