//! `switchyard dns` as a separate process against `switchyard run`'s HTTPS API, the way a node
//! runs it: once with a least-privilege identity (a kubeconfig that `switchyard kubeconfig`
//! issued for `system:switchyard-dns`, which the bootstrap RBAC binding lets list and watch what
//! DNS needs), once with `--server --token-file --certificate-authority`. Both answer cluster
//! names with `dig`; a client with no credentials cannot start one.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    KillOnDrop, Switchyard, SwitchyardOptions, TestResult, eventually, free_port, require_tool,
    switchyard_bin,
};

/// A `switchyard dns` child, killed on drop.
struct Dns {
    _child: KillOnDrop,
    addr: SocketAddr,
}

fn start_dns(credentials: &[&str]) -> TestResult<Dns> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = Command::new(switchyard_bin())
        .arg("dns")
        .args(credentials)
        .args([
            "--dns-listen",
            &addr.to_string(),
            "--upstream",
            "127.0.0.1:9",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Dns {
        _child: KillOnDrop(child),
        addr,
    })
}

fn dig_short(addr: SocketAddr, name: &str) -> String {
    Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args([
            "-p",
            &addr.port().to_string(),
            "+short",
            "+time=1",
            "+tries=1",
            name,
        ])
        .output()
        .map(|o| {
            // Only answer lines: dig prints its own errors (";; communications error") too.
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn resolves(dns: &Dns, name: &str) -> Option<String> {
    eventually(200, || async {
        let answer = dig_short(dns.addr, name);
        (!answer.is_empty()).then_some(answer)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_runs_remotely_with_a_least_privilege_identity() -> TestResult {
    if !require_tool("dns_runs_remotely_with_a_least_privilege_identity", "dig") {
        return Ok(());
    }
    let sy = Switchyard::start(SwitchyardOptions::default()).await?;
    // A name only this instance has: other tests run DNS servers on loopback ports too.
    let service = format!("remote-parts-{}", std::process::id());
    let (code, created) = sy
        .post(
            "/api/v1/namespaces/default/services",
            &serde_json::json!({"metadata": {"name": service}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
    assert_eq!(code, 201, "{created}");
    let cluster_ip = created["spec"]["clusterIP"]
        .as_str()
        .ok_or("no clusterIP")?
        .to_string();
    let name = format!("{service}.default.svc.cluster.local");
    let name = name.as_str();

    // A kubeconfig with a client certificate for the DNS server's own identity.
    let issued = Command::new(switchyard_bin())
        .args(["kubeconfig", "--user", "system:switchyard-dns", "--server"])
        .arg(sy.server())
        .arg("--data-dir")
        .arg(sy.data_dir())
        .output()?;
    assert!(
        issued.status.success(),
        "switchyard kubeconfig: {}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("dns.kubeconfig");
    std::fs::write(&kubeconfig, &issued.stdout)?;
    let kubeconfig_arg = kubeconfig.to_string_lossy().into_owned();
    let dns = start_dns(&["--kubeconfig", &kubeconfig_arg])?;
    let answer = resolves(&dns, name).await;
    assert_eq!(
        answer.as_deref(),
        Some(cluster_ip.as_str()),
        "with the client certificate"
    );
    drop(dns);

    // The same with a token file and the CA named on the command line.
    let token = sy.data_dir().join("admin.token");
    let ca = sy.data_dir().join("pki/ca.crt");
    let dns = start_dns(&[
        "--server",
        &sy.server(),
        "--token-file",
        &token.to_string_lossy(),
        "--certificate-authority",
        &ca.to_string_lossy(),
    ])?;
    let answer = resolves(&dns, name).await;
    assert_eq!(
        answer.as_deref(),
        Some(cluster_ip.as_str()),
        "with the token file"
    );
    drop(dns);

    // Without credentials the watch is refused (401), so nothing is ever answered from the
    // cluster: the server answers SERVFAIL until its first sync, which never comes.
    let dns = start_dns(&[
        "--server",
        &sy.server(),
        "--certificate-authority",
        &ca.to_string_lossy(),
    ])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        dig_short(dns.addr, name),
        "",
        "an anonymous DNS server got cluster data"
    );
    Ok(())
}
