//! The cluster nameserver inside `switchyard run`, queried with `dig`: answers follow the API
//! (a new service resolves, a deleted one stops resolving), and SRV/headless records come from
//! the EndpointSlices the controllers derive.

use std::process::Command;

use serde_json::json;

use crate::support::{Switchyard, SwitchyardOptions, TestResult, eventually, require_tool};

fn dig(sy: &Switchyard, args: &[&str]) -> String {
    let Some(dns) = sy.dns else {
        return String::new();
    };
    let out = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args([
            "-p",
            &dns.port().to_string(),
            "+short",
            "+time=1",
            "+tries=1",
        ])
        .args(args)
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn dig_status(sy: &Switchyard, name: &str) -> String {
    let Some(dns) = sy.dns else {
        return String::new();
    };
    let out = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args(["-p", &dns.port().to_string(), "+time=1", "+tries=1", name])
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_the_api() -> TestResult {
    if !require_tool("names_follow_the_api", "dig") {
        return Ok(());
    }
    let options = SwitchyardOptions {
        dns: true,
        ..Default::default()
    };
    let sy = Switchyard::start(options).await?;
    let manifest = r#"
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api-peers}
spec:
  clusterIP: None
  selector: {app: api}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, labels: {app: api}}
spec:
  hostname: api-0
  subdomain: api-peers
  containers: [{name: c, image: app}]
status:
  podIP: 10.244.7.10
  conditions: [{type: Ready, status: "True"}]
"#;
    let out = sy.apply_text(manifest)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, svc) = sy.get("/api/v1/namespaces/default/services/api").await?;
    let cluster_ip = svc["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!cluster_ip.is_empty());

    let name = "api.default.svc.cluster.local";
    let a = eventually(200, || async {
        Some(dig(&sy, &[name])).filter(|s| *s == cluster_ip)
    })
    .await;
    assert!(
        a.is_some(),
        "{name} never answered {cluster_ip}: {:?}",
        dig(&sy, &[name])
    );
    let srv = dig(&sy, &["SRV", "_http._tcp.api.default.svc.cluster.local"]);
    assert_eq!(srv, "0 100 80 api.default.svc.cluster.local.");
    let peer = "api-0.api-peers.default.svc.cluster.local";
    let host = eventually(200, || async {
        Some(dig(&sy, &[peer])).filter(|s| s == "10.244.7.10")
    })
    .await;
    assert!(host.is_some(), "{peer}: {:?}", dig(&sy, &[peer]));

    // A deleted service stops resolving: NXDOMAIN, not a stale answer.
    assert_eq!(
        sy.delete("/api/v1/namespaces/default/services/api").await?,
        200
    );
    let gone = eventually(200, || async {
        Some(dig_status(&sy, name)).filter(|s| s == "NXDOMAIN")
    })
    .await;
    assert!(
        gone.is_some(),
        "deleted service still answers: {}",
        dig(&sy, &[name])
    );
    // The namespace itself still exists as an empty non-terminal: NODATA, not NXDOMAIN.
    assert_eq!(dig_status(&sy, "default.svc.cluster.local"), "NOERROR");
    let _ = json!({});
    Ok(())
}
