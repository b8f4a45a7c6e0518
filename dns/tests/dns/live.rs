//! Live updates: new snapshots on the watch channel change the answers.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::support::{
    Error, TestResult, config, eventually, fixture, key, lines, object, query, start, udp_exchange,
};

async fn a(addr: SocketAddr, name: &str) -> Result<Message, Error> {
    udp_exchange(addr, &query(rand_id(), name, RecordType::A, None)?).await
}

fn rand_id() -> u16 {
    u16::try_from(std::process::id() % 60_000).unwrap_or(1)
}

#[tokio::test]
async fn services_and_endpoints_change_the_answers() -> TestResult {
    let running = start(fixture()?, config()).await?;
    let addr = running.addr();
    let fresh = "fresh.default.svc.cluster.local.";
    assert_eq!(
        a(addr, fresh).await?.metadata.response_code,
        ResponseCode::NXDomain
    );

    // Create a service.
    let mut state = fixture()?;
    let service: Arc<Service> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "fresh"},
        "spec": {"clusterIP": "10.96.9.9", "ports": [{"name": "http", "port": 80}]}
    }))?;
    state
        .services
        .insert(key(&service.metadata), service.clone());
    running.publish(state.clone());
    let created = eventually(100, || async move {
        Ok(lines(&a(addr, fresh).await?.answers) == vec![format!("{fresh} A 10.96.9.9")])
    })
    .await?;
    assert!(created, "new service answers");

    // An endpoint of the headless service turns unready.
    let slice: Arc<EndpointSlice> = object(serde_json::json!({
        "metadata": {"namespace": "default", "name": "db-abc", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.0.1"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": false}}
        ],
        "ports": [{"name": "pg", "port": 5432}]
    }))?;
    state.endpoint_slices.insert(key(&slice.metadata), slice);
    running.publish(state.clone());
    let db = "db.default.svc.cluster.local.";
    let shrunk = eventually(100, || async move {
        Ok(lines(&a(addr, db).await?.answers) == vec![format!("{db} A 10.0.0.1")])
    })
    .await?;
    assert!(shrunk, "unready endpoint leaves the headless answer");
    let gone = "10-0-0-2.db.default.svc.cluster.local.";
    assert_eq!(
        a(addr, gone).await?.metadata.response_code,
        ResponseCode::NXDomain
    );

    // Delete the service.
    state.services.remove(&key(&service.metadata));
    running.publish(state);
    let deleted = eventually(100, || async move {
        Ok(a(addr, fresh).await?.metadata.response_code == ResponseCode::NXDomain)
    })
    .await?;
    assert!(deleted, "deleted service is NXDOMAIN");
    assert!(
        running
            .server
            .metrics_text()
            .contains("switchyard_dns_table_builds_total 4")
    );
    running.server.shutdown().await;
    Ok(())
}
