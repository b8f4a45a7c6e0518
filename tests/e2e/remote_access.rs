//! The API off loopback, as another host sees it: `switchyard run` inside a "server" network
//! namespace listens on its veth address; from a "client" namespace, anonymous requests read
//! and write nothing (401), plain HTTP gets nothing, the admin token over HTTPS with the
//! instance's CA works (curl and kubectl with the written kubeconfig), and the plain-HTTP mode
//! refuses to start on that address.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use testkit::{Netns, veth};

use crate::support::{KillOnDrop, TestResult, require_root, require_tool, wait_for_file};

/// `switchyard run` in `ns` with only the API, on `listen`.
fn run_api(ns: &Netns, listen: &str) -> Command {
    let mut cmd = ns.command(crate::support::switchyard_bin());
    cmd.args(["run", "--api-listen", listen])
        .args(["--dns-listen", "none", "--metrics-listen", "none"])
        .args(["--proxy-mode", "none"]);
    cmd
}

/// `curl` from the client namespace; returns the HTTP code (`000` when nothing answered).
fn curl(client: &Netns, args: &[&str]) -> TestResult<String> {
    let out: Output = client
        .command("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "15",
        ])
        .args(args)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test]
async fn another_host_needs_credentials() -> TestResult {
    if !require_root("another_host_needs_credentials", "network namespaces")
        || !require_tool("another_host_needs_credentials", "curl")
    {
        return Ok(());
    }
    let server_ns = Netns::new("s")?;
    let client_ns = Netns::new("c")?;
    veth(
        &server_ns,
        "sye2e-s",
        &["10.231.0.1/24".parse()?],
        &client_ns,
        "sye2e-c",
        &["10.231.0.2/24".parse()?],
    )?;

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let listen = "10.231.0.1:6443";

    // The plain-HTTP mode refuses a non-loopback address before touching anything.
    let refused = run_api(&server_ns, listen)
        .arg("--insecure-loopback-http")
        .arg("--data-dir")
        .arg(tmp.path().join("refused"))
        .output()?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");

    let child = run_api(&server_ns, listen)
        .args(["--node-name", "remote-e2e", "--node-ip", "10.231.0.1"])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let _server = KillOnDrop(child);
    let kubeconfig = data.join("admin.kubeconfig");
    assert!(
        wait_for_file(&kubeconfig),
        "no admin.kubeconfig was written"
    );
    let ca = data.join("pki/ca.crt");
    let ca = ca.to_string_lossy().into_owned();
    let base = format!("https://{listen}");
    let mut ready = false;
    for _ in 0..200 {
        if curl(&client_ns, &["--cacert", &ca, &format!("{base}/readyz")])? == "200" {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the API never became ready from the client namespace"
    );

    // Anonymous: health only; no reads, no writes.
    assert_eq!(
        curl(&client_ns, &["--cacert", &ca, &format!("{base}/version")])?,
        "200"
    );
    for path in ["/api/v1/namespaces", "/api/v1/nodes", "/api/v1/services"] {
        assert_eq!(
            curl(&client_ns, &["--cacert", &ca, &format!("{base}{path}")])?,
            "401",
            "{path}"
        );
    }
    let create = [
        "--cacert",
        &ca,
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data",
        r#"{"metadata":{"name":"evil"},"spec":{"externalIPs":["10.231.0.9"],"ports":[{"port":80}]}}"#,
    ];
    let mut args = create.to_vec();
    let url = format!("{base}/api/v1/namespaces/default/services");
    args.push(&url);
    assert_eq!(curl(&client_ns, &args)?, "401");
    let delete_url = format!("{base}/api/v1/namespaces/default");
    assert_eq!(
        curl(&client_ns, &["--cacert", &ca, "-X", "DELETE", &delete_url])?,
        "401"
    );
    // Without the CA the certificate is not trusted; plain HTTP gets no answer.
    assert_eq!(curl(&client_ns, &[&format!("{base}/version")])?, "000");
    assert_eq!(
        curl(&client_ns, &[&format!("http://{listen}/api/v1/namespaces")])?,
        "000"
    );

    // The admin token over HTTPS works, and so does kubectl with the written kubeconfig.
    let token = std::fs::read_to_string(data.join("admin.token"))?;
    let auth = format!("Authorization: Bearer {}", token.trim());
    assert_eq!(
        curl(&client_ns, &["--cacert", &ca, "-H", &auth, &delete_url])?,
        "200",
        "the default namespace is still there and readable with the token"
    );
    if require_tool("another_host_needs_credentials", "kubectl") {
        let out = client_ns
            .command("kubectl")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["get", "namespaces", "-o", "name"])
            .env_remove("KUBECONFIG")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("namespace/default"),
            "kubectl: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
