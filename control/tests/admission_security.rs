//! Traffic-steering admission through the HTTP API: externalIPs refused unless the configured
//! allow list holds them, `status.loadBalancer` only through `/status`, source ranges must be
//! CIDRs, and a Service with 150k ports gets a small 422.

mod support;

use control::admission::AdmissionConfig;
use control::server::{ControlPlane, ControlPlaneConfig};
use serde_json::{Value, json};
use support::{Api, TestResult};

const SERVICES: &str = "/api/v1/namespaces/default/services";

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

/// The `field` of every cause in a Status body.
fn cause_fields(status: &Value) -> Vec<String> {
    status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn external_ips_are_refused_by_default() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    let r = api
        .post(
            SERVICES,
            &service(
                "steal",
                json!({"ports": [{"port": 80}], "externalIPs": ["192.0.2.10"]}),
            ),
        )
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(r.body["reason"], "Invalid");
    assert_eq!(cause_fields(&r.body), ["spec.externalIPs[0]"]);
    assert_eq!(
        r.body["details"]["causes"][0]["reason"],
        "FieldValueForbidden"
    );
    let missing = api.get(&format!("{SERVICES}/steal")).await?;
    assert_eq!(missing.code, 404, "nothing was stored");
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn external_ips_inside_the_configured_ranges_are_admitted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = ControlPlane::start(ControlPlaneConfig {
        admission: AdmissionConfig {
            allowed_external_ip_cidrs: vec!["192.0.2.0/24".parse()?],
            ..AdmissionConfig::default()
        },
        ..support::config(dir.path(), 100)
    })
    .await?;
    let api = Api::for_plane(&cp);
    let r = api
        .post(
            SERVICES,
            &service(
                "lb",
                json!({"ports": [{"port": 80}], "externalIPs": ["192.0.2.10"]}),
            ),
        )
        .await?;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["externalIPs"], json!(["192.0.2.10"]));
    let r = api
        .post(
            SERVICES,
            &service(
                "outside",
                json!({"ports": [{"port": 80}], "externalIPs": ["192.0.2.11", "198.51.100.1"]}),
            ),
        )
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(cause_fields(&r.body), ["spec.externalIPs[1]"]);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn load_balancer_status_is_written_only_through_status() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    let ingress = |ip: &str| json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
    let mut lb = service(
        "lb",
        json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
    );
    lb["status"] = ingress("192.0.2.1");
    let created = api.post(SERVICES, &lb).await?;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.body["status"]["loadBalancer"].get("ingress"), None);

    let path = format!("{SERVICES}/lb");
    let mut put = created.body.clone();
    put["status"] = ingress("192.0.2.2");
    let r = api.put(&path, &put).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["status"]["loadBalancer"].get("ingress"), None);

    let mut put = r.body.clone();
    put["status"] = ingress("192.0.2.3");
    let r = api.put(&format!("{path}/status"), &put).await?;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(
        r.body["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "192.0.2.3", "ipMode": "VIP"}])
    );

    let mut put = r.body.clone();
    put["status"] = ingress("not-an-ip");
    let bad = api.put(&format!("{path}/status"), &put).await?;
    assert_eq!(bad.code, 422, "{}", bad.body);
    assert_eq!(
        cause_fields(&bad.body),
        ["status.loadBalancer.ingress[0].ip"]
    );
    let stored = api.get(&path).await?;
    assert_eq!(
        stored.body["status"]["loadBalancer"]["ingress"][0]["ip"],
        "192.0.2.3"
    );
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn garbage_source_ranges_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    let r = api
        .post(
            SERVICES,
            &service(
                "lb",
                json!({"type": "LoadBalancer", "ports": [{"port": 80}],
                       "loadBalancerSourceRanges": ["10.0.0.0/8", "fd00::/64", "garbage"]}),
            ),
        )
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(cause_fields(&r.body), ["spec.loadBalancerSourceRanges[2]"]);
    cp.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_service_with_150k_ports_gets_a_small_422() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = support::start(dir.path(), 100).await?;
    let api = Api::for_plane(&cp);
    let ports: Vec<Value> = (0..150_000u32)
        .map(|i| json!({"port": i % 9 + 1}))
        .collect();
    let r = api
        .post(SERVICES, &service("huge", json!({"ports": ports})))
        .await?;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(cause_fields(&r.body).len(), 100);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.ends_with(" more errors"), "{message}");
    let size = r
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or_else(|| r.body.to_string().len());
    assert!(size < 64 * 1024, "error body of {size} bytes");
    cp.shutdown().await;
    Ok(())
}
